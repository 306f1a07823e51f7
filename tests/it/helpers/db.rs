//! Test databases. With `DATABASE_URL` set, its server is used; otherwise the suite starts
//! (once, and reuses) a private cluster with the portal's own embedded-database code, so
//! `cargo test` works on a machine with PostgreSQL's binaries and nothing running.
//! Each test gets a fresh database copied from a template that holds the migrations.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, Weak};

use sha2::{Digest, Sha256};
use sqlx::{Connection, PgConnection};
use tokio::sync::OnceCell;

static SERVER: OnceCell<(String, String)> = OnceCell::const_new();
static COUNTER: AtomicU32 = AtomicU32::new(0);

/// The maintenance URL of the test server and the migrated template's name.
async fn server() -> &'static (String, String) {
    SERVER
        .get_or_init(|| async {
            let admin_url = match std::env::var("DATABASE_URL") {
                Ok(url) if !url.is_empty() => with_database(&url, "postgres"),
                _ => {
                    let dir = std::env::temp_dir().join("school-portal-test-pg");
                    let cluster = tokio::task::spawn_blocking(move || {
                        school_portal::db::embedded::Cluster::start(&dir)
                    })
                    .await
                    .expect("join")
                    .expect("starting the test PostgreSQL cluster");
                    // The cluster stays up for later test processes; it is reused.
                    cluster.url("postgres")
                }
            };
            let template = ensure_template(&admin_url).await;
            (admin_url, template)
        })
        .await
}

/// Replaces the database name in a PostgreSQL URL.
pub fn with_database(url: &str, db: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map(|i| i + 3).unwrap_or(0);
    let base = match base[scheme_end..].find('/') {
        Some(i) => &base[..scheme_end + i],
        None => base,
    };
    match query {
        Some(q) => format!("{base}/{db}?{q}"),
        None => format!("{base}/{db}"),
    }
}

async fn ensure_template(admin_url: &str) -> String {
    let mut hasher = Sha256::new();
    for m in school_portal::db::MIGRATOR.iter() {
        hasher.update(m.version.to_le_bytes());
        hasher.update(&m.checksum);
    }
    let digest = hasher.finalize();
    let name = format!(
        "sp_tmpl_{}",
        digest
            .iter()
            .take(6)
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    );
    let mut conn = PgConnection::connect(admin_url)
        .await
        .expect("connect to test server");
    sqlx::query("select pg_advisory_lock(7243001)")
        .execute(&mut conn)
        .await
        .expect("lock");
    drop_stale_databases(&mut conn).await;
    let exists: bool =
        sqlx::query_scalar("select exists(select 1 from pg_database where datname = $1)")
            .bind(&name)
            .fetch_one(&mut conn)
            .await
            .expect("query");
    if !exists {
        let building = format!("{name}_building");
        sqlx::query(&format!("drop database if exists {building} with (force)"))
            .execute(&mut conn)
            .await
            .expect("drop");
        sqlx::query(&format!("create database {building}"))
            .execute(&mut conn)
            .await
            .expect("create template");
        {
            let pool = sqlx::PgPool::connect(&with_database(admin_url, &building))
                .await
                .expect("connect template");
            school_portal::db::migrate(&pool)
                .await
                .expect("migrate template");
            pool.close().await;
        }
        sqlx::query(&format!("alter database {building} rename to {name}"))
            .execute(&mut conn)
            .await
            .expect("rename template");
    }
    sqlx::query("select pg_advisory_unlock(7243001)")
        .execute(&mut conn)
        .await
        .expect("unlock");
    name
}

/// Databases left by earlier test processes that have exited.
async fn drop_stale_databases(conn: &mut PgConnection) {
    let names: Vec<String> =
        sqlx::query_scalar("select datname from pg_database where datname like 'spt\\_%'")
            .fetch_all(&mut *conn)
            .await
            .unwrap_or_default();
    for name in names {
        let pid = name.split('_').nth(1).and_then(|p| p.parse::<u32>().ok());
        let alive = pid.is_some_and(|p| std::path::Path::new(&format!("/proc/{p}")).exists());
        if !alive {
            let _ = sqlx::query(&format!("drop database if exists {name} with (force)"))
                .execute(&mut *conn)
                .await;
        }
    }
}

/// A test's own database: dropped when the last holder lets go of it (the test's
/// [`TestApp`](super::TestApp)s and whoever called [`fresh_database`]), so a run leaves
/// nothing for the next one to delete. A failing test's database is kept for a look
/// (the next run's [`drop_stale_databases`] removes it).
#[derive(Clone)]
pub struct TestDb(Arc<Owned>);

struct Owned {
    url: String,
    name: String,
    admin_url: String,
}

impl TestDb {
    pub fn url(&self) -> &str {
        &self.0.url
    }
}

impl std::ops::Deref for TestDb {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0.url
    }
}

impl Drop for Owned {
    fn drop(&mut self) {
        if let Ok(mut live) = LIVE.lock()
            && let Some(live) = live.as_mut()
        {
            live.remove(&self.url);
        }
        if std::thread::panicking() {
            return;
        }
        let (admin_url, name) = (self.admin_url.clone(), self.name.clone());
        // Drop runs inside the test's runtime: a thread with its own does the dropping.
        let dropper = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async move {
                if let Ok(mut conn) = PgConnection::connect(&admin_url).await {
                    let _ = sqlx::query(&format!("drop database if exists {name} with (force)"))
                        .execute(&mut conn)
                        .await;
                }
            });
        });
        let _ = dropper.join();
    }
}

/// The test databases alive in this process, by URL, so that another application on the
/// same database ([`TestApp::spawn_on`](super::TestApp::spawn_on)) keeps it alive too.
static LIVE: Mutex<Option<HashMap<String, Weak<Owned>>>> = Mutex::new(None);

/// The live test database behind `url`, if it is one.
pub fn holder_of(url: &str) -> Option<TestDb> {
    LIVE.lock()
        .ok()?
        .as_ref()?
        .get(url)
        .and_then(Weak::upgrade)
        .map(TestDb)
}

/// A fresh, migrated database (dropped when the returned guard and every application on
/// it are gone).
pub async fn fresh_database() -> TestDb {
    let (admin_url, template) = server().await;
    let name = format!(
        "spt_{}_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst),
        rand::random::<u32>()
    );
    let mut conn = PgConnection::connect(admin_url).await.expect("connect");
    sqlx::query(&format!("create database {name} template {template}"))
        .execute(&mut conn)
        .await
        .expect("create test database");
    let url = with_database(admin_url, &name);
    let owned = Arc::new(Owned {
        url: url.clone(),
        name,
        admin_url: admin_url.clone(),
    });
    if let Ok(mut live) = LIVE.lock() {
        live.get_or_insert_with(HashMap::new)
            .insert(url, Arc::downgrade(&owned));
    }
    TestDb(owned)
}
