//! The database: the connection pool, the embedded migrations, and the private PostgreSQL
//! cluster the portal runs when no `DATABASE_URL` is configured.

pub mod embedded;
pub mod faults;
pub mod maintenance;

use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use crate::config::Config;

/// Migrations embedded in the binary and applied at start-up.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// A database the portal can connect to, and the cluster behind it if the portal runs one.
pub struct Database {
    pub url: String,
    /// Present when the portal started its own cluster; stopping it is the owner's job.
    pub cluster: Option<embedded::Cluster>,
}

/// The database named by `DATABASE_URL`, or the embedded cluster's, started if needed.
pub async fn locate(config: &Config) -> anyhow::Result<Database> {
    if let Some(url) = &config.database_url {
        return Ok(Database {
            url: url.clone(),
            cluster: None,
        });
    }
    let data_dir = config.data_dir.clone();
    let cluster = tokio::task::spawn_blocking(move || embedded::Cluster::start(&data_dir))
        .await
        .context("starting the embedded PostgreSQL")??;
    let url = cluster.url("school_portal");
    cluster.ensure_database("school_portal").await?;
    Ok(Database {
        url,
        cluster: Some(cluster),
    })
}

/// A pool with bounded waits: a request that cannot get a connection within the acquire
/// timeout fails (503) rather than hanging, every statement has a time limit, and a
/// statement waiting for a lock gives up after the lock timeout (503 too: see
/// [`faults`]). A timeout of 0 turns that limit off (PostgreSQL's meaning).
pub async fn connect(config: &Config, url: &str) -> anyhow::Result<PgPool> {
    let statement_timeout = format!("{}s", config.db_statement_timeout_secs);
    let lock_timeout = format!("{}s", config.db_lock_timeout_secs);
    let options = PgConnectOptions::from_str(url)
        .context("DATABASE_URL is not a valid PostgreSQL URL")?
        .application_name("school-portal")
        .options([
            ("statement_timeout", statement_timeout.as_str()),
            ("lock_timeout", lock_timeout.as_str()),
            // The portal's statements are short; at a region's size some cross the JIT's
            // cost threshold and would spend a second compiling what runs in milliseconds.
            ("jit", "off"),
            ("plan_cache_mode", config.db_plan_cache_mode.as_str()),
        ]);
    PgPoolOptions::new()
        .max_connections(config.db_max_connections)
        .acquire_timeout(Duration::from_secs(config.db_acquire_timeout_secs))
        .connect_with(options)
        .await
        .context("connecting to PostgreSQL")
}

/// Applies every pending migration.
pub async fn migrate(pool: &PgPool) -> anyhow::Result<()> {
    MIGRATOR
        .run(pool)
        .await
        .context("applying database migrations")
}
