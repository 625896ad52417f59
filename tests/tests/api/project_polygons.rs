//! Polygons and notes in projects (reefguide-r2 §3.1): whoever sees a project sees its polygons
//! and their notes, and may annotate them; only a polygon's owner or an admin changes or deletes
//! it; `projectId` and `onlyMine` filter the listing; deleting a project deletes its polygons.

use reefguide_adapters_postgres::test_support::TestBackend;
use reqwest::Method;
use rstest::rstest;
use serde_json::{Value, json};

use crate::sharing_world::{Caller, World};

fn square(projected: Option<i64>) -> Value {
    let mut body = json!({"polygon": {"type": "Polygon",
        "coordinates": [[[146.0, -18.0], [146.5, -18.0], [146.5, -17.5], [146.0, -18.0]]]}});
    if let Some(project) = projected {
        body["projectId"] = json!(project);
    }
    body
}

async fn polygon_ids(world: &World, caller: Caller, query: &str) -> Vec<i64> {
    let reply = world
        .call(caller, Method::GET, &format!("/api/polygons{query}"), None)
        .await
        .expect(200);
    reply.body["polygons"]
        .as_array()
        .expect("polygons")
        .iter()
        .map(|p| p["id"].as_i64().expect("id"))
        .collect()
}

#[rstest]
#[tokio::test]
async fn a_projects_polygons_are_seen_by_whoever_sees_the_project(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let world = World::start(backend).await;
    let project = world.project("Survey", false).await;
    world
        .call(
            Caller::Owner,
            Method::POST,
            &format!("/api/projects/{project}/share/groups"),
            Some(json!({"groupIds": [world.group]})),
        )
        .await
        .expect(200);
    let created = world
        .call(
            Caller::Owner,
            Method::POST,
            "/api/polygons",
            Some(square(Some(project))),
        )
        .await
        .expect(200);
    assert_eq!(created.body["polygon"]["project_id"], project);
    let inside = created.body["polygon"]["id"].as_i64().expect("id");
    let private = world
        .call(
            Caller::Owner,
            Method::POST,
            "/api/polygons",
            Some(square(None)),
        )
        .await
        .expect(200);
    let private = private.body["polygon"]["id"].as_i64().expect("id");
    assert_eq!(private_project(&world, private).await, Value::Null);

    // Order: owner, sharee (not shared with), manager, member, unrelated, admin, anonymous.
    let path = format!("/api/polygons/{inside}");
    let mut seen = Vec::new();
    for caller in Caller::ALL {
        seen.push(
            world
                .call(caller, Method::GET, &path, None)
                .await
                .status
                .as_u16(),
        );
    }
    assert_eq!(seen, [200, 403, 200, 200, 403, 200, 401]);

    // Seeing is not changing: the group's member may neither update nor delete the polygon.
    world
        .call(Caller::GroupMember, Method::PUT, &path, Some(square(None)))
        .await
        .expect_error(403, "forbidden");
    world
        .call(Caller::GroupMember, Method::DELETE, &path, None)
        .await
        .expect_error(403, "forbidden");

    // A member annotates it; the owner reads the note; the unrelated analyst cannot.
    let note = world
        .call(
            Caller::GroupMember,
            Method::POST,
            "/api/notes",
            Some(json!({"content": "seen from the group", "polygonId": inside})),
        )
        .await
        .expect(200);
    let note_id = note.body["note"]["id"].as_i64().expect("id");
    let notes = world
        .call(
            Caller::Owner,
            Method::GET,
            &format!("/api/notes/polygon/{inside}"),
            None,
        )
        .await
        .expect(200);
    assert_eq!(notes.body["notes"][0]["id"], note_id);
    world
        .call(
            Caller::Unrelated,
            Method::GET,
            &format!("/api/notes/polygon/{inside}"),
            None,
        )
        .await
        .expect_error(403, "forbidden");
    let manager_notes = world
        .call(Caller::GroupManager, Method::GET, "/api/notes", None)
        .await
        .expect(200);
    assert_eq!(
        manager_notes.body["notes"][0]["id"], note_id,
        "notes on polygons they see"
    );

    assert_eq!(
        polygon_ids(&world, Caller::GroupManager, "").await,
        [inside]
    );
    assert_eq!(
        polygon_ids(&world, Caller::Owner, "").await,
        [inside, private]
    );
    assert_eq!(
        polygon_ids(&world, Caller::Owner, &format!("?projectId={project}")).await,
        [inside]
    );
    assert_eq!(
        polygon_ids(&world, Caller::GroupMember, "?onlyMine=true").await,
        Vec::<i64>::new()
    );
    assert_eq!(
        polygon_ids(&world, Caller::Unrelated, "").await,
        Vec::<i64>::new()
    );
    for bad in ["?projectId=0", "?projectId=x", "?onlyMine=yes"] {
        world
            .call(
                Caller::Owner,
                Method::GET,
                &format!("/api/polygons{bad}"),
                None,
            )
            .await
            .expect_error(400, "validation_error");
    }

    // Filing a polygon under a project needs to see it.
    world
        .call(
            Caller::Unrelated,
            Method::POST,
            "/api/polygons",
            Some(square(Some(project))),
        )
        .await
        .expect_error(404, "not_found");
    world
        .call(
            Caller::GroupMember,
            Method::POST,
            "/api/polygons",
            Some(square(Some(project))),
        )
        .await
        .expect(200);

    // Deleting the project deletes its polygons and their notes.
    world
        .call(
            Caller::Owner,
            Method::DELETE,
            &format!("/api/projects/{project}"),
            None,
        )
        .await
        .expect(200);
    world
        .call(Caller::Owner, Method::GET, &path, None)
        .await
        .expect(404);
    assert_eq!(polygon_ids(&world, Caller::Owner, "").await, [private]);
}

async fn private_project(world: &World, polygon: i64) -> Value {
    world
        .call(
            Caller::Owner,
            Method::GET,
            &format!("/api/polygons/{polygon}"),
            None,
        )
        .await
        .expect(200)
        .body["polygon"]["project_id"]
        .clone()
}
