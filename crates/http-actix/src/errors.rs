//! The error model of contract §1: every error is JSON
//! `{"status", "message", "code", "details"?}`, never text, HTML or internals.
//!
//! Use-case errors convert into [`ApiError`] here, in one place, so the HTTP crate alone owns
//! status codes. Unexpected errors are logged with their cause chain and answered generically.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use reefguide_domain::access::{CreateNoteError, NoteAccessError, PolygonAccessError};
use reefguide_domain::auth::errors::{
    AuthenticateError, ChangePasswordError, LoginError, PasswordResetError, RefreshError,
    RegisterError,
};
use reefguide_domain::data_specification::{
    CriteriaRangesError, InvalidSpecification, ReplaceSpecificationError, RequestUpdateError,
};
use reefguide_domain::group::GroupError;
use reefguide_domain::job::errors::{
    AssignJobError, AssignmentError, CancelJobError, ClaimError, InvalidateCacheError,
    JobAccessError, NotAWorker, PollError, SubmitJobError, TimeoutJobsError,
};
use reefguide_domain::job::registry::{PayloadErrors, UnknownJobType};
use reefguide_domain::project::ProjectError;
use reefguide_domain::user::errors::{CreateUserError, PreApprovalError, UserLookupError};
use reefguide_ports::services::{DownloadError, SignedUploadError, UploadUrlError};
use reefguide_ports::{ComputeError, ObjectStoreError, SignedUrlError};
use serde::Serialize;
use utoipa::ToSchema;

/// One failed field of a validation error.
#[derive(Debug, Clone, Serialize, ToSchema, PartialEq, Eq)]
pub struct ErrorDetail {
    /// Where in the request, e.g. `email` or `polygon.coordinates[0]`.
    pub path: String,
    /// What is wrong.
    pub message: String,
}

/// The JSON body of every error response.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErrorBody {
    /// HTTP status code.
    #[schema(example = 400)]
    pub status: u16,
    /// A human sentence.
    #[schema(example = "Validation failed")]
    pub message: String,
    /// A stable snake_case code for programs.
    #[schema(example = "validation_error")]
    pub code: String,
    /// Per-field problems, for validation errors.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<Vec<ErrorDetail>>,
}

/// An error answered to a client.
#[derive(Debug, Clone)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    details: Option<Vec<ErrorDetail>>,
    retry_after_seconds: Option<u64>,
}

impl ApiError {
    /// An error with a status, code and message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            details: None,
            retry_after_seconds: None,
        }
    }

    /// 400 `validation_error` with per-field details.
    pub fn validation(details: Vec<ErrorDetail>) -> Self {
        let message = match details.as_slice() {
            [one] => format!("Invalid {}: {}", one.path, one.message),
            _ => "Validation failed".to_owned(),
        };
        Self {
            details: Some(details),
            ..Self::new(StatusCode::BAD_REQUEST, "validation_error", message)
        }
    }

    /// The field details of a validation error with each path under `prefix`
    /// (`prefix.path`), to report the items of a list in one error.
    pub fn details_under(self, prefix: &str) -> Vec<ErrorDetail> {
        self.details
            .unwrap_or_default()
            .into_iter()
            .map(|detail| ErrorDetail {
                path: format!("{prefix}.{}", detail.path),
                message: detail.message,
            })
            .collect()
    }

    /// 400 `validation_error` for a single field.
    pub fn invalid_field(path: &str, message: impl ToString) -> Self {
        Self::validation(vec![ErrorDetail {
            path: path.to_owned(),
            message: message.to_string(),
        }])
    }

    /// 413 `payload_too_large`, naming the limit.
    pub fn payload_too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("Request body exceeds the limit of {limit} bytes"),
        )
    }

    /// 400 with a code.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// 401 `unauthorized`.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    /// 403 `forbidden`.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    /// 404 `not_found`.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// 503 `metrics_off`: this process records no metrics (another recorder was installed).
    pub fn metrics_off() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "metrics_off",
            "Metrics are off in this process",
        )
    }

    /// 429 `rate_limited` with `Retry-After`.
    pub fn rate_limited(retry_after_seconds: u64) -> Self {
        Self {
            retry_after_seconds: Some(retry_after_seconds.max(1)),
            ..Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                "Too many requests, try again later",
            )
        }
    }

    /// An unexpected failure: logs the cause chain and answers a generic 500, or 503 when the
    /// cause is the database being unreachable.
    pub fn unexpected(error: &anyhow::Error) -> Self {
        if error.chain().any(|cause| {
            cause
                .downcast_ref::<reefguide_ports::StoreUnavailable>()
                .is_some()
        }) {
            tracing::error!(error = format!("{error:#}"), "database unreachable");
            return Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "service_unavailable",
                "The database is unreachable, try again later",
            );
        }
        tracing::error!(error = format!("{error:#}"), "unexpected error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "Internal server error",
        )
    }

    /// The status code.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The JSON body.
    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            status: self.status.as_u16(),
            message: self.message.clone(),
            code: self.code.to_owned(),
            details: self.details.clone(),
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status.as_u16(),
            self.code,
            self.message
        )
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status);
        if let Some(seconds) = self.retry_after_seconds {
            response.insert_header((header::RETRY_AFTER, HeaderValue::from(seconds)));
        }
        response.json(self.body())
    }
}

