//! The port implementations of [`SeaOrmStore`](crate::SeaOrmStore), one file per port, and the
//! conversions between stored rows and domain values shared by them.

mod health;
mod notes;
mod polygons;
mod refresh_tokens;
mod user_logs;
mod users;

use anyhow::Context as _;
use chrono::{DateTime, SubsecRound as _, Utc};
use reefguide_domain::{NoteId, PolygonId, UserId};

/// A stored user id as a domain id.
pub(crate) fn user_id(raw: i32) -> anyhow::Result<UserId> {
    UserId::new(i64::from(raw)).with_context(|| format!("stored user id {raw} is invalid"))
}

/// A stored polygon id as a domain id.
pub(crate) fn polygon_id(raw: i32) -> anyhow::Result<PolygonId> {
    PolygonId::new(i64::from(raw)).with_context(|| format!("stored polygon id {raw} is invalid"))
}

/// A stored note id as a domain id.
pub(crate) fn note_id(raw: i32) -> anyhow::Result<NoteId> {
    NoteId::new(i64::from(raw)).with_context(|| format!("stored note id {raw} is invalid"))
}

/// A time as stored: truncated to microseconds, the precision Postgres keeps, so both backends
/// hand back exactly what they were given.
pub(crate) fn stored_time(time: DateTime<Utc>) -> DateTime<Utc> {
    time.trunc_subsecs(6)
}
