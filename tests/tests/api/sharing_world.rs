//! The cast of the project and group matrices: an owner, a sharee, a group's manager and member,
//! an unrelated analyst, an administrator and the anonymous caller, with the ANALYST gate on
//! (as R2).

use reefguide_adapters_postgres::test_support::TestBackend;
use reefguide_domain::Role;
use reefguide_tests::{Reply, TestApp};
use reqwest::Method;
use serde_json::{Value, json};

/// Who calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caller {
    /// Owns the project and the group.
    Owner,
    /// The project is shared with them directly.
    Sharee,
    /// A manager of the group.
    GroupManager,
    /// A member of the group.
    GroupMember,
    /// An analyst with no relation to either.
    Unrelated,
    /// An administrator.
    Admin,
    /// No token.
    Anonymous,
}

impl Caller {
    /// Every caller.
    pub const ALL: [Caller; 7] = [
        Caller::Owner,
        Caller::Sharee,
        Caller::GroupManager,
        Caller::GroupMember,
        Caller::Unrelated,
        Caller::Admin,
        Caller::Anonymous,
    ];
}

/// The running service and its cast.
pub struct World {
    /// The service.
    pub app: TestApp,
    tokens: Vec<(Caller, String)>,
    ids: Vec<(Caller, i64)>,
    /// The group the manager and member are in (owned by the owner).
    pub group: i64,
}

impl World {
    /// Starts the service, registers the cast and makes the group.
    pub async fn start(backend: TestBackend) -> Self {
        let app =
            TestApp::spawn_with(backend, |s| s.auth.required_role = Some(Role::Analyst)).await;
        let mut tokens = Vec::new();
        let mut ids = Vec::new();
        for (caller, email) in [
            (Caller::Owner, "owner@example.com"),
            (Caller::Sharee, "sharee@example.com"),
            (Caller::GroupManager, "manager@example.com"),
            (Caller::GroupMember, "member@example.com"),
            (Caller::Unrelated, "unrelated@example.com"),
        ] {
            let (id, token) = app.user_with_roles(email, &["ANALYST"]).await;
            tokens.push((caller, token));
            ids.push((caller, id));
        }
        tokens.push((Caller::Admin, app.admin_token().await));
        let mut world = Self {
            app,
            tokens,
            ids,
            group: 0,
        };
        world.group = world.new_group("Reef team").await;
        world
    }

    /// A group owned by the owner with the manager and the member seated.
    pub async fn new_group(&self, name: &str) -> i64 {
        let created = self
            .call(
                Caller::Owner,
                Method::POST,
                "/api/groups",
                Some(json!({"name": name})),
            )
            .await
            .expect(201);
        let group = created.body["group"]["id"].as_i64().expect("group id");
        for (seat, caller) in [
            ("managers", Caller::GroupManager),
            ("members", Caller::GroupMember),
        ] {
            self.call(
                Caller::Owner,
                Method::POST,
                &format!("/api/groups/{group}/{seat}"),
                Some(json!({"userIds": [self.id(caller)]})),
            )
            .await
            .expect(200);
        }
        group
    }

    /// The caller's token (`None` for the anonymous caller).
    pub fn token(&self, caller: Caller) -> Option<&str> {
        self.tokens
            .iter()
            .find(|(who, _)| *who == caller)
            .map(|(_, token)| token.as_str())
    }

    /// The caller's user id (the cast's analysts only).
    pub fn id(&self, caller: Caller) -> i64 {
        self.ids
            .iter()
            .find(|(who, _)| *who == caller)
            .map(|(_, id)| *id)
            .expect("a cast member with an account")
    }

    /// Sends a request as `caller`.
    pub async fn call(
        &self,
        caller: Caller,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Reply {
        self.app.send(method, path, self.token(caller), body).await
    }

    /// Creates a project as the owner; returns its id.
    pub async fn project(&self, name: &str, public: bool) -> i64 {
        let reply = self
            .call(
                Caller::Owner,
                Method::POST,
                "/api/projects",
                Some(json!({
                    "name": name,
                    "type": "SITE_SELECTION",
                    "public": public,
                    "project_state": {"step": 1},
                })),
            )
            .await
            .expect(201);
        reply.body["project"]["id"].as_i64().expect("project id")
    }
}
