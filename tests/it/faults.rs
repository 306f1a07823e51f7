//! Database faults (SECURITY.md 31, 32; issue 9): a table locked past the statement or lock
//! timeout, connections killed in the middle of requests, and a database server stopped and
//! started again all answer 503 with `Retry-After` and the Russian page, never 500; pages
//! come back without restarting the portal; no write that was acknowledged is lost. And
//! statistics after bulk data: an applied import and the demo leave their tables analysed.
//!
//! The suite's shared test cluster is never stopped: the killed connections are only this
//! test's database's, and the stopped server is a private cluster the test starts itself.

use std::time::{Duration, Instant};

use school_portal::config::WebConfig;
use school_portal::ids::SchoolId;
use sqlx::{Connection, PgConnection};

use crate::helpers::*;

/// A school with class 5А and its administrator, on `app`'s database.
async fn school(app: &TestApp) -> SchoolId {
    School::new(app)
        .class("5А")
        .admin("admin@test.local")
        .build()
        .await
        .id
}

/// A connection of the test's own that holds `classes` locked until it rolls back.
async fn lock_classes(url: &str) -> PgConnection {
    let mut conn = PgConnection::connect(url).await.unwrap();
    sqlx::query("set application_name = 'faults-test-locker'")
        .execute(&mut conn)
        .await
        .unwrap();
    sqlx::query("begin").execute(&mut conn).await.unwrap();
    sqlx::query("lock table classes in access exclusive mode")
        .execute(&mut conn)
        .await
        .unwrap();
    conn
}

async fn release(mut locker: PgConnection) {
    sqlx::query("rollback").execute(&mut locker).await.unwrap();
}

/// Status, whether `Retry-After` was sent, and the body.
async fn answer(res: reqwest::Response) -> (u16, bool, String) {
    let status = res.status().as_u16();
    let retry = res.headers().contains_key("retry-after");
    (status, retry, res.text().await.unwrap_or_default())
}

fn assert_unavailable(what: &str, (status, retry, body): &(u16, bool, String)) {
    assert_eq!(*status, 503, "{what}: {body}");
    assert!(retry, "{what}: a 503 says when to retry");
    assert!(
        body.contains("Сервис временно недоступен") && body.contains("lang=\"ru\""),
        "{what}: the Russian page: {body}"
    );
    assert!(!body.contains("Внутренняя ошибка"), "{what}");
}

async fn new_class(
    app: &TestApp,
    c: &reqwest::Client,
    s: SchoolId,
    grade: i16,
    letter: &str,
) -> (u16, bool, String) {
    answer(
        app.post(
            c,
            &format!("/s/{s}/classes"),
            &[
                ("grade", &grade.to_string()),
                ("letter", letter),
                ("profile", ""),
                ("notes", ""),
            ],
        )
        .await,
    )
    .await
}

/// A class form sent from a task of its own (owned client and address).
async fn post_class(
    c: reqwest::Client,
    base: String,
    s: SchoolId,
    grade: i16,
    letter: &'static str,
) -> (u16, bool, String) {
    let grade = grade.to_string();
    let res = c
        .post(format!("{base}/s/{s}/classes"))
        .form(&[
            ("grade", grade.as_str()),
            ("letter", letter),
            ("profile", ""),
            ("notes", ""),
        ])
        .send()
        .await
        .unwrap();
    answer(res).await
}

async fn get_owned(c: reqwest::Client, url: String) -> (u16, bool, String) {
    answer(c.get(url).send().await.unwrap()).await
}

