//! Publishing due posts. A scheduled post is a row with `publish_at`; the poller (any
//! number of portal processes, `FOR UPDATE SKIP LOCKED`) takes each due post once,
//! re-checking its state on the locked row, and hands it to the [`Publisher`]. Nothing
//! lives in a timer in memory.
//!
//! Until the platform connector exists the publisher is [`Manual`]: it reminds the
//! administrators by e-mail (the post is then listed in the review queue as due) and the
//! administrator publishes on the platform and records the link («Опубликовано вручную»).
//! A post still not published an hour after its time is marked overdue. A school's bot
//! (`crate::connector::publishing::BotPublisher`) answers [`Outcome::Published`].

use std::time::Duration;

use sqlx::{PgConnection, PgPool};
use time::OffsetDateTime;

use super::queries;
use crate::auth::tenant::Tenant;
use crate::ids::{PostId, SchoolId};
use crate::web::format;

/// A post whose time has come.
#[derive(Debug, Clone)]
pub struct DuePost {
    pub tenant: Tenant,
    pub id: PostId,
    pub channel: String,
    pub title: String,
    pub body: String,
    pub publish_at: OffsetDateTime,
    pub timezone: String,
}

/// What the publisher did with a due post.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A person was asked to publish it (the manual publisher).
    Reminded,
    /// It is on the platform, at this link (a bot).
    Published { url: String },
}

/// The one step that posts. Called inside the poller's transaction, with the post's row
/// locked: what it writes commits together with the post's new mark.
pub trait Publisher: Send + Sync {
    fn due(
        &self,
        conn: &mut PgConnection,
        post: &DuePost,
        public_url: &str,
    ) -> impl Future<Output = anyhow::Result<Outcome>> + Send;
}

/// The administrator publishes by hand: remind them by e-mail.
#[derive(Debug, Clone, Copy, Default)]
pub struct Manual;

impl Publisher for Manual {
    async fn due(
        &self,
        conn: &mut PgConnection,
        post: &DuePost,
        public_url: &str,
    ) -> anyhow::Result<Outcome> {
        let body = format!(
            "Здравствуйте!\n\nПора опубликовать «{}» в канале «{}» (запланировано на {}).\n\
             Опубликуйте текст на платформе и отметьте на портале «Опубликовано вручную», \
             вставив ссылку на публикацию:\n{}/s/{}/posts/{}\n",
            post.title,
            post.channel,
            format::datetime(post.publish_at, &post.timezone),
            public_url,
            post.tenant,
            post.id
        );
        for to in queries::admin_emails(conn, post.tenant).await? {
            crate::mail::enqueue(
                conn,
                Some(post.tenant),
                &to,
                "Пора опубликовать запланированную публикацию",
                &body,
            )
            .await?;
        }
        Ok(Outcome::Reminded)
    }
}

/// How long after its time a due post not yet published is marked overdue.
pub const OVERDUE_AFTER_MINUTES: i64 = 60;
/// Posts one pass handles at most.
const BATCH: usize = 100;

/// What one pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Pass {
    pub due: usize,
    pub overdue: usize,
}

/// One pass: each due post handed to the publisher exactly once, then the overdue marks.
pub async fn poll_once<P: Publisher>(
    pool: &PgPool,
    publisher: &P,
    public_url: &str,
) -> anyhow::Result<Pass> {
    let mut pass = Pass::default();
    for _ in 0..BATCH {
        let mut tx = pool.begin().await?;
        let row = sqlx::query!(
            r#"select p.school_id as "school_id: SchoolId", p.id, p.title, p.body,
                      p.publish_at as "publish_at!", c.title as channel, s.timezone
               from posts p
               join channels c on c.school_id = p.school_id and c.id = p.channel_id
               join schools s on s.id = p.school_id
               where p.state = 'scheduled' and p.reminded_at is null and p.publish_at <= now()
               order by p.publish_at, p.id limit 1
               for update of p skip locked"#
        )
        .fetch_optional(&mut *tx)
        .await?;
        let Some(r) = row else { break };
        let post = DuePost {
            tenant: Tenant::for_job(r.school_id),
            id: PostId(r.id),
            channel: r.channel,
            title: r.title,
            body: r.body,
            publish_at: r.publish_at,
            timezone: r.timezone,
        };
        match publisher.due(&mut tx, &post, public_url).await? {
            Outcome::Reminded => {
                sqlx::query!(
                    "update posts set reminded_at = now() where id = $1",
                    post.id as PostId
                )
                .execute(&mut *tx)
                .await?;
                queries::history_row(
                    &mut tx,
                    post.tenant,
                    post.id,
                    Some("scheduled"),
                    "due",
                    None,
                    None,
                )
                .await?;
            }
            Outcome::Published { url } => {
                sqlx::query!(
                    "update posts set state = 'published', platform_url = $2, published_at = now(),
                            reminded_at = now(), updated_at = now() where id = $1",
                    post.id as PostId,
                    url
                )
                .execute(&mut *tx)
                .await?;
                queries::history_row(
                    &mut tx,
                    post.tenant,
                    post.id,
                    Some("scheduled"),
                    "published",
                    None,
                    None,
                )
                .await?;
            }
        }
        tx.commit().await?;
        pass.due += 1;
    }
    let mut tx = pool.begin().await?;
    let overdue = sqlx::query!(
        r#"update posts set overdue_at = now()
           where id in (select id from posts
                        where state = 'scheduled' and reminded_at is not null and overdue_at is null
                          and publish_at < now() - make_interval(mins => $1)
                        for update skip locked)
           returning school_id as "school_id: SchoolId", id"#,
        i32::try_from(OVERDUE_AFTER_MINUTES).unwrap_or(60)
    )
    .fetch_all(&mut *tx)
    .await?;
    for o in &overdue {
        queries::history_row(
            &mut tx,
            Tenant::for_job(o.school_id),
            PostId(o.id),
            Some("scheduled"),
            "overdue",
            None,
            None,
        )
        .await?;
    }
    tx.commit().await?;
    pass.overdue = overdue.len();
    Ok(pass)
}

/// How often the poller looks for due posts.
pub const INTERVAL: Duration = Duration::from_secs(30);

/// The background poller with `publisher` (the bot's where a school has one, see
/// `crate::connector::publishing`), for as long as the task lives.
pub fn spawn<P: Publisher + 'static>(
    pool: PgPool,
    public_url: String,
    publisher: P,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            match poll_once(&pool, &publisher, &public_url).await {
                Ok(p) if p == Pass::default() => {}
                Ok(p) => tracing::info!(due = p.due, overdue = p.overdue, "due posts handled"),
                Err(e) => tracing::warn!(error = format!("{e:#}"), "due-post pass failed"),
            }
            tokio::time::sleep(INTERVAL).await;
        }
    })
}
