//! The local object store's signed URLs: `GET` downloads a result file, `PUT` uploads one. No
//! token is needed: the URL's signature is the permission, and it expires. Only present when the
//! local store is the one wired (the embedded default); with S3 the URLs point at S3 itself.

use actix_files::NamedFile;
use actix_web::{HttpRequest, HttpResponse, get, put, web};
use reefguide_ports::SignedUrl;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::app::{AppState, SignedFiles};
use crate::errors::{ApiError, ErrorBody};
use crate::routes::{Registry, RouteSet};

/// The routes of `/storage/{key}` (inside the `/api` scope).
pub struct Routes;

impl RouteSet for Routes {
    fn register<R: Registry>(routes: &mut R) {
        routes.handler(download_file).handler(upload_file);
    }
}

/// The signature part of a signed URL.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SignedParams {
    /// When the URL stops working, in seconds since the Unix epoch.
    pub expires: i64,
    /// Hex HMAC-SHA256 of the method, key and expiry.
    pub signature: String,
}

/// An upload stored.
#[derive(Debug, Serialize, ToSchema)]
pub struct StoredResponse {
    /// Bytes written.
    pub bytes: u64,
}

impl SignedParams {
    /// The signed URL these parameters complete for `key`.
    fn url(self, key: String) -> SignedUrl {
        SignedUrl {
            key,
            expires: self.expires,
            signature: self.signature,
        }
    }
}

/// The signed-URL service, or 404 when this server does not store results locally.
fn signed_files(state: &AppState) -> Result<&SignedFiles, ApiError> {
    state
        .signed_files
        .as_ref()
        .ok_or_else(|| ApiError::not_found("This server stores results in S3, not locally"))
}

/// Downloads a result file through a signed URL from `GET /api/jobs/{id}/download`.
#[utoipa::path(tag = "storage",
    params(("key" = String, Path, description = "The file's key (as in the signed URL)"),
        SignedParams),
    responses(
        (status = 200, description = "The file's bytes", content_type = "application/octet-stream"),
        (status = 400, description = "Invalid key or parameters", body = ErrorBody),
        (status = 403, description = "Tampered signature (invalid_signature) or expired URL \
            (url_expired)", body = ErrorBody),
        (status = 404, description = "No such file, or results are not stored locally",
            body = ErrorBody)))]
#[get("/storage/{key:.+}")]
pub async fn download_file(
    req: HttpRequest,
    key: web::Path<String>,
    params: web::Query<SignedParams>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let url = params.into_inner().url(key.into_inner());
    let granted = signed_files(&state)?.download(&url)?;
    let no_file = || ApiError::not_found(format!("No file {}", url.key));
    let file = NamedFile::open_async(granted.path())
        .await
        .map_err(|_| no_file())?;
    if file.metadata().is_dir() {
        return Err(no_file());
    }
    Ok(file
        .use_etag(true)
        .use_last_modified(true)
        .into_response(&req))
}

/// Uploads a result file through a signed URL from `POST /api/jobs/assignments/{id}/upload-urls`.
/// The body is the file's bytes; a repeated upload replaces the file.
#[utoipa::path(tag = "storage",
    params(("key" = String, Path, description = "The file's key (as in the signed URL)"),
        SignedParams),
    request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    responses(
        (status = 200, description = "Stored", body = StoredResponse),
        (status = 400, description = "Invalid key or parameters", body = ErrorBody),
        (status = 403, description = "Tampered signature (invalid_signature) or expired URL \
            (url_expired)", body = ErrorBody),
        (status = 404, description = "Results are not stored locally", body = ErrorBody),
        (status = 413, description = "Larger than upload_max_bytes", body = ErrorBody)))]
#[put("/storage/{key:.+}")]
pub async fn upload_file(
    key: web::Path<String>,
    params: web::Query<SignedParams>,
    state: web::Data<AppState>,
    body: web::Payload,
) -> Result<web::Json<StoredResponse>, ApiError> {
    let url = params.into_inner().url(key.into_inner());
    let bytes = signed_files(&state)?.upload(&url, body).await?;
    Ok(web::Json(StoredResponse { bytes }))
}
