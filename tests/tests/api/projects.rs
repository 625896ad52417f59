//! Projects (reefguide-r2 §3.2) through the API: the visibility matrix (owner, sharee, group
//! manager, group member, unrelated analyst, admin, anonymous) of every route, R2's hole closed
//! (seeing a project, even a public one, never lets anyone but its owner or an admin change it),
//! the wire shapes, and the audit log.

use reefguide_adapters_postgres::test_support::TestBackend;
use reqwest::Method;
use rstest::rstest;
use serde_json::{Value, json};

use crate::sharing_world::{Caller, World};

/// The project ids a caller's listing shows.
async fn listed(world: &World, caller: Caller) -> Vec<i64> {
    let reply = world
        .call(caller, Method::GET, "/api/projects", None)
        .await
        .expect(200);
    let mut ids: Vec<i64> = reply.body["projects"]
        .as_array()
        .expect("projects")
        .iter()
        .map(|p| p["id"].as_i64().expect("id"))
        .collect();
    ids.sort_unstable();
    ids
}

/// The status each caller of [`Caller::ALL`] gets for `method path body`, in that order.
async fn statuses(world: &World, method: Method, path: &str, body: Option<Value>) -> Vec<u16> {
    let mut seen = Vec::new();
    for caller in Caller::ALL {
        let reply = world.call(caller, method.clone(), path, body.clone()).await;
        seen.push(reply.status.as_u16());
    }
    seen
}

#[rstest]
#[tokio::test]
async fn who_sees_a_private_shared_project_and_who_may_change_it(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let world = World::start(backend).await;
    let project = world.project("Shared survey", false).await;
    let path = format!("/api/projects/{project}");
    world
        .call(
            Caller::Owner,
            Method::POST,
            &format!("{path}/share/users"),
            Some(json!({"userIds": [world.id(Caller::Sharee)]})),
        )
        .await
        .expect(200);
    world
        .call(
            Caller::Owner,
            Method::POST,
            &format!("{path}/share/groups"),
            Some(json!({"groupIds": [world.group]})),
        )
        .await
        .expect(200);

    // Order: owner, sharee, group manager, group member, unrelated, admin, anonymous.
    assert_eq!(
        statuses(&world, Method::GET, &path, None).await,
        [200, 200, 200, 200, 404, 200, 401]
    );
    let rename = Some(json!({"description": "changed"}));
    assert_eq!(
        statuses(&world, Method::PUT, &path, rename).await,
        [200, 403, 403, 403, 404, 200, 401]
    );
    // Sharing again with the sharee changes nothing, so every caller meets the same project.
    let share = Some(json!({"userIds": [world.id(Caller::Sharee)]}));
    let share_path = format!("{path}/share/users");
    assert_eq!(
        statuses(&world, Method::POST, &share_path, share).await,
        [200, 403, 403, 403, 404, 200, 401]
    );
    let groups = Some(json!({"groupIds": [world.group]}));
    assert_eq!(
        statuses(
            &world,
            Method::POST,
            &format!("{path}/share/groups"),
            groups
        )
        .await,
        [200, 403, 403, 403, 404, 200, 401]
    );
    let publicity = Some(json!({"isPublic": false}));
    assert_eq!(
        statuses(&world, Method::PUT, &format!("{path}/publicity"), publicity).await,
        [200, 403, 403, 403, 404, 200, 401]
    );
    for caller in [
        Caller::Sharee,
        Caller::GroupManager,
        Caller::GroupMember,
        Caller::Unrelated,
    ] {
        world
            .call(caller, Method::DELETE, &path, None)
            .await
            .expect(if caller == Caller::Unrelated {
                404
            } else {
                403
            });
    }
    world
        .call(Caller::Anonymous, Method::DELETE, &path, None)
        .await
        .expect(401);

    for caller in [
        Caller::Owner,
        Caller::Sharee,
        Caller::GroupManager,
        Caller::GroupMember,
    ] {
        assert_eq!(listed(&world, caller).await, [project], "{caller:?}");
    }
    assert_eq!(listed(&world, Caller::Unrelated).await, Vec::<i64>::new());
    assert_eq!(listed(&world, Caller::Admin).await, [project]);

    world
        .call(Caller::Owner, Method::DELETE, &path, None)
        .await
        .expect(200);
    world
        .call(Caller::Owner, Method::GET, &path, None)
        .await
        .expect(404);
}

