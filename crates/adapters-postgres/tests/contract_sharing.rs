//! The storage contract of projects and groups (reefguide-r2 §3.2), on both backends: who sees a
//! project (owner, public, direct share, a group's owner, manager or member), listing filters,
//! names unique per owner, share and seat changes item by item, transfers, and what deleting a
//! project, a group or a user takes with it.

#[allow(dead_code)] // Not every suite uses every shared helper.
mod common;

use common::database;
use reefguide_adapters_postgres::SeaOrmStore;
use reefguide_adapters_postgres::test_support::TestBackend;
use reefguide_domain::group::{GroupChange, GroupDraft, GroupId, GroupSeat};
use reefguide_domain::project::{NewProject, ProjectChange, ProjectId, ProjectState, ProjectType};
use reefguide_domain::text::Label;
use reefguide_domain::{Email, PasswordHash, Roles, UserId};
use reefguide_ports::{
    GroupQuery, GroupRepository, NewUser, ProjectQuery, ProjectRepository, ProjectWriteError,
    Toggle, TransferError, UserRepository,
};
use rstest::rstest;
use serde_json::json;

async fn user(store: &SeaOrmStore, address: &str) -> UserId {
    store
        .create_user(NewUser {
            email: Email::parse(address).expect("email"),
            password_hash: PasswordHash::from_phc("$argon2id$h".into()),
            roles: Roles::none(),
        })
        .await
        .expect("created")
        .id
}

fn new_project(owner: UserId, name: &str, is_public: bool) -> NewProject {
    NewProject {
        owner,
        name: Label::new(name).expect("name"),
        description: None,
        kind: ProjectType::SiteSelection,
        state: ProjectState::new(json!({"step": 1})).expect("state"),
        is_public,
    }
}

async fn project(store: &SeaOrmStore, owner: UserId, name: &str, is_public: bool) -> ProjectId {
    store
        .create_project(&new_project(owner, name, is_public))
        .await
        .expect("project")
        .project
        .id
}

async fn group(store: &SeaOrmStore, owner: UserId, name: &str) -> GroupId {
    store
        .create_group(
            owner,
            &GroupDraft {
                name: Label::new(name).expect("name"),
                description: None,
            },
        )
        .await
        .expect("group")
        .group
        .id
}

fn visible_to(user: UserId) -> ProjectQuery {
    ProjectQuery {
        visible_to: Some(user),
        owner: None,
        kind: None,
        name_contains: None,
        limit: 100,
        offset: 0,
    }
}

async fn visible(store: &SeaOrmStore, query: ProjectQuery) -> Vec<ProjectId> {
    let mut ids: Vec<ProjectId> = store
        .list_projects(&query)
        .await
        .expect("listed")
        .projects
        .iter()
        .map(|detail| detail.project.id)
        .collect();
    ids.sort();
    ids
}

#[rstest]
#[tokio::test]
async fn a_project_is_seen_by_its_owner_sharees_their_groups_and_everyone_when_public(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let db = database(backend).await;
    let store = db.store();
    let owner = user(store, "owner@example.com").await;
    let sharee = user(store, "sharee@example.com").await;
    let group_owner = user(store, "gowner@example.com").await;
    let manager = user(store, "manager@example.com").await;
    let member = user(store, "member@example.com").await;
    let stranger = user(store, "stranger@example.com").await;
    let private = project(store, owner, "Private", false).await;
    let public = project(store, owner, "Public", true).await;
    let team = group(store, group_owner, "Team").await;
    for (seat, who) in [(GroupSeat::Manager, manager), (GroupSeat::Member, member)] {
        store
            .change_seats(team, seat, &[who], Toggle::Add)
            .await
            .expect("seated")
            .expect("the group");
    }
    let to_users = store
        .share_with_users(
            private,
            &[sharee, sharee, UserId::new(999).expect("id")],
            Toggle::Add,
        )
        .await
        .expect("shared")
        .expect("the project");
    assert_eq!(to_users.changed.len(), 1, "a repeated id counts once");
    assert_eq!(to_users.missing, [UserId::new(999).expect("id")]);
    store
        .share_with_groups(private, &[team], Toggle::Add)
        .await
        .expect("shared")
        .expect("the project");

    for who in [owner, sharee, group_owner, manager, member] {
        assert_eq!(visible(store, visible_to(who)).await, [private, public]);
        assert!(
            store
                .project_shared_with(private, who)
                .await
                .expect("checked")
                || who == owner
        );
    }
    assert_eq!(visible(store, visible_to(stranger)).await, [public]);
    assert!(
        !store
            .project_shared_with(private, stranger)
            .await
            .expect("checked")
    );
    assert!(
        !store
            .project_shared_with(public, sharee)
            .await
            .expect("checked")
    );

    // Unsharing and leaving the group take the sight away.
    store
        .share_with_users(private, &[sharee], Toggle::Remove)
        .await
        .expect("unshared");
    store
        .change_seats(team, GroupSeat::Member, &[member], Toggle::Remove)
        .await
        .expect("removed");
    assert_eq!(visible(store, visible_to(sharee)).await, [public]);
    assert_eq!(visible(store, visible_to(member)).await, [public]);
    assert_eq!(visible(store, visible_to(manager)).await, [private, public]);

    // Deleting the group removes its shares; deleting the project removes it for everyone.
    assert!(store.delete_group(team).await.expect("deleted"));
    assert_eq!(visible(store, visible_to(manager)).await, [public]);
    assert!(store.delete_project(public).await.expect("deleted"));
    assert!(!store.delete_project(public).await.expect("second delete"));
    assert_eq!(
        visible(store, visible_to(stranger)).await,
        Vec::<ProjectId>::new()
    );
}