impl From<anyhow::Error> for ApiError {
    fn from(error: anyhow::Error) -> Self {
        Self::unexpected(&error)
    }
}

impl From<CreateUserError> for ApiError {
    fn from(error: CreateUserError) -> Self {
        match error {
            CreateUserError::UserExists => Self::bad_request("user_exists", "User already exists"),
            CreateUserError::Unexpected(e) => Self::unexpected(&e),
        }
    }
}

impl From<RegisterError> for ApiError {
    fn from(error: RegisterError) -> Self {
        match error {
            RegisterError::UserExists => Self::bad_request("user_exists", error.to_string()),
            RegisterError::PreApprovalUsed(_) => {
                Self::bad_request("pre_approval_used", error.to_string())
            }
            RegisterError::Unexpected(e) => Self::unexpected(&e),
        }
    }
}

impl From<PreApprovalError> for ApiError {
    fn from(error: PreApprovalError) -> Self {
        match error {
            PreApprovalError::Forbidden => Self::forbidden(error.to_string()),
            PreApprovalError::NotFound(_) => Self::not_found(error.to_string()),
            PreApprovalError::AlreadyPreApproved(_) => {
                Self::bad_request("pre_approval_exists", error.to_string())
            }
            PreApprovalError::AlreadyRegistered(_) => {
                Self::bad_request("user_exists", error.to_string())
            }
            PreApprovalError::Used(_) => Self::bad_request("pre_approval_used", error.to_string()),
            PreApprovalError::Unexpected(e) => Self::unexpected(&e),
        }
    }
}

impl From<UserLookupError> for ApiError {
    fn from(error: UserLookupError) -> Self {
        match error {
            UserLookupError::NotFound(_) => Self::not_found(error.to_string()),
            UserLookupError::NoPassword(_) => Self::bad_request("no_password", error.to_string()),
            UserLookupError::Unexpected(e) => Self::unexpected(&e),
        }
    }
}

impl From<LoginError> for ApiError {
    fn from(error: LoginError) -> Self {
        match error {
            LoginError::InvalidCredentials => Self::new(
                StatusCode::UNAUTHORIZED,
                "invalid_credentials",
                "Invalid credentials",
            ),
            LoginError::Unexpected(e) => Self::unexpected(&e),
        }
    }
}

impl From<RefreshError> for ApiError {
    fn from(error: RefreshError) -> Self {
        match error {
            RefreshError::InvalidToken => Self::new(
                StatusCode::UNAUTHORIZED,
                "invalid_refresh_token",
                error.to_string(),
            ),
            RefreshError::Unexpected(e) => Self::unexpected(&e),
        }
    }
}

impl From<AuthenticateError> for ApiError {
    fn from(error: AuthenticateError) -> Self {
        match error {
            AuthenticateError::InvalidToken(_) | AuthenticateError::UserGone => {
                Self::new(StatusCode::UNAUTHORIZED, "invalid_token", error.to_string())
            }
            AuthenticateError::IssuerUnavailable(_) => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "issuer_unavailable",
                error.to_string(),
            ),
            AuthenticateError::Unexpected(e) => Self::unexpected(&e),
        }
    }
}

impl From<ChangePasswordError> for ApiError {
    fn from(error: ChangePasswordError) -> Self {
        match error {
            ChangePasswordError::ConfirmationMismatch => {
                Self::invalid_field("confirmPassword", error.to_string())
            }
            ChangePasswordError::WrongOldPassword => Self::new(
                StatusCode::UNAUTHORIZED,
                "invalid_credentials",
                error.to_string(),
            ),
            ChangePasswordError::UserGone => {
                Self::new(StatusCode::UNAUTHORIZED, "invalid_token", error.to_string())
            }
            ChangePasswordError::NoPassword => Self::bad_request("no_password", error.to_string()),
            ChangePasswordError::Unexpected(e) => Self::unexpected(&e),
        }
    }
}