#[rstest]
#[tokio::test]
async fn a_public_project_is_seen_by_every_analyst_and_changed_by_none_but_its_owner(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let world = World::start(backend).await;
    let public = world.project("Open survey", true).await;
    let path = format!("/api/projects/{public}");
    assert_eq!(
        statuses(&world, Method::GET, &path, None).await,
        [200, 200, 200, 200, 200, 200, 401]
    );
    // R2's hole: there, any analyst who saw a project could update and delete it.
    for (method, body) in [
        (
            Method::PUT,
            Some(json!({"name": "Hijacked", "project_state": {"gone": true}})),
        ),
        (Method::DELETE, None),
    ] {
        world
            .call(Caller::Unrelated, method.clone(), &path, body.clone())
            .await
            .expect_error(403, "forbidden");
    }
    for (suffix, body) in [
        (
            "/share/users",
            json!({"userIds": [world.id(Caller::Unrelated)]}),
        ),
        ("/share/groups", json!({"groupIds": [world.group]})),
    ] {
        world
            .call(
                Caller::Unrelated,
                Method::POST,
                &format!("{path}{suffix}"),
                Some(body),
            )
            .await
            .expect_error(403, "forbidden");
    }
    world
        .call(
            Caller::Unrelated,
            Method::PUT,
            &format!("{path}/publicity"),
            Some(json!({"isPublic": false})),
        )
        .await
        .expect_error(403, "forbidden");
    let unchanged = world
        .call(Caller::Owner, Method::GET, &path, None)
        .await
        .expect(200);
    assert_eq!(unchanged.body["project"]["name"], "Open survey");
    assert_eq!(
        unchanged.body["project"]["project_state"],
        json!({"step": 1})
    );
    assert_eq!(unchanged.body["project"]["is_public"], true);
    assert_eq!(listed(&world, Caller::Unrelated).await, [public]);

    let private = world
        .call(
            Caller::Owner,
            Method::PUT,
            &format!("{path}/publicity"),
            Some(json!({"isPublic": false})),
        )
        .await
        .expect(200);
    assert_eq!(
        private.body,
        json!({"message": "Project is now private",
               "project": {"id": public, "name": "Open survey", "isPublic": false}})
    );
    world
        .call(Caller::Unrelated, Method::GET, &path, None)
        .await
        .expect(404);
}

#[rstest]
#[tokio::test]
async fn projects_have_r2_shapes_names_unique_per_owner_and_audit_entries(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let world = World::start(backend).await;
    let owner = world.id(Caller::Owner);
    let created = world
        .call(
            Caller::Owner,
            Method::POST,
            "/api/projects",
            Some(
                json!({"name": "  Reef A ", "description": "  ", "type": "ADRIA_ANALYSIS",
                        "project_state": {"runs": [1, 2]}}),
            ),
        )
        .await
        .expect(201);
    let project = &created.body["project"];
    assert_eq!(project["name"], "Reef A", "trimmed");
    assert_eq!(project["description"], Value::Null, "blank is none");
    assert_eq!(project["type"], "ADRIA_ANALYSIS");
    assert_eq!(project["is_public"], false);
    assert_eq!(project["user_id"], owner);
    assert_eq!(
        project["user"],
        json!({"id": owner, "email": "owner@example.com"})
    );
    assert_eq!(project["userShares"], json!([]));
    assert_eq!(project["groupShares"], json!([]));
    let id = project["id"].as_i64().expect("id");

    world
        .call(
            Caller::Owner,
            Method::POST,
            "/api/projects",
            Some(json!({"name": "Reef A", "type": "SITE_SELECTION", "project_state": {}})),
        )
        .await
        .expect_error(400, "duplicate_name");
    // Another owner may use the name.
    world
        .call(
            Caller::Sharee,
            Method::POST,
            "/api/projects",
            Some(json!({"name": "Reef A", "type": "SITE_SELECTION", "project_state": {}})),
        )
        .await
        .expect(201);
    for bad in [
        json!({"name": " ", "type": "SITE_SELECTION", "project_state": {}}),
        json!({"name": "x", "type": "OTHER", "project_state": {}}),
        json!({"name": "x", "type": "SITE_SELECTION", "project_state": null}),
        json!({"name": "x".repeat(201), "type": "SITE_SELECTION", "project_state": {}}),
    ] {
        let reply = world
            .call(Caller::Owner, Method::POST, "/api/projects", Some(bad))
            .await;
        assert_eq!(reply.status.as_u16(), 400, "{}", reply.text);
    }

    let shared = world
        .call(
            Caller::Owner,
            Method::POST,
            &format!("/api/projects/{id}/share/users"),
            Some(json!({"userIds": [world.id(Caller::Sharee), world.id(Caller::Sharee), 999_999]})),
        )
        .await
        .expect(200);
    assert_eq!(
        shared.body,
        json!({"message": "Project sharing completed",
               "shared": [{"userId": world.id(Caller::Sharee), "userEmail": "sharee@example.com"}],
               "alreadyShared": [],
               "errors": [{"userId": 999_999, "error": "User not found"}]})
    );
    let again = world
        .call(
            Caller::Owner,
            Method::POST,
            &format!("/api/projects/{id}/share/groups"),
            Some(json!({"groupIds": [world.group, 424_242]})),
        )
        .await
        .expect(200);
    assert_eq!(
        again.body["shared"],
        json!([{"groupId": world.group, "groupName": "Reef team"}])
    );
    assert_eq!(
        again.body["errors"],
        json!([{"groupId": 424_242, "error": "Group not found"}])
    );
    let read = world
        .call(
            Caller::GroupMember,
            Method::GET,
            &format!("/api/projects/{id}"),
            None,
        )
        .await
        .expect(200);
    assert_eq!(
        read.body["project"]["userShares"][0]["user"]["email"],
        "sharee@example.com"
    );
    assert_eq!(
        read.body["project"]["groupShares"][0]["group"]["name"],
        "Reef team"
    );
    let unshared = world
        .app
        .send(
            Method::DELETE,
            &format!("/api/projects/{id}/share/users"),
            world.token(Caller::Owner),
            Some(json!({"userIds": [world.id(Caller::Unrelated)]})),
        )
        .await
        .expect(200);
    assert_eq!(
        unshared.body["notShared"][0]["userId"],
        world.id(Caller::Unrelated)
    );

    let renamed = world
        .call(
            Caller::Owner,
            Method::PUT,
            &format!("/api/projects/{id}"),
            Some(json!({"name": "Reef B", "description": "north", "project_state": null})),
        )
        .await
        .expect(200);
    assert_eq!(renamed.body["project"]["name"], "Reef B");
    assert_eq!(renamed.body["project"]["description"], "north");
    assert_eq!(
        renamed.body["project"]["project_state"],
        json!({"runs": [1, 2]}),
        "null keeps it"
    );

    let mine = world
        .call(Caller::Owner, Method::GET, "/api/projects/user/me", None)
        .await
        .expect(200);
    assert_eq!(
        mine.body["pagination"],
        json!({"total": 1, "limit": 1, "offset": 0})
    );
    let filtered = world
        .call(
            Caller::Admin,
            Method::GET,
            "/api/projects?type=ADRIA_ANALYSIS&name=reef%20b&limit=5",
            None,
        )
        .await
        .expect(200);
    assert_eq!(
        filtered.body["pagination"],
        json!({"total": 1, "limit": 5, "offset": 0})
    );
    for bad in ["?type=NOPE", "?limit=ten", "?offset=-1"] {
        world
            .call(
                Caller::Owner,
                Method::GET,
                &format!("/api/projects{bad}"),
                None,
            )
            .await
            .expect_error(400, "validation_error");
    }

    let actions = world.app.log_actions(owner).await;
    for action in [
        "CREATE_PROJECT",
        "SHARE_PROJECT",
        "UPDATE_PROJECT",
        "CREATE_GROUP",
        "ADD_GROUP_MEMBER",
        "ADD_GROUP_MANAGER",
    ] {
        assert!(
            actions.iter().any(|a| a == action),
            "{action} in {actions:?}"
        );
    }
    assert!(
        !actions.iter().any(|a| a == "UNSHARE_PROJECT"),
        "an unshare that changed nothing is not logged: {actions:?}"
    );
}