#[rstest]
#[tokio::test]
async fn listings_filter_by_owner_type_and_name_newest_change_first(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let db = database(backend).await;
    let store = db.store();
    let ana = user(store, "ana@example.com").await;
    let bob = user(store, "bob@example.com").await;
    let reef = project(store, ana, "Reef North", false).await;
    let adria = store
        .create_project(&NewProject {
            kind: ProjectType::AdriaAnalysis,
            ..new_project(ana, "ADRIA run", false)
        })
        .await
        .expect("project")
        .project
        .id;
    let bobs = project(store, bob, "reef south", true).await;
    let all = ProjectQuery {
        visible_to: None,
        ..visible_to(ana)
    };
    let page = store.list_projects(&all).await.expect("listed");
    assert_eq!(page.total, 3);
    let order: Vec<ProjectId> = page.projects.iter().map(|d| d.project.id).collect();
    assert_eq!(order, [bobs, adria, reef], "most recently changed first");
    let named = ProjectQuery {
        name_contains: Some("REEF".to_owned()),
        ..all.clone()
    };
    assert_eq!(visible(store, named).await, [reef, bobs]);
    let wildcard = ProjectQuery {
        name_contains: Some("%".to_owned()),
        ..all.clone()
    };
    assert_eq!(
        visible(store, wildcard).await,
        Vec::<ProjectId>::new(),
        "no LIKE wildcards"
    );
    let adria_only = ProjectQuery {
        kind: Some(ProjectType::AdriaAnalysis),
        ..all.clone()
    };
    assert_eq!(visible(store, adria_only).await, [adria]);
    let mine = ProjectQuery {
        owner: Some(bob),
        ..all.clone()
    };
    assert_eq!(visible(store, mine).await, [bobs]);
    let paged = store
        .list_projects(&ProjectQuery {
            limit: 1,
            offset: 1,
            ..all
        })
        .await
        .expect("listed");
    assert_eq!((paged.total, paged.projects.len()), (3, 1));
    assert_eq!(paged.projects[0].project.id, adria);

    // Changing a project puts it first.
    store
        .update_project(
            reef,
            &ProjectChange {
                description: Some(reefguide_domain::text::Description::new("north").expect("d")),
                ..ProjectChange::default()
            },
        )
        .await
        .expect("updated")
        .expect("the project");
    let first = store
        .list_projects(&visible_to(ana))
        .await
        .expect("listed")
        .projects[0]
        .project
        .id;
    assert_eq!(first, reef);
}

#[rstest]
#[tokio::test]
async fn names_are_unique_per_owner_also_on_rename(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let db = database(backend).await;
    let store = db.store();
    let ana = user(store, "ana@example.com").await;
    let bob = user(store, "bob@example.com").await;
    project(store, ana, "Survey", false).await;
    let other = project(store, ana, "Other", false).await;
    project(store, bob, "Survey", false).await;
    assert!(matches!(
        store.create_project(&new_project(ana, "Survey", true)).await,
        Err(ProjectWriteError::DuplicateName(name)) if name == "Survey"
    ));
    let rename = ProjectChange {
        name: Some(Label::new("Survey").expect("name")),
        ..ProjectChange::default()
    };
    assert!(matches!(
        store.update_project(other, &rename).await,
        Err(ProjectWriteError::DuplicateName(_))
    ));
    assert!(matches!(
        store
            .create_project(&new_project(UserId::new(999).expect("id"), "Orphan", false))
            .await,
        Err(ProjectWriteError::OwnerNotFound)
    ));
    assert!(
        store
            .update_project(ProjectId::new(999).expect("id"), &rename)
            .await
            .expect("no error")
            .is_none()
    );
}

