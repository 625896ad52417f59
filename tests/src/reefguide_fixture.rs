//! A ReefGuide database to import from (issue 26): a scratch Postgres database with ReefGuide's
//! schema, R1 (`tests/fixtures/reefguide_r1.sql`) or R2 (that plus
//! `tests/fixtures/reefguide_r2.sql`), written from `shared/spec/reefguide-schema.md`.
//!
//! [`ReefGuideFixture::create`] makes the empty database (`reefguide_src_<random>` on the tests'
//! Postgres server, the one `TestDatabase` uses), dropped with the value. Then either
//! [`ReefGuideFixture::fill_realistic`] inserts a small set of rows such as a live ReefGuide
//! holds, including its oddities (bcrypt hashes of both prefixes, emails differing only by case,
//! geometry our validation refuses, a polygon stored as a JSON string, jobs in every state), and
//! returns the [`Facts`] the import tests check through the API; or
//! [`ReefGuideFixture::fill_bulk`] generates many rows in SQL for the import benchmark.
//!
//! Ids have gaps (rows deleted in ReefGuide's life) and the sequences stand past the highest id,
//! as in a real database. Timestamps are fixed (UTC, milliseconds) except the lease of the job
//! that is running, which ends an hour after the fill so that nothing times it out during a test.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{SecondsFormat, Utc};
use reefguide_adapters_postgres::test_support::ScratchPostgres;
use reefguide_domain::job::PayloadHash;
use sea_orm::{ConnectOptions, ConnectionTrait as _, Database, DatabaseConnection, Statement};
use serde_json::{Value, json};

/// Prefix of every source database a test creates.
pub const SOURCE_DATABASE_PREFIX: &str = "reefguide_src_";

/// R1's schema.
const R1_DDL: &str = include_str!("../fixtures/reefguide_r1.sql");
/// R2's additions to it.
const R2_DDL: &str = include_str!("../fixtures/reefguide_r2.sql");

/// Which ReefGuide the fixture database is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Release {
    /// `open-AIMS/reefguide-web-api`.
    R1,
    /// `open-AIMS/reefguide` (`packages/db`).
    R2,
}

impl Release {
    /// `"R1"` or `"R2"`, as the import report names it.
    pub fn name(self) -> &'static str {
        match self {
            Self::R1 => "R1",
            Self::R2 => "R2",
        }
    }
}

/// A scratch ReefGuide database, dropped with this value.
pub struct ReefGuideFixture {
    release: Release,
    url: String,
    // Fields drop in order: the pool goes before the database it points to.
    connection: DatabaseConnection,
    database: ScratchPostgres,
}

impl std::fmt::Debug for ReefGuideFixture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReefGuideFixture")
            .field("release", &self.release)
            .field("database", &self.database.name())
            .finish_non_exhaustive()
    }
}

impl ReefGuideFixture {
    /// Creates an empty ReefGuide database of `release` (its schema and Prisma's migration
    /// records, no rows).
    ///
    /// # Panics
    /// When the tests' Postgres server cannot be reached or the DDL fails.
    pub async fn create(release: Release) -> Self {
        let database = ScratchPostgres::create(SOURCE_DATABASE_PREFIX)
            .await
            .unwrap_or_else(|error| panic!("cannot create a ReefGuide database: {error:#}"));
        let url = database.url().to_owned();
        let connection = connect(&url, 2).await;
        let fixture = Self {
            release,
            url,
            connection,
            database,
        };
        fixture.execute(R1_DDL).await;
        if release == Release::R2 {
            fixture.execute(R2_DDL).await;
        }
        fixture
    }

    /// Which ReefGuide this is.
    pub fn release(&self) -> Release {
        self.release
    }

    /// The database's `postgres://` URL (what `reefguide import reefguide --from` takes).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Runs SQL (any number of statements, no parameters) on the database.
    ///
    /// # Panics
    /// When it fails, with the error.
    pub async fn execute(&self, sql: &str) {
        self.connection
            .execute_unprepared(sql)
            .await
            .unwrap_or_else(|error| panic!("ReefGuide fixture SQL failed: {error}\n{sql}"));
    }

    /// The number of rows of `table`, a table name as written in SQL (`"\"User\""`, `"projects"`).
    ///
    /// # Panics
    /// When the query fails.
    pub async fn count(&self, table: &str) -> u64 {
        self.scalar_i64(&format!("SELECT count(*) AS n FROM {table}"))
            .await
            .try_into()
            .expect("a count is not negative")
    }

    /// The number of rows of every data table, under the import report's table names
    /// (`users`, `user_logs`, `polygons`, `notes`, `jobs`, `job_requests`, `job_assignments`,
    /// `job_results`, `refresh_tokens`, and R2's own table names).
    pub async fn counts(&self) -> BTreeMap<&'static str, u64> {
        let mut counts = BTreeMap::new();
        for (name, table) in SOURCE_TABLES {
            counts.insert(name, self.count(table).await);
        }
        if self.release == Release::R2 {
            for table in R2_TABLES {
                counts.insert(table, self.count(table).await);
            }
        }
        counts
    }

    /// One `bigint`-compatible value (column `n`) of a query.
    ///
    /// # Panics
    /// When the query fails or returns no row.
    pub async fn scalar_i64(&self, sql: &str) -> i64 {
        let row = self
            .connection
            .query_one_raw(Statement::from_string(
                sea_orm::DatabaseBackend::Postgres,
                sql.to_owned(),
            ))
            .await
            .unwrap_or_else(|error| panic!("ReefGuide fixture query failed: {error}\n{sql}"))
            .unwrap_or_else(|| panic!("no row: {sql}"));
        row.try_get::<i64>("", "n")
            .unwrap_or_else(|error| panic!("column n of {sql}: {error}"))
    }

    /// One text value (column `t`) of a query.
    ///
    /// # Panics
    /// When the query fails or returns no row.
    pub async fn scalar_text(&self, sql: &str) -> String {
        let row = self
            .connection
            .query_one_raw(Statement::from_string(
                sea_orm::DatabaseBackend::Postgres,
                sql.to_owned(),
            ))
            .await
            .unwrap_or_else(|error| panic!("ReefGuide fixture query failed: {error}\n{sql}"))
            .unwrap_or_else(|| panic!("no row: {sql}"));
        row.try_get::<String>("", "t")
            .unwrap_or_else(|error| panic!("column t of {sql}: {error}"))
    }

    /// Inserts the realistic rows (see [`Facts`]) and returns what they are.
    ///
    /// # Panics
    /// When an insert fails.
    pub async fn fill_realistic(&self) -> Facts {
        let facts = realistic_facts(self.release).await;
        self.execute(&insert_sql(&facts)).await;
        if self.release == Release::R2 {
            self.execute(R2_ROWS).await;
        }
        self.execute(ADVANCE_SEQUENCES).await;
        if self.release == Release::R2 {
            self.execute(ADVANCE_R2_SEQUENCES).await;
        }
        facts
    }

    /// Generates `users` users (one LOGIN log entry each), `polygons` polygons (one in a hundred
    /// self-intersecting; a note on one in five) and `jobs` TEST jobs with their requests, in
    /// every state (half SUCCEEDED), with assignments for those that started and results for
    /// those that finished, all in SQL (`generate_series`), so that the benchmark's 10,000
    /// users, 50,000 polygons and 200,000 jobs take seconds. Every user's password is
    /// [`BULK_PASSWORD`] (one bcrypt hash, made once); user 1 is an ADMIN. Job `n` is
    /// `{"id": n}` with its exact contract §7 hash, so cache hits work on the imported rows.
    ///
    /// # Panics
    /// When an insert fails or `users` is 0.
    pub async fn fill_bulk(&self, users: u32, polygons: u32, jobs: u32) -> BulkFacts {
        assert!(users > 0, "bulk rows need at least one user");
        let hash = tokio::task::spawn_blocking(|| {
            bcrypt::hash_with_result(BULK_PASSWORD, BCRYPT_COST)
                .expect("bcrypt")
                .format_for_version(bcrypt::Version::TwoB)
        })
        .await
        .expect("bcrypt thread");
        let sql = BULK_SQL
            .replace("{users}", &users.to_string())
            .replace("{polygons}", &polygons.to_string())
            .replace("{jobs}", &jobs.to_string())
            .replace("{hash}", &quote(&hash));
        self.execute(&sql).await;
        self.execute(ADVANCE_SEQUENCES).await;
        let counts = self.counts().await;
        BulkFacts {
            invalid_polygons: polygons / 100,
            counts,
        }
    }
}