impl From<PasswordResetError> for ApiError {
    fn from(error: PasswordResetError) -> Self {
        match error {
            PasswordResetError::InvalidCode => Self::bad_request("invalid_code", error.to_string()),
            PasswordResetError::ConfirmationMismatch => {
                Self::invalid_field("confirmPassword", error.to_string())
            }
            PasswordResetError::Unexpected(e) => Self::unexpected(&e),
        }
    }
}

impl From<PolygonAccessError> for ApiError {
    fn from(error: PolygonAccessError) -> Self {
        match error {
            PolygonAccessError::NotFound(_) => Self::not_found(error.to_string()),
            PolygonAccessError::Forbidden => Self::forbidden(error.to_string()),
            PolygonAccessError::ProjectNotFound(_) => Self::not_found(error.to_string()),
            PolygonAccessError::Unexpected(e) => Self::unexpected(&e),
        }
    }
}

impl From<ProjectError> for ApiError {
    fn from(error: ProjectError) -> Self {
        match error {
            ProjectError::NotFound(_) => Self::not_found(error.to_string()),
            ProjectError::NotOwner => Self::forbidden(error.to_string()),
            ProjectError::DuplicateName(_) => {
                Self::bad_request("duplicate_name", error.to_string())
            }
            ProjectError::OwnerNotFound(_) => {
                Self::bad_request("user_not_found", error.to_string())
            }
            ProjectError::Unexpected(e) => Self::unexpected(&e),
        }
    }
}

impl From<GroupError> for ApiError {
    fn from(error: GroupError) -> Self {
        match error {
            GroupError::NotFound(_) => Self::not_found(error.to_string()),
            GroupError::Forbidden(_) => Self::forbidden(error.to_string()),
            GroupError::NewOwnerNotFound(_) => {
                Self::bad_request("user_not_found", error.to_string())
            }
            GroupError::Unexpected(e) => Self::unexpected(&e),
        }
    }
}

impl From<CreateNoteError> for ApiError {
    fn from(error: CreateNoteError) -> Self {
        match error {
            CreateNoteError::PolygonNotFound(_) => Self::not_found(error.to_string()),
            CreateNoteError::Forbidden => Self::forbidden(error.to_string()),
            CreateNoteError::Unexpected(e) => Self::unexpected(&e),
        }
    }
}

impl From<NoteAccessError> for ApiError {
    fn from(error: NoteAccessError) -> Self {
        match error {
            NoteAccessError::NotFound(_) => Self::not_found(error.to_string()),
            NoteAccessError::Forbidden => Self::forbidden(error.to_string()),
            NoteAccessError::Unexpected(e) => Self::unexpected(&e),
        }
    }
}

impl From<PayloadErrors> for ApiError {
    fn from(errors: PayloadErrors) -> Self {
        let message = errors.to_string();
        Self {
            message,
            ..Self::validation(
                errors
                    .errors
                    .into_iter()
                    .map(|error| ErrorDetail {
                        path: error.path,
                        message: error.message,
                    })
                    .collect(),
            )
        }
    }
}

impl From<SubmitJobError> for ApiError {
    fn from(error: SubmitJobError) -> Self {
        match error {
            SubmitJobError::UnknownType(_) => {
                Self::bad_request("unknown_job_type", error.to_string())
            }
            SubmitJobError::NotPermitted(_) => Self::new(
                StatusCode::FORBIDDEN,
                "job_type_forbidden",
                error.to_string(),
            ),
            SubmitJobError::InvalidPayload(errors) => errors.into(),
            SubmitJobError::MissingCollection(_) => {
                Self::bad_request("missing_collection", error.to_string())
            }
            SubmitJobError::UnknownCollection(_) => {
                Self::bad_request("unknown_collection", error.to_string())
            }
            SubmitJobError::CollectionNotApplicable(_) => {
                Self::bad_request("collection_not_applicable", error.to_string())
            }
            SubmitJobError::WorkflowNotInCollection { .. } => {
                Self::bad_request("workflow_not_in_collection", error.to_string())
            }
            SubmitJobError::ReservedParameter(_) => {
                Self::bad_request("reserved_parameter", error.to_string())
            }
            SubmitJobError::UnusableUsername(_) => {
                Self::bad_request("unusable_username", error.to_string())
            }
            SubmitJobError::Unexpected(e) => Self::unexpected(&e),
        }
    }
}

