//! The statistics pages (issue 11): the school's page on the demo school, and the region's
//! page on a region of `BENCH_SCHOOLS` schools (default 2 000). The region is the demo
//! school plus schools made here in bulk — each with a staff room, a current year, an
//! administrator's grant and 84 days of snapshots, without people (the region page reads
//! only the schools, their latest snapshot and A6's existence checks; the people-sized
//! generator `demo --schools N` belongs to the performance issue). Times both pages N
//! times over localhost, logged in, and prints the median and p95.
//!
//! Run: `DATABASE_URL=postgres://…/postgres cargo bench --bench stats` (release), or
//! `cargo test --bench stats` (debug). Creates and drops `school_portal_bench_<pid>`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use school_portal::AppState;
use school_portal::config::{Config, WebConfig};
use sqlx::{Connection, PgConnection};

const N: usize = 30;

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

async fn time_page(client: &reqwest::Client, url: &str) -> Vec<Duration> {
    let mut out = Vec::with_capacity(N);
    for _ in 0..N {
        let t = Instant::now();
        let res = client.get(url).send().await.unwrap();
        assert_eq!(res.status(), 200, "{url}");
        res.bytes().await.unwrap();
        out.push(t.elapsed());
    }
    out
}

async fn login(base: &str, login: &str) -> reqwest::Client {
    let client = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let res = client
        .post(format!("{base}/login"))
        .form(&[
            ("login", login),
            ("password", "bench password 123"),
            ("next", "/"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    client
}

#[tokio::main]
async fn main() {
    let url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let schools: i32 = std::env::var("BENCH_SCHOOLS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2000);
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
        db_statement_timeout_secs: 120,
        db_lock_timeout_secs: 10,
        db_plan_cache_mode: "force_generic_plan".to_owned(),
    };
    let pool = school_portal::db::connect(&config, &db_url).await.unwrap();
    school_portal::db::MIGRATOR.run(&pool).await.unwrap();
    let started = Instant::now();
    school_portal::demo::create(&pool, Some("bench password 123".into()))
        .await
        .unwrap();
    let operator: uuid::Uuid =
        sqlx::query_scalar("select id from accounts where email = 'operator@demo.local'")
            .fetch_one(&pool)
            .await
            .unwrap();
    // The rest of the region, in bulk.
    let mut tx = pool.begin().await.unwrap();
    for sql in [
        "create temporary table bench_schools on commit drop as
           select gen_random_uuid() as id, n from generate_series(2, $1) n",
        "insert into schools (id, name, municipality)
           select id, 'Школа № ' || n, 'Муниципалитет ' || (n % 40) from bench_schools",
        "insert into academic_years (school_id, id, starts_on, ends_on, is_current)
           select id, gen_random_uuid(), date '2026-09-01', date '2027-08-31', true from bench_schools",
        "insert into classes (school_id, id, kind, title)
           select id, gen_random_uuid(), 'staffroom', 'Учительская' from bench_schools",
        "insert into classes (school_id, id, kind, academic_year_id, grade, letter, title)
           select b.id, gen_random_uuid(), 'class', y.id, 5, 'А', '5А'
           from bench_schools b join academic_years y on y.school_id = b.id",
        "insert into admin_grants (school_id, id, account_id, granted_by, approved_by, approved_at,
                                   order_number, order_date)
           select b.id, gen_random_uuid(), $1::uuid, $1::uuid, null, null, '1-о', date '2026-09-01'
           from bench_schools b",
        "insert into stats_school_days (school_id, day, students, students_connected, students_refused,
             staff, staff_verified, students_with_parent, families_refused, classes, classes_all_chats,
             classes_verified_teacher)
           select b.id, current_date - d, 600, (600 * random())::int, 0, 60, (60 * random())::int,
                  (600 * random())::int, 0, 28, (28 * random())::int, (28 * random())::int
           from bench_schools b cross join generate_series(1, 84) d",
    ] {
        let q = sqlx::query(sql);
        let q = if sql.contains("$1::uuid") {
            q.bind(operator)
        } else if sql.contains("$1") {
            q.bind(schools)
        } else {
            q
        };
        q.execute(&mut *tx).await.unwrap();
    }
    tx.commit().await.unwrap();
    sqlx::query("analyze").execute(&pool).await.unwrap();
    println!(
        "region of {schools} schools (the demo school + bulk schools with 84 days of snapshots) in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let base = format!("http://{addr}");
    let state = AppState::new(pool.clone(), WebConfig::default(), &base);
    let app =
        school_portal::app(state).into_make_service_with_connect_info::<std::net::SocketAddr>();
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let school = school_portal::demo::DEMO_SCHOOL;
    let director = login(&base, "director@demo.local").await;
    let operator = login(&base, "operator@demo.local").await;
    let school_page = time_page(&director, &format!("{base}/s/{school}/stats")).await;
    let region_page = time_page(&operator, &format!("{base}/region/stats")).await;
    stats(
        "school statistics page, demo school (GET, localhost)",
        school_page,
    );
    stats(
        &format!("region statistics page, {schools} schools (GET, localhost)"),
        region_page,
    );

    server.abort();
    pool.close().await;
    sqlx::query(&format!("drop database {name} with (force)"))
        .execute(&mut admin)
        .await
        .unwrap();
}
