//! The janitor (SECURITY.md 40, R4.3): a background task that deletes what has outlived
//! its use — expired sessions, used or expired one-time tokens, invites that expired long
//! ago, login-throttle and rate-limit rows past their window, import uploads never applied,
//! form keys older than a day — and, after the retention period
//! (`PORTAL_LEFT_RETENTION_DAYS`), the memberships of people who left, with the account itself when it belongs to nobody else. Every run
//! writes its counts to the audit log (`janitor.*`). Several processes may run it: a run
//! takes a transaction-level advisory lock and a process that does not get it skips.

use std::time::Duration;

use sqlx::{Connection, PgConnection, PgPool};

use crate::audit::{self, Entry};
use crate::auth::extract::RequestMeta;
use crate::auth::tenant::Tenant;
use crate::config::WebConfig;
use crate::ids::{AccountId, MembershipId, SchoolId};

/// The advisory-lock key of a janitor run («janitor» in ASCII).
pub const LOCK_KEY: i64 = 0x006a_616e_6974_6f72;
/// Import uploads not applied within this are dropped.
const UNAPPLIED_IMPORT_HOURS: i32 = 24;
/// Invites are kept (for the registry) this long after they expired or were revoked.
const DEAD_INVITE_DAYS: i32 = 90;
/// Login-throttle rows are kept this long after the last failure (once unlocked).
const THROTTLE_DAYS: i32 = 1;
/// Memberships removed per run (the rest waits for the next run).
const PEOPLE_PER_RUN: i64 = 500;

/// What one run deleted.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Report {
    /// Another process held the lock: this run did nothing.
    pub skipped: bool,
    pub sessions: u64,
    pub tokens: u64,
    pub invites: u64,
    pub throttle: u64,
    pub rate_limits: u64,
    pub imports: u64,
    /// Form keys older than a day (`web::once`), everyone's.
    pub form_keys: u64,
    /// Memberships of people who left, removed after the retention period.
    pub memberships: u64,
    /// Accounts removed with their last membership.
    pub accounts_deleted: u64,
    /// Accounts that the audit log (or other history) still names: their personal data is
    /// erased and they are deactivated instead of deleted.
    pub accounts_erased: u64,
    /// Memberships left in place because some record still needs them.
    pub memberships_kept: u64,
}

/// Runs the janitor in the background every `janitor_interval_secs` (first run soon after
/// start).
pub fn spawn(pool: PgPool, config: WebConfig) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let pause = Duration::from_secs(config.janitor_interval_secs.max(60));
        tokio::time::sleep(Duration::from_secs(30)).await;
        loop {
            match run_once(&pool, &config).await {
                Ok(r) if r.skipped => tracing::debug!("janitor: another process runs it"),
                Ok(r) => tracing::info!(report = ?r, "janitor run"),
                Err(e) => tracing::warn!(error = %e, "janitor run failed"),
            }
            tokio::time::sleep(pause).await;
        }
    })
}

