//! Wiring: concrete adapters into services, services into the actix application.

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::error::{JsonPayloadError, PayloadError};
use actix_web::middleware::{ErrorHandlers, from_fn};
use actix_web::{App, HttpServer, web};
use anyhow::Context as _;
use chrono::Duration;
use reefguide_adapters_aws::local::{LocalComputeSettings, LocalWorkerPool, WorkerCommand};
use reefguide_adapters_aws::{
    EcsCluster, EcsSettings, EcsTarget, LocalObjectStore, S3ObjectStore, S3Settings, SigningKey,
};
use reefguide_adapters_email::{
    LogEmailSender, QueuedEmailSender, SmtpEmailSender, SmtpSecurity, SmtpSettings,
};
use reefguide_adapters_postgres::{SeaOrmStore, StoreOptions};
use reefguide_domain::geometry::PolygonLimits;
use reefguide_domain::storage::PresignExpiry;
use reefguide_domain::workflow::LocalRoot;
use reefguide_domain::{Email, Password, Role, Roles};
use reefguide_ports::services::{
    AuthService, AuthSettings, ClusterAdminService, DataSpecificationService, GroupService,
    JobService, NoteService, OutputBrowser, PasswordResetService, PolygonService,
    PreApprovalService, ProjectService, ResultFileLimits, ResultFileService, SignedFileService,
    UserAdminService, UserDirectory, WorkflowCatalog, Workflows,
};
use reefguide_ports::{
    ComputeCluster, EmailSender, ExternalTokenVerifier, JobSignal, ObjectStore, SystemClock,
};
use secrecy::{ExposeSecret as _, SecretString};
use tokio_util::sync::CancellationToken;

use crate::config::{
    AirflowSettings, ComputeKind, EmailSettings, ServerUrls, Settings, ShutdownPlan,
    SmtpSecurityKind, StorageKind, check_issuers,
};
use crate::crypto::{Argon2Hasher, Argon2Settings, ExternalJwtVerifier, Jwks, JwtKeys, RsaKeyPair};
use crate::errors::ApiError;
use crate::leading::{self, Turn, Turns};
use crate::metering::measure_request;
use crate::middleware::{cors, json_error_body, log_request};
use crate::openapi::ApiDoc;
use crate::rate_limit::RateLimits;
use crate::request_id::with_request_id;
use crate::routes;

/// The storage adapter in use.
pub type Store = SeaOrmStore;
/// The authentication service as wired.
pub type Auth = AuthService<Store, Argon2Hasher, JwtKeys, SystemClock>;
/// The user-administration service as wired.
pub type UserAdmin = UserAdminService<Store, Argon2Hasher, SystemClock>;
/// The password reset service as wired (e-mail sent from a queue, off the request path).
pub type PasswordResets = PasswordResetService<Store, Argon2Hasher, SystemClock, QueuedEmailSender>;
/// The pre-approved users service as wired.
pub type PreApprovals = PreApprovalService<Store, SystemClock>;
/// The polygon service as wired.
pub type Polygons = PolygonService<Store>;
/// The note service as wired.
pub type Notes = NoteService<Store>;
/// The project service as wired.
pub type Projects = ProjectService<Store, SystemClock>;
/// The group service as wired.
pub type Groups = GroupService<Store, SystemClock>;
/// The job service as wired.
pub type Jobs = JobService<Store, SystemClock>;
/// The result-file service as wired.
pub type ResultFiles = ResultFileService<Store, SystemClock>;
/// The data specification service as wired.
pub type DataSpecifications = DataSpecificationService<Store, SystemClock>;
/// The signed-URL file service as wired (only with the local object store).
pub type SignedFiles = SignedFileService<LocalObjectStore, SystemClock>;