impl From<JobAccessError> for ApiError {
    fn from(error: JobAccessError) -> Self {
        match error {
            JobAccessError::NotFound(_) => Self::not_found(error.to_string()),
            JobAccessError::Forbidden => Self::forbidden(error.to_string()),
            JobAccessError::Unexpected(e) => Self::unexpected(&e),
        }
    }
}

impl From<CancelJobError> for ApiError {
    fn from(error: CancelJobError) -> Self {
        match error {
            CancelJobError::NotFound(_) => Self::not_found(error.to_string()),
            CancelJobError::Forbidden => Self::forbidden(error.to_string()),
            CancelJobError::NotCancellable(_) => {
                Self::bad_request("job_not_cancellable", error.to_string())
            }
            CancelJobError::Unexpected(e) => Self::unexpected(&e),
        }
    }
}

impl From<NotAWorker> for ApiError {
    fn from(error: NotAWorker) -> Self {
        Self::forbidden(error.to_string())
    }
}

impl ApiError {
    /// 400 `unknown_job_type` for a name the job service did not resolve, naming the request
    /// `parameter` it came in (HTTP knowledge, so added here) and the deployment's job types.
    pub(crate) fn unknown_job_type(error: &UnknownJobType, parameter: &str) -> Self {
        Self::bad_request(
            "unknown_job_type",
            format!(
                "Unknown job type {:?} in {parameter}; known types: {}",
                error.name,
                error.known.join(", ")
            ),
        )
    }
}

/// The poll's only job type comes in its `jobType` query parameter.
impl From<PollError> for ApiError {
    fn from(error: PollError) -> Self {
        match error {
            PollError::UnknownType(e) => Self::unknown_job_type(&e, "jobType"),
            PollError::NotAWorker(e) => e.into(),
            PollError::Unexpected(e) => Self::unexpected(&e),
        }
    }
}

impl From<ClaimError> for ApiError {
    fn from(error: ClaimError) -> Self {
        match error {
            ClaimError::NotAWorker(e) => e.into(),
            ClaimError::Unexpected(e) => Self::unexpected(&e),
        }
    }
}

impl From<AssignJobError> for ApiError {
    fn from(error: AssignJobError) -> Self {
        match error {
            AssignJobError::NotAWorker(e) => e.into(),
            AssignJobError::NotFound(_) => Self::not_found(error.to_string()),
            AssignJobError::NotAvailable => {
                Self::bad_request("job_not_available", error.to_string())
            }
            AssignJobError::Unexpected(e) => Self::unexpected(&e),
        }
    }
}

impl From<AssignmentError> for ApiError {
    fn from(error: AssignmentError) -> Self {
        match error {
            AssignmentError::NotAWorker(e) => e.into(),
            AssignmentError::NotFound(_) => Self::not_found(error.to_string()),
            AssignmentError::NotHolder => Self::new(
                StatusCode::FORBIDDEN,
                "not_assignment_holder",
                error.to_string(),
            ),
            AssignmentError::AlreadyCompleted => {
                Self::bad_request("assignment_completed", error.to_string())
            }
            AssignmentError::LeaseLost(_) => {
                Self::new(StatusCode::CONFLICT, "lease_lost", error.to_string())
            }
            AssignmentError::InvalidResult(errors) => errors.into(),
            AssignmentError::Unexpected(e) => Self::unexpected(&e),
        }
    }
}

impl From<InvalidateCacheError> for ApiError {
    fn from(error: InvalidateCacheError) -> Self {
        match error {
            InvalidateCacheError::Forbidden => Self::forbidden(error.to_string()),
            InvalidateCacheError::UnknownType(_) => {
                Self::bad_request("unknown_job_type", error.to_string())
            }
            InvalidateCacheError::Unexpected(e) => Self::unexpected(&e),
        }
    }
}

impl From<TimeoutJobsError> for ApiError {
    fn from(error: TimeoutJobsError) -> Self {
        match error {
            TimeoutJobsError::Forbidden => Self::forbidden(error.to_string()),
            TimeoutJobsError::UnknownType(_) => {
                Self::bad_request("unknown_job_type", error.to_string())
            }
            TimeoutJobsError::Unexpected(e) => Self::unexpected(&e),
        }
    }
}

