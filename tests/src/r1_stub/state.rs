//! What the stub stores, as R1 stores it (Prisma's rows), behind one lock.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, PoisonError};

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest as _, Sha256};

use super::{R1Request, R1Result, R1StubOptions};

/// A job as R1 stores it (Prisma's field order).
#[derive(Debug, Clone, Serialize)]
pub(super) struct Job {
    pub(super) id: i64,
    pub(super) created_at: String,
    pub(super) updated_at: String,
    #[serde(rename = "type")]
    pub(super) job_type: String,
    pub(super) status: String,
    pub(super) hash: String,
    pub(super) user_id: i64,
    pub(super) input_payload: Value,
}

/// An assignment as R1 stores and returns it (Prisma's field order).
#[derive(Debug, Clone, Serialize)]
pub(super) struct Assignment {
    pub(super) id: i64,
    pub(super) created_at: String,
    pub(super) updated_at: String,
    pub(super) job_id: i64,
    pub(super) ecs_task_arn: String,
    pub(super) ecs_cluster_arn: String,
    pub(super) expires_at: String,
    pub(super) storage_scheme: &'static str,
    pub(super) storage_uri: String,
    pub(super) heartbeat_at: Option<String>,
    pub(super) completed_at: Option<String>,
    #[serde(skip)]
    pub(super) expires: DateTime<Utc>,
}

/// A refresh token row.
#[derive(Debug)]
pub(super) struct RefreshToken {
    pub(super) token: String,
    pub(super) expiry_time: i64,
}

/// Everything the stub knows, behind one lock.
#[derive(Debug, Default)]
pub(super) struct State {
    pub(super) jobs: BTreeMap<i64, Job>,
    pub(super) assignments: BTreeMap<i64, Assignment>,
    pub(super) results: Vec<R1Result>,
    pub(super) refused_assigns: Vec<Value>,
    pub(super) requests: Vec<R1Request>,
    /// Access token → its expiry (unix seconds).
    pub(super) access_tokens: HashMap<String, i64>,
    /// Refresh token rows by id.
    pub(super) refresh_tokens: BTreeMap<i64, RefreshToken>,
    pub(super) next_job: i64,
    pub(super) next_assignment: i64,
    pub(super) next_refresh: i64,
}

/// The state and options shared with the server's handlers.
#[derive(Debug)]
pub(super) struct Shared {
    pub(super) options: R1StubOptions,
    pub(super) state: Mutex<State>,
}

impl Shared {
    pub(super) fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// JavaScript's `Date.toISOString()`: `2025-01-02T03:04:05.678Z`.
pub(super) fn iso(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// The lowercase hex SHA-256 of `bytes`.
pub(super) fn hex_sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}
