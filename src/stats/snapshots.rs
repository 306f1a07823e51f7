//! Daily snapshots (STATISTICS.md «Time series»): a background job writes one row per school
//! and day, and one per class and day, with the figures of `queries`. Any number of portal
//! processes may run it: each school is taken under a transaction-level advisory lock (a
//! process that does not get it skips that school), and the rows are inserted with
//! `ON CONFLICT DO NOTHING` on (school, day), so a second run, or a second process, writes
//! nothing. A day is written once it is over (the past comes from snapshots, today is
//! live); days the job missed are filled on its next run, with the figures of that run,
//! marked `backfilled`.

use std::time::Duration;

use sqlx::{PgConnection, PgPool};
use time::Date;

use super::queries::{self, ClassRow, Headline};
use crate::auth::tenant::Tenant;
use crate::ids::{ClassId, SchoolId};

/// How far back a missed stretch is filled (a school's first snapshot is yesterday only).
const MAX_FILL_DAYS: i64 = 31;

/// What one run did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Report {
    /// Schools another process was snapshotting at the same moment.
    pub skipped: u64,
    /// School-days written.
    pub days: u64,
}

/// Runs the job every `interval` (first run soon after start).
pub fn spawn(pool: PgPool, interval: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(20)).await;
        loop {
            match run_once(&pool).await {
                Ok(r) => tracing::info!(report = ?r, "statistics snapshots"),
                Err(e) => tracing::warn!(error = %e, "statistics snapshots failed"),
            }
            tokio::time::sleep(interval).await;
        }
    })
}

/// One run over every school.
pub async fn run_once(pool: &PgPool) -> sqlx::Result<Report> {
    let schools: Vec<SchoolId> = sqlx::query_scalar!(r#"select id as "id: SchoolId" from schools"#)
        .fetch_all(pool)
        .await?;
    let mut report = Report::default();
    for school in schools {
        match snapshot_school(pool, Tenant::for_job(school)).await? {
            None => report.skipped += 1,
            Some(n) => report.days += n,
        }
    }
    Ok(report)
}

/// Writes the missing past days of one school; `None` when another process holds it.
pub async fn snapshot_school(pool: &PgPool, tenant: Tenant) -> sqlx::Result<Option<u64>> {
    let mut tx = pool.begin().await?;
    let locked = sqlx::query_scalar!(
        r#"select pg_try_advisory_xact_lock(hashtextextended('stats:' || $1::text, 0)) as "l!""#,
        tenant.id().0.to_string()
    )
    .fetch_one(&mut *tx)
    .await?;
    if !locked {
        return Ok(None);
    }
    let today = queries::today(&mut tx, tenant).await?;
    let yesterday = today.previous_day().unwrap_or(today);
    let last: Option<Date> = sqlx::query_scalar!(
        "select max(day) from stats_school_days where school_id = $1",
        tenant.id() as SchoolId
    )
    .fetch_one(&mut *tx)
    .await?;
    let first = match last {
        Some(d) if d >= yesterday => return Ok(Some(0)),
        Some(d) => d
            .next_day()
            .unwrap_or(yesterday)
            .max(yesterday - time::Duration::days(MAX_FILL_DAYS)),
        None => yesterday,
    };
    let rows = queries::class_rows(&mut tx, tenant, None).await?;
    let staff = queries::staff(&mut tx, tenant).await?;
    let headline = Headline::from_rows(&rows, staff);
    let mut written = 0;
    let mut day = first;
    while day <= yesterday {
        written += write_day(&mut tx, tenant, day, &headline, &rows, day < yesterday).await?;
        match day.next_day() {
            Some(d) => day = d,
            None => break,
        }
    }
    tx.commit().await?;
    Ok(Some(written))
}

fn int(n: i64) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

/// Inserts one day (nothing if it is there already); answers 1 when it wrote the school row.
pub async fn write_day(
    conn: &mut PgConnection,
    tenant: Tenant,
    day: Date,
    h: &Headline,
    rows: &[ClassRow],
    backfilled: bool,
) -> sqlx::Result<u64> {
    let n = sqlx::query!(
        r#"insert into stats_school_days (school_id, day, students, students_connected, students_refused,
             staff, staff_verified, students_with_parent, families_refused, classes, classes_all_chats,
             classes_verified_teacher, backfilled)
           values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
           on conflict (school_id, day) do nothing"#,
        tenant.id() as SchoolId,
        day,
        int(h.students),
        int(h.connected),
        int(h.refused),
        int(h.staff),
        int(h.staff_verified),
        int(h.with_parent),
        int(h.family_refused),
        int(h.classes),
        int(h.classes_all_chats),
        int(h.classes_verified_teacher),
        backfilled
    )
    .execute(&mut *conn)
    .await?
    .rows_affected();
    let ids: Vec<uuid::Uuid> = rows.iter().map(|r| r.class_id.0).collect();
    let col = |f: fn(&ClassRow) -> i64| rows.iter().map(|r| int(f(r))).collect::<Vec<i32>>();
    sqlx::query!(
        r#"insert into stats_class_days (school_id, day, class_id, students, students_connected,
             students_with_parent, parents, parents_in_chat)
           select $1, $2, c, s, k, w, p, pc
           from unnest($3::uuid[], $4::int4[], $5::int4[], $6::int4[], $7::int4[], $8::int4[])
             as x(c, s, k, w, p, pc)
           on conflict (school_id, day, class_id) do nothing"#,
        tenant.id() as SchoolId,
        day,
        &ids,
        &col(|r| r.students),
        &col(|r| r.connected),
        &col(|r| r.with_parent),
        &col(|r| r.parents),
        &col(|r| r.parents_in_chat)
    )
    .execute(&mut *conn)
    .await?;
    Ok(n)
}