/// Everything handlers share (held in `web::Data`, i.e. behind an `Arc`): the use cases, then
/// three groups of what is not a use case.
pub struct AppState {
    pub(crate) auth: Auth,
    pub(crate) users: UserAdmin,
    pub(crate) password_resets: PasswordResets,
    /// Addresses approved with roles before their owners register.
    pub(crate) pre_approvals: PreApprovals,
    /// Finding users by part of their email.
    pub(crate) directory: UserDirectory<Store>,
    pub(crate) polygons: Polygons,
    pub(crate) notes: Notes,
    pub(crate) projects: Projects,
    pub(crate) groups: Groups,
    pub(crate) jobs: Jobs,
    /// ReefGuide's regions, criteria and their ranges.
    pub(crate) data_specification: DataSpecifications,
    /// The LabCAS workflow catalog (Airflow types and collections).
    pub(crate) catalog: WorkflowCatalog,
    /// The LabCAS output browser (each user's run folders in the staging area).
    pub(crate) outputs: OutputBrowser,
    pub(crate) results: ResultFiles,
    /// The worker cluster's administration (ECS or the local pool).
    pub(crate) cluster: ClusterAdminService,
    /// The files behind the local object store's signed URLs, when it is the store wired
    /// (served at `/api/storage/…`).
    pub(crate) signed_files: Option<SignedFiles>,
    /// How requests are screened and bounded before they reach a use case.
    pub(crate) request: RequestPolicy,
    /// What the service publishes about itself.
    pub(crate) published: Published,
    /// What the server runs beside the requests (health checks, background loops).
    pub(crate) runtime: Runtime,
}

/// How requests are screened and bounded before they reach a use case.
pub(crate) struct RequestPolicy {
    /// Size limits of submitted polygons.
    pub(crate) polygon_limits: PolygonLimits,
    /// Role required for the user features, if any.
    pub(crate) required_role: Option<Role>,
    /// Rate limits of login and registration.
    pub(crate) limits: RateLimits,
    /// Whether `X-Forwarded-For` names the client (behind a trusted proxy).
    pub(crate) trust_forwarded_for: bool,
    /// Largest request body, in bytes.
    pub(crate) body_limit: usize,
    /// Longest wait of a long-polling claim.
    pub(crate) claim_max_wait: std::time::Duration,
}

/// What the service publishes about itself.
pub(crate) struct Published {
    /// This deployment's OpenAPI document (its job types and limits), rendered once.
    pub(crate) openapi: actix_web::web::Bytes,
    /// The methods served at each route's path, for the answer to a wrong method (405).
    pub(crate) served_methods: web::Data<routes::ServedMethods>,
    /// The public keys of the access tokens.
    pub(crate) jwks: Jwks,
    /// Public base URL (`api_domain`, without a trailing slash).
    pub(crate) public_url: String,
    /// Where clients reach the LabCAS routes: `public_url` and `labcas.base_path`.
    pub(crate) labcas_url: String,
    /// Job types offered by this deployment.
    pub(crate) job_type_names: Vec<String>,
    /// The bearer token `/metrics` requires, if any.
    pub(crate) metrics_token: Option<String>,
}

/// What the server runs beside the requests.
pub(crate) struct Runtime {
    /// The storage adapter (health checks, change notifications, background loops).
    pub(crate) store: Store,
    /// The local worker pool, when it is the cluster wired (maintained and stopped with the
    /// server).
    pub(crate) local_pool: Option<LocalWorkerPool>,
    /// Wakes long-polling claimers.
    pub(crate) job_signal: JobSignal,
    /// The workflow dispatcher, when `[airflow]` is configured (its loop runs beside the
    /// requests; the health check asks its engine).
    pub(crate) dispatcher: Option<Arc<crate::workflows::Dispatcher>>,
    /// How often the dispatcher runs a cycle.
    pub(crate) dispatch_interval: std::time::Duration,
}

/// Connects to the database named by the settings, creating the data directory for the embedded
/// SQLite default, and applies migrations when `migrate` is set.
pub async fn connect_store(settings: &Settings, migrate: bool) -> anyhow::Result<Store> {
    if settings.database.database_url.is_none() {
        std::fs::create_dir_all(&settings.server.data_dir).with_context(|| {
            format!(
                "cannot create data directory {}",
                settings.server.data_dir.display()
            )
        })?;
    }
    let store = SeaOrmStore::connect(
        &settings.effective_database_url(),
        StoreOptions {
            max_connections: settings.database.database_max_connections,
            user_cache_ttl: std::time::Duration::from_secs(settings.database.user_cache_seconds),
            ..StoreOptions::default()
        },
        Arc::new(SystemClock),
    )
    .await?;
    if migrate {
        store
            .migrate()
            .await
            .context("cannot apply database migrations")?;
    }
    Ok(store)
}

