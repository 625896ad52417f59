//! `/output-data/{prefix…}` (labcas-contract §3): the caller's run outputs, one folder level at a
//! time with presigned links, and the properties (`.cfg` sidecars) of their files.
//!
//! The body of a PUT is read as JSON whatever its `Content-Type` (LabCAS's browser client sends
//! none). A listing is JSON, or an HTML page of links (every text escaped) when the caller
//! accepts `text/html` and not JSON.

use std::collections::BTreeMap;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, put, web};
use reefguide_ports::services::outputs::{FileEntry, Folder, OutputError};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::app::AppState;
use crate::errors::{ApiError, ErrorBody};
use crate::extract::CurrentUser;
use crate::openapi::responses::Unauthenticated;

/// A sub-folder: where to browse it.
#[derive(Debug, Serialize, ToSchema)]
pub struct FolderLink {
    /// The folder's listing URL.
    pub href: String,
}

/// A file: its presigned link and what is known of it.
#[derive(Debug, Serialize, ToSchema)]
pub struct FileLink {
    /// A presigned URL to GET the file (valid for an hour).
    pub href: String,
    /// Its size in bytes.
    pub size: u64,
    /// When it was last written (RFC 3339), when the store says.
    pub last_modified: Option<String>,
    /// The keys of its `.cfg` sidecar, as strings.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub properties: Option<BTreeMap<String, String>>,
}

/// One folder of the caller's outputs.
#[derive(Debug, Serialize, ToSchema)]
pub struct OutputListing {
    /// The folder below the caller's root (empty for the root).
    pub prefix: String,
    /// Its sub-folders by `<name>/`.
    pub folders: BTreeMap<String, FolderLink>,
    /// Its files by name (sidecars hidden).
    pub files: BTreeMap<String, FileLink>,
}

/// New properties for files of the folder.
#[derive(Debug, Deserialize, ToSchema)]
pub struct PropertiesRequest {
    /// By file name: the keys to set (string, number or boolean values).
    #[schema(value_type = Object)]
    pub files: BTreeMap<String, PropertiesOfFile>,
}

/// The keys to set on one file.
#[derive(Debug, Deserialize, ToSchema)]
pub struct PropertiesOfFile {
    /// Key to value (string, number or boolean).
    #[schema(value_type = Object)]
    pub properties: BTreeMap<String, Value>,
}

/// What a properties update did.
#[derive(Debug, Serialize, ToSchema)]
pub struct PropertiesUpdated {
    /// A sentence.
    pub message: String,
    /// The files whose sidecars were written.
    pub updated: Vec<String>,
}

/// Lists the caller's output root.
#[utoipa::path(tag = "labcas", security(("bearerAuth" = [])),
    responses(
        (status = 200, description = "The caller's output root (JSON, or an HTML page of links for `Accept: text/html`)", body = OutputListing),
        Unauthenticated))]
#[get("/output-data")]
pub async fn browse_root(
    CurrentUser(actor): CurrentUser,
    state: web::Data<AppState>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    browse(&state, &actor, "", &request).await
}

/// Lists one folder of the caller's outputs, one level deep, every file with a presigned link.
#[utoipa::path(tag = "labcas", security(("bearerAuth" = [])),
    params(("prefix" = String, Path, description = "The folder below the caller's root, e.g. `20250403T191112825218/tiles`")),
    responses(
        (status = 200, description = "The folder (JSON, or an HTML page of links for `Accept: text/html`)", body = OutputListing),
        (status = 400, description = "A `..`, `.`, empty or absolute segment", body = ErrorBody),
        Unauthenticated,
        (status = 404, description = "Nothing there", body = ErrorBody)))]
#[get("/output-data/{prefix:.*}")]
pub async fn browse_folder(
    CurrentUser(actor): CurrentUser,
    state: web::Data<AppState>,
    prefix: web::Path<String>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    browse(&state, &actor, &prefix, &request).await
}

/// Sets properties of files in one folder of the caller's outputs: each file's `<name>.cfg`
/// sidecar is merged (keys sent replace, others stay), after checking every named file exists.
#[utoipa::path(tag = "labcas", security(("bearerAuth" = [])),
    params(("prefix" = String, Path, description = "The folder below the caller's root")),
    request_body = PropertiesRequest,
    responses(
        (status = 200, description = "The sidecars written", body = PropertiesUpdated),
        (status = 400, description = "A named file does not exist (nothing written), a value is not a string, number or boolean, a bad name or path", body = ErrorBody),
        Unauthenticated,
        (status = 404, description = "Nothing in that folder", body = ErrorBody)))]
