//! The compliance page on the demo school (issue 5): creates the demo in a fresh database,
//! then times the page N times through the real application (login as the director, GET
//! `/s/{demo}/compliance`) and the compliance query alone, and prints the median and p95.
//!
//! Run: `DATABASE_URL=postgres://…/postgres cargo bench --bench compliance` (release), or
//! `cargo test --bench compliance` (debug build). The database named by the URL is only
//! used to create and drop `school_portal_bench_<pid>`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use school_portal::AppState;
use school_portal::config::{Config, WebConfig};
use sqlx::{Connection, PgConnection};

const N: usize = 50;

fn with_database(url: &str, db: &str) -> String {
    let scheme_end = url.find("://").map(|i| i + 3).unwrap_or(0);
    let base = match url[scheme_end..].find('/') {
        Some(i) => &url[..scheme_end + i],
        None => url,
    };
    format!("{base}/{db}")
}

fn stats(label: &str, mut t: Vec<Duration>) {
    t.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let p95 = t[((t.len() as f64) * 0.95).ceil() as usize - 1];
    println!(
        "{label}: n={}, median {:.1} ms, p95 {:.1} ms, min {:.1} ms",
        t.len(),
        ms(t[t.len() / 2]),
        ms(p95),
        ms(t[0])
    );
}

#[tokio::main]
async fn main() {
    let url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let name = format!("school_portal_bench_{}", std::process::id());
    let admin_url = with_database(&url, "postgres");
    let mut admin = PgConnection::connect(&admin_url).await.unwrap();
    sqlx::query(&format!("create database {name}"))
        .execute(&mut admin)
        .await
        .unwrap();
    let db_url = with_database(&url, &name);
    let config = Config {
        database_url: Some(db_url.clone()),
        data_dir: "./data".into(),
        db_max_connections: 5,
        db_acquire_timeout_secs: 10,
        db_statement_timeout_secs: 60,
        db_lock_timeout_secs: 10,
        db_plan_cache_mode: "force_generic_plan".to_owned(),
    };
    let pool = school_portal::db::connect(&config, &db_url).await.unwrap();
    school_portal::db::MIGRATOR.run(&pool).await.unwrap();
    let started = Instant::now();
    school_portal::demo::create(&pool, Some("bench password 123".into()))
        .await
        .unwrap();
    println!("demo created in {:.1} s", started.elapsed().as_secs_f64());
    let school = school_portal::demo::DEMO_SCHOOL;
    if std::env::var("BENCH_ANALYZE").is_ok() {
        sqlx::query("analyze").execute(&pool).await.unwrap();
        println!("(tables analyzed first)");
    }

    // The query alone.
    let mut conn = pool.acquire().await.unwrap();
    let mut query = Vec::with_capacity(N);
    let mut classes = 0;
    for _ in 0..N {
        let t = Instant::now();
        classes = school_portal::chats::compliance::rows(
            &mut conn,
            school_portal::auth::tenant::Tenant::for_tests(school),
            None,
        )
        .await
        .unwrap()
        .len();
        query.push(t.elapsed());
    }
    drop(conn);

    // The page through the application, on a real socket.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let base = format!("http://{addr}");
    let state = AppState::new(pool.clone(), WebConfig::default(), &base);
    let app =
        school_portal::app(state).into_make_service_with_connect_info::<std::net::SocketAddr>();
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let client = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let res = client
        .post(format!("{base}/login"))
        .form(&[
            ("login", "director@demo.local"),
            ("password", "bench password 123"),
            ("next", "/"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    let page = format!("{base}/s/{school}/compliance");
    let mut pages = Vec::with_capacity(N);
    for _ in 0..N {
        let t = Instant::now();
        let res = client.get(&page).send().await.unwrap();
        assert_eq!(res.status(), 200);
        res.bytes().await.unwrap();
        pages.push(t.elapsed());
    }
    println!("demo school: {classes} classes");
    stats("compliance query (rows)", query);
    stats("compliance page (GET, localhost round trip)", pages);

    server.abort();
    pool.close().await;
    sqlx::query(&format!("drop database {name} with (force)"))
        .execute(&mut admin)
        .await
        .unwrap();
}