/// A school's snapshot of one day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchoolDay {
    pub day: Date,
    pub headline: Headline,
}

/// The school's snapshots from `from` on, oldest first.
pub async fn school_days(
    conn: &mut PgConnection,
    tenant: Tenant,
    from: Date,
) -> sqlx::Result<Vec<SchoolDay>> {
    let rows = sqlx::query!(
        r#"select day, students, students_connected, students_refused, staff, staff_verified,
                  students_with_parent, families_refused, classes, classes_all_chats,
                  classes_verified_teacher
           from stats_school_days where school_id = $1 and day >= $2 order by day"#,
        tenant.id() as SchoolId,
        from
    )
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| SchoolDay {
            day: r.day,
            headline: Headline {
                students: r.students.into(),
                connected: r.students_connected.into(),
                refused: r.students_refused.into(),
                staff: r.staff.into(),
                staff_verified: r.staff_verified.into(),
                with_parent: r.students_with_parent.into(),
                family_refused: r.families_refused.into(),
                classes: r.classes.into(),
                classes_all_chats: r.classes_all_chats.into(),
                classes_verified_teacher: r.classes_verified_teacher.into(),
                ..Headline::default()
            },
        })
        .collect())
}

/// One class's A1 share (per mille) on each of `days`, `None` where no snapshot is.
pub async fn class_series(
    conn: &mut PgConnection,
    tenant: Tenant,
    days: &[Date],
) -> sqlx::Result<Vec<(ClassId, Date, i64, i64)>> {
    let rows = sqlx::query!(
        r#"select class_id as "class_id: ClassId", day, students, students_connected
           from stats_class_days where school_id = $1 and day = any($2::date[])"#,
        tenant.id() as SchoolId,
        days
    )
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            (
                r.class_id,
                r.day,
                i64::from(r.students_connected),
                i64::from(r.students),
            )
        })
        .collect())
}

/// The latest snapshot on or before `day`.
pub fn at_or_before(days: &[SchoolDay], day: Date) -> Option<&SchoolDay> {
    days.iter().rev().find(|d| d.day <= day)
}
