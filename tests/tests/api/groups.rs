//! Groups (reefguide-r2 §3.2) through the API: R2's owner, manager and member rules as a matrix
//! (with the unrelated analyst, the admin and the anonymous caller), the wire shapes and the
//! audit log.

use reefguide_adapters_postgres::test_support::TestBackend;
use reqwest::Method;
use rstest::rstest;
use serde_json::{Value, json};

use crate::sharing_world::{Caller, World};

/// The status each caller of [`Caller::ALL`] gets for `method path body`, each on a fresh
/// group (so one caller's change cannot decide the next one's answer).
async fn statuses(world: &World, method: Method, suffix: &str, body: Option<Value>) -> Vec<u16> {
    let mut seen = Vec::new();
    for (n, caller) in Caller::ALL.into_iter().enumerate() {
        let group = world.new_group(&format!("Group {n}")).await;
        let path = format!("/api/groups/{group}{suffix}");
        let reply = world
            .call(caller, method.clone(), &path, body.clone())
            .await;
        seen.push(reply.status.as_u16());
    }
    seen
}

#[rstest]
#[tokio::test]
async fn owners_managers_and_members_hold_r2s_rights(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let world = World::start(backend).await;
    let other = world.id(Caller::Sharee);
    // Order: owner, sharee (not in the group), manager, member, unrelated, admin, anonymous.
    assert_eq!(
        statuses(&world, Method::GET, "", None).await,
        [200, 404, 200, 200, 404, 200, 401]
    );
    assert_eq!(
        statuses(&world, Method::PUT, "", Some(json!({"name": "Renamed"}))).await,
        [200, 404, 200, 403, 404, 200, 401]
    );
    let users = Some(json!({"userIds": [other]}));
    assert_eq!(
        statuses(&world, Method::POST, "/members", users.clone()).await,
        [200, 404, 200, 403, 404, 200, 401]
    );
    assert_eq!(
        statuses(&world, Method::DELETE, "/members", users.clone()).await,
        [200, 404, 200, 403, 404, 200, 401]
    );
    assert_eq!(
        statuses(&world, Method::POST, "/managers", users.clone()).await,
        [200, 404, 403, 403, 404, 200, 401]
    );
    assert_eq!(
        statuses(&world, Method::DELETE, "/managers", users).await,
        [200, 404, 403, 403, 404, 200, 401]
    );
    let transfer = Some(json!({"newOwnerId": other}));
    assert_eq!(
        statuses(&world, Method::POST, "/transfer-ownership", transfer).await,
        [200, 404, 403, 403, 404, 200, 401]
    );
    assert_eq!(
        statuses(&world, Method::DELETE, "", None).await,
        [200, 404, 403, 403, 404, 200, 401]
    );
}