/// Awaits every task, in order.
async fn all<T>(tasks: Vec<tokio::task::JoinHandle<T>>) -> Vec<T> {
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

async fn class_exists(url: &str, s: SchoolId, grade: i16, letter: &str) -> bool {
    let mut conn = PgConnection::connect(url).await.unwrap();
    sqlx::query_scalar(
        "select exists(select 1 from classes where school_id = $1 and grade = $2 and letter = $3)",
    )
    .bind(s)
    .bind(grade)
    .bind(letter)
    .fetch_one(&mut conn)
    .await
    .unwrap()
}

/// Waits until `n` of the portal's backends wait for a lock (the requests are in flight).
async fn wait_for_lock_waiters(url: &str, n: i64) {
    let mut conn = PgConnection::connect(url).await.unwrap();
    for _ in 0..200 {
        let waiting: i64 = sqlx::query_scalar(
            "select count(*) from pg_stat_activity where datname = current_database()
               and application_name = 'school-portal' and wait_event_type = 'Lock'",
        )
        .fetch_one(&mut conn)
        .await
        .unwrap();
        if waiting >= n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the requests never reached the lock");
}

/// Terminates every backend of the portal on this database.
async fn terminate_portal_backends(url: &str) -> i64 {
    let mut conn = PgConnection::connect(url).await.unwrap();
    sqlx::query_scalar(
        "select count(pg_terminate_backend(pid)) from pg_stat_activity
          where datname = current_database() and pid <> pg_backend_pid()
            and application_name = 'school-portal'",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap()
}

/// Gets `path` until it answers 200 (at most `secs`); every answer before is a 503.
async fn until_ok(app: &TestApp, c: &reqwest::Client, path: &str, secs: u64) -> String {
    let started = Instant::now();
    loop {
        let got = answer(app.get(c, path).await).await;
        if got.0 == 200 {
            return got.2;
        }
        assert_unavailable(path, &got);
        assert!(
            started.elapsed() < Duration::from_secs(secs),
            "{path} did not come back"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn statement_and_lock_timeouts_on_a_locked_table_answer_503_with_retry_after_and_pages_come_back()
 {
    let url = db::fresh_database().await;
    // One portal gives up waiting for the lock after 1 s, the other has no lock timeout and
    // is stopped by the 1 s statement timeout.
    let mut by_lock = db_config(&url);
    by_lock.db_lock_timeout_secs = 1;
    by_lock.db_statement_timeout_secs = 30;
    let mut by_statement = db_config(&url);
    by_statement.db_lock_timeout_secs = 0;
    by_statement.db_statement_timeout_secs = 1;
    let lock_app = TestApp::spawn_on_with(&url, &by_lock, WebConfig::default()).await;
    let stmt_app = TestApp::spawn_on_with(&url, &by_statement, WebConfig::default()).await;
    let s = school(&lock_app).await;
    let five_a: uuid::Uuid = sqlx::query_scalar("select id from classes where grade = 5")
        .fetch_one(&lock_app.db)
        .await
        .unwrap();
    let apps = [(&lock_app, 6i16), (&stmt_app, 7i16)];
    let mut clients = Vec::new();
    for (app, _) in apps {
        let c = app.logged_in("admin@test.local").await;
        assert_eq!(app.get(&c, &format!("/s/{s}/classes")).await.status(), 200);
        clients.push(c);
    }

    let locker = lock_classes(&url).await;
    for ((app, grade), c) in apps.iter().zip(&clients) {
        for path in [
            format!("/s/{s}/classes"),
            format!("/s/{s}/classes/{five_a}"),
        ] {
            let started = Instant::now();
            let got = answer(app.get(c, &path).await).await;
            assert_unavailable(&path, &got);
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "{path}: bounded"
            );
        }
        let got = new_class(app, c, s, *grade, "Б").await;
        assert_unavailable("a new class", &got);
    }
    release(locker).await;

    for ((app, grade), c) in apps.iter().zip(&clients) {
        assert_eq!(app.get(c, &format!("/s/{s}/classes")).await.status(), 200);
        assert_eq!(new_class(app, c, s, *grade, "Б").await.0, 303);
        assert!(class_exists(&url, s, *grade, "Б").await);
    }
}

#[tokio::test]
async fn connections_killed_mid_request_answer_503_not_500_and_no_acknowledged_write_is_lost() {
    let url = db::fresh_database().await;
    let mut config = db_config(&url);
    config.db_max_connections = 10;
    config.db_lock_timeout_secs = 0;
    config.db_statement_timeout_secs = 30;
    let app = TestApp::spawn_on_with(&url, &config, WebConfig::default()).await;
    let s = school(&app).await;
    let c = app.logged_in("admin@test.local").await;

    // Requests held in flight by a lock, then their connections killed under them.
    let locker = lock_classes(&url).await;
    let mut tasks = Vec::new();
    for _ in 0..3 {
        tasks.push(tokio::spawn(get_owned(
            c.clone(),
            app.url(&format!("/s/{s}/classes")),
        )));
    }
    for grade in 2..=4i16 {
        tasks.push(tokio::spawn(post_class(
            c.clone(),
            app.base.clone(),
            s,
            grade,
            "В",
        )));
    }
    wait_for_lock_waiters(&url, 6).await;
    assert!(terminate_portal_backends(&url).await >= 6);
    let answers = all(tasks).await;
    for got in &answers {
        assert_unavailable("a request whose connection was killed", got);
    }
    release(locker).await;
    // Back without a restart; the session survived (it lives in the database).
    until_ok(&app, &c, &format!("/s/{s}/classes"), 10).await;
    for grade in 2..=4i16 {
        assert!(
            !class_exists(&url, s, grade, "В").await,
            "a 503 stored nothing"
        );
    }

    // Writes while connections keep being killed: each answers 303 or 503, and every 303
    // is in the database.
    let stop = std::sync::atomic::AtomicBool::new(false);
    let killer = async {
        let mut killed = 0;
        while !stop.load(std::sync::atomic::Ordering::Relaxed) {
            killed += terminate_portal_backends(&url).await;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        killed
    };
    let writers = async {
        let streams: Vec<_> = ["Г", "Д"]
            .map(|letter| {
                let (c, base) = (c.clone(), app.base.clone());
                tokio::spawn(async move {
                    let mut out = Vec::new();
                    for grade in 1..=11i16 {
                        let got = post_class(c.clone(), base.clone(), s, grade, letter).await;
                        out.push((grade, letter, got));
                    }
                    out
                })
            })
            .into();
        let done = all(streams).await;
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        done.into_iter().flatten().collect::<Vec<_>>()
    };
    let (killed, written) = tokio::join!(killer, writers);
    let mut acknowledged = 0;
    for (grade, letter, got) in &written {
        match got.0 {
            303 => {
                acknowledged += 1;
                assert!(
                    class_exists(&url, s, *grade, letter).await,
                    "{grade}{letter} was acknowledged and lost"
                );
            }
            _ => assert_unavailable(&format!("class {grade}{letter}"), got),
        }
    }
    println!(
        "faults: {acknowledged} of {} writes acknowledged, {killed} connections killed",
        written.len()
    );
    until_ok(&app, &c, &format!("/s/{s}/classes"), 10).await;
}

/// The test's own PostgreSQL cluster in a temporary directory.
async fn private_cluster(dir: &std::path::Path) -> (school_portal::db::embedded::Cluster, String) {
    // As root, the cluster runs as `postgres`, who must be able to enter the directory.
    std::fs::set_permissions(dir, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let data = dir.join("data");
    let cluster =
        tokio::task::spawn_blocking(move || school_portal::db::embedded::Cluster::start(&data))
            .await
            .unwrap()
            .unwrap();
    cluster.ensure_database("portal").await.unwrap();
    let url = cluster.url("portal");
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    school_portal::db::migrate(&pool).await.unwrap();
    pool.close().await;
    (cluster, url)
}

#[tokio::test]
async fn a_stopped_database_answers_503_at_once_and_pages_come_back_when_it_starts_again() {
    let dir = tempfile::Builder::new()
        .prefix("sp-faults-")
        .tempdir_in("/tmp")
        .unwrap();
    let (cluster, url) = private_cluster(dir.path()).await;
    let mut config = db_config(&url);
    config.db_max_connections = 10;
    config.db_acquire_timeout_secs = 3;
    config.db_lock_timeout_secs = 0;
    config.db_statement_timeout_secs = 30;
    let app = TestApp::spawn_on_with(&url, &config, WebConfig::default()).await;
    let s = school(&app).await;
    let c = app.logged_in("admin@test.local").await;
    assert_eq!(new_class(&app, &c, s, 9, "А").await.0, 303, "acknowledged");

    // Requests in flight when the server stops.
    let locker = lock_classes(&url).await;
    let tasks = vec![
        tokio::spawn(get_owned(c.clone(), app.url(&format!("/s/{s}/classes")))),
        tokio::spawn(get_owned(c.clone(), app.url(&format!("/s/{s}/classes")))),
        tokio::spawn(post_class(c.clone(), app.base.clone(), s, 10, "А")),
    ];
    wait_for_lock_waiters(&url, 3).await;
    let cluster = tokio::task::spawn_blocking(move || {
        cluster.stop_server().unwrap();
        cluster
    })
    .await
    .unwrap();
    drop(locker);
    for got in &all(tasks).await {
        assert_unavailable("a request in flight when the server stopped", got);
    }

    // While it is down: 503 with Retry-After, without waiting the acquire timeout.
    for _ in 0..4 {
        let started = Instant::now();
        let got = answer(app.get(&c, &format!("/s/{s}/classes")).await).await;
        assert_unavailable("a page while the database is down", &got);
        assert!(
            started.elapsed() < Duration::from_millis(2000),
            "failed fast: {:?}",
            started.elapsed()
        );
        assert_unavailable(
            "a form while the database is down",
            &new_class(&app, &c, s, 11, "А").await,
        );
    }
    assert_eq!(app.get(&c, "/healthz").await.status(), 200);
    assert_eq!(app.get(&c, "/readyz").await.status(), 503);

    let cluster = tokio::task::spawn_blocking(move || {
        cluster.start_server().unwrap();
        cluster
    })
    .await
    .unwrap();
    // Back without restarting the portal, the same session, the acknowledged write kept.
    let page = until_ok(&app, &c, &format!("/s/{s}/classes"), 20).await;
    assert!(page.contains("9А"));
    assert!(class_exists(&url, s, 9, "А").await);
    assert!(!class_exists(&url, s, 11, "А").await);
    assert_eq!(new_class(&app, &c, s, 11, "А").await.0, 303);
    assert!(class_exists(&url, s, 11, "А").await);
    assert_eq!(app.get(&c, "/readyz").await.status(), 200);

    app.db.close().await;
    tokio::task::spawn_blocking(move || cluster.stop())
        .await
        .unwrap()
        .unwrap();
}

/// `last_analyze` of `table`: set only by an explicit ANALYZE, never by autovacuum.
async fn analysed_since(url: &str, table: &str, since: time::OffsetDateTime) -> bool {
    let mut conn = PgConnection::connect(url).await.unwrap();
    for _ in 0..50 {
        let last: Option<time::OffsetDateTime> =
            sqlx::query_scalar("select last_analyze from pg_stat_user_tables where relname = $1")
                .bind(table)
                .fetch_one(&mut conn)
                .await
                .unwrap();
        if last.is_some_and(|t| t >= since) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

async fn db_now(app: &TestApp) -> time::OffsetDateTime {
    sqlx::query_scalar("select now()")
        .fetch_one(&app.db)
        .await
        .unwrap()
}

#[tokio::test]
async fn an_applied_import_leaves_the_tables_it_filled_analysed() {
    let app = TestApp::spawn().await;
    let s = school(&app).await;
    let c = app.logged_in("admin@test.local").await;
    let file = "Класс;Фамилия;Имя\r\n5А;Петров;Пётр\r\n5А;Иванов;Иван\r\n";
    let part = reqwest::multipart::Part::bytes(file.as_bytes().to_vec())
        .file_name("список.csv")
        .mime_str("application/octet-stream")
        .unwrap();
    let form = reqwest::multipart::Form::new()
        .text("kind", "students")
        .part("file", part);
    let res = c
        .post(app.url(&format!("/s/{s}/import")))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    let preview = location(&res);
    let before = db_now(&app).await;
    let res = app.post(&c, &format!("{preview}/apply"), &[]).await;
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), format!("{preview}?done=applied"));
    for table in ["accounts", "memberships", "offers"] {
        assert!(
            analysed_since(&app.db_url, table, before).await,
            "{table} analysed after the import"
        );
    }
    // Every table the maintenance lists name exists (a typo would only log a warning).
    use school_portal::db::maintenance::{DEMO_TABLES, IMPORT_TABLES, ROLLOVER_TABLES};
    for table in DEMO_TABLES
        .iter()
        .chain(IMPORT_TABLES)
        .chain(ROLLOVER_TABLES)
    {
        let exists: bool = sqlx::query_scalar("select to_regclass($1) is not null")
            .bind(table)
            .fetch_one(&app.db)
            .await
            .unwrap();
        assert!(exists, "{table}");
    }
}

#[tokio::test]
async fn the_demo_leaves_the_tables_it_filled_analysed() {
    let app = TestApp::spawn().await;
    let before = db_now(&app).await;
    school_portal::demo::create(&app.db, Some("demo-demo-demo".into()))
        .await
        .unwrap();
    for table in ["classes", "memberships", "chat_members"] {
        assert!(
            analysed_since(&app.db_url, table, before).await,
            "{table} analysed after the demo"
        );
    }
}