/// The password of every user [`ReefGuideFixture::fill_bulk`] makes.
pub const BULK_PASSWORD: &str = "bulk-user-password";

/// What [`ReefGuideFixture::fill_bulk`] made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BulkFacts {
    /// Rows per table, under the import report's names (see [`ReefGuideFixture::counts`]).
    pub counts: BTreeMap<&'static str, u64>,
    /// How many polygons are self-intersecting (ids 100, 200, …).
    pub invalid_polygons: u32,
}

/// The cost ReefGuide hashes passwords with (bcryptjs' and bcrypt's default in R1 and R2).
pub const BCRYPT_COST: u32 = 10;

/// The import report's name of each table of R1's schema, and the table as written in SQL.
pub const SOURCE_TABLES: [(&str, &str); 9] = [
    ("users", "\"User\""),
    ("user_logs", "\"UserLog\""),
    ("polygons", "\"Polygon\""),
    ("notes", "\"PolygonNote\""),
    ("jobs", "\"Job\""),
    ("job_requests", "\"JobRequest\""),
    ("job_assignments", "\"JobAssignment\""),
    ("job_results", "\"JobResult\""),
    ("refresh_tokens", "\"RefreshToken\""),
];

/// R2's own tables (their names in SQL and in the report); all but `password_reset_codes` are
/// imported.
pub const R2_TABLES: [&str; 11] = [
    "pre_approved_users",
    "projects",
    "project_user_shares",
    "project_group_shares",
    "groups",
    "group_managers",
    "group_members",
    "regions",
    "criteria",
    "regional_criteria",
    "password_reset_codes",
];

// -------------------------------------------------------------------------------------------------
// Facts
// -------------------------------------------------------------------------------------------------

/// Everything [`ReefGuideFixture::fill_realistic`] inserted, as the import tests need it.
///
/// The rows, ids with gaps:
/// - users 1 (`admin@reefguide.example`, ADMIN), 2 (`Marie.Curie@AIMS.gov.au`: mixed case, a
///   `$2a$` hash), 3 (`Ana@Example.com`) and 5 (`ana@example.com`: the same address but for
///   case, another password), 7 (`bob@example.com`, `$2a$`) and 8 (`worker@reefguide.example`,
///   ADMIN, as R1's worker service account is). In R2, 2 and 3 are `[ANALYST, DEFAULT]` and 5
///   and 7 `[DEFAULT]`;
/// - polygons 1–4, 6–10 and 12: valid ones (one with a hole), a self-intersecting bow-tie (4),
///   `[[]]` (7), a JSON *string* holding a valid polygon (8, as R1's test fixtures store them),
///   a hole outside its shell (9), an unclosed ring (12); in R2, polygons 1 and 3 are in
///   projects;
/// - notes on some of them, one by the admin on another user's polygon;
/// - jobs in every status, with assignments (`s3://reefguide-results/jobs/<job id>`) for those
///   that started and results for those that finished; requests for every job plus cache hits by
///   other users; in R2 also an `ADRIA_MODEL_RUN` whose result's cache was invalidated and a
///   `DATA_SPECIFICATION_UPDATE`;
/// - a user log (LOGIN, LOGOUT, CHANGE_PASSWORD, UPDATED) and refresh tokens (one token value
///   twice: they are not unique);
/// - in R2, rows in every R2 table (pre-approvals, projects and their shares, groups with
///   managers and members, regions, criteria, regional criteria, a reset code).
#[derive(Debug, Clone)]
pub struct Facts {
    /// Which ReefGuide.
    pub release: Release,
    /// The users, by id.
    pub users: Vec<FixtureUser>,
    /// The polygons, by id.
    pub polygons: Vec<FixturePolygon>,
    /// The notes, by id.
    pub notes: Vec<FixtureNote>,
    /// The jobs with their assignments and results, by id.
    pub jobs: Vec<FixtureJob>,
    /// The job requests, by id.
    pub job_requests: Vec<FixtureJobRequest>,
    /// The user log, by id.
    pub user_logs: Vec<FixtureUserLog>,
    /// The refresh tokens, by id.
    pub refresh_tokens: Vec<FixtureRefreshToken>,
    /// The source ADMIN user who is a person (not a service account).
    pub admin: i32,
    /// The two users whose emails differ only by case.
    pub case_duplicates: CaseDuplicates,
    /// A SUCCEEDED job with a cache-valid result: submitting its type and payload again must be
    /// a cache hit on it.
    pub cache_hit_job: i32,
    /// Jobs whose type and payload submitted again must make a new job: FAILED, CANCELLED,
    /// TIMED_OUT, and in R2 a SUCCEEDED one whose result's cache was invalidated.
    pub never_cache_hits: Vec<i32>,
    /// R2 tables and their row counts (none in R1).
    pub r2_tables: BTreeMap<&'static str, u64>,
    /// R2's projects (none in R1).
    pub projects: Vec<FixtureProject>,
    /// R2's groups (none in R1).
    pub groups: Vec<FixtureGroup>,
    /// R2's pre-approvals (none in R1).
    pub pre_approvals: Vec<FixturePreApproval>,
}

/// An R2 `projects` row with its shares (as [`R2_PROJECTS`] and [`R2_ROWS`] insert them).
#[derive(Debug, Clone)]
pub struct FixtureProject {
    /// Id.
    pub id: i32,
    /// Name.
    pub name: &'static str,
    /// `ProjectType` name.
    pub kind: &'static str,
    /// The saved state.
    pub project_state: Value,
    /// Seen by everyone.
    pub is_public: bool,
    /// Owner (a source user id).
    pub owner: i32,
    /// Users it is shared with (source ids).
    pub user_shares: Vec<i32>,
    /// Groups it is shared with.
    pub group_shares: Vec<i32>,
}

/// An R2 `groups` row with its seats.
#[derive(Debug, Clone)]
pub struct FixtureGroup {
    /// Id.
    pub id: i32,
    /// Name.
    pub name: &'static str,
    /// Owner (a source user id).
    pub owner: i32,
    /// Managers (source ids).
    pub managers: Vec<i32>,
    /// Members (source ids).
    pub members: Vec<i32>,
}

/// An R2 `pre_approved_users` row.
#[derive(Debug, Clone)]
pub struct FixturePreApproval {
    /// Id.
    pub id: i32,
    /// The address.
    pub email: &'static str,
    /// `UserRole` names.
    pub roles: Vec<&'static str>,
    /// Whether a registration used it.
    pub used: bool,
}

/// A `"User"` row and what hangs off it.
#[derive(Debug, Clone)]
pub struct FixtureUser {
    /// Id.
    pub id: i32,
    /// The email as stored (case kept).
    pub email: String,
    /// The password its bcrypt hash was made from.
    pub password: String,
    /// The bcrypt hash as stored (`$2a$10$…` or `$2b$10$…`).
    pub password_hash: String,
    /// Roles as stored (`UserRole` names).
    pub stored_roles: Vec<&'static str>,
    /// The roles it should have once imported: `DEFAULT` dropped, the rest kept, sorted.
    pub roles: Vec<&'static str>,
    /// Its polygons.
    pub polygon_ids: Vec<i32>,
    /// The notes it wrote.
    pub note_ids: Vec<i32>,
    /// The jobs it owns.
    pub job_ids: Vec<i32>,
    /// The jobs it requested through the cache (owned by others).
    pub requested_job_ids: Vec<i32>,
    /// Its requests.
    pub job_request_ids: Vec<i32>,
    /// Its log entries.
    pub log_ids: Vec<i32>,
}

