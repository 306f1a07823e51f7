//! The channels' and posts' SQL: every function takes the school's [`Tenant`] (or a
//! [`By`], the actor with the tenant), never a bare school id.

use sqlx::PgConnection;
use time::OffsetDateTime;
use uuid::Uuid;

use super::model::State;
use crate::auth::tenant::{By, Tenant};
use crate::ids::{AccountId, ChannelId, PostId, SchoolId};
use crate::web::format;

/// A channel as the pages show it.
pub struct Channel {
    pub id: ChannelId,
    pub title: String,
    pub audience: String,
    pub address: String,
    pub admin_only: bool,
    pub archived: bool,
}

pub async fn channels(conn: &mut PgConnection, tenant: Tenant) -> sqlx::Result<Vec<Channel>> {
    let rows = sqlx::query!(
        r#"select id, title, audience, address, submitters, archived_at is not null as "archived!"
           from channels where school_id = $1
           order by archived_at is not null, title collate "ru-RU-x-icu""#,
        tenant.id() as SchoolId
    )
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| Channel {
            id: ChannelId(r.id),
            title: r.title,
            audience: r.audience,
            address: r.address,
            admin_only: r.submitters == "admin",
            archived: r.archived,
        })
        .collect())
}

pub async fn channel(
    conn: &mut PgConnection,
    tenant: Tenant,
    id: ChannelId,
) -> sqlx::Result<Option<Channel>> {
    Ok(channels(conn, tenant)
        .await?
        .into_iter()
        .find(|c| c.id == id))
}

/// A post with what its page needs.
pub struct Post {
    pub id: PostId,
    pub channel_id: ChannelId,
    pub channel: String,
    pub author: AccountId,
    pub author_name: String,
    pub author_email: Option<String>,
    pub title: String,
    pub body: String,
    pub state: State,
    pub reason: Option<String>,
    pub publish_at: Option<OffsetDateTime>,
    pub reminded_at: Option<OffsetDateTime>,
    pub overdue_at: Option<OffsetDateTime>,
    pub platform_url: Option<String>,
    pub updated_at: OffsetDateTime,
    /// The platform's message id when the school's bot published it (issue 15).
    pub platform_mid: Option<String>,
    /// What the platform answered when the bot's last attempt failed.
    pub platform_error: Option<String>,
}

pub async fn post(
    conn: &mut PgConnection,
    tenant: Tenant,
    id: PostId,
) -> sqlx::Result<Option<Post>> {
    let row = sqlx::query!(
        r#"select p.id, p.channel_id, c.title as channel, p.author_id as "author: AccountId",
                  a.surname, a.given_name, a.patronymic, a.email, p.title, p.body, p.state,
                  p.reason, p.publish_at, p.reminded_at, p.overdue_at, p.platform_url, p.updated_at,
                  p.platform_mid, p.platform_error
           from posts p
           join channels c on c.school_id = p.school_id and c.id = p.channel_id
           join accounts a on a.id = p.author_id
           where p.school_id = $1 and p.id = $2"#,
        tenant.id() as SchoolId,
        id as PostId
    )
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|r| Post {
        id: PostId(r.id),
        channel_id: ChannelId(r.channel_id),
        channel: r.channel,
        author: r.author,
        author_name: format::full_name(&r.surname, &r.given_name, r.patronymic.as_deref()),
        author_email: r.email,
        title: r.title,
        body: r.body,
        state: State::parse(&r.state).unwrap_or(State::Draft),
        reason: r.reason,
        publish_at: r.publish_at,
        reminded_at: r.reminded_at,
        overdue_at: r.overdue_at,
        platform_url: r.platform_url,
        updated_at: r.updated_at,
        platform_mid: r.platform_mid,
        platform_error: r.platform_error,
    }))
}

/// The post locked for a change (in the change's transaction): its state now.
pub async fn lock_state(
    conn: &mut PgConnection,
    tenant: Tenant,
    id: PostId,
) -> sqlx::Result<Option<State>> {
    let s = sqlx::query_scalar!(
        "select state from posts where school_id = $1 and id = $2 for update",
        tenant.id() as SchoolId,
        id as PostId
    )
    .fetch_optional(conn)
    .await?;
    Ok(s.and_then(|s| State::parse(&s)))
}