fn load_keys(settings: &Settings) -> anyhow::Result<RsaKeyPair> {
    if let Some(private) = &settings.auth.jwt_private_key {
        return RsaKeyPair::from_pem(
            private.expose_secret(),
            settings.auth.jwt_public_key.as_deref(),
        )
        .map_err(Into::into);
    }
    let (pair, created) = RsaKeyPair::load_or_generate_dev(&settings.server.data_dir)?;
    let path = settings.server.data_dir.join("dev-jwt-private.pem");
    tracing::warn!(
        path = %path.display(),
        created,
        "using a DEVELOPMENT JWT key from the data directory; set JWT_PRIVATE_KEY in production"
    );
    Ok(pair)
}

/// The verifier of the trusted external issuers' tokens (`[[external_jwt]]`), if any is
/// configured; `own_issuer` is the issuer of this server's tokens, which no external one may use.
fn external_verifier(
    settings: &Settings,
    own_issuer: &str,
) -> anyhow::Result<Option<Arc<dyn ExternalTokenVerifier>>> {
    let issuers = check_issuers(&settings.auth.external_jwt, Some(own_issuer))?;
    if issuers.is_empty() {
        return Ok(None);
    }
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(5))
        .build()?;
    Ok(Some(Arc::new(ExternalJwtVerifier::new(issuers, client)?)))
}

