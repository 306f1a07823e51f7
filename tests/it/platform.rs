//! The middleware stack and reliability promises: security headers (SECURITY.md 16), CSRF
//! (15), error pages with a request id (29), body limits (19), pool exhaustion (31),
//! health and readiness (32), graceful shutdown (30), two processes sharing sessions (34),
//! and the embedded database that `cargo run` uses (R3.1).

use std::time::Duration;

use crate::helpers::*;
use axum::routing::get;
use school_portal::config::WebConfig;

fn assert_security_headers(res: &reqwest::Response) {
    let h = res.headers();
    let csp = h["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("default-src 'self'"));
    assert!(csp.contains("object-src 'none'"));
    assert!(csp.contains("base-uri 'none'"));
    assert!(csp.contains("frame-ancestors 'none'"));
    assert!(csp.contains("form-action 'self'"));
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert!(h.contains_key("referrer-policy"));
    assert!(h.contains_key("x-request-id"));
}

#[tokio::test]
async fn every_response_carries_the_security_headers() {
    let app = TestApp::spawn().await;
    app.account("a@test.local", "Антонов", "Антон").await;
    let anon = app.client();
    let c = app.logged_in("a@test.local").await;
    for (client, path) in [
        (&anon, "/login"),
        (&anon, "/nowhere"),
        (&c, "/profile"),
        (&anon, "/static/css/portal.css"),
        (&anon, "/healthz"),
    ] {
        let res = app.get(client, path).await;
        assert_security_headers(&res);
    }
    // Pages behind login are not kept by the browser's cache.
    let res = app.get(&c, "/profile").await;
    assert_eq!(res.headers()["cache-control"], "no-store");
}

#[tokio::test]
async fn a_cross_site_post_is_refused() {
    let app = TestApp::spawn().await;
    app.account("a@test.local", "Антонов", "Антон").await;
    let c = app.logged_in("a@test.local").await;
    let res = c
        .post(app.url("/logout"))
        .header("sec-fetch-site", "cross-site")
        .form(&[("x", "y")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    assert_security_headers(&res);
    assert!(res.text().await.unwrap().contains("Доступ запрещён"));
    assert_eq!(
        app.get(&c, "/profile").await.status(),
        200,
        "still logged in"
    );
    let res = c
        .post(app.url("/login"))
        .header("origin", "http://evil.example")
        .form(&[("login", "a@test.local"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    // The same POST from the portal's own pages is fine.
    let res = c
        .post(app.url("/logout"))
        .header("sec-fetch-site", "same-origin")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
}

#[tokio::test]
async fn not_found_is_a_russian_page_with_the_request_id() {
    let app = TestApp::spawn().await;
    let res = app.get(&app.client(), "/no/such/page").await;
    assert_eq!(res.status(), 404);
    let id = res.headers()["x-request-id"].to_str().unwrap().to_owned();
    let body = res.text().await.unwrap();
    assert!(body.contains("Страница не найдена"));
    assert!(body.contains(&id), "the page shows the request id");
    assert!(body.contains("lang=\"ru\""));
}

async fn boom() -> &'static str {
    panic!("deliberate test panic")
}

#[tokio::test]
async fn a_panic_gives_a_500_page_and_the_process_keeps_serving() {
    let router = axum::Router::new()
        .route("/boom", get(boom))
        .route("/fine", get(|| async { "fine" }));
    let app = school_portal::with_middleware(router, &WebConfig::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let c = reqwest::Client::new();
    let res = c.get(format!("http://{addr}/boom")).send().await.unwrap();
    assert_eq!(res.status(), 500);
    let id = res.headers()["x-request-id"].to_str().unwrap().to_owned();
    let body = res.text().await.unwrap();
    assert!(body.contains("Внутренняя ошибка") && body.contains(&id));
    assert!(!body.contains("deliberate"), "the cause stays in the log");
    let res = c.get(format!("http://{addr}/fine")).send().await.unwrap();
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn oversized_bodies_are_refused_with_413() {
    let app = TestApp::spawn_with(WebConfig {
        body_limit_kb: 4,
        ..WebConfig::default()
    })
    .await;
    let big = "x".repeat(10 * 1024);
    let res = app
        .post(
            &app.client(),
            "/login",
            &[("login", &big), ("password", "x")],
        )
        .await;
    assert_eq!(res.status(), 413);
    assert!(res.text().await.unwrap().contains("Слишком большой запрос"));
}

#[tokio::test]
async fn an_exhausted_pool_answers_503_with_retry_after_not_a_hang() {
    let url = db::fresh_database().await;
    let mut config = db_config(&url);
    config.db_max_connections = 1;
    config.db_acquire_timeout_secs = 1;
    let pool = school_portal::db::connect(&config, &url).await.unwrap();
    let state = school_portal::AppState::new(pool.clone(), WebConfig::default(), "http://test");
    let app = school_portal::app(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });

    let held = pool.acquire().await.unwrap();
    let res = reqwest::Client::new()
        .post(format!("http://{addr}/login"))
        .form(&[("login", "a@test.local"), ("password", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 503);
    assert!(res.headers().contains_key("retry-after"));
    drop(held);
    let res = reqwest::Client::new()
        .post(format!("http://{addr}/login"))
        .form(&[("login", "a@test.local"), ("password", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "serves again once a connection is free");
}

#[tokio::test]
async fn a_session_started_on_one_process_continues_on_another() {
    let one = TestApp::spawn().await;
    one.account("a@test.local", "Антонов", "Антон").await;
    let two = TestApp::spawn_on(&one.db_url, WebConfig::default()).await;
    let c = one.logged_in("a@test.local").await;
    let token = c.get(one.url("/profile")).send().await.unwrap();
    assert_eq!(token.status(), 200);
    // Same cookie jar, the other process's address: cookies are per host, so copy it.
    let cookie = sqlx::query_scalar::<_, i64>("select count(*) from sessions")
        .fetch_one(&two.db)
        .await
        .unwrap();
    assert_eq!(cookie, 1);
    let c2 = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let res = one.login(&c2, "a@test.local", PASSWORD).await;
    let set = set_cookies(res.headers())
        .into_iter()
        .find(|c| c.starts_with("portal_session="))
        .unwrap();
    let pair = set.split(';').next().unwrap().to_owned();
    let res = c2
        .get(two.url("/profile"))
        .header("cookie", &pair)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.text().await.unwrap().contains("Антонов Антон"));
}

#[tokio::test]
async fn healthz_needs_no_database_and_readyz_follows_it() {
    // A pool pointing at a port where nothing listens.
    let pool = sqlx::postgres::PgPoolOptions::new()
        .acquire_timeout(Duration::from_secs(1))
        .connect_lazy("postgres://postgres:x@127.0.0.1:9/none")
        .unwrap();
    let state = school_portal::AppState::new(pool, WebConfig::default(), "http://test");
    let app = school_portal::app(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let c = reqwest::Client::new();
    assert_eq!(
        c.get(format!("http://{addr}/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        c.get(format!("http://{addr}/readyz"))
            .send()
            .await
            .unwrap()
            .status(),
        503
    );
}

/// The embedded default database (what `cargo run` uses with no DATABASE_URL): initdb on
/// first start, reuse of the same data on the second, and /readyz turning 503 while
/// PostgreSQL is down and 200 again when it is back, without a restart (SECURITY.md 32).
#[tokio::test]
async fn embedded_database_starts_is_reused_and_readiness_follows_it() {
    let dir = tempfile::Builder::new()
        .prefix("sp-embedded-")
        .tempdir_in("/tmp")
        .unwrap();
    // As root, the cluster runs as `postgres`, who must be able to enter the directory.
    std::fs::set_permissions(
        dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let data = dir.path().join("data");
    let config = school_portal::config::Config {
        database_url: None,
        data_dir: data.clone(),
        db_max_connections: 3,
        db_acquire_timeout_secs: 2,
        db_statement_timeout_secs: 5,
        db_lock_timeout_secs: 5,
        db_plan_cache_mode: "force_generic_plan".to_owned(),
    };
    let database = school_portal::db::locate(&config).await.unwrap();
    let cluster = database.cluster.expect("an embedded cluster");
    let pool = school_portal::db::connect(&config, &database.url)
        .await
        .unwrap();
    school_portal::db::migrate(&pool).await.unwrap();
    let mut conn = pool.acquire().await.unwrap();
    school_portal::schools::create_school(
        &mut conn,
        school_portal::auth::tenant::Tenant::for_tests(school_portal::ids::SchoolId::new()),
        "Школа",
        None,
        "Europe/Moscow",
    )
    .await
    .unwrap();
    drop(conn);

    let state = school_portal::AppState::new(pool.clone(), WebConfig::default(), "http://test");
    let app = school_portal::app(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let c = reqwest::Client::new();
    let ready = || async {
        c.get(format!("http://{addr}/readyz"))
            .send()
            .await
            .unwrap()
            .status()
    };
    assert_eq!(ready().await, 200);

    let cluster = tokio::task::spawn_blocking(move || {
        cluster.stop_server().unwrap();
        cluster
    })
    .await
    .unwrap();
    assert_eq!(ready().await, 503);
    assert_eq!(
        c.get(format!("http://{addr}/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let cluster = tokio::task::spawn_blocking(move || {
        cluster.start_server().unwrap();
        cluster
    })
    .await
    .unwrap();
    // The pool reconnects by itself.
    let mut status = ready().await;
    for _ in 0..20 {
        if status == 200 {
            break;
        }
        tokio::task::yield_now().await;
        status = ready().await;
    }
    assert_eq!(status, 200);
    pool.close().await;
    tokio::task::spawn_blocking(move || cluster.stop_server().unwrap())
        .await
        .unwrap();

    // A second start reuses the same data.
    let database = school_portal::db::locate(&config).await.unwrap();
    let cluster = database.cluster.unwrap();
    let pool = school_portal::db::connect(&config, &database.url)
        .await
        .unwrap();
    let schools: i64 = sqlx::query_scalar("select count(*) from schools")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(schools, 1);
    pool.close().await;
    tokio::task::spawn_blocking(move || cluster.stop())
        .await
        .unwrap()
        .unwrap();
}

/// The real binary: prints the setup link on an empty database, serves, keeps passwords and
/// tokens out of its logs (SECURITY.md 27), and on SIGTERM finishes and exits 0
/// (SECURITY.md 30).
#[tokio::test]
async fn the_binary_serves_prints_the_setup_link_and_stops_cleanly_on_sigterm() {
    use tokio::io::{AsyncBufReadExt, BufReader};
    let url = db::fresh_database().await;
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_school-portal"))
        .env("DATABASE_URL", url.url())
        .env("PORTAL_ADDR", format!("127.0.0.1:{port}"))
        // Everything the portal and its libraries log, at the most talkative level.
        .env("RUST_LOG", "trace")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
    let stderr = BufReader::new(child.stderr.take().unwrap());
    let mut setup_link = None;
    let mut seen = Vec::new();
    while let Some(line) = tokio::time::timeout(Duration::from_secs(60), stdout.next_line())
        .await
        .unwrap()
        .unwrap()
    {
        if line.contains("/setup/") {
            setup_link = Some(line.trim().to_owned());
        } else {
            seen.push(line.clone());
        }
        if line.contains("serving on") {
            break;
        }
    }
    let rest = tokio::spawn(async move {
        let mut out = Vec::new();
        while let Ok(Some(line)) = stdout.next_line().await {
            out.push(line);
        }
        out
    });
    let errs = tokio::spawn(async move {
        let mut lines = stderr.lines();
        let mut out = Vec::new();
        while let Ok(Some(line)) = lines.next_line().await {
            out.push(line);
        }
        out
    });

    let link = setup_link.expect("a setup link on first run");
    assert!(link.starts_with(&format!("http://127.0.0.1:{port}/setup/")));
    let token = link.rsplit('/').next().unwrap().to_owned();
    let c = reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .unwrap();
    let res = c.get(&link).send().await.unwrap();
    assert_eq!(res.status(), 200, "the printed link opens the setup form");
    let secret = "operator secret passphrase 42";
    let res = c
        .post(&link)
        .form(&[
            ("surname", "Операторов"),
            ("given_name", "Олег"),
            ("patronymic", ""),
            ("email", "op@region.local"),
            ("password", secret),
            ("password2", secret),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "redirected to the operator's page");
    let res = c
        .post(format!("http://127.0.0.1:{port}/login"))
        .form(&[
            ("login", "op@region.local"),
            ("password", "a wrong password attempt"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        c.get(format!("http://127.0.0.1:{port}/readyz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    let pid = nix::unistd::Pid::from_raw(child.id().unwrap() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    let status = tokio::time::timeout(Duration::from_secs(20), child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "exit status {status:?}");

    seen.extend(rest.await.unwrap());
    seen.extend(errs.await.unwrap());
    assert!(seen.len() > 10, "the portal logged its work");
    let cookie_values: Vec<String> =
        sqlx::query_scalar::<_, Vec<u8>>("select token_hash from sessions")
            .fetch_all(&sqlx::PgPool::connect(&url).await.unwrap())
            .await
            .unwrap()
            .into_iter()
            .map(|h| h.iter().map(|b| format!("{b:02x}")).collect())
            .collect();
    for line in &seen {
        assert!(!line.contains(&token), "a token in the log: {line}");
        assert!(!line.contains(secret), "a password in the log: {line}");
        assert!(
            !line.contains("a wrong password attempt"),
            "a password in the log: {line}"
        );
        assert!(
            !line.contains("portal_session="),
            "a session cookie in the log: {line}"
        );
        for hash in &cookie_values {
            assert!(!line.contains(hash.as_str()));
        }
    }
}

/// A temporary directory the embedded cluster can use (as root it runs as `postgres`, who
/// must be able to enter it).
fn embedded_dir(prefix: &str) -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix(prefix)
        .tempdir_in("/tmp")
        .unwrap();
    std::fs::set_permissions(
        dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    dir
}

async fn start_cluster(data: &std::path::Path) -> school_portal::db::embedded::Cluster {
    let data = data.to_owned();
    tokio::task::spawn_blocking(move || school_portal::db::embedded::Cluster::start(&data))
        .await
        .unwrap()
        .unwrap()
}

async fn stop_cluster(
    cluster: school_portal::db::embedded::Cluster,
) -> school_portal::db::embedded::Cluster {
    tokio::task::spawn_blocking(move || {
        cluster.stop().unwrap();
        cluster
    })
    .await
    .unwrap()
}

/// Two users of one embedded data directory (issue 9): the first to leave does not stop the
/// server under the other, whose connections keep working; the last to leave stops it.
#[tokio::test]
async fn the_embedded_cluster_is_stopped_only_by_its_last_user() {
    let dir = embedded_dir("sp-shared-");
    let data = dir.path().join("data");
    let first = start_cluster(&data).await;
    let second = start_cluster(&data).await;
    assert_eq!(
        first.url("x"),
        second.url("x"),
        "the second joined the first"
    );
    second.ensure_database("portal").await.unwrap();
    let pool = sqlx::PgPool::connect(&second.url("portal")).await.unwrap();
    let one = || async {
        sqlx::query_scalar::<_, i32>("select 1")
            .fetch_one(&pool)
            .await
            .unwrap()
    };
    assert_eq!(one().await, 1);

    // The first (which started the server) leaves.
    let first = stop_cluster(first).await;
    drop(first);
    assert!(second.is_running(), "still running for the second user");
    assert_eq!(one().await, 1, "the pooled connection still works");
    let mut fresh = <sqlx::PgConnection as sqlx::Connection>::connect(&second.url("portal"))
        .await
        .unwrap();
    assert_eq!(
        sqlx::query_scalar::<_, i32>("select 1")
            .fetch_one(&mut fresh)
            .await
            .unwrap(),
        1,
        "and a new connection too"
    );
    drop(fresh);

    // A third joins; the second leaving leaves it to the third; the third stops it.
    let third = start_cluster(&data).await;
    let second = stop_cluster(second).await;
    assert!(third.is_running());
    assert_eq!(one().await, 1);
    pool.close().await;
    let third = stop_cluster(third).await;
    assert!(!third.is_running(), "the last user stopped the server");
    assert!(!second.is_running());
    // Stopping twice is harmless.
    stop_cluster(third).await;
}

async fn portal_on_embedded(
    dir: &std::path::Path,
    port: u16,
) -> (tokio::process::Child, tokio::task::JoinHandle<()>) {
    use tokio::io::{AsyncBufReadExt, BufReader};
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_school-portal"))
        .env_remove("DATABASE_URL")
        .env("PORTAL_DATA_DIR", dir.join("data"))
        .env("PORTAL_ADDR", format!("127.0.0.1:{port}"))
        // No .env of the source tree.
        .current_dir(dir)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
    loop {
        let line = tokio::time::timeout(Duration::from_secs(90), stdout.next_line())
            .await
            .expect("the portal started in time")
            .unwrap()
            .expect("the portal exited before serving");
        if line.contains("serving on") {
            break;
        }
    }
    let drain = tokio::spawn(async move { while let Ok(Some(_)) = stdout.next_line().await {} });
    (child, drain)
}

async fn sigterm(child: &mut tokio::process::Child) {
    let pid = nix::unistd::Pid::from_raw(child.id().unwrap() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "exit status {status:?}");
}

/// Two portal processes on the embedded default (issue 9, item 5): the one that started the
/// private cluster exits, the other keeps serving; when the last exits, the cluster stops.
#[tokio::test]
async fn two_portal_processes_on_the_embedded_default_the_first_exits_the_second_keeps_serving() {
    let dir = embedded_dir("sp-two-");
    let port = || {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let (p1, p2) = (port(), port());
    let (mut first, _d1) = portal_on_embedded(dir.path(), p1).await;
    let (mut second, _d2) = portal_on_embedded(dir.path(), p2).await;
    let c = reqwest::Client::new();
    let ready = |p: u16| {
        let c = c.clone();
        async move {
            c.get(format!("http://127.0.0.1:{p}/readyz"))
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(ready(p1).await, 200);
    assert_eq!(ready(p2).await, 200);

    sigterm(&mut first).await;
    for _ in 0..5 {
        assert_eq!(ready(p2).await, 200, "the second keeps its database");
        let login = c
            .post(format!("http://127.0.0.1:{p2}/login"))
            .form(&[("login", "nobody@test.local"), ("password", "x")])
            .send()
            .await
            .unwrap();
        assert_eq!(login.status(), 200, "a page that needs the database");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    sigterm(&mut second).await;
    assert!(
        !dir.path().join("data/pg/postmaster.pid").exists(),
        "the last portal process stopped the cluster"
    );
}
