//! Login throttling (SECURITY.md 8). Failed logins are counted per account (or per unknown
//! login name, so that known and unknown names behave alike) in PostgreSQL, surviving
//! restarts and shared by every process; from the fifth failure the account is locked for
//! a time that doubles with each further failure, up to 15 minutes. A fixed-window counter
//! per IP answers 429 with Retry-After.

use sqlx::PgConnection;
use time::OffsetDateTime;

/// Failures allowed before the lock begins.
pub const FREE_FAILURES: i32 = 5;
const BASE_LOCK_SECS: i64 = 30;
const MAX_LOCK_SECS: i64 = 15 * 60;

/// Seconds the key is still locked for, if it is.
pub async fn locked_for(conn: &mut PgConnection, key: &str) -> sqlx::Result<Option<i64>> {
    let until = sqlx::query_scalar!(
        "select locked_until from login_throttle where key = $1 and locked_until > now()",
        key
    )
    .fetch_optional(conn)
    .await?
    .flatten();
    Ok(until.map(|u| (u - OffsetDateTime::now_utc()).whole_seconds().max(1)))
}

/// Counts a failure; returns the lock (in seconds) it caused, if any.
pub async fn fail(conn: &mut PgConnection, key: &str) -> sqlx::Result<Option<i64>> {
    let failures = sqlx::query_scalar!(
        r#"insert into login_throttle (key, failures, last_failure_at) values ($1, 1, now())
           on conflict (key) do update
             set failures = login_throttle.failures + 1, last_failure_at = now()
           returning failures"#,
        key
    )
    .fetch_one(&mut *conn)
    .await?;
    if failures < FREE_FAILURES {
        return Ok(None);
    }
    let exponent = u32::try_from(failures - FREE_FAILURES).unwrap_or(0).min(10);
    let secs = (BASE_LOCK_SECS << exponent).min(MAX_LOCK_SECS);
    sqlx::query!(
        "update login_throttle set locked_until = now() + make_interval(secs => $2) where key = $1",
        key,
        secs as f64
    )
    .execute(conn)
    .await?;
    Ok(Some(secs))
}

/// Forgets the failures after a successful login.
pub async fn clear(conn: &mut PgConnection, key: &str) -> sqlx::Result<()> {
    sqlx::query!("delete from login_throttle where key = $1", key)
        .execute(conn)
        .await?;
    Ok(())
}

/// Counts a hit in a fixed one-minute window; `Some(retry_after_secs)` once over `limit`.
pub async fn hit_window(
    conn: &mut PgConnection,
    key: &str,
    limit: i32,
) -> sqlx::Result<Option<u64>> {
    let row = sqlx::query!(
        r#"insert into rate_limits (key, window_start, hits) values ($1, now(), 1)
           on conflict (key) do update set
             hits = case when rate_limits.window_start < now() - interval '1 minute'
                         then 1 else rate_limits.hits + 1 end,
             window_start = case when rate_limits.window_start < now() - interval '1 minute'
                         then now() else rate_limits.window_start end
           returning hits, extract(epoch from (window_start + interval '1 minute' - now()))::float8 as "left!""#,
        key
    )
    .fetch_one(conn)
    .await?;
    if row.hits > limit {
        Ok(Some(row.left.ceil().max(1.0) as u64))
    } else {
        Ok(None)
    }
}

/// [`hit_window`] as a request sees it: 429 with `Retry-After` past `per_minute` hits of
/// `key` in the current minute.
pub async fn limit(
    conn: &mut PgConnection,
    key: &str,
    per_minute: i32,
) -> Result<(), crate::error::AppError> {
    match hit_window(conn, key, per_minute).await? {
        Some(retry) => Err(crate::error::AppError::TooManyRequests {
            retry_after_secs: retry,
        }),
        None => Ok(()),
    }
}