/// Builds the application state: store, keys, services, service accounts. `urls` are the
/// server's base URLs (see [`ServerSettings::urls`](crate::config::ServerSettings::urls)): `api_domain` is the JWT issuer, and
/// `public_url` is where clients reach this server (the local object store's signed URLs and
/// local workers point there).
pub async fn build_state(settings: &Settings, urls: &ServerUrls) -> anyhow::Result<AppState> {
    if urls.loopback_for_wildcard {
        tracing::warn!(
            host = %settings.server.host,
            api_domain = %urls.api_domain,
            public_url = %urls.public_url,
            "listening on a wildcard address but api_domain or public_url is not set, so the \
             loopback address stands in for them: clients on other machines need public_url and \
             api_domain set to an address they can reach"
        );
    }
    let public_url = urls.public_url.as_str();
    let store = connect_store(settings, settings.database.migrate_on_start).await?;
    let pair = load_keys(settings)?;
    let jwt = JwtKeys::new(
        &pair,
        settings.auth.jwt_key_id.clone(),
        urls.api_domain.clone(),
        Duration::minutes(i64::from(settings.auth.access_token_minutes)),
    )?;
    let hasher = Argon2Hasher::new(Argon2Settings {
        memory_kib: settings.auth.argon2_memory_kib,
        iterations: settings.auth.argon2_iterations,
        parallelism: settings.auth.argon2_parallelism,
        max_concurrent: settings
            .auth
            .argon2_max_concurrent
            .unwrap_or(Argon2Settings::default().max_concurrent),
    })?;
    let auth = AuthService::new(
        store.clone(),
        hasher.clone(),
        jwt.clone(),
        SystemClock,
        AuthSettings {
            refresh_token_ttl: Duration::hours(i64::from(settings.auth.refresh_token_hours)),
            rotate_refresh_tokens: settings.auth.rotate_refresh_tokens,
        },
    );
    let auth = match external_verifier(settings, &urls.api_domain)? {
        Some(verifier) => auth.with_external_tokens(verifier),
        None => auth,
    };
    let password_resets = PasswordResetService::new(
        store.clone(),
        hasher.clone(),
        SystemClock,
        email_sender(&settings.email)?,
        settings.email.email_product_name.clone(),
    );
    let users = UserAdminService::new(store.clone(), hasher, SystemClock);
    ensure_service_accounts(settings, &users).await?;
    let (compute, local_pool) = compute_cluster(settings, public_url, &users).await?;
    let registry = settings.jobs.registry()?;
    let job_type_names = registry.names();
    let operations = routes::documented(routes::Mounts::of(settings));
    let served_methods = web::Data::new(routes::ServedMethods::new(&operations));
    let openapi = ApiDoc::render_operations(operations, &settings.deployment(&registry))?;
    let job_signal = JobSignal::new();
    let (objects, local_objects) = object_store(settings, public_url).await?;
    let workflows = Workflows {
        collections: settings.workflows.collections(&registry)?,
        staging: settings.workflows.staging(&settings.storage)?,
    };
    let local_root = LocalRoot::new(&match &local_objects {
        Some(local) => local.root().display().to_string(),
        None => settings
            .server
            .data_dir
            .join("results")
            .display()
            .to_string(),
    });
    let signed_files = local_objects
        .map(|local| SignedFileService::new(local, SystemClock, settings.storage.upload_max_bytes));
    let catalog = WorkflowCatalog::new(registry.clone(), workflows.clone());
    let outputs = OutputBrowser::new(
        Arc::clone(&objects),
        workflows.staging.clone(),
        local_root.clone(),
    );
    let dispatcher = match &settings.workflows.airflow {
        Some(airflow) => Some(Arc::new(crate::workflows::build_dispatcher(
            store.clone(),
            crate::workflows::connect_engine(airflow).await?,
            Arc::clone(&objects),
            registry.clone(),
            workflows.clone(),
            local_root,
        ))),
        None => None,
    };
    let dispatch_interval = settings.workflows.airflow.as_ref().map_or(
        std::time::Duration::from_secs(2),
        AirflowSettings::sync_interval,
    );
    let jobs = JobService::new(
        store.clone(),
        SystemClock,
        registry,
        objects.base(),
        job_signal.clone(),
    )
    .with_workflows(workflows);
    let results = ResultFileService::new(
        store.clone(),
        objects,
        SystemClock,
        ResultFileLimits {
            max_download_files: settings.storage.download_max_files,
            upload_expiry: PresignExpiry::from_seconds(i64::from(
                settings.storage.upload_url_expiry_seconds,
            ))?,
            ..ResultFileLimits::default()
        },
    );
    Ok(AppState {
        auth,
        users,
        password_resets,
        pre_approvals: PreApprovalService::new(store.clone(), SystemClock),
        directory: UserDirectory::new(store.clone()),
        projects: ProjectService::new(store.clone(), SystemClock),
        groups: GroupService::new(store.clone(), SystemClock),
        polygons: PolygonService::new(store.clone()),
        notes: NoteService::new(store.clone()),
        jobs,
        data_specification: DataSpecificationService::new(
            store.clone(),
            SystemClock,
            admin_service_account(settings),
        ),
        results,
        cluster: ClusterAdminService::new(compute),
        catalog,
        outputs,
        signed_files,
        request: RequestPolicy {
            polygon_limits: PolygonLimits {
                max_positions: settings.limits.polygon_max_positions,
                max_rings: settings.limits.polygon_max_rings,
            },
            required_role: settings.auth.required_role,
            limits: RateLimits::new(&settings.limits),
            trust_forwarded_for: settings.limits.trust_forwarded_for,
            body_limit: settings.limits.body_limit_bytes,
            claim_max_wait: std::time::Duration::from_secs(u64::from(
                settings.jobs.claim_max_wait_seconds,
            )),
        },
        published: Published {
            openapi: openapi.into(),
            served_methods,
            jwks: jwt.jwks().clone(),
            public_url: urls.api_domain.trim_end_matches('/').to_owned(),
            labcas_url: format!(
                "{}{}",
                urls.public_url.trim_end_matches('/'),
                settings.workflows.labcas.base_path
            ),
            job_type_names,
            metrics_token: settings
                .server
                .metrics_token
                .clone()
                .filter(|token| !token.is_empty()),
        },
        runtime: Runtime {
            store,
            local_pool,
            job_signal,
            dispatcher,
            dispatch_interval,
        },
    })
}

/// The object store the settings choose; the local one is also returned to serve its URLs.
async fn object_store(
    settings: &Settings,
    public_url: &str,
) -> anyhow::Result<(Arc<dyn ObjectStore>, Option<LocalObjectStore>)> {
    match settings.storage.kind {
        StorageKind::S3 => {
            let s3 = S3ObjectStore::connect(&S3Settings {
                bucket: settings.storage.s3_bucket.clone().unwrap_or_default(),
                prefix: settings.storage.s3_prefix.clone(),
                endpoint_url: settings.storage.s3_endpoint_url.clone(),
                force_path_style: settings.storage.s3_force_path_style,
                region: settings.storage.s3_region.clone(),
            })
            .await?;
            Ok((Arc::new(s3), None))
        }
        StorageKind::Local => {
            let key = match &settings.storage.storage_signing_key {
                Some(secret) => SigningKey::from_secret(secret.expose_secret()),
                None => {
                    let path = settings.server.data_dir.join("storage-signing.key");
                    SigningKey::load_or_create(&path)
                        .with_context(|| format!("cannot read or create {}", path.display()))?
                        .0
                }
            };
            let root = settings.server.data_dir.join("results");
            let local = LocalObjectStore::new(&root, key, public_url, Arc::new(SystemClock))
                .with_context(|| format!("cannot use results directory {}", root.display()))?;
            Ok((Arc::new(local.clone()), Some(local)))
        }
    }
}