impl From<ObjectStoreError> for ApiError {
    fn from(error: ObjectStoreError) -> Self {
        match error {
            ObjectStoreError::ForeignLocation(location) => {
                tracing::error!(%location, "result files are in a store this server does not use");
                Self::new(
                    StatusCode::CONFLICT,
                    "storage_unavailable",
                    "The result files are in a store this server is not configured for",
                )
            }
            ObjectStoreError::NotFound(path) => Self::not_found(format!("No file {path}")),
            ObjectStoreError::Backend(e) => {
                tracing::error!(error = format!("{e:#}"), "object store failure");
                Self::new(
                    StatusCode::BAD_GATEWAY,
                    "storage_error",
                    "The result store failed or could not be reached, try again later",
                )
            }
        }
    }
}

impl From<DownloadError> for ApiError {
    fn from(error: DownloadError) -> Self {
        match error {
            DownloadError::Access(e) => e.into(),
            DownloadError::NotSucceeded(..) => {
                Self::bad_request("job_not_succeeded", error.to_string())
            }
            DownloadError::NoResult(_) => Self::bad_request("no_results", error.to_string()),
            DownloadError::TooManyFiles(_) => {
                Self::bad_request("too_many_files", error.to_string())
            }
            DownloadError::Storage(e) => e.into(),
        }
    }
}

impl From<UploadUrlError> for ApiError {
    fn from(error: UploadUrlError) -> Self {
        match error {
            UploadUrlError::Assignment(e) => e.into(),
            UploadUrlError::NoFiles | UploadUrlError::TooManyFiles(_) => {
                Self::invalid_field("files", error.to_string())
            }
            UploadUrlError::Storage(e) => e.into(),
        }
    }
}

impl From<SignedUrlError> for ApiError {
    fn from(error: SignedUrlError) -> Self {
        match error {
            SignedUrlError::BadSignature => Self::new(
                StatusCode::FORBIDDEN,
                "invalid_signature",
                error.to_string(),
            ),
            SignedUrlError::Expired => {
                Self::new(StatusCode::FORBIDDEN, "url_expired", error.to_string())
            }
            SignedUrlError::InvalidPath => Self::bad_request("invalid_path", error.to_string()),
        }
    }
}

impl From<SignedUploadError> for ApiError {
    fn from(error: SignedUploadError) -> Self {
        match error {
            SignedUploadError::Refused(e) => e.into(),
            SignedUploadError::TooLarge { .. } => Self::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                error.to_string(),
            ),
            SignedUploadError::Interrupted(_) => {
                Self::bad_request("invalid_body", error.to_string())
            }
            SignedUploadError::Unexpected(e) => Self::unexpected(&e),
        }
    }
}

impl From<ComputeError> for ApiError {
    fn from(error: ComputeError) -> Self {
        match error {
            ComputeError::Upstream(message) => {
                tracing::warn!(%message, "compute cluster failure");
                Self::new(StatusCode::BAD_GATEWAY, "upstream_error", message)
            }
            ComputeError::Invalid(_) | ComputeError::UnknownTarget(_) => {
                Self::bad_request("invalid_request", error.to_string())
            }
        }
    }
}

impl From<InvalidSpecification> for ApiError {
    fn from(error: InvalidSpecification) -> Self {
        Self::validation(
            error
                .violations
                .into_iter()
                .map(|violation| ErrorDetail {
                    path: violation.path,
                    message: violation.problem.to_string(),
                })
                .collect(),
        )
    }
}

impl From<ReplaceSpecificationError> for ApiError {
    fn from(error: ReplaceSpecificationError) -> Self {
        match error {
            ReplaceSpecificationError::Forbidden => Self::forbidden(error.to_string()),
            ReplaceSpecificationError::Unexpected(e) => Self::unexpected(&e),
        }
    }
}

impl From<CriteriaRangesError> for ApiError {
    fn from(error: CriteriaRangesError) -> Self {
        match error {
            CriteriaRangesError::RegionNotFound => Self::not_found(error.to_string()),
            CriteriaRangesError::Unexpected(e) => Self::unexpected(&e),
        }
    }
}

impl From<RequestUpdateError> for ApiError {
    fn from(error: RequestUpdateError) -> Self {
        match error {
            RequestUpdateError::Forbidden => Self::forbidden(error.to_string()),
            RequestUpdateError::Submit(e) => e.into(),
            RequestUpdateError::Unexpected(e) => Self::unexpected(&e),
        }
    }
}