#[rstest]
#[tokio::test]
async fn group_seats_change_item_by_item_and_ownership_moves(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let db = database(backend).await;
    let store = db.store();
    let ana = user(store, "ana@example.com").await;
    let bob = user(store, "bob@example.com").await;
    let carol = user(store, "carol@example.com").await;
    let team = group(store, ana, "Team").await;
    let added = store
        .change_seats(team, GroupSeat::Member, &[bob, carol], Toggle::Add)
        .await
        .expect("added")
        .expect("the group");
    assert_eq!(added.changed.len(), 2);
    let again = store
        .change_seats(team, GroupSeat::Member, &[bob], Toggle::Add)
        .await
        .expect("added")
        .expect("the group");
    assert_eq!((again.changed.len(), again.unchanged.len()), (0, 1));
    let removed = store
        .change_seats(team, GroupSeat::Manager, &[bob], Toggle::Remove)
        .await
        .expect("removed")
        .expect("the group");
    assert_eq!(removed.unchanged[0].id, bob, "bob was no manager");
    assert!(
        store
            .change_seats(
                GroupId::new(999).expect("id"),
                GroupSeat::Member,
                &[bob],
                Toggle::Add
            )
            .await
            .expect("no error")
            .is_none()
    );

    let detail = store
        .update_group(
            team,
            &GroupChange {
                name: Some(Label::new("Renamed").expect("name")),
                description: None,
            },
        )
        .await
        .expect("updated")
        .expect("the group");
    assert_eq!(detail.group.name.as_str(), "Renamed");
    assert_eq!(detail.members.len(), 2);
    assert_eq!(
        detail.owner.email.as_ref().map(Email::as_str),
        Some("ana@example.com")
    );

    let moved = store
        .transfer_group(team, carol)
        .await
        .expect("moved")
        .expect("the group");
    assert_eq!(moved.group.owner, carol);
    assert!(matches!(
        store
            .transfer_group(team, UserId::new(999).expect("id"))
            .await,
        Err(TransferError::NoSuchUser)
    ));

    let involving = |user| GroupQuery {
        involving: Some(user),
        limit: 10,
        offset: 0,
    };
    assert_eq!(
        store
            .list_groups(&involving(ana))
            .await
            .expect("listed")
            .total,
        0,
        "ana left it"
    );
    assert_eq!(
        store
            .list_groups(&involving(bob))
            .await
            .expect("listed")
            .total,
        1
    );
    assert_eq!(
        store
            .list_groups(&involving(carol))
            .await
            .expect("listed")
            .total,
        1
    );
}

#[rstest]
#[tokio::test]
async fn polygons_in_a_project_are_seen_with_it_and_go_with_it(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    use reefguide_domain::NoteContent;
    use reefguide_domain::geometry::{PolygonGeometry, PolygonLimits};
    use reefguide_ports::{NoteRepository, PolygonQuery, PolygonRepository};

    let db = database(backend).await;
    let store = db.store();
    let owner = user(store, "owner@example.com").await;
    let sharee = user(store, "sharee@example.com").await;
    let stranger = user(store, "stranger@example.com").await;
    let survey = project(store, owner, "Survey", false).await;
    let square = PolygonGeometry::parse(
        &json!({"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 1], [0, 0]]]}),
        PolygonLimits::default(),
    )
    .expect("square");
    let inside = store
        .create_polygon_in(owner, &square, Some(survey))
        .await
        .expect("created");
    assert_eq!(inside.project, Some(survey));
    let outside = store.create_polygon(owner, &square).await.expect("created");
    let theirs = store
        .create_polygon(sharee, &square)
        .await
        .expect("created");
    let note = store
        .create_note(
            owner,
            inside.id,
            &NoteContent::new("on the survey").expect("content"),
        )
        .await
        .expect("noted")
        .expect("the polygon");
    store
        .share_with_users(survey, &[sharee], Toggle::Add)
        .await
        .expect("shared");

    let seen = |viewer: UserId, project: Option<ProjectId>| PolygonQuery {
        owner: None,
        visible_to: Some(viewer),
        project,
        bbox: None,
        limit: 100,
        offset: 0,
    };
    let ids =
        |page: reefguide_ports::PolygonPage| page.polygons.iter().map(|p| p.id).collect::<Vec<_>>();
    assert_eq!(
        ids(store
            .list_polygons(&seen(sharee, None))
            .await
            .expect("listed")),
        [inside.id, theirs.id],
        "their own, and the shared project's; not the owner's other polygon"
    );
    assert_eq!(
        ids(store
            .list_polygons(&seen(sharee, Some(survey)))
            .await
            .expect("listed")),
        [inside.id]
    );
    assert_eq!(
        ids(store
            .list_polygons(&seen(stranger, None))
            .await
            .expect("listed")),
        Vec::<reefguide_domain::PolygonId>::new()
    );
    assert_eq!(
        store.list_notes(Some(sharee)).await.expect("listed"),
        std::slice::from_ref(&note)
    );
    assert_eq!(store.list_notes(Some(stranger)).await.expect("listed"), []);

    // Moving a polygon into the project with a new geometry; absent project keeps it.
    let moved = store
        .update_polygon_in(outside.id, &square, Some(survey))
        .await
        .expect("updated")
        .expect("the polygon");
    assert_eq!(moved.project, Some(survey));
    let kept = store
        .update_polygon(outside.id, &square)
        .await
        .expect("updated")
        .expect("the polygon");
    assert_eq!(kept.project, Some(survey));

    // Deleting the project deletes its polygons and their notes (R2's cascade).
    assert!(store.delete_project(survey).await.expect("deleted"));
    assert!(store.find_polygon(inside.id).await.expect("read").is_none());
    assert!(
        store
            .find_polygon(outside.id)
            .await
            .expect("read")
            .is_none()
    );
    assert!(store.find_note(note.id).await.expect("read").is_none());
    assert!(store.find_polygon(theirs.id).await.expect("read").is_some());
}