/// The email of the account local workers log in with (created at start-up, with a fresh random
/// password each time).
pub const LOCAL_WORKER_EMAIL: &str = "local-workers@reefguide.internal";
/// Local workers exit after this long without a job (the pool starts new ones as needed), so a
/// worker orphaned by a killed server does not linger.
const LOCAL_WORKER_IDLE_SECONDS: u32 = 600;

/// How long a role's cycle under way may take to finish at shutdown before it is cut short.
const ROLE_STOP_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// The cluster the settings choose; the local pool is also returned to maintain and stop it.
async fn compute_cluster(
    settings: &Settings,
    public_url: &str,
    users: &UserAdmin,
) -> anyhow::Result<(Arc<dyn ComputeCluster>, Option<LocalWorkerPool>)> {
    match settings.compute.kind {
        ComputeKind::Ecs => {
            let mut ecs = EcsSettings::new(
                settings.compute.ecs_cluster.clone().unwrap_or_default(),
                settings.compute.ecs_service.clone().unwrap_or_default(),
            );
            ecs.endpoint_url
                .clone_from(&settings.compute.ecs_endpoint_url);
            ecs.region.clone_from(&settings.compute.ecs_region);
            ecs.targets = settings
                .compute
                .ecs_targets
                .iter()
                .map(|(name, target)| {
                    let mut ecs_target = EcsTarget::new(target.task_definition.clone());
                    ecs_target.subnets.clone_from(&target.subnets);
                    ecs_target
                        .security_groups
                        .clone_from(&target.security_groups);
                    ecs_target.assign_public_ip = target.assign_public_ip;
                    (name.clone(), ecs_target)
                })
                .collect();
            Ok((Arc::new(EcsCluster::connect(ecs).await?), None))
        }
        ComputeKind::Local => {
            let password = random_password();
            let email = Email::parse(LOCAL_WORKER_EMAIL).context("local worker email")?;
            users
                .ensure_service_account(
                    email,
                    &Password::new(&password).context("local worker password")?,
                    Roles::from_iter([Role::Worker]),
                )
                .await
                .context("cannot create the local worker account")?;
            let program = match &settings.compute.local_worker_program {
                Some(program) => program.clone(),
                None => std::env::current_exe()
                    .context("cannot locate this binary to run local workers")?
                    .display()
                    .to_string(),
            };
            let pool_settings = LocalComputeSettings {
                command: WorkerCommand {
                    program,
                    args: vec!["worker".into()],
                    env: vec![
                        ("REEFGUIDE_API_URL".into(), public_url.to_owned()),
                        ("WORKER_USERNAME".into(), LOCAL_WORKER_EMAIL.into()),
                        ("WORKER_PASSWORD".into(), password),
                        (
                            "WORKER_IDLE_TIMEOUT_SECONDS".into(),
                            LOCAL_WORKER_IDLE_SECONDS.to_string(),
                        ),
                    ],
                },
                desired_count: settings.compute.local_workers,
                max_workers: settings.compute.local_max_workers,
            };
            let pool = LocalWorkerPool::start(pool_settings, Arc::new(SystemClock))?;
            Ok((Arc::new(pool.clone()), Some(pool)))
        }
    }
}

/// A random 32-character password.
fn random_password() -> String {
    use rand::Rng as _;
    rand::thread_rng()
        .sample_iter(rand::distributions::Alphanumeric)
        .take(32)
        .map(char::from)
        .collect()
}

/// Messages waiting to be sent before a new one is refused (and logged).
const EMAIL_QUEUE_CAPACITY: usize = 1_000;

