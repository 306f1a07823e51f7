//! The connector's worker: processes stored updates (any number of portal processes, each
//! update taken by one with `FOR UPDATE SKIP LOCKED`), checks each school's webhook
//! subscription and re-subscribes when the platform dropped it (it does after 8 hours of
//! failed deliveries), and reads each matched chat's members nightly. Processing is
//! idempotent: each change carries its event's time and is applied only if newer.

use std::time::{Duration, Instant};

use serde_json::Value;
use sqlx::{PgConnection, PgPool};

use super::config::{self, Bot, ConnectorKey};
use super::matching::{self, job_meta};
use super::{presence, removals};
use crate::audit::{self, Entry};
use crate::auth::tenant::Tenant;
use crate::ids::SchoolId;

/// Updates one pass handles at most.
const BATCH: usize = 200;
/// After this many failed attempts an update is set aside (kept, with its error).
const MAX_ATTEMPTS: i32 = 8;

/// Processes the stored updates that are due; answers how many were handled.
pub async fn process_pending(pool: &PgPool, key: Option<&ConnectorKey>) -> anyhow::Result<usize> {
    let mut done = 0;
    for _ in 0..BATCH {
        let mut tx = pool.begin().await?;
        let row = sqlx::query!(
            r#"select id, school_id as "school_id: SchoolId", body, attempts
               from connector_updates
               where processed_at is null and not_before <= now()
               order by id limit 1
               for update skip locked"#
        )
        .fetch_optional(&mut *tx)
        .await?;
        let Some(r) = row else { break };
        let tenant = Tenant::for_job(r.school_id);
        let bot = config::load(&mut tx, tenant, key).await;
        let outcome = match bot {
            Ok(Some(bot)) => {
                let mut sp = sqlx::Acquire::begin(&mut *tx).await?;
                match process(&mut sp, &bot, &r.body).await {
                    Ok(()) => {
                        sp.commit().await?;
                        Ok(())
                    }
                    Err(e) => {
                        sp.rollback().await?;
                        Err(e)
                    }
                }
            }
            Ok(None) => Err(anyhow::anyhow!("no bot configured (or no key)")),
            Err(e) => Err(e),
        };
        match outcome {
            Ok(()) => {
                sqlx::query!(
                    "update connector_updates set processed_at = now(), error = null where id = $1",
                    r.id
                )
                .execute(&mut *tx)
                .await?;
            }
            Err(e) => {
                tracing::warn!(
                    error = format!("{e:#}"),
                    update = r.id,
                    "update not processed"
                );
                sqlx::query!(
                    "update connector_updates
                     set attempts = attempts + 1, error = $2,
                         not_before = now() + make_interval(mins => attempts + 1),
                         processed_at = case when attempts + 1 >= $3 then now() end
                     where id = $1",
                    r.id,
                    format!("{e:#}"),
                    MAX_ATTEMPTS
                )
                .execute(&mut *tx)
                .await?;
            }
        }
        tx.commit().await?;
        done += 1;
    }
    Ok(done)
}

fn int(v: &Value, field: &str) -> Option<i64> {
    v.get(field).and_then(Value::as_i64)
}

/// One update. Unknown types are kept and ignored.
async fn process(conn: &mut PgConnection, bot: &Bot, raw: &str) -> anyhow::Result<()> {
    let v: Value = serde_json::from_str(raw)?;
    let kind = v.get("update_type").and_then(Value::as_str).unwrap_or("");
    let ts = int(&v, "timestamp").unwrap_or(0);
    let chat = int(&v, "chat_id");
    let user = v.get("user");
    let user_id = user.and_then(|u| int(u, "user_id"));
    let name = user
        .and_then(|u| u.get("name"))
        .and_then(Value::as_str)
        .unwrap_or("");
    let tenant = bot.tenant;
    match (kind, chat, user_id) {
        ("bot_added", Some(chat), _) => {
            let is_channel = v.get("is_channel").and_then(Value::as_bool) == Some(true);
            matching::bot_added(conn, bot, chat, is_channel, ts).await?;
        }
        ("bot_removed", Some(chat), _) => matching::bot_removed(conn, bot, chat, ts).await?,
        ("user_added", Some(chat), Some(user)) => {
            let by_link = v.get("inviter_id").is_none_or(Value::is_null);
            let event = presence::MemberEvent {
                user_id: user,
                name,
                present: true,
                by_link,
                ts,
            };
            presence::apply_member(conn, tenant, chat, event).await?;
        }
        ("user_removed", Some(chat), Some(user)) => {
            let event = presence::MemberEvent {
                user_id: user,
                name,
                present: false,
                by_link: false,
                ts,
            };
            presence::apply_member(conn, tenant, chat, event).await?;
            removals::confirmed(conn, tenant, chat, user, int(&v, "admin_id")).await?;
        }
        ("chat_title_changed", Some(chat), _) => {
            let title = v.get("title").and_then(Value::as_str);
            presence::ensure_chat(conn, tenant, chat).await?;
            sqlx::query!(
                "update connector_chats set title = $3 where school_id = $1 and platform_chat_id = $2",
                tenant.id() as SchoolId,
                chat,
                title
            )
            .execute(&mut *conn)
            .await?;
        }
        ("bot_admin_permissions_changed", Some(chat), _) => {
            let is_admin = v.get("is_admin").and_then(Value::as_bool).unwrap_or(false);
            let permissions: Vec<String> = v
                .get("permissions")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|p| p.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default();
            presence::ensure_chat(conn, tenant, chat).await?;
            matching::set_rights(conn, bot, chat, is_admin, &permissions).await?;
        }
        ("bot_started", _, Some(user)) => {
            let payload = v.get("payload").and_then(Value::as_str).unwrap_or("");
            super::binding::bind(conn, tenant, payload, user, name).await?;
        }
        _ => {}
    }
    Ok(())
}