/// Two users whose emails differ only by case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CaseDuplicates {
    /// The lower id (`Ana@Example.com`): kept by a merge.
    pub kept: i32,
    /// The higher id (`ana@example.com`): merged into `kept`.
    pub merged: i32,
}

/// A `"Polygon"` row.
#[derive(Debug, Clone)]
pub struct FixturePolygon {
    /// Id.
    pub id: i32,
    /// Owner.
    pub user_id: i32,
    /// `created_at`, ISO-8601 UTC with milliseconds (as the API shows it).
    pub created_at: String,
    /// The `polygon` column as stored: a GeoJSON object, or a JSON string holding one.
    pub stored: Value,
    /// The geometry object (`stored`, unwrapped when it is a string).
    pub geometry: Value,
    /// Whether `stored` is a JSON string.
    pub stored_as_string: bool,
    /// Why our validation refuses the geometry, if it does.
    pub problem: Option<GeometryProblem>,
    /// R2's project.
    pub project_id: Option<i32>,
}

/// How a stored geometry breaks contract §5's rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GeometryProblem {
    /// A bow-tie: the ring crosses itself.
    SelfIntersecting,
    /// `{"type":"Polygon","coordinates":[[]]}` (R2 accepts it).
    EmptyRing,
    /// A hole lying outside its shell (R1's checks pass it).
    HoleOutsideShell,
    /// A ring whose last position is not its first (R2 does not check closure).
    UnclosedRing,
}

impl GeometryProblem {
    /// Words our geometry validation's message has for this problem (`ring 0 self-intersects
    /// near (146.1, -17.9)`…): what a reason naming the problem contains.
    pub fn phrase(self) -> &'static str {
        match self {
            Self::SelfIntersecting => "self-intersects",
            Self::EmptyRing => "needs at least 4",
            Self::HoleOutsideShell => "not inside the shell",
            Self::UnclosedRing => "not closed",
        }
    }
}

/// A `"PolygonNote"` row.
#[derive(Debug, Clone)]
pub struct FixtureNote {
    /// Id.
    pub id: i32,
    /// Author.
    pub user_id: i32,
    /// The polygon.
    pub polygon_id: i32,
    /// Text.
    pub content: String,
    /// `created_at`, ISO-8601 UTC with milliseconds.
    pub created_at: String,
}

/// A `"Job"` row with its assignments and results.
#[derive(Debug, Clone)]
pub struct FixtureJob {
    /// Id.
    pub id: i32,
    /// Owner.
    pub user_id: i32,
    /// `JobType` name.
    pub job_type: &'static str,
    /// `JobStatus` name.
    pub status: &'static str,
    /// Input.
    pub input_payload: Value,
    /// Contract §7's hash of type and input (as R1 computes it, and as we do).
    pub hash: String,
    /// `created_at`, ISO-8601 UTC with milliseconds.
    pub created_at: String,
    /// `updated_at`, likewise.
    pub updated_at: String,
    /// Its assignments, oldest first.
    pub assignments: Vec<FixtureAssignment>,
}

/// A `"JobAssignment"` row and its result.
#[derive(Debug, Clone)]
pub struct FixtureAssignment {
    /// Id.
    pub id: i32,
    /// ECS task.
    pub ecs_task_arn: String,
    /// ECS cluster.
    pub ecs_cluster_arn: String,
    /// `expires_at`, ISO-8601 UTC with milliseconds.
    pub expires_at: String,
    /// `s3://reefguide-results/jobs/<job id>`.
    pub storage_uri: String,
    /// Last heartbeat.
    pub heartbeat_at: Option<String>,
    /// Completion.
    pub completed_at: Option<String>,
    /// Its result.
    pub result: Option<FixtureResult>,
}

/// A `"JobResult"` row.
#[derive(Debug, Clone)]
pub struct FixtureResult {
    /// Id.
    pub id: i32,
    /// The worker's payload.
    pub result_payload: Option<Value>,
    /// Where the files are (the assignment's URI).
    pub storage_uri: String,
    /// Metadata.
    pub metadata: Option<Value>,
    /// R2's `cache_valid` (always true in R1, which has no such column).
    pub cache_valid: bool,
    /// `created_at`, ISO-8601 UTC with milliseconds.
    pub created_at: String,
}

/// A `"JobRequest"` row.
#[derive(Debug, Clone)]
pub struct FixtureJobRequest {
    /// Id.
    pub id: i32,
    /// Who asked.
    pub user_id: i32,
    /// The job that answered.
    pub job_id: i32,
    /// Whether it was a cache hit.
    pub cache_hit: bool,
    /// `created_at`, ISO-8601 UTC with milliseconds.
    pub created_at: String,
}

/// A `"UserLog"` row.
#[derive(Debug, Clone)]
pub struct FixtureUserLog {
    /// Id.
    pub id: i32,
    /// Whose.
    pub user_id: i32,
    /// `UserAction` name.
    pub action: &'static str,
    /// `time`, ISO-8601 UTC with milliseconds.
    pub time: String,
    /// Metadata.
    pub metadata: Option<Value>,
}

/// A `"RefreshToken"` row.
#[derive(Debug, Clone)]
pub struct FixtureRefreshToken {
    /// Id.
    pub id: i32,
    /// Whose.
    pub user_id: i32,
    /// The token in clear (a UUID; not unique).
    pub token: String,
    /// Expiry, epoch seconds.
    pub expiry_time: i64,
    /// Whether it was still valid.
    pub valid: bool,
}

impl Facts {
    /// User `id`.
    ///
    /// # Panics
    /// When there is none.
    pub fn user(&self, id: i32) -> &FixtureUser {
        self.users
            .iter()
            .find(|user| user.id == id)
            .unwrap_or_else(|| panic!("no fixture user {id}"))
    }

    /// Job `id`.
    ///
    /// # Panics
    /// When there is none.
    pub fn job(&self, id: i32) -> &FixtureJob {
        self.jobs
            .iter()
            .find(|job| job.id == id)
            .unwrap_or_else(|| panic!("no fixture job {id}"))
    }

    /// Polygon `id`.
    ///
    /// # Panics
    /// When there is none.
    pub fn polygon(&self, id: i32) -> &FixturePolygon {
        self.polygons
            .iter()
            .find(|polygon| polygon.id == id)
            .unwrap_or_else(|| panic!("no fixture polygon {id}"))
    }

    /// The polygons our validation refuses.
    pub fn invalid_polygons(&self) -> impl Iterator<Item = &FixturePolygon> {
        self.polygons.iter().filter(|p| p.problem.is_some())
    }

    /// Who owns what `user_id` owned once the case-only duplicates are merged: the kept user
    /// for the merged one, else the user itself.
    pub fn merged(&self, user_id: i32) -> i32 {
        if user_id == self.case_duplicates.merged {
            self.case_duplicates.kept
        } else {
            user_id
        }
    }

    /// Whether `user` (an id after the merge) is an ADMIN once imported.
    pub fn is_admin(&self, user: i32) -> bool {
        self.user(user).roles.contains(&"ADMIN")
    }

    /// Whether `user` (an id after the merge) is seated in group `id`: its owner, a manager or
    /// a member.
    pub fn in_group(&self, user: i32, id: i32) -> bool {
        self.groups.iter().any(|group| {
            group.id == id
                && std::iter::once(group.owner)
                    .chain(group.managers.iter().copied())
                    .chain(group.members.iter().copied())
                    .any(|seated| self.merged(seated) == user)
        })
    }

    /// Whether `user` (an id after the merge) sees `project`: R2's rule (owner, ADMIN, public,
    /// shared with them, shared with a group they are seated in).
    pub fn sees_project(&self, user: i32, project: &FixtureProject) -> bool {
        self.is_admin(user)
            || project.is_public
            || self.merged(project.owner) == user
            || project.user_shares.iter().any(|u| self.merged(*u) == user)
            || project.group_shares.iter().any(|g| self.in_group(user, *g))
    }