/// The e-mail sender the settings choose, behind a queue so that requests never wait on it:
/// SMTP when `smtp_host` is set, else the log (with a warning now, and one per message).
fn email_sender(settings: &EmailSettings) -> anyhow::Result<QueuedEmailSender> {
    let inner: Arc<dyn EmailSender> = match &settings.smtp_host {
        Some(host) => Arc::new(
            SmtpEmailSender::new(&SmtpSettings {
                host: host.clone(),
                port: settings.effective_port(),
                security: match settings.smtp_security {
                    SmtpSecurityKind::Starttls => SmtpSecurity::StartTls,
                    SmtpSecurityKind::Tls => SmtpSecurity::Tls,
                    SmtpSecurityKind::None => SmtpSecurity::None,
                },
                username: settings.smtp_username.clone(),
                password: settings.smtp_password.clone(),
                from: settings.smtp_from.clone(),
            })
            .context("cannot set up the SMTP sender")?,
        ),
        None => {
            tracing::warn!(
                "no SMTP server is configured (smtp_host): password reset e-mails, codes \
                 included, are written to this log instead of being sent"
            );
            Arc::new(LogEmailSender)
        }
    };
    let (queue, _task) = QueuedEmailSender::start(inner, EMAIL_QUEUE_CAPACITY);
    Ok(queue)
}

/// An account the server creates itself at start-up.
struct ServerAccount<'a> {
    /// The settings' name for it (`ADMIN` for `ADMIN_USERNAME`/`ADMIN_PASSWORD`).
    name: &'static str,
    /// Its email, when configured.
    username: Option<&'a str>,
    /// Where its password comes from.
    password: AccountPassword<'a>,
    role: Role,
}

/// Where a server account's password comes from.
enum AccountPassword<'a> {
    /// The settings (the account is created only when both username and password are set).
    Configured(Option<&'a SecretString>),
    /// A fresh random one at each start (the local workers' account, created with their pool).
    Generated,
}

/// Every account the server may create itself: the configured service accounts and the local
/// workers' account. Start-up creates them; the importer replaces them (they are not users).
fn server_accounts(settings: &Settings) -> [ServerAccount<'_>; 4] {
    fn configured<'a>(
        name: &'static str,
        username: &'a Option<String>,
        password: &'a Option<SecretString>,
        role: Role,
    ) -> ServerAccount<'a> {
        ServerAccount {
            name,
            username: username.as_deref(),
            password: AccountPassword::Configured(password.as_ref()),
            role,
        }
    }
    let auth = &settings.auth;
    [
        configured(
            "ADMIN",
            &auth.admin_username,
            &auth.admin_password,
            Role::Admin,
        ),
        configured(
            "WORKER",
            &auth.worker_username,
            &auth.worker_password,
            Role::Worker,
        ),
        configured(
            "MANAGER",
            &auth.manager_username,
            &auth.manager_password,
            Role::Worker,
        ),
        ServerAccount {
            name: "local workers",
            username: Some(LOCAL_WORKER_EMAIL),
            password: AccountPassword::Generated,
            role: Role::Worker,
        },
    ]
}

/// The email of the ADMIN service account (`ADMIN_USERNAME`), when configured: the owner of the
/// jobs the server queues on its own behalf (data specification updates, as R2).
fn admin_service_account(settings: &Settings) -> Option<Email> {
    server_accounts(settings)
        .into_iter()
        .find(|account| account.role == Role::Admin)
        .and_then(|account| account.username)
        .and_then(|email| Email::parse(email).ok())
}

/// The emails of every account the server may create itself (see [`server_accounts`]).
#[must_use]
pub fn server_account_emails(settings: &Settings) -> Vec<Email> {
    server_accounts(settings)
        .into_iter()
        .filter_map(|account| account.username)
        .filter_map(|email| Email::parse(email).ok())
        .collect()
}

/// Creates (or resets the password and roles of) the configured service accounts.
async fn ensure_service_accounts(settings: &Settings, users: &UserAdmin) -> anyhow::Result<()> {
    for account in server_accounts(settings) {
        let AccountPassword::Configured(Some(password)) = account.password else {
            continue;
        };
        let Some(username) = account.username else {
            continue;
        };
        let name = account.name;
        let email = Email::parse(username)
            .with_context(|| format!("{name}_USERNAME is not a valid email address"))?;
        let password = Password::new(password.expose_secret())
            .with_context(|| format!("{name}_PASSWORD does not meet the password policy"))?;
        let id = users
            .ensure_service_account(email, &password, Roles::from_iter([account.role]))
            .await
            .with_context(|| format!("cannot create the {name} service account"))?;
        tracing::info!(account = name, user_id = %id, "service account ready");
    }
    Ok(())
}

fn json_config(limit: usize) -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(limit)
        .content_type_required(false)
        .error_handler(move |error, _req| json_error(error, limit).into())
}