/// One run, in one transaction under an advisory lock.
pub async fn run_once(pool: &PgPool, config: &WebConfig) -> sqlx::Result<Report> {
    let mut tx = pool.begin().await?;
    let locked: bool =
        sqlx::query_scalar!(r#"select pg_try_advisory_xact_lock($1) as "l!""#, LOCK_KEY)
            .fetch_one(&mut *tx)
            .await?;
    if !locked {
        return Ok(Report {
            skipped: true,
            ..Report::default()
        });
    }
    let mut r = Report::default();
    let conn: &mut PgConnection = &mut tx;

    r.sessions = sqlx::query!(
        r#"delete from sessions s
           where s.expires_at < now()
              or s.last_seen_at < now() - make_interval(mins => $1)
              or not exists(select 1 from accounts a where a.id = s.account_id
                            and a.security_stamp = s.security_stamp and a.deactivated_at is null)"#,
        i32::try_from(config.session_idle_minutes).unwrap_or(i32::MAX)
    )
    .execute(&mut *conn)
    .await?
    .rows_affected();
    // A replaced id answers its form's twin for half a minute (`session::replaced_leads_to`).
    r.sessions += sqlx::query!(
        "delete from replaced_sessions where replaced_at < now() - interval '1 minute'"
    )
    .execute(&mut *conn)
    .await?
    .rows_affected();
    r.tokens =
        sqlx::query!("delete from one_time_tokens where used_at is not null or expires_at < now()")
            .execute(&mut *conn)
            .await?
            .rows_affected();
    r.invites = sqlx::query!(
        r#"delete from invites i
           where (i.expires_at < now() - make_interval(days => $1)
                  or i.revoked_at < now() - make_interval(days => $1))
             and not exists(select 1 from join_requests j
                            where j.school_id = i.school_id and j.invite_id = i.id)"#,
        DEAD_INVITE_DAYS
    )
    .execute(&mut *conn)
    .await?
    .rows_affected();
    r.throttle = sqlx::query!(
        r#"delete from login_throttle
           where (locked_until is null or locked_until < now())
             and last_failure_at < now() - make_interval(days => $1)"#,
        THROTTLE_DAYS
    )
    .execute(&mut *conn)
    .await?
    .rows_affected();
    // The longest window of any counter (throttle::hit_window) is one minute.
    r.rate_limits =
        sqlx::query!("delete from rate_limits where window_start < now() - interval '1 hour'")
            .execute(&mut *conn)
            .await?
            .rows_affected();
    r.imports = sqlx::query!(
        "delete from imports where applied_at is null and created_at < now() - make_interval(hours => $1)",
        UNAPPLIED_IMPORT_HOURS
    )
    .execute(&mut *conn)
    .await?
    .rows_affected();

    // A form answered a day ago is not resent by Back any more (`web::once`).
    r.form_keys = sqlx::query!("delete from form_keys where created_at < now() - interval '1 day'")
        .execute(&mut *conn)
        .await?
        .rows_affected();

    let by_school = remove_people_who_left(conn, config, &mut r).await?;

    let meta = RequestMeta {
        request_id: None,
        ip: None,
        user_agent: None,
    };
    for (action, what, n) in [
        ("janitor.sessions", "сеансов", r.sessions),
        ("janitor.tokens", "одноразовых ссылок", r.tokens),
        ("janitor.invites", "приглашений", r.invites),
        (
            "janitor.throttle",
            "записей об ограничении входа",
            r.throttle,
        ),
        ("janitor.rate_limits", "счётчиков запросов", r.rate_limits),
        ("janitor.imports", "неприменённых импортов", r.imports),
        ("janitor.form_keys", "ключей форм", r.form_keys),
    ] {
        if n > 0 {
            audit::record(
                conn,
                &meta,
                Entry {
                    actor: None,
                    school: None,
                    action,
                    target: None,
                    details: Some(format!("удалено {what}: {n}")),
                },
            )
            .await?;
        }
    }
    for (school, counts) in by_school {
        audit::record(
            conn,
            &meta,
            Entry {
                actor: None,
                school: Some(school),
                action: "janitor.people",
                target: None,
                details: Some(format!(
                    "участий в школе: {}; учётных записей удалено: {}, обезличено: {}, оставлено: {}",
                    counts.memberships, counts.deleted, counts.erased, counts.kept
                )),
            },
        )
        .await?;
    }
    tx.commit().await?;
    Ok(r)
}

#[derive(Default)]
struct SchoolCounts {
    memberships: u64,
    deleted: u64,
    erased: u64,
    kept: u64,
}

/// Memberships that left more than the retention period ago go, with what only they
/// hold; each in a savepoint, so that one still needed by some record stays (counted).
async fn remove_people_who_left(
    conn: &mut PgConnection,
    config: &WebConfig,
    r: &mut Report,
) -> sqlx::Result<Vec<(SchoolId, SchoolCounts)>> {
    let due = sqlx::query!(
        r#"select school_id as "school: SchoolId", id, account_id as "account: AccountId"
           from memberships
           where status = 'left'
             and coalesce(left_at, joined_at) < now() - make_interval(days => $1)
           order by school_id, id
           limit $2"#,
        config.left_retention_days,
        PEOPLE_PER_RUN
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut out: Vec<(SchoolId, SchoolCounts)> = Vec::new();
    for m in due {
        if out.last().is_none_or(|(s, _)| *s != m.school) {
            out.push((m.school, SchoolCounts::default()));
        }
        let Some((_, counts)) = out.last_mut() else {
            continue;
        };
        let mut sp = conn.begin().await?;
        match delete_membership(&mut sp, Tenant::for_job(m.school), MembershipId(m.id)).await {
            Ok(()) => {
                sp.commit().await?;
                counts.memberships += 1;
                r.memberships += 1;
            }
            Err(e) => {
                tracing::info!(error = %e, "janitor: a membership that left is still referenced");
                sp.rollback().await?;
                counts.kept += 1;
                r.memberships_kept += 1;
                continue;
            }
        }
        match remove_account_if_alone(conn, m.account).await? {
            AccountOutcome::Kept => {}
            AccountOutcome::Deleted => {
                counts.deleted += 1;
                r.accounts_deleted += 1;
            }
            AccountOutcome::Erased => {
                counts.erased += 1;
                r.accounts_erased += 1;
            }
        }
    }
    Ok(out)
}

async fn delete_membership(
    conn: &mut PgConnection,
    tenant: Tenant,
    id: MembershipId,
) -> sqlx::Result<()> {
    let school = tenant.id().0;
    let id = id.0;
    sqlx::query!(
        "delete from chat_members where school_id = $1 and member_id = $2",
        school,
        id
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query!(
        "delete from parent_links where school_id = $1 and (parent_id = $2 or child_id = $2)",
        school,
        id
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query!(
        "delete from teaching_assignments where school_id = $1 and teacher_id = $2",
        school,
        id
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query!(
        "delete from class_teacher_assignments where school_id = $1 and teacher_id = $2 and ended_at is not null",
        school,
        id
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query!(
        "delete from movements where school_id = $1 and membership_id = $2",
        school,
        id
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query!(
        "update join_requests set child_id = null where school_id = $1 and child_id = $2 and status <> 'pending'",
        school,
        id
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query!(
        "delete from memberships where school_id = $1 and id = $2 and status = 'left'",
        school,
        id
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

enum AccountOutcome {
    Kept,
    Deleted,
    Erased,
}

/// The account goes when nothing else holds it: no membership in any school, not the
/// operator, no pending join request. Deleted when no record names it, else its personal
/// data is erased and it is deactivated (the audit log is append-only and names actors).
async fn remove_account_if_alone(
    conn: &mut PgConnection,
    account: AccountId,
) -> sqlx::Result<AccountOutcome> {
    let alone: bool = sqlx::query_scalar!(
        r#"select exists(select 1 from accounts a where a.id = $1 and not a.is_operator)
             and not exists(select 1 from memberships m where m.account_id = $1)
             and not exists(select 1 from join_requests j where j.account_id = $1 and j.status = 'pending')
             as "alone!""#,
        account as AccountId
    )
    .fetch_one(&mut *conn)
    .await?;
    if !alone {
        return Ok(AccountOutcome::Kept);
    }
    sqlx::query!(
        "delete from sessions where account_id = $1",
        account as AccountId
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query!(
        "delete from one_time_tokens where account_id = $1",
        account as AccountId
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query!(
        "delete from login_throttle where key = $1",
        format!("account:{account}")
    )
    .execute(&mut *conn)
    .await?;
    let mut sp = conn.begin().await?;
    let deleted = async {
        sqlx::query!(
            "delete from join_requests where account_id = $1",
            account as AccountId
        )
        .execute(&mut *sp)
        .await?;
        sqlx::query!("delete from accounts where id = $1", account as AccountId)
            .execute(&mut *sp)
            .await
    }
    .await;
    if deleted.is_ok() {
        sp.commit().await?;
        return Ok(AccountOutcome::Deleted);
    }
    sp.rollback().await?;
    sqlx::query!(
        r#"update accounts
           set surname = 'Удалён', given_name = 'Удалён', patronymic = null, birth_date = null,
               email = null, phone = null, password_hash = null,
               security_stamp = gen_random_uuid(),
               deactivated_at = coalesce(deactivated_at, now())
           where id = $1"#,
        account as AccountId
    )
    .execute(&mut *conn)
    .await?;
    Ok(AccountOutcome::Erased)
}