#[rstest]
#[tokio::test]
async fn groups_have_r2_shapes_and_their_events_are_logged(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let world = World::start(backend).await;
    let owner = world.id(Caller::Owner);
    let manager = world.id(Caller::GroupManager);
    let member = world.id(Caller::GroupMember);
    let sharee = world.id(Caller::Sharee);
    let path = format!("/api/groups/{}", world.group);
    let read = world
        .call(Caller::GroupMember, Method::GET, &path, None)
        .await
        .expect(200);
    let group = &read.body["group"];
    assert_eq!(group["name"], "Reef team");
    assert_eq!(group["owner_id"], owner);
    assert_eq!(
        group["owner"],
        json!({"id": owner, "email": "owner@example.com"})
    );
    assert_eq!(
        group["managers"][0]["user"],
        json!({"id": manager, "email": "manager@example.com"})
    );
    assert_eq!(group["members"][0]["user_id"], member);

    let added = world
        .call(
            Caller::GroupManager,
            Method::POST,
            &format!("{path}/members"),
            Some(json!({"userIds": [sharee, member, 777_777]})),
        )
        .await
        .expect(200);
    assert_eq!(
        added.body,
        json!({"message": "Member addition completed",
               "added": [{"userId": sharee, "userEmail": "sharee@example.com"}],
               "alreadyMembers": [{"userId": member, "userEmail": "member@example.com"}],
               "errors": [{"userId": 777_777, "error": "User not found"}]})
    );
    let removed = world
        .app
        .send(
            Method::DELETE,
            &format!("{path}/managers"),
            world.token(Caller::Owner),
            Some(json!({"userIds": [manager, sharee]})),
        )
        .await
        .expect(200);
    assert_eq!(removed.body["message"], "Manager removal completed");
    assert_eq!(removed.body["removed"][0]["userId"], manager);
    assert_eq!(removed.body["notManagers"][0]["userId"], sharee);
    // No longer a manager, not a member: the former manager no longer sees the group.
    world
        .call(Caller::GroupManager, Method::GET, &path, None)
        .await
        .expect_error(404, "not_found");

    for bad in [
        json!({"userIds": []}),
        json!({"userIds": [0]}),
        json!({"userIds": "1"}),
    ] {
        let reply = world
            .call(
                Caller::Owner,
                Method::POST,
                &format!("{path}/members"),
                Some(bad),
            )
            .await;
        assert_eq!(reply.status.as_u16(), 400, "{}", reply.text);
    }
    let too_many: Vec<i64> = (1..=101).collect();
    world
        .call(
            Caller::Owner,
            Method::POST,
            &format!("{path}/members"),
            Some(json!({"userIds": too_many})),
        )
        .await
        .expect_error(400, "validation_error");
    world
        .call(
            Caller::Owner,
            Method::POST,
            &format!("{path}/transfer-ownership"),
            Some(json!({"newOwnerId": 999_999})),
        )
        .await
        .expect_error(400, "user_not_found");

    let updated = world
        .call(
            Caller::Owner,
            Method::PUT,
            &path,
            Some(json!({"description": "  North  "})),
        )
        .await
        .expect(200);
    assert_eq!(updated.body["group"]["description"], "North");
    assert_eq!(updated.body["group"]["name"], "Reef team", "kept");
    let moved = world
        .call(
            Caller::Owner,
            Method::POST,
            &format!("{path}/transfer-ownership"),
            Some(json!({"newOwnerId": sharee})),
        )
        .await
        .expect(200);
    assert_eq!(
        moved.body["message"],
        "Group ownership transferred successfully"
    );
    assert_eq!(moved.body["group"]["owner_id"], sharee);
    // The former owner holds no seat any more.
    world
        .call(Caller::Owner, Method::GET, &path, None)
        .await
        .expect(404);

    let mine = world
        .call(Caller::Sharee, Method::GET, "/api/groups/user/me", None)
        .await
        .expect(200);
    assert_eq!(mine.body["groups"][0]["id"], world.group);
    let all = world
        .call(Caller::Admin, Method::GET, "/api/groups?limit=1", None)
        .await
        .expect(200);
    assert_eq!(
        all.body["pagination"],
        json!({"total": 1, "limit": 1, "offset": 0})
    );

    let actions = world.app.log_actions(owner).await;
    for action in [
        "CREATE_GROUP",
        "ADD_GROUP_MANAGER",
        "ADD_GROUP_MEMBER",
        "REMOVE_GROUP_MANAGER",
        "UPDATE_GROUP",
        "TRANSFER_GROUP_OWNERSHIP",
    ] {
        assert!(
            actions.iter().any(|a| a == action),
            "{action} in {actions:?}"
        );
    }
    assert!(
        world
            .app
            .log_actions(manager)
            .await
            .iter()
            .any(|a| a == "ADD_GROUP_MEMBER")
    );
    world
        .call(Caller::Sharee, Method::DELETE, &path, None)
        .await
        .expect(200);
    assert!(
        world
            .app
            .log_actions(sharee)
            .await
            .iter()
            .any(|a| a == "DELETE_GROUP")
    );
}
