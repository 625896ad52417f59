//! Appending the audit entry of a use case, the same way everywhere.

use reefguide_domain::{NewUserLogEntry, UserAction, UserId};
use serde_json::Value;

use crate::clock::Clock;
use crate::repositories::UserLogRepository;

/// Records that `actor` did `action`, with what it was done to.
pub(crate) async fn record<S: UserLogRepository, C: Clock>(
    store: &S,
    clock: &C,
    actor: UserId,
    action: UserAction,
    metadata: Value,
) -> anyhow::Result<()> {
    store
        .append_user_log(&NewUserLogEntry {
            user_id: actor,
            action,
            metadata: Some(metadata),
            time: clock.now(),
        })
        .await
}