fn json_error(error: JsonPayloadError, limit: usize) -> ApiError {
    let too_large = || ApiError::payload_too_large(limit);
    match error {
        JsonPayloadError::OverflowKnownLength { .. }
        | JsonPayloadError::Overflow { .. }
        | JsonPayloadError::Payload(PayloadError::Overflow) => too_large(),
        JsonPayloadError::Deserialize(e) if e.is_data() => {
            ApiError::bad_request("invalid_body", format!("Invalid request body: {e}"))
        }
        JsonPayloadError::Deserialize(e) => {
            ApiError::bad_request("malformed_json", format!("Malformed JSON: {e}"))
        }
        other => ApiError::bad_request("invalid_body", format!("Invalid request body: {other}")),
    }
}

fn query_config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|error, _req| {
        ApiError::bad_request("invalid_query", format!("Invalid query string: {error}")).into()
    })
}

fn path_config() -> web::PathConfig {
    web::PathConfig::default().error_handler(|error, _req| {
        ApiError::bad_request("invalid_path", format!("Invalid path: {error}")).into()
    })
}

/// A bound, ready-to-run server with its background tasks (job notifications, the local worker
/// pool) and the roles it may lead (see [`crate::leading`]).
pub struct Application {
    port: u16,
    server: Server,
    background: Vec<tokio::task::JoinHandle<()>>,
    /// The loops of the roles this instance may lead.
    roles: Vec<tokio::task::JoinHandle<()>>,
    /// Ends those loops (at the drain), passing their roles on.
    stop_roles: CancellationToken,
    local_pool: Option<LocalWorkerPool>,
    /// Drained at shutdown: long polls answer, readiness fails.
    job_signal: JobSignal,
    shutdown: ShutdownPlan,
}