    /// Whether `user` (an id after the merge) sees polygon `id`: theirs, or in a project they
    /// see (all for an ADMIN).
    pub fn sees_polygon(&self, user: i32, id: i32) -> bool {
        let polygon = self.polygon(id);
        self.is_admin(user)
            || self.merged(polygon.user_id) == user
            || polygon.project_id.is_some_and(|project| {
                self.projects
                    .iter()
                    .any(|p| p.id == project && self.sees_project(user, p))
            })
    }

    /// The users left after merging the case-only duplicates, by id.
    pub fn users_after_merge(&self) -> impl Iterator<Item = &FixtureUser> {
        self.users
            .iter()
            .filter(|user| user.id != self.case_duplicates.merged)
    }

    /// The highest id of each kind of row (users, polygons, notes, jobs, …): a row created after
    /// the import must get a higher one.
    pub fn max_ids(&self) -> BTreeMap<&'static str, i32> {
        let max = |ids: Vec<i32>| ids.into_iter().max().unwrap_or(0);
        BTreeMap::from([
            ("users", max(self.users.iter().map(|u| u.id).collect())),
            (
                "polygons",
                max(self.polygons.iter().map(|p| p.id).collect()),
            ),
            ("notes", max(self.notes.iter().map(|n| n.id).collect())),
            ("jobs", max(self.jobs.iter().map(|j| j.id).collect())),
            (
                "job_requests",
                max(self.job_requests.iter().map(|r| r.id).collect()),
            ),
            (
                "job_assignments",
                max(self
                    .jobs
                    .iter()
                    .flat_map(|j| j.assignments.iter().map(|a| a.id))
                    .collect()),
            ),
            (
                "user_logs",
                max(self.user_logs.iter().map(|l| l.id).collect()),
            ),
        ])
    }

    /// Rows per table, under the import report's names (as [`ReefGuideFixture::counts`]
    /// counts them in the database).
    pub fn counts(&self) -> BTreeMap<&'static str, u64> {
        let len = |n: usize| n as u64;
        let assignments = self.jobs.iter().flat_map(|j| &j.assignments);
        let mut counts = BTreeMap::from([
            ("users", len(self.users.len())),
            ("user_logs", len(self.user_logs.len())),
            ("polygons", len(self.polygons.len())),
            ("notes", len(self.notes.len())),
            ("jobs", len(self.jobs.len())),
            ("job_requests", len(self.job_requests.len())),
            ("job_assignments", len(assignments.clone().count())),
            (
                "job_results",
                len(assignments.filter(|a| a.result.is_some()).count()),
            ),
            ("refresh_tokens", len(self.refresh_tokens.len())),
        ]);
        counts.extend(self.r2_tables.iter().map(|(table, n)| (*table, *n)));
        counts
    }
}

// -------------------------------------------------------------------------------------------------
// The realistic rows
// -------------------------------------------------------------------------------------------------

/// `"2025-03-04T05:06:07.089Z"` from `"2025-03-04 05:06:07.089"`.
fn at(timestamp: &str) -> String {
    format!("{}Z", timestamp.replace(' ', "T"))
}

/// A closed square ring's polygon, counter-clockwise from its south-west corner.
fn square(lon: &str, lat: &str, lon2: &str, lat2: &str) -> Value {
    let n = |s: &str| -> Value { serde_json::from_str(s).expect("a number") };
    json!({"type": "Polygon", "coordinates": [[
        [n(lon), n(lat)], [n(lon2), n(lat)], [n(lon2), n(lat2)], [n(lon), n(lat2)], [n(lon), n(lat)]
    ]]})
}

/// The criteria every assessment payload has (R1's suitability/regional criteria).
fn criteria(region: &str) -> serde_json::Map<String, Value> {
    let Value::Object(map) = json!({
        "region": region,
        "reef_type": "slopes",
        "depth_min": -10.1,
        "depth_max": -2,
        "slope_min": 0,
        "slope_max": 40,
        "rugosity_min": 0,
        "rugosity_max": 6,
        "waves_period_min": 1.94,
        "waves_period_max": 9.25,
        "waves_height_min": 0,
        "waves_height_max": 1
    }) else {
        unreachable!("an object")
    };
    map
}

/// One user row of the realistic fixture.
struct UserRow {
    id: i32,
    email: &'static str,
    password: &'static str,
    /// The prefix its hash is written with (`$2a$` or `$2b$`).
    version: bcrypt::Version,
    r1_roles: &'static [&'static str],
    r2_roles: &'static [&'static str],
}

/// The user rows.
const USERS: [UserRow; 6] = [
    UserRow {
        id: 1,
        email: "admin@reefguide.example",
        password: "admin-reefguide-2024!",
        version: bcrypt::Version::TwoB,
        r1_roles: &["ADMIN"],
        r2_roles: &["ADMIN"],
    },
    UserRow {
        id: 2,
        email: "Marie.Curie@AIMS.gov.au",
        password: "radium and polonium",
        version: bcrypt::Version::TwoA,
        r1_roles: &[],
        r2_roles: &["ANALYST", "DEFAULT"],
    },
    UserRow {
        id: 3,
        email: "Ana@Example.com",
        password: "ana's first password",
        version: bcrypt::Version::TwoB,
        r1_roles: &[],
        r2_roles: &["ANALYST", "DEFAULT"],
    },
    UserRow {
        id: 5,
        email: "ana@example.com",
        password: "ana's second account",
        version: bcrypt::Version::TwoB,
        r1_roles: &[],
        r2_roles: &["DEFAULT"],
    },
    UserRow {
        id: 7,
        email: "bob@example.com",
        password: "bob-the-reef-builder",
        version: bcrypt::Version::TwoA,
        r1_roles: &[],
        r2_roles: &["DEFAULT"],
    },
    UserRow {
        id: 8,
        email: "worker@reefguide.example",
        password: "worker-service-secret",
        version: bcrypt::Version::TwoB,
        r1_roles: &["ADMIN"],
        r2_roles: &["ADMIN"],
    },
];