#[put("/output-data/{prefix:.*}")]
pub async fn update_properties(
    CurrentUser(actor): CurrentUser,
    state: web::Data<AppState>,
    prefix: web::Path<String>,
    body: web::Bytes,
) -> Result<web::Json<PropertiesUpdated>, ApiError> {
    let request: PropertiesRequest = serde_json::from_slice(&body).map_err(|error| {
        ApiError::bad_request("invalid_body", format!("Invalid JSON body: {error}"))
    })?;
    let files = request
        .files
        .into_iter()
        .map(|(name, file)| (name, file.properties))
        .collect();
    let updated = state
        .outputs
        .update_properties(actor.username(), &prefix, files)
        .await
        .map_err(output_error)?;
    let updated: Vec<String> = updated.iter().map(ToString::to_string).collect();
    Ok(web::Json(PropertiesUpdated {
        message: format!("Properties of {} file(s) updated", updated.len()),
        updated,
    }))
}

async fn browse(
    state: &AppState,
    actor: &reefguide_domain::User,
    prefix: &str,
    request: &HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let folder = state
        .outputs
        .browse(actor.username(), prefix)
        .await
        .map_err(output_error)?;
    let listing = listing(state, folder);
    // The same URL answers JSON or HTML by `Accept`: caches must keep them apart.
    let mut reply = HttpResponse::Ok();
    reply.insert_header((header::VARY, "Accept"));
    if wants_html(request) {
        return Ok(reply
            .content_type("text/html; charset=utf-8")
            .body(html_page(&listing)));
    }
    Ok(reply.json(listing))
}

/// Whether the caller asked for HTML rather than JSON (a browser's `Accept`).
fn wants_html(request: &HttpRequest) -> bool {
    let accept = request
        .headers()
        .get(header::ACCEPT)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default();
    accept.contains("text/html") && !accept.contains("application/json")
}

/// The listing as an HTML page of links; every name and URL is escaped.
fn html_page(listing: &OutputListing) -> String {
    use std::fmt::Write as _;
    let escape = |text: &str| v_htmlescape::escape(text).to_string();
    let title = format!("Outputs /{}", listing.prefix);
    let mut page = format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{title}</title></head>\
         <body><h1>{title}</h1><ul>\n",
        title = escape(&title)
    );
    for (name, folder) in &listing.folders {
        let _ = writeln!(
            page,
            "<li><a href=\"{}\">{}</a></li>",
            escape(&folder.href),
            escape(name)
        );
    }
    for (name, file) in &listing.files {
        let _ = writeln!(
            page,
            "<li><a href=\"{}\">{}</a> ({} bytes)</li>",
            escape(&file.href),
            escape(name),
            file.size
        );
    }
    page.push_str("</ul></body></html>\n");
    page
}

/// The JSON form of a folder; folder links are this server's URLs, percent-encoded.
fn listing(state: &AppState, folder: Folder) -> OutputListing {
    let prefix = folder.prefix.to_string();
    let base = format!("{}/output-data/", state.published.labcas_url);
    let folders = folder
        .folders
        .iter()
        .map(|name| {
            let mut href = base.clone();
            for segment in prefix.split('/').filter(|s| !s.is_empty()) {
                href.push_str(&encode(segment));
                href.push('/');
            }
            href.push_str(&encode(name.as_str()));
            href.push('/');
            (format!("{name}/"), FolderLink { href })
        })
        .collect();
    let files = folder.files.into_iter().map(file_link).collect();
    OutputListing {
        prefix,
        folders,
        files,
    }
}

fn file_link(file: FileEntry) -> (String, FileLink) {
    (
        file.name.to_string(),
        FileLink {
            href: file.href,
            size: file.size,
            last_modified: file.last_modified.map(|at| at.to_rfc3339()),
            properties: file.properties,
        },
    )
}

/// One path segment, percent-encoded.
fn encode(segment: &str) -> String {
    percent_encoding::utf8_percent_encode(segment, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// The HTTP answer of an output-browser error.
fn output_error(error: OutputError) -> ApiError {
    match error {
        OutputError::BadPath(_) | OutputError::BadEdit(_) | OutputError::UnusableUsername(_) => {
            ApiError::bad_request("invalid_output_request", error.to_string())
        }
        OutputError::MissingFile(_) => ApiError::bad_request("missing_file", error.to_string()),
        OutputError::NotFound(_) => ApiError::not_found(error.to_string()),
        OutputError::UnreadableSidecar(_) => ApiError::new(
            actix_web::http::StatusCode::CONFLICT,
            "unreadable_sidecar",
            error.to_string(),
        ),
        OutputError::Store(store) => ApiError::unexpected(&anyhow::Error::new(store)),
    }
}
