//! `school-portal demo --schools N`: a region of N schools for load measurements (issue 10).
//! School 1 is the demo school; schools 2..=N have the demo school's shape (classes 1–11,
//! about 600 students, 900 parents, 50 teachers, staff, chats, invites, join requests,
//! movements, last year's rollover), their own names and seeds, and logins
//! `admin.K@region.local`, `director.K@…`, `teacher.K@…`, `student.K@…`, `parent.K@…`
//! (K = 1..N-1) with the demo's password. Each school is one transaction of bulk inserts;
//! two workers fill schools side by side; `ANALYZE` runs early (so the generator's own
//! per-school lookups are planned for a big table), now and then, and at the end.
//! Idempotent: schools that exist are skipped, and the region's passwords are reset.

use std::fmt::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Instant;

use anyhow::Context;
use sqlx::PgPool;
use uuid::Uuid;

use super::Shape;
use crate::db::maintenance::{DEMO_TABLES, analyze};
use crate::ids::{AccountId, SchoolId};

/// The largest region: the phone numbers of school K are `+79KKKK…`, and `+7999…` is the
/// demo school's.
pub const MAX_SCHOOLS: u32 = 9000;

/// How many schools are filled at the same time.
const WORKERS: usize = 2;

/// The id of the region's school `number` (1 ..): fixed, so that a second run finds it.
pub fn school_id(number: u32) -> SchoolId {
    SchoolId(Uuid::from_u128(
        0x0190_0000_0000_7000_8000_00de_0001_0000 + u128::from(number),
    ))
}

/// Creates schools 2..=`schools` (the demo school must exist: it holds the operator) and
/// returns the text to print.
pub async fn create(pool: &PgPool, hash: &str, schools: u32) -> anyhow::Result<String> {
    anyhow::ensure!(
        (1..=MAX_SCHOOLS).contains(&schools),
        "--schools must be between 1 and {MAX_SCHOOLS}"
    );
    let mut out = String::new();
    if schools == 1 {
        return Ok(out);
    }
    let operator: AccountId = sqlx::query_scalar(
        "select id from accounts where email = 'operator@demo.local' and is_operator",
    )
    .fetch_one(pool)
    .await
    .context("the demo operator")?;
    let wanted: Vec<Uuid> = (1..schools).map(|k| school_id(k).0).collect();
    let existing: Vec<Uuid> = sqlx::query_scalar("select id from schools where id = any($1)")
        .bind(&wanted)
        .fetch_all(pool)
        .await?;
    let todo: Vec<u32> = (1..schools)
        .filter(|k| !existing.contains(&school_id(*k).0))
        .collect();
    // The region's passwords follow the demo's (a second run resets them, as for the demo).
    sqlx::query(
        "update accounts set password_hash = $1, security_stamp = gen_random_uuid()
         where email like '%@region.local' and password_hash is not null",
    )
    .bind(hash)
    .execute(pool)
    .await?;

    let started = Instant::now();
    let todo = Arc::new(todo);
    let next = Arc::new(AtomicU32::new(0));
    let done = Arc::new(AtomicU32::new(0));
    let hash: Arc<str> = hash.into();
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..WORKERS {
        let (pool, todo, next, done, hash) = (
            pool.clone(),
            todo.clone(),
            next.clone(),
            done.clone(),
            hash.clone(),
        );
        workers.spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::SeqCst) as usize;
                let Some(&number) = todo.get(i) else {
                    return Ok::<(), anyhow::Error>(());
                };
                let shape = Shape {
                    school: school_id(number),
                    number,
                    operator: Some(operator),
                };
                let mut tx = pool.begin().await?;
                super::populate(&mut tx, &hash, &shape)
                    .await
                    .with_context(|| format!("creating region school {}", number + 1))?;
                tx.commit().await?;
                let n = done.fetch_add(1, Ordering::SeqCst) + 1;
                // Statistics while the tables grow: whenever the number of schools has
                // doubled (8, 16, 32, ...), then every 250. A school the statistics have
                // never seen is estimated at one row, and the per-school queries of the
                // generator (the statistics snapshots) then plan nested loops over the
                // whole school: seconds each, where they take milliseconds.
                if (n >= 8 && n.is_power_of_two()) || n % 250 == 0 {
                    analyze(&pool, DEMO_TABLES).await;
                    tracing::info!(
                        schools = n,
                        of = todo.len(),
                        elapsed_s = started.elapsed().as_secs(),
                        "region schools created"
                    );
                }
            }
        });
    }
    while let Some(result) = workers.join_next().await {
        result.context("a region worker")??;
    }
    analyze(pool, DEMO_TABLES).await;
    let created = done.load(Ordering::SeqCst);
    let _ = writeln!(
        out,
        "Регион: {schools} школ ({created} создано сейчас за {} с, {} уже были).",
        started.elapsed().as_secs(),
        existing.len()
    );
    let _ = writeln!(
        out,
        "Логины школы № K+1 (K = 1..{}): admin.K@region.local, director.K@region.local, \
         deputy.K@region.local, teacher.K@region.local, student.K@region.local, \
         parent.K@region.local; пароль тот же.",
        schools - 1
    );
    Ok(out)
}