/// Makes sure the platform posts this school's updates to the portal: re-subscribes when
/// the subscription is gone. True when it subscribed.
pub async fn ensure_subscribed(
    conn: &mut PgConnection,
    bot: &Bot,
    public_url: &str,
) -> Result<bool, presence::ReadError> {
    let client = bot.client()?;
    let url = bot.webhook_url(public_url);
    let subs = client.subscriptions().await?;
    if subs.iter().any(|s| s.url == url) {
        return Ok(false);
    }
    client.subscribe(&url, &bot.webhook_secret).await?;
    sqlx::query!(
        "update connector_bots set subscribed_at = now() where school_id = $1",
        bot.tenant.id() as SchoolId
    )
    .execute(&mut *conn)
    .await?;
    audit::record(
        conn,
        &job_meta(),
        Entry {
            actor: None,
            school: Some(bot.tenant.id()),
            action: "connector.subscribed",
            target: Some("connector:webhook".to_owned()),
            details: Some(format!(
                "подписок найдено: {}, на портал — ни одной",
                subs.len()
            )),
        },
    )
    .await?;
    Ok(true)
}

/// The schools with a bot.
async fn schools(pool: &PgPool) -> sqlx::Result<Vec<SchoolId>> {
    sqlx::query_scalar!(r#"select school_id as "s: SchoolId" from connector_bots order by 1"#)
        .fetch_all(pool)
        .await
}

/// Checks every school's subscription; answers how many were repaired.
pub async fn check_subscriptions(
    pool: &PgPool,
    key: Option<&ConnectorKey>,
    public_url: &str,
) -> anyhow::Result<usize> {
    let mut repaired = 0;
    for school in schools(pool).await? {
        let mut conn = pool.acquire().await?;
        let Some(bot) = config::load(&mut conn, Tenant::for_job(school), key).await? else {
            continue;
        };
        match ensure_subscribed(&mut conn, &bot, public_url).await {
            Ok(true) => repaired += 1,
            Ok(false) => {}
            Err(e) => tracing::warn!(error = %e, %school, "subscription check failed"),
        }
    }
    Ok(repaired)
}

/// Reads the members of every matched chat not read for a day (the nightly read).
pub async fn read_stale_chats(pool: &PgPool, key: Option<&ConnectorKey>) -> anyhow::Result<usize> {
    let mut read = 0;
    for school in schools(pool).await? {
        let mut conn = pool.acquire().await?;
        let Some(bot) = config::load(&mut conn, Tenant::for_job(school), key).await? else {
            continue;
        };
        let chats = sqlx::query_scalar!(
            "select platform_chat_id from connector_chats
             where school_id = $1 and chat_id is not null and bot_present
               and (members_read_at is null or members_read_at < now() - interval '1 day')",
            school as SchoolId
        )
        .fetch_all(&mut *conn)
        .await?;
        for chat in chats {
            match presence::full_read(&mut conn, &bot, chat).await {
                Ok(_) => read += 1,
                Err(presence::ReadError::Api(e)) => {
                    tracing::warn!(error = %e, chat, "members read failed");
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
    Ok(read)
}

/// Long polling, for development only (the platform refuses it while a webhook is
/// subscribed): fetches one page of updates and stores them as the webhook would.
pub async fn long_poll_once(
    conn: &mut PgConnection,
    bot: &Bot,
    marker: Option<i64>,
) -> Result<Option<i64>, presence::ReadError> {
    let page = bot.client()?.updates(marker, 30).await?;
    for u in &page.updates {
        super::webhook::store(conn, bot.tenant, &u.to_string()).await?;
    }
    Ok(page.marker)
}

/// How often the subscriptions and the nightly reads are looked at.
const CHECK_EVERY: Duration = Duration::from_secs(600);

/// The background worker, for as long as the task lives.
pub fn spawn(
    pool: PgPool,
    key: Option<ConnectorKey>,
    public_url: String,
    interval: Duration,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut last_check: Option<Instant> = None;
        loop {
            if let Err(e) = process_pending(&pool, key.as_ref()).await {
                tracing::warn!(error = format!("{e:#}"), "connector pass failed");
            }
            if let Err(e) = super::leavers::remove_leavers(&pool, key.as_ref()).await {
                tracing::warn!(error = format!("{e:#}"), "removing leavers failed");
            }
            if last_check.is_none_or(|t| t.elapsed() >= CHECK_EVERY) {
                last_check = Some(Instant::now());
                if let Err(e) = check_subscriptions(&pool, key.as_ref(), &public_url).await {
                    tracing::warn!(error = format!("{e:#}"), "subscription check failed");
                }
                if let Err(e) = read_stale_chats(&pool, key.as_ref()).await {
                    tracing::warn!(error = format!("{e:#}"), "members read failed");
                }
            }
            tokio::time::sleep(interval).await;
        }
    })
}
