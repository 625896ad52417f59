//! Schema migrations, one file per migration (`m0001_accounts`, then `m0002_…` as features land).
//!
//! The same migration code runs on Postgres and SQLite: only backend-neutral column types
//! (integer, text, JSON, timestamp with time zone) and statements SQLite understands (foreign keys
//! declared with their table, indexes created separately) are used. Every migration runs in its
//! own transaction on both backends, so a failed migration leaves no half-made schema behind.
//! Applied migrations are recorded in `seaql_migrations`.

use sea_orm_migration::{MigrationTrait, MigratorTrait};

mod m0001_accounts;
mod m0002_study_areas;

/// Every migration of the schema, oldest first.
pub struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m0001_accounts::Migration),
            Box::new(m0002_study_areas::Migration),
        ]
    }
}
