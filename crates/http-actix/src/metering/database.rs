//! The database connection pool of this instance.

use reefguide_adapters_postgres::PoolUse;

/// Connections by `state`: `in_use` (lent to a request or loop) or `idle`.
const POOL_CONNECTIONS: &str = "reefguide_db_pool_connections";
/// The most connections the pool opens.
const POOL_MAX: &str = "reefguide_db_pool_max_connections";

/// Sets the pool gauges.
pub(super) fn record_pool(pool: PoolUse) {
    metrics::gauge!(POOL_CONNECTIONS, "state" => "in_use").set(f64::from(pool.in_use));
    metrics::gauge!(POOL_CONNECTIONS, "state" => "idle").set(f64::from(pool.idle));
    metrics::gauge!(POOL_MAX).set(f64::from(pool.max));
}