impl Application {
    /// Wires everything and binds the listener (port 0 picks a free port).
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let listener = TcpListener::bind((settings.server.host, settings.server.port))
            .with_context(|| {
                format!(
                    "cannot listen on {}:{}",
                    settings.server.host, settings.server.port
                )
            })?;
        let port = listener.local_addr()?.port();
        let urls = settings.server.urls(port);
        let state = web::Data::new(build_state(&settings, &urls).await?);
        // The roles one instance plays for all: they stop (and pass on) as soon as this one drains.
        let stop_roles = CancellationToken::new();
        let mut roles = vec![tokio::spawn(sweep_leases(
            state.clone(),
            std::time::Duration::from_millis(settings.jobs.lease_sweep_interval_ms),
            stop_roles.clone(),
        ))];
        let mut background = Vec::new();
        let signal = state.runtime.job_signal.clone();
        background.extend(
            state
                .runtime
                .store
                .listen_for_changes(move || signal.notify()),
        );
        if let Some(pool) = state.runtime.local_pool.clone() {
            background.push(spawn_pool_keeper(pool));
        }
        if let Some(dispatcher) = state.runtime.dispatcher.clone() {
            roles.push(tokio::spawn(crate::workflows::run_loop(
                dispatcher,
                state.runtime.store.clone(),
                state.runtime.dispatch_interval,
                stop_roles.clone(),
            )));
        }
        if settings.compute.capacity_manager {
            let manager = crate::capacity::build_manager(
                &settings,
                state.runtime.store.clone(),
                state.cluster.cluster().clone(),
            )?;
            roles.push(tokio::spawn(crate::capacity::run_loop(
                manager,
                state.runtime.store.clone(),
                std::time::Duration::from_millis(settings.compute.capacity_interval_ms),
                stop_roles.clone(),
            )));
        }
        let local_pool = state.runtime.local_pool.clone();
        let job_signal = state.runtime.job_signal.clone();
        let shutdown = settings.server.shutdown_plan();
        let body_limit = settings.limits.body_limit_bytes;
        let cors_origins = settings.server.cors_allowed_origins.clone();
        let served_methods = state.published.served_methods.clone();
        let mounts = routes::Mounts::of(&settings);
        crate::metering::spawn_upkeep();
        let mut server = HttpServer::new(move || {
            // Outermost first: give every request its id (and its log lines the id); log every
            // request; answer CORS preflights before any
            // authentication and give every answer, errors included, its CORS headers; turn
            // non-JSON error answers (actix's own, and CORS refusals) into JSON.
            routes::serve(
                App::new()
                    .app_data(state.clone())
                    .app_data(json_config(body_limit))
                    .app_data(web::PayloadConfig::new(body_limit))
                    .app_data(query_config())
                    .app_data(path_config()),
                served_methods.clone(),
                mounts,
            )
            .wrap(ErrorHandlers::new().default_handler(json_error_body))
            .wrap(cors(&cors_origins))
            .wrap(ErrorHandlers::new().default_handler(json_error_body))
            .wrap(from_fn(measure_request))
            .wrap(from_fn(log_request))
            .wrap(from_fn(with_request_id))
        })
        .listen(listener)?
        // `reefguide serve` handles SIGINT/SIGTERM itself (draining first, see
        // `stop_on_signals`); requests in flight then get the configured grace.
        .disable_signals()
        .shutdown_timeout(shutdown.grace.as_secs());
        if let Some(workers) = settings.server.http_workers {
            server = server.workers(workers);
        }
        Ok(Self {
            port,
            server: server.run(),
            background,
            roles,
            stop_roles,
            local_pool,
            job_signal,
            shutdown,
        })
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// A handle to stop the server gracefully.
    pub fn handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }

    /// Stops the server when SIGINT or SIGTERM arrives, in order: drain (long polls answer 204
    /// at once, `/api/health` answers 503 `draining`, the roles this instance leads pass to
    /// another instance) while still serving for the configured delay; stop local workers (so none outlives the server); close the listener and let
    /// requests in flight finish within the grace; then [`Application::run_until_stopped`]
    /// stops the background loops and returns.
    pub fn stop_on_signals(&self) {
        let handle = self.server.handle();
        let pool = self.local_pool.clone();
        let signal = self.job_signal.clone();
        let plan = self.shutdown;
        let stop_roles = self.stop_roles.clone();
        tokio::spawn(async move {
            shutdown_signal().await;
            tracing::info!(
                delay_seconds = plan.delay.as_secs(),
                grace_seconds = plan.grace.as_secs(),
                "shutting down: draining"
            );
            signal.drain();
            stop_roles.cancel();
            tokio::time::sleep(plan.delay).await;
            if let Some(pool) = pool {
                pool.shutdown();
            }
            tracing::info!("shutting down: listener closed, finishing requests in flight");
            handle.stop(true).await;
        });
    }

    /// Serves until the server is stopped (SIGINT/SIGTERM or a handle).
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let result = self.server.await;
        // A cycle under way finishes (a capacity launch is not cut in half), within bounds.
        self.stop_roles.cancel();
        for mut role in self.roles {
            if tokio::time::timeout(ROLE_STOP_TIMEOUT, &mut role)
                .await
                .is_err()
            {
                tracing::warn!("a background role did not stop in time");
                role.abort();
            }
        }
        for task in self.background {
            task.abort();
        }
        tracing::info!("stopped");
        if let Some(pool) = self.local_pool {
            pool.shutdown();
        }
        result
    }
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

/// Keeps the local worker pool at its desired size (replacing workers that exited) until aborted.
fn spawn_pool_keeper(pool: LocalWorkerPool) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(2));
        loop {
            tick.tick().await;
            if let Err(error) = pool.maintain() {
                tracing::warn!(%error, "cannot keep the local worker pool");
            }
        }
    })
}

/// Runs the lease sweeper every `interval` while this instance leads its role, until `stop` is
/// cancelled: expired leases are re-queued or timed out (each change a compare-and-set, so even
/// two sweepers would be safe; one at a time saves the work).
async fn sweep_leases(
    state: web::Data<AppState>,
    interval: std::time::Duration,
    stop: CancellationToken,
) {
    let mut turns = Turns::new(
        leading::Role::LeaseSweeper,
        &state.runtime.store,
        interval,
        stop,
    );
    while turns.next().await {
        match turns.take(state.jobs.expire_leases()).await {
            Turn::Followed { .. } => {}
            Turn::Led(Ok(summary)) => {
                crate::metering::record_sweep(&summary);
                if summary.requeued + summary.timed_out > 0 {
                    tracing::info!(
                        requeued = summary.requeued,
                        timed_out = summary.timed_out,
                        "expired job leases"
                    );
                }
            }
            Turn::Led(Err(error)) => {
                tracing::warn!(error = format!("{error:#}"), "lease sweep failed");
            }
        }
    }
}
