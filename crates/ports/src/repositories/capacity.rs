//! What the capacity manager remembers of each compute target between cycles: the worker tasks
//! it started that were alive when last seen, and when it last tried to start some (the
//! cooldown). Kept in the shared store, any server instance that takes over the manager's lock
//! carries on where the last one stopped, instead of starting up to a cycle's cap of extra tasks.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Mutex, PoisonError};

use async_trait::async_trait;
use chrono::{DateTime, Utc};

/// One compute target's record.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TargetLedger {
    /// Tasks the manager started that were starting or running when last seen.
    pub tasks: BTreeSet<String>,
    /// When it last tried to start tasks (successfully or not).
    pub last_launch: Option<DateTime<Utc>>,
}

/// Where the capacity manager keeps its [`TargetLedger`]s.
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait CapacityLedger: Send + Sync + 'static {
    /// The record of `target` (empty when none was kept).
    async fn target_ledger(&self, target: &str) -> anyhow::Result<TargetLedger>;

    /// Replaces the record of `target`.
    async fn record_target_ledger(&self, target: &str, ledger: &TargetLedger)
    -> anyhow::Result<()>;
}

/// A ledger in this process's memory: for a manager that no other instance takes over from.
#[derive(Debug, Default)]
pub struct MemoryLedger {
    targets: Mutex<BTreeMap<String, TargetLedger>>,
}

#[async_trait]
impl CapacityLedger for MemoryLedger {
    async fn target_ledger(&self, target: &str) -> anyhow::Result<TargetLedger> {
        let targets = self.targets.lock().unwrap_or_else(PoisonError::into_inner);
        Ok(targets.get(target).cloned().unwrap_or_default())
    }

    async fn record_target_ledger(
        &self,
        target: &str,
        ledger: &TargetLedger,
    ) -> anyhow::Result<()> {
        self.targets
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(target.to_owned(), ledger.clone());
        Ok(())
    }
}

#[async_trait]
impl<L: CapacityLedger> CapacityLedger for std::sync::Arc<L> {
    async fn target_ledger(&self, target: &str) -> anyhow::Result<TargetLedger> {
        (**self).target_ledger(target).await
    }

    async fn record_target_ledger(
        &self,
        target: &str,
        ledger: &TargetLedger,
    ) -> anyhow::Result<()> {
        (**self).record_target_ledger(target, ledger).await
    }
}