#[rstest]
#[tokio::test]
async fn bulk_creation_is_for_admins_and_answers_project_by_project(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let world = World::start(backend).await;
    let owner = world.id(Caller::Owner);
    world.project("Taken", false).await;
    let body = json!({"userId": owner, "projects": [
        {"name": "One", "type": "SITE_SELECTION", "project_state": {}},
        {"name": "Taken", "type": "SITE_SELECTION", "project_state": {}},
    ]});
    world
        .call(
            Caller::Owner,
            Method::POST,
            "/api/projects/bulk",
            Some(body.clone()),
        )
        .await
        .expect_error(403, "forbidden");
    let reply = world
        .call(
            Caller::Admin,
            Method::POST,
            "/api/projects/bulk",
            Some(body),
        )
        .await
        .expect(201);
    assert_eq!(
        reply.body["summary"],
        json!({"totalRequested": 2, "totalCreated": 1, "totalErrors": 1})
    );
    assert_eq!(reply.body["created"][0]["user_id"], owner);
    assert_eq!(reply.body["errors"][0]["name"], "Taken");
    let nobody = world
        .call(
            Caller::Admin,
            Method::POST,
            "/api/projects/bulk",
            Some(json!({"userId": 999_999, "projects": [
                {"name": "Orphan", "type": "SITE_SELECTION", "project_state": {}}]})),
        )
        .await
        .expect(201);
    assert_eq!(
        nobody.body["errors"],
        json!([{"name": "Orphan", "error": "User with ID 999999 not found"}])
    );
}

#[rstest]
#[tokio::test]
async fn projects_are_behind_the_user_features_gate(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let world = World::start(backend).await;
    let (_, no_role) = world.app.user("plain@example.com").await;
    for path in ["/api/projects", "/api/projects/user/me", "/api/groups"] {
        world
            .app
            .get(path, Some(&no_role))
            .await
            .expect_error(403, "forbidden");
    }
}