/// Builds the facts (hashing the passwords, cost 10, on blocking threads).
async fn realistic_facts(release: Release) -> Facts {
    let hashes = tokio::task::spawn_blocking(|| {
        std::thread::scope(|scope| {
            let handles: Vec<_> = USERS
                .iter()
                .map(|row| {
                    scope.spawn(move || {
                        bcrypt::hash_with_result(row.password, BCRYPT_COST)
                            .expect("bcrypt")
                            .format_for_version(row.version.clone())
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|handle| handle.join().expect("bcrypt thread"))
                .collect::<Vec<_>>()
        })
    })
    .await
    .expect("bcrypt threads");
    let r2 = release == Release::R2;

    let users: Vec<FixtureUser> = USERS
        .iter()
        .zip(hashes)
        .map(|(row, hash)| {
            let stored_roles = if r2 {
                row.r2_roles.to_vec()
            } else {
                row.r1_roles.to_vec()
            };
            let mut roles: Vec<&str> = stored_roles
                .iter()
                .copied()
                .filter(|role| *role != "DEFAULT")
                .collect();
            roles.sort_unstable();
            FixtureUser {
                id: row.id,
                email: row.email.to_owned(),
                password: row.password.to_owned(),
                password_hash: hash,
                stored_roles,
                roles,
                polygon_ids: Vec::new(),
                note_ids: Vec::new(),
                job_ids: Vec::new(),
                requested_job_ids: Vec::new(),
                job_request_ids: Vec::new(),
                log_ids: Vec::new(),
            }
        })
        .collect();

    let polygon = |id: i32, user_id: i32, created_at: &str, geometry: Value| FixturePolygon {
        id,
        user_id,
        created_at: at(created_at),
        stored: geometry.clone(),
        geometry,
        stored_as_string: false,
        problem: None,
        project_id: None,
    };
    let with_problem = |mut p: FixturePolygon, problem| {
        p.problem = Some(problem);
        p
    };
    let in_project = |mut p: FixturePolygon, project: i32| {
        if r2 {
            p.project_id = Some(project);
        }
        p
    };
    let mut as_string = polygon(
        8,
        2,
        "2025-02-11 23:15:42.007",
        square("147.0", "-19.0", "147.1", "-18.9"),
    );
    as_string.stored = Value::String(as_string.geometry.to_string());
    as_string.stored_as_string = true;
    let polygons = vec![
        // Moore Reef.
        in_project(
            polygon(
                1,
                2,
                "2025-01-14 02:03:04.512",
                square("146.2", "-16.9", "146.3", "-16.8"),
            ),
            1,
        ),
        // A triangle off Green Island.
        polygon(
            2,
            2,
            "2025-01-14 02:10:00.000",
            json!({"type": "Polygon", "coordinates": [[
                [145.95, -16.77], [146.0, -16.77], [145.97, -16.73], [145.95, -16.77]
            ]]}),
        ),
        // A shell with a hole inside it.
        in_project(
            polygon(
                3,
                3,
                "2025-01-20 07:45:13.250",
                json!({"type": "Polygon", "coordinates": [
                    [[146.0, -18.0], [146.4, -18.0], [146.4, -17.6], [146.0, -17.6], [146.0, -18.0]],
                    [[146.1, -17.9], [146.1, -17.7], [146.3, -17.7], [146.3, -17.9], [146.1, -17.9]]
                ]}),
            ),
            2,
        ),
        // A bow-tie: crosses itself at (146.1, -17.9). R1 checks closure and ranges only.
        with_problem(
            polygon(
                4,
                3,
                "2025-01-20 07:52:01.999",
                json!({"type": "Polygon", "coordinates": [[
                    [146.0, -18.0], [146.2, -17.8], [146.2, -18.0], [146.0, -17.8], [146.0, -18.0]
                ]]}),
            ),
            GeometryProblem::SelfIntersecting,
        ),
        polygon(
            6,
            5,
            "2025-02-02 11:00:00.001",
            square("145.5", "-16.5", "145.6", "-16.4"),
        ),
        // R2 accepts an empty ring.
        with_problem(
            polygon(
                7,
                5,
                "2025-02-02 11:05:30.000",
                json!({"type": "Polygon", "coordinates": [[]]}),
            ),
            GeometryProblem::EmptyRing,
        ),
        as_string,
        // A hole outside its shell.
        with_problem(
            polygon(
                9,
                7,
                "2025-03-01 00:00:00.000",
                json!({"type": "Polygon", "coordinates": [
                    [[148.0, -20.0], [148.1, -20.0], [148.1, -19.9], [148.0, -19.9], [148.0, -20.0]],
                    [[148.5, -20.0], [148.5, -19.9], [148.6, -19.9], [148.6, -20.0], [148.5, -20.0]]
                ]}),
            ),
            GeometryProblem::HoleOutsideShell,
        ),
        polygon(
            10,
            1,
            "2025-03-02 09:30:00.300",
            square("150.0", "-23.5", "150.2", "-23.3"),
        ),
        // R2 does not check closure.
        with_problem(
            polygon(
                12,
                2,
                "2025-03-05 16:20:00.000",
                json!({"type": "Polygon", "coordinates": [[
                    [146.5, -18.5], [146.6, -18.5], [146.6, -18.4], [146.5, -18.4]
                ]]}),
            ),
            GeometryProblem::UnclosedRing,
        ),
    ];

    let note =
        |id: i32, user_id: i32, polygon_id: i32, content: &str, created_at: &str| FixtureNote {
            id,
            user_id,
            polygon_id,
            content: content.to_owned(),
            created_at: at(created_at),
        };
    let notes = vec![
        note(
            1,
            2,
            1,
            "Moore Reef: good slope habitat, revisit in winter.",
            "2025-01-14 02:05:00.000",
        ),
        note(
            2,
            2,
            1,
            "Checked against the 2024 survey \u{2014} matches. \"Zone B\" is the east half.",
            "2025-01-15 08:00:00.100",
        ),
        note(
            3,
            3,
            4,
            "Drawn in a hurry; the outline crosses itself.",
            "2025-01-20 07:53:00.000",
        ),
        note(
            5,
            5,
            6,
            "Second account's note: it's the same reef.",
            "2025-02-02 11:01:00.000",
        ),
        note(
            6,
            1,
            3,
            "Admin: please attach the survey id.",
            "2025-02-03 00:00:00.000",
        ),
        note(
            7,
            7,
            9,
            "Hole drawn in the wrong place?",
            "2025-03-01 00:10:00.000",
        ),
    ];

    let now = Utc::now();
    let iso = |time: chrono::DateTime<Utc>| time.to_rfc3339_opts(SecondsFormat::Millis, true);
    let running_lease = iso(now + chrono::Duration::hours(1));
    let running_heartbeat = iso(now - chrono::Duration::minutes(1));
    let cluster = "arn:aws:ecs:ap-southeast-2:123456789012:cluster/reefguide-cluster";
    let assignment = |id: i32, job_id: i32, expires_at: String| FixtureAssignment {
        id,
        ecs_task_arn: format!(
            "arn:aws:ecs:ap-southeast-2:123456789012:task/reefguide-cluster/{:032x}",
            0xa11c_e000 + i64::from(id)
        ),
        ecs_cluster_arn: cluster.to_owned(),
        expires_at,
        storage_uri: format!("s3://reefguide-results/jobs/{job_id}"),
        heartbeat_at: None,
        completed_at: None,
        result: None,
    };
    let finished = |mut a: FixtureAssignment,
                    completed_at: &str,
                    result_id: i32,
                    result_payload: Option<Value>,
                    metadata: Option<Value>,
                    cache_valid: bool| {
        a.heartbeat_at = Some(at(completed_at));
        a.completed_at = Some(at(completed_at));
        a.result = Some(FixtureResult {
            id: result_id,
            result_payload,
            storage_uri: a.storage_uri.clone(),
            metadata,
            cache_valid,
            created_at: at(completed_at),
        });
        a
    };
    let job = |id: i32,
               user_id: i32,
               job_type: &'static str,
               status: &'static str,
               input_payload: Value,
               created_at: &str,
               updated_at: &str,
               assignments: Vec<FixtureAssignment>| FixtureJob {
        id,
        user_id,
        job_type,
        status,
        hash: PayloadHash::compute(job_type, &input_payload)
            .as_str()
            .to_owned(),
        input_payload,
        created_at: at(created_at),
        updated_at: at(updated_at),
        assignments,
    };
    let mut suitability = criteria("Cairns-Cooktown");
    suitability.insert("x_dist".into(), json!(450));
    suitability.insert("y_dist".into(), json!(20));
    suitability.insert("threshold".into(), json!(95));
    let mut regional = criteria("Townsville-Whitsunday");
    regional.insert("cogColor".into(), json!("greyscale"));
    let mut jobs = vec![
        job(
            1,
            2,
            "TEST",
            "SUCCEEDED",
            json!({"id": 101}),
            "2025-01-16 00:00:00.000",
            "2025-01-16 00:01:02.345",
            vec![finished(
                assignment(1, 1, at("2025-01-16 01:00:05.000")),
                "2025-01-16 00:01:02.345",
                1,
                Some(json!({})),
                None,
                true,
            )],
        ),
        job(
            2,
            3,
            "SUITABILITY_ASSESSMENT",
            "SUCCEEDED",
            Value::Object(suitability),
            "2025-01-21 03:00:00.000",
            "2025-01-21 03:17:45.120",
            vec![finished(
                assignment(2, 2, at("2025-01-21 04:00:10.000")),
                "2025-01-21 03:17:45.120",
                2,
                Some(json!({"geojson_path": "suitable_sites.geojson"})),
                Some(json!({"worker": "reefguide-worker 1.4.2"})),
                true,
            )],
        ),
        job(
            3,
            3,
            "TEST",
            "FAILED",
            json!({"id": 103}),
            "2025-01-22 10:00:00.000",
            "2025-01-22 10:00:30.000",
            vec![finished(
                assignment(3, 3, at("2025-01-22 11:00:02.000")),
                "2025-01-22 10:00:30.000",
                3,
                None,
                Some(json!({"error": "worker crashed: out of memory"})),
                true,
            )],
        ),
        job(
            4,
            5,
            "TEST",
            "PENDING",
            json!({"id": 104}),
            "2025-02-02 12:00:00.000",
            "2025-02-02 12:00:00.000",
            vec![],
        ),
        job(
            5,
            7,
            "REGIONAL_ASSESSMENT",
            "IN_PROGRESS",
            Value::Object(regional),
            "2025-03-01 01:00:00.000",
            "2025-03-01 01:00:04.000",
            vec![{
                let mut running = assignment(4, 5, running_lease);
                running.heartbeat_at = Some(running_heartbeat);
                running
            }],
        ),
        job(
            6,
            2,
            "TEST",
            "CANCELLED",
            json!({"id": 106}),
            "2025-03-03 08:00:00.000",
            "2025-03-03 08:02:00.000",
            vec![],
        ),
        job(
            8,
            7,
            "TEST",
            "TIMED_OUT",
            json!({"id": 108}),
            "2025-03-04 00:00:00.000",
            "2025-03-04 06:00:00.000",
            vec![assignment(5, 8, at("2025-03-04 01:00:03.000"))],
        ),
        job(
            9,
            1,
            "TEST",
            "SUCCEEDED",
            json!({"id": 109}),
            "2025-03-05 00:00:00.000",
            "2025-03-05 00:00:09.999",
            vec![finished(
                assignment(6, 9, at("2025-03-05 01:00:01.000")),
                "2025-03-05 00:00:09.999",
                4,
                Some(json!({})),
                None,
                true,
            )],
        ),
    ];
    let mut never_cache_hits = vec![3, 6, 8];
    if r2 {
        jobs.push(job(
            10,
            2,
            "ADRIA_MODEL_RUN",
            "SUCCEEDED",
            json!({
                "data_package": "MOORE",
                "num_scenarios": 64,
                "model_params": [
                    {"param_name": "N_seed_TA", "third_param_flag": false, "lower": 0, "upper": 1_000_000},
                    {"param_name": "fogging", "third_param_flag": true, "lower": 0, "upper": 0.3, "optional_third": 0.1}
                ],
                "rcp_scenario": "45"
            }),
            "2025-07-01 00:00:00.000",
            "2025-07-01 02:30:00.000",
            vec![finished(
                assignment(7, 10, at("2025-07-01 04:00:05.000")),
                "2025-07-01 02:30:00.000",
                5,
                Some(json!({
                    "spatial_metrics_path": "spatial_metrics.geojson",
                    "reef_boundaries_path": "reef_boundaries.geojson",
                    "output_result_set_path": "result_set",
                    "available_charts": {"relative_cover": "charts/relative_cover.vega.json"},
                    "chart_metadata": {"relative_cover": {
                        "metric_name": "relative_cover",
                        "filename": "relative_cover.vega.json",
                        "y_label": "Relative cover",
                        "description": "Coral cover relative to the reef area",
                        "generation_time_seconds": 1.5
                    }}
                })),
                None,
                // Invalidated by `POST /jobs/invalidate-cache`.
                false,
            )],
        ));
        jobs.push(job(
            11,
            1,
            "DATA_SPECIFICATION_UPDATE",
            "SUCCEEDED",
            json!({"cache_buster": 1_751_328_000_000_i64}),
            "2025-07-01 03:00:00.000",
            "2025-07-01 03:00:40.000",
            vec![finished(
                assignment(8, 11, at("2025-07-01 04:00:01.000")),
                "2025-07-01 03:00:40.000",
                6,
                Some(json!({})),
                None,
                true,
            )],
        ));
        never_cache_hits.push(10);
    }

    // Every job's own request, then cache hits by others (Bob on Ana's assessment, Ana's second
    // account on Marie's test job, the worker account on Bob's running job).
    let mut job_requests: Vec<FixtureJobRequest> = jobs
        .iter()
        .enumerate()
        .map(|(index, job)| FixtureJobRequest {
            id: i32::try_from(index).expect("few jobs") * 2 + 1,
            user_id: job.user_id,
            job_id: job.id,
            cache_hit: false,
            created_at: job.created_at.clone(),
        })
        .collect();
    for (id, user_id, job_id, created_at) in [
        (40, 7, 2, "2025-02-10 05:00:00.000"),
        (41, 5, 1, "2025-02-11 06:00:00.000"),
        (43, 8, 5, "2025-03-01 02:00:00.000"),
    ] {
        job_requests.push(FixtureJobRequest {
            id,
            user_id,
            job_id,
            cache_hit: true,
            created_at: at(created_at),
        });
    }

    let log = |id: i32, user_id: i32, action: &'static str, time: &str, metadata: Option<Value>| {
        FixtureUserLog {
            id,
            user_id,
            action,
            time: at(time),
            metadata,
        }
    };
    let user_logs = vec![
        log(1, 1, "LOGIN", "2025-01-10 00:00:00.000", None),
        log(
            2,
            1,
            "UPDATED",
            "2025-01-10 00:05:00.000",
            Some(json!({"roles": ["ADMIN"]})),
        ),
        log(3, 2, "LOGIN", "2025-01-14 02:00:00.000", None),
        log(4, 2, "LOGOUT", "2025-01-14 03:00:00.000", None),
        log(
            5,
            2,
            "CHANGE_PASSWORD",
            "2025-01-15 07:59:00.000",
            Some(json!({"reason": "user request"})),
        ),
        log(6, 3, "LOGIN", "2025-01-20 07:40:00.000", None),
        log(8, 5, "LOGIN", "2025-02-02 10:59:00.000", None),
        log(9, 7, "LOGIN", "2025-03-01 00:00:00.000", None),
        log(10, 7, "LOGOUT", "2025-03-01 00:30:00.000", None),
        log(11, 8, "LOGIN", "2025-03-01 01:00:00.000", None),
        log(12, 2, "LOGIN", "2025-03-05 16:00:00.000", None),
    ];

    let token =
        |id: i32, user_id: i32, token: &str, expiry_time: i64, valid: bool| FixtureRefreshToken {
            id,
            user_id,
            token: token.to_owned(),
            expiry_time,
            valid,
        };
    let far = (now + chrono::Duration::days(2)).timestamp();
    let refresh_tokens = vec![
        token(1, 2, "5b0c3ad5-0f5e-4c1e-9d55-2a4c6f3e7b10", far, true),
        token(
            2,
            3,
            "0e1d6f4a-8c3b-4a2e-b7f9-6d5c4b3a2910",
            1_737_000_000,
            false,
        ),
        token(
            3,
            7,
            "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d",
            1_741_000_000,
            true,
        ),
        // The same value again (R1 has no unique constraint on it).
        token(4, 8, "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d", far, true),
    ];

    let r2_tables = if r2 {
        BTreeMap::from([
            ("pre_approved_users", 2),
            ("projects", 2),
            ("project_user_shares", 1),
            ("project_group_shares", 1),
            ("groups", 1),
            ("group_managers", 1),
            ("group_members", 2),
            ("regions", 1),
            ("criteria", 2),
            ("regional_criteria", 2),
            ("password_reset_codes", 1),
        ])
    } else {
        BTreeMap::new()
    };

    let mut facts = Facts {
        release,
        users,
        polygons,
        notes,
        jobs,
        job_requests,
        user_logs,
        refresh_tokens,
        admin: 1,
        case_duplicates: CaseDuplicates { kept: 3, merged: 5 },
        cache_hit_job: 2,
        never_cache_hits,
        r2_tables,
        projects: if r2 { r2_projects() } else { Vec::new() },
        groups: if r2 {
            vec![FixtureGroup {
                id: 1,
                name: "Reef restoration team",
                owner: 2,
                managers: vec![3],
                members: vec![5, 7],
            }]
        } else {
            Vec::new()
        },
        pre_approvals: if r2 {
            vec![
                FixturePreApproval {
                    id: 1,
                    email: "ana@example.com",
                    roles: vec!["ANALYST"],
                    used: true,
                },
                FixturePreApproval {
                    id: 2,
                    email: "newcomer@example.com",
                    roles: vec!["ANALYST"],
                    used: false,
                },
            ]
        } else {
            Vec::new()
        },
    };
    index_by_user(&mut facts);
    facts
}

/// Fills each user's lists of ids.
fn index_by_user(facts: &mut Facts) {
    for user in &mut facts.users {
        let id = user.id;
        user.polygon_ids = facts
            .polygons
            .iter()
            .filter(|p| p.user_id == id)
            .map(|p| p.id)
            .collect();
        user.note_ids = facts
            .notes
            .iter()
            .filter(|n| n.user_id == id)
            .map(|n| n.id)
            .collect();
        user.job_ids = facts
            .jobs
            .iter()
            .filter(|j| j.user_id == id)
            .map(|j| j.id)
            .collect();
        user.requested_job_ids = facts
            .job_requests
            .iter()
            .filter(|r| r.user_id == id && r.cache_hit)
            .map(|r| r.job_id)
            .collect();
        user.job_request_ids = facts
            .job_requests
            .iter()
            .filter(|r| r.user_id == id)
            .map(|r| r.id)
            .collect();
        user.log_ids = facts
            .user_logs
            .iter()
            .filter(|l| l.user_id == id)
            .map(|l| l.id)
            .collect();
    }
}

/// A SQL string literal.
fn quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// A SQL jsonb literal, or NULL.
fn jsonb(value: Option<&Value>) -> String {
    value.map_or_else(
        || "NULL".to_owned(),
        |value| format!("{}::jsonb", quote(&value.to_string())),
    )
}

/// A SQL timestamp literal (the ISO text; Postgres ignores the `Z` of a `timestamp`).
fn timestamp(value: &str) -> String {
    format!("{}::timestamp", quote(value))
}

/// A SQL timestamp literal, or NULL.
fn timestamp_or_null(value: Option<&str>) -> String {
    value.map_or_else(|| "NULL".to_owned(), timestamp)
}

/// A SQL enum array literal.
fn roles(roles: &[&str]) -> String {
    let items: Vec<String> = roles.iter().map(|role| quote(role)).collect();
    format!("ARRAY[{}]::\"UserRole\"[]", items.join(", "))
}

/// The INSERT statements of the facts, in an order the foreign keys accept.
fn insert_sql(facts: &Facts) -> String {
    let r2 = facts.release == Release::R2;
    let mut sql = String::from("BEGIN;\n");
    for user in &facts.users {
        sql += &format!(
            "INSERT INTO \"User\" (id, email, password, roles) VALUES ({}, {}, {}, {});\n",
            user.id,
            quote(&user.email),
            quote(&user.password_hash),
            roles(&user.stored_roles)
        );
    }
    for entry in &facts.user_logs {
        sql += &format!(
            "INSERT INTO \"UserLog\" (id, time, action, metadata, \"userId\") \
             VALUES ({}, {}, {}, {}, {});\n",
            entry.id,
            timestamp(&entry.time),
            quote(entry.action),
            jsonb(entry.metadata.as_ref()),
            entry.user_id
        );
    }
    if r2 {
        sql += R2_PROJECTS;
    }
    for polygon in &facts.polygons {
        let (project_column, project_value) = if r2 {
            (
                ", project_id",
                format!(
                    ", {}",
                    polygon
                        .project_id
                        .map_or_else(|| "NULL".to_owned(), |id| id.to_string())
                ),
            )
        } else {
            (Default::default(), String::new())
        };
        sql += &format!(
            "INSERT INTO \"Polygon\" (id, created_at, user_id, polygon{project_column}) \
             VALUES ({}, {}, {}, {}{project_value});\n",
            polygon.id,
            timestamp(&polygon.created_at),
            polygon.user_id,
            jsonb(Some(&polygon.stored))
        );
    }
    for note in &facts.notes {
        sql += &format!(
            "INSERT INTO \"PolygonNote\" (id, created_at, content, user_id, polygon_id) \
             VALUES ({}, {}, {}, {}, {});\n",
            note.id,
            timestamp(&note.created_at),
            quote(&note.content),
            note.user_id,
            note.polygon_id
        );
    }
    for token in &facts.refresh_tokens {
        sql += &format!(
            "INSERT INTO \"RefreshToken\" (id, token, created_at, user_id, expiry_time, valid) \
             VALUES ({}, {}, to_timestamp({} - 172800)::timestamp, {}, {}, {});\n",
            token.id,
            quote(&token.token),
            token.expiry_time,
            token.user_id,
            token.expiry_time,
            token.valid
        );
    }
    for job in &facts.jobs {
        sql += &format!(
            "INSERT INTO \"Job\" (id, created_at, updated_at, type, status, hash, user_id, \
             input_payload) VALUES ({}, {}, {}, {}, {}, {}, {}, {});\n",
            job.id,
            timestamp(&job.created_at),
            timestamp(&job.updated_at),
            quote(job.job_type),
            quote(job.status),
            quote(&job.hash),
            job.user_id,
            jsonb(Some(&job.input_payload))
        );
        for assignment in &job.assignments {
            sql += &format!(
                "INSERT INTO \"JobAssignment\" (id, created_at, updated_at, job_id, ecs_task_arn, \
                 ecs_cluster_arn, expires_at, storage_scheme, storage_uri, heartbeat_at, \
                 completed_at) VALUES ({}, {}, {}, {}, {}, {}, {}, 'S3', {}, {}, {});\n",
                assignment.id,
                timestamp(&job.created_at),
                timestamp(
                    assignment
                        .completed_at
                        .as_deref()
                        .or(assignment.heartbeat_at.as_deref())
                        .unwrap_or(&job.updated_at)
                ),
                job.id,
                quote(&assignment.ecs_task_arn),
                quote(&assignment.ecs_cluster_arn),
                timestamp(&assignment.expires_at),
                quote(&assignment.storage_uri),
                timestamp_or_null(assignment.heartbeat_at.as_deref()),
                timestamp_or_null(assignment.completed_at.as_deref())
            );
            if let Some(result) = &assignment.result {
                let (cache_column, cache_value) = if r2 {
                    (", cache_valid", format!(", {}", result.cache_valid))
                } else {
                    (Default::default(), String::new())
                };
                sql += &format!(
                    "INSERT INTO \"JobResult\" (id, created_at, job_id, assignment_id, \
                     result_payload, storage_scheme, storage_uri, metadata{cache_column}) \
                     VALUES ({}, {}, {}, {}, {}, 'S3', {}, {}{cache_value});\n",
                    result.id,
                    timestamp(&result.created_at),
                    job.id,
                    assignment.id,
                    jsonb(result.result_payload.as_ref()),
                    quote(&result.storage_uri),
                    jsonb(result.metadata.as_ref())
                );
            }
        }
    }
    for request in &facts.job_requests {
        let job = facts.job(request.job_id);
        sql += &format!(
            "INSERT INTO \"JobRequest\" (id, created_at, user_id, type, input_payload, cache_hit, \
             job_id) VALUES ({}, {}, {}, {}, {}, {}, {});\n",
            request.id,
            timestamp(&request.created_at),
            request.user_id,
            quote(job.job_type),
            jsonb(Some(&job.input_payload)),
            request.cache_hit,
            request.job_id
        );
    }
    sql += "COMMIT;\n";
    sql
}

/// Moves every sequence of R1's tables past its highest id, as a live database has it (ids of
/// deleted rows are never reused).
const ADVANCE_SEQUENCES: &str = r#"
SELECT setval(pg_get_serial_sequence('"User"', 'id'), (SELECT coalesce(max(id), 0) + 1 FROM "User"));
SELECT setval(pg_get_serial_sequence('"UserLog"', 'id'), (SELECT coalesce(max(id), 0) + 1 FROM "UserLog"));
SELECT setval(pg_get_serial_sequence('"Polygon"', 'id'), (SELECT coalesce(max(id), 0) + 1 FROM "Polygon"));
SELECT setval(pg_get_serial_sequence('"PolygonNote"', 'id'), (SELECT coalesce(max(id), 0) + 1 FROM "PolygonNote"));
SELECT setval(pg_get_serial_sequence('"RefreshToken"', 'id'), (SELECT coalesce(max(id), 0) + 1 FROM "RefreshToken"));
SELECT setval(pg_get_serial_sequence('"Job"', 'id'), (SELECT coalesce(max(id), 0) + 1 FROM "Job"));
SELECT setval(pg_get_serial_sequence('"JobRequest"', 'id'), (SELECT coalesce(max(id), 0) + 1 FROM "JobRequest"));
SELECT setval(pg_get_serial_sequence('"JobAssignment"', 'id'), (SELECT coalesce(max(id), 0) + 1 FROM "JobAssignment"));
SELECT setval(pg_get_serial_sequence('"JobResult"', 'id'), (SELECT coalesce(max(id), 0) + 1 FROM "JobResult"));
"#;

/// The same for R2's tables.
const ADVANCE_R2_SEQUENCES: &str = r#"
SELECT setval(pg_get_serial_sequence('pre_approved_users', 'id'), (SELECT max(id) FROM pre_approved_users));
SELECT setval(pg_get_serial_sequence('projects', 'id'), (SELECT max(id) FROM projects));
SELECT setval(pg_get_serial_sequence('project_user_shares', 'id'), (SELECT max(id) FROM project_user_shares));
SELECT setval(pg_get_serial_sequence('project_group_shares', 'id'), (SELECT max(id) FROM project_group_shares));
SELECT setval(pg_get_serial_sequence('groups', 'id'), (SELECT max(id) FROM groups));
SELECT setval(pg_get_serial_sequence('group_managers', 'id'), (SELECT max(id) FROM group_managers));
SELECT setval(pg_get_serial_sequence('group_members', 'id'), (SELECT max(id) FROM group_members));
SELECT setval(pg_get_serial_sequence('regions', 'id'), (SELECT max(id) FROM regions));
SELECT setval(pg_get_serial_sequence('criteria', 'id'), (SELECT max(id) FROM criteria));
SELECT setval(pg_get_serial_sequence('regional_criteria', 'id'), (SELECT max(id) FROM regional_criteria));
SELECT setval(pg_get_serial_sequence('password_reset_codes', 'id'), (SELECT max(id) FROM password_reset_codes));
"#;

/// The facts of [`R2_PROJECTS`] and of the shares in [`R2_ROWS`].
fn r2_projects() -> Vec<FixtureProject> {
    vec![
        FixtureProject {
            id: 1,
            name: "Cairns reefs 2025",
            kind: "SITE_SELECTION",
            project_state: json!({
                "criteria": {"depth_min": -10, "depth_max": -2},
                "selectedRegion": "Cairns-Cooktown"
            }),
            is_public: true,
            owner: 2,
            user_shares: vec![7],
            group_shares: Vec::new(),
        },
        FixtureProject {
            id: 2,
            name: "ADRIA runs",
            kind: "ADRIA_ANALYSIS",
            project_state: json!({"runs": []}),
            is_public: false,
            owner: 3,
            user_shares: Vec::new(),
            group_shares: vec![1],
        },
    ]
}

/// R2's projects (inserted before the polygons that belong to them).
const R2_PROJECTS: &str = r#"
INSERT INTO projects (id, name, description, type, project_state, is_public, created_at, updated_at, user_id) VALUES
    (1, 'Cairns reefs 2025', 'Site selection around Moore Reef', 'SITE_SELECTION',
     '{"criteria": {"depth_min": -10, "depth_max": -2}, "selectedRegion": "Cairns-Cooktown"}', true,
     '2025-07-12 00:00:00', '2025-08-01 00:00:00', 2),
    (2, 'ADRIA runs', NULL, 'ADRIA_ANALYSIS', '{"runs": []}', false,
     '2025-07-13 00:00:00', '2025-07-13 00:00:00', 3);
"#;

/// The rest of R2's own tables.
const R2_ROWS: &str = r#"
INSERT INTO pre_approved_users (id, email, roles, created_at, updated_at, created_by_user_id, used, used_at) VALUES
    (1, 'ana@example.com', ARRAY['ANALYST']::"UserRole"[], '2025-06-27 00:00:00', '2025-06-28 00:00:00', 1, true, '2025-06-28 00:00:00'),
    (2, 'newcomer@example.com', ARRAY['ANALYST']::"UserRole"[], '2025-09-01 00:00:00', '2025-09-01 00:00:00', 1, false, NULL);
INSERT INTO groups (id, name, description, created_at, updated_at, owner_id) VALUES
    (1, 'Reef restoration team', 'Cairns field staff', '2025-09-27 00:00:00', '2025-09-27 00:00:00', 2);
INSERT INTO group_managers (id, group_id, user_id, created_at) VALUES (1, 1, 3, '2025-09-27 00:01:00');
INSERT INTO group_members (id, group_id, user_id, created_at) VALUES
    (1, 1, 5, '2025-09-27 00:02:00'),
    (2, 1, 7, '2025-09-27 00:03:00');
INSERT INTO project_user_shares (id, project_id, user_id, created_at, updated_at) VALUES
    (1, 1, 7, '2025-09-28 00:00:00', '2025-09-28 00:00:00');
INSERT INTO project_group_shares (id, project_id, group_id, created_at, updated_at) VALUES
    (1, 2, 1, '2025-09-28 00:00:00', '2025-09-28 00:00:00');
INSERT INTO regions (id, name, display_name, description, created_at, updated_at) VALUES
    (1, 'Cairns-Cooktown', 'Cairns - Cooktown', NULL, '2025-06-24 00:00:00', '2025-06-24 00:00:00');
INSERT INTO criteria (id, name, display_title, display_subtitle, units, min_tooltip, max_tooltip, payload_prefix, created_at, updated_at) VALUES
    (1, 'Depth', 'Depth', 'Depth below sea level', 'm', 'Shallowest', 'Deepest', 'depth', '2025-06-24 00:00:00', '2025-06-24 00:00:00'),
    (2, 'Slope', 'Slope', NULL, 'degrees', NULL, NULL, 'slope', '2025-06-24 00:00:00', '2025-06-24 00:00:00');
INSERT INTO regional_criteria (id, region_id, criteria_id, min_val, max_val, default_min_val, default_max_val, created_at, updated_at) VALUES
    (1, 1, 1, -39.5, 0, -10, -2, '2025-06-24 00:00:00', '2025-06-24 00:00:00'),
    (2, 1, 2, 0, 40, 0, 40, '2025-06-24 00:00:00', '2025-06-24 00:00:00');
INSERT INTO password_reset_codes (id, code_hash, created_at, expires_at, used, used_at, attempts, user_id) VALUES
    (1, '$2b$10$Zq5xJr0Z3Q7u3mY0kqvS4eV6m7c1Yq8b2d5f9g3h1j4k6l8n0p2r', '2025-10-01 00:00:00', '2025-10-01 00:15:00', false, NULL, 0, 7);
"#;

/// The benchmark's rows (see [`ReefGuideFixture::fill_bulk`]), shared with `cargo xtask bench
/// import`; `{users}`, `{polygons}`, `{jobs}` and `{hash}` are replaced.
const BULK_SQL: &str = include_str!("../fixtures/reefguide_bulk.sql");

/// A pool of `connections` on `url`.
async fn connect(url: &str, connections: u32) -> DatabaseConnection {
    let mut options = ConnectOptions::new(url.to_owned());
    options
        .max_connections(connections)
        .connect_timeout(Duration::from_secs(5))
        .acquire_timeout(Duration::from_secs(30))
        .sqlx_logging(false);
    Database::connect(options).await.unwrap_or_else(|error| {
        panic!(
            "the ReefGuide fixture needs the tests' Postgres server (set {} or DATABASE_URL): {error}",
            reefguide_adapters_postgres::test_support::TEST_DATABASE_URL_VAR
        )
    })
}