/// One history row.
pub async fn history_row(
    conn: &mut PgConnection,
    tenant: Tenant,
    post: PostId,
    from: Option<&str>,
    to: &str,
    actor: Option<AccountId>,
    reason: Option<&str>,
) -> sqlx::Result<()> {
    sqlx::query!(
        "insert into post_history (school_id, id, post_id, from_state, to_state, actor_id, reason)
         values ($1, $2, $3, $4, $5, $6, $7)",
        tenant.id() as SchoolId,
        Uuid::now_v7(),
        post as PostId,
        from,
        to,
        actor as Option<AccountId>,
        reason
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Moves a post to `to` (the caller checked the transition on the locked row) and writes
/// the history row and the audit row.
pub async fn set_state(
    conn: &mut PgConnection,
    by: &By<'_>,
    post: PostId,
    from: State,
    to: State,
    reason: Option<&str>,
) -> sqlx::Result<()> {
    sqlx::query!(
        "update posts set state = $3, reason = coalesce($4, reason), updated_at = now(),
                reminded_at = case when $3 = 'scheduled' then null else reminded_at end,
                overdue_at = case when $3 = 'scheduled' then null else overdue_at end
         where school_id = $1 and id = $2",
        by.school() as SchoolId,
        post as PostId,
        to.as_str(),
        reason
    )
    .execute(&mut *conn)
    .await?;
    history_row(
        conn,
        by.tenant(),
        post,
        Some(from.as_str()),
        to.as_str(),
        Some(by.actor()),
        reason,
    )
    .await?;
    crate::audit::record(
        conn,
        by.meta(),
        crate::audit::Entry {
            actor: Some(by.actor()),
            school: Some(by.school()),
            action: &format!("post.{}", to.as_str()),
            target: Some(format!("post:{post}")),
            details: reason.map(str::to_owned),
        },
    )
    .await
}

/// Keeps the text of a submission (the next round).
pub async fn snapshot(
    conn: &mut PgConnection,
    tenant: Tenant,
    post: PostId,
    title: &str,
    body: &str,
) -> sqlx::Result<()> {
    sqlx::query!(
        "insert into post_submissions (school_id, post_id, round, title, body)
         select $1, $2, coalesce(max(round), 0) + 1, $3, $4 from post_submissions where post_id = $2",
        tenant.id() as SchoolId,
        post as PostId,
        title,
        body
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// A history row as the post's page shows it.
pub struct HistoryRow {
    pub at: String,
    pub from: String,
    pub to: String,
    pub who: String,
    pub reason: Option<String>,
}

pub async fn history(
    conn: &mut PgConnection,
    tenant: Tenant,
    post: PostId,
    tz: &str,
) -> sqlx::Result<Vec<HistoryRow>> {
    let rows = sqlx::query!(
        r#"select h.at, h.from_state, h.to_state, h.reason,
                  a.surname as "surname?", a.given_name as "given_name?", a.patronymic
           from post_history h left join accounts a on a.id = h.actor_id
           where h.school_id = $1 and h.post_id = $2 order by h.at, h.id"#,
        tenant.id() as SchoolId,
        post as PostId
    )
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| HistoryRow {
            at: format::datetime(r.at, tz),
            from: r
                .from_state
                .as_deref()
                .map(super::model::history_title)
                .unwrap_or("—")
                .to_owned(),
            to: super::model::history_title(&r.to_state).to_owned(),
            who: match (r.surname, r.given_name) {
                (Some(s), Some(g)) => format::full_name(&s, &g, r.patronymic.as_deref()),
                _ => "портал".to_owned(),
            },
            reason: r.reason,
        })
        .collect())
}

/// The last two submitted rounds' texts (latest first).
pub async fn last_rounds(
    conn: &mut PgConnection,
    tenant: Tenant,
    post: PostId,
) -> sqlx::Result<Vec<(i32, String)>> {
    let rows = sqlx::query!(
        "select round, body from post_submissions where school_id = $1 and post_id = $2
         order by round desc limit 2",
        tenant.id() as SchoolId,
        post as PostId
    )
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(|r| (r.round, r.body)).collect())
}

/// The administrators' e-mail addresses (for the poller's reminders).
pub async fn admin_emails(conn: &mut PgConnection, tenant: Tenant) -> sqlx::Result<Vec<String>> {
    sqlx::query_scalar!(
        r#"select distinct a.email as "email!" from school_roles r join accounts a on a.id = r.account_id
           where r.school_id = $1 and r.role = 'admin' and a.email is not null order by 1"#,
        tenant.id() as SchoolId
    )
    .fetch_all(conn)
    .await
}

/// Outcomes of the person's posts decided by someone else in the last fortnight, for the
/// start page.
pub struct Outcome {
    pub post: PostId,
    pub title: String,
    pub to: String,
    pub reason: Option<String>,
    pub at: String,
}

pub async fn my_outcomes(
    conn: &mut PgConnection,
    tenant: Tenant,
    me: AccountId,
    tz: &str,
) -> sqlx::Result<Vec<Outcome>> {
    let rows = sqlx::query!(
        r#"select p.id, p.title, h.to_state, h.reason, h.at
           from post_history h join posts p on p.school_id = h.school_id and p.id = h.post_id
           where h.school_id = $1 and p.author_id = $2
             and h.actor_id is distinct from $2 and h.to_state <> 'due' and h.to_state <> 'overdue'
             and h.at > now() - interval '14 days'
           order by h.at desc limit 20"#,
        tenant.id() as SchoolId,
        me as AccountId
    )
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| Outcome {
            post: PostId(r.id),
            title: r.title,
            to: super::model::history_title(&r.to_state).to_owned(),
            reason: r.reason,
            at: format::datetime(r.at, tz),
        })
        .collect())
}
