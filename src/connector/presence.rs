//! Who is really in a chat (R2.1.l, R2.4.d): the platform's members, kept from the member
//! events and from full paged reads, each row the last known state of one person in one
//! chat. Every write carries the time it speaks of (an event's `timestamp`, a read's start)
//! and changes a row only if newer than what set it, so a duplicate or a late event changes
//! nothing. The chat page compares them with the roster: present and expected, present but
//! not expected (an outsider, «вошёл по ссылке» when they came by the link), expected but
//! absent.

use sqlx::PgConnection;

use super::client::ApiError;
use super::config::Bot;
use crate::auth::permissions::Role;
use crate::auth::tenant::Tenant;
use crate::ids::{ChatId, SchoolId};
use crate::web::format;

/// Milliseconds since the epoch, now.
pub fn now_ms() -> i64 {
    i64::try_from(time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000)
        .unwrap_or(i64::MAX)
}

/// Makes sure the platform chat has a row (an event may name a chat before its bot_added).
pub async fn ensure_chat(
    conn: &mut PgConnection,
    tenant: Tenant,
    platform_chat: i64,
) -> sqlx::Result<()> {
    sqlx::query!(
        "insert into connector_chats (school_id, platform_chat_id) values ($1, $2)
         on conflict do nothing",
        tenant.id() as SchoolId,
        platform_chat
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// What one member event says: present or not as of `ts`; `by_link` when they came by
/// the link.
#[derive(Debug, Clone, Copy)]
pub struct MemberEvent<'a> {
    pub user_id: i64,
    pub name: &'a str,
    pub present: bool,
    pub by_link: bool,
    pub ts: i64,
}

/// One member event. False when an event at least as new was applied already.
pub async fn apply_member(
    conn: &mut PgConnection,
    tenant: Tenant,
    platform_chat: i64,
    event: MemberEvent<'_>,
) -> sqlx::Result<bool> {
    let MemberEvent {
        user_id,
        name,
        present,
        by_link,
        ts,
    } = event;
    ensure_chat(conn, tenant, platform_chat).await?;
    let changed = sqlx::query!(
        "insert into connector_members (school_id, platform_chat_id, user_id, name, present,
                                        by_link, event_ts)
         values ($1, $2, $3, $4, $5, $6, $7)
         on conflict (school_id, platform_chat_id, user_id) do update
           set name = case when excluded.name <> '' then excluded.name
                           else connector_members.name end,
               present = excluded.present,
               by_link = case when excluded.present then excluded.by_link
                              else connector_members.by_link end,
               event_ts = excluded.event_ts
           where connector_members.event_ts < excluded.event_ts",
        tenant.id() as SchoolId,
        platform_chat,
        user_id,
        name,
        present,
        by_link,
        ts
    )
    .execute(conn)
    .await?
    .rows_affected();
    Ok(changed == 1)
}

/// A full paged read of the chat's members: who is listed is present, who is not is gone,
/// as of the read's start (events newer than that keep their word).
pub async fn full_read(
    conn: &mut PgConnection,
    bot: &Bot,
    platform_chat: i64,
) -> Result<usize, ReadError> {
    let ts = now_ms();
    let members = bot.client()?.all_members(platform_chat).await?;
    let tenant = bot.tenant;
    ensure_chat(conn, tenant, platform_chat).await?;
    let mut ids = Vec::with_capacity(members.len());
    for m in &members {
        ids.push(m.user_id);
        sqlx::query!(
            "insert into connector_members (school_id, platform_chat_id, user_id, name, present,
                                            is_admin, is_owner, event_ts)
             values ($1, $2, $3, $4, true, $5, $6, $7)
             on conflict (school_id, platform_chat_id, user_id) do update
               set name = excluded.name, present = true, is_admin = excluded.is_admin,
                   is_owner = excluded.is_owner, event_ts = excluded.event_ts
               where connector_members.event_ts < excluded.event_ts",
            tenant.id() as SchoolId,
            platform_chat,
            m.user_id,
            m.name,
            m.is_admin,
            m.is_owner,
            ts
        )
        .execute(&mut *conn)
        .await?;
    }
    sqlx::query!(
        "update connector_members set present = false, event_ts = $3
         where school_id = $1 and platform_chat_id = $2 and present
           and not (user_id = any($4)) and event_ts < $3",
        tenant.id() as SchoolId,
        platform_chat,
        ts,
        &ids[..]
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query!(
        "update connector_chats set members_read_at = now()
         where school_id = $1 and platform_chat_id = $2",
        tenant.id() as SchoolId,
        platform_chat
    )
    .execute(&mut *conn)
    .await?;
    Ok(members.len())
}

/// A read failed: the platform's answer, or the database.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

/// Someone the platform lists in the chat.
pub struct PresentRow {
    pub user_id: i64,
    /// Their name on the platform.
    pub name: String,
    /// Who they are in the school, when their account is bound.
    pub person: Option<String>,
    pub by_link: bool,
    /// A removal was sent and its confirmation has not come yet.
    pub pending: bool,
    /// An owner or admin of the platform chat (the bot cannot remove them).
    pub platform_admin: bool,
    /// The platform's message when the last removal failed.
    pub failed: Option<String>,
}

/// Someone the roster expects whom the platform does not list.
pub struct AbsentRow {
    pub name: String,
    pub role: &'static str,
    /// Whether their platform account is bound (if not, the portal cannot recognise them).
    pub bound: bool,
}

/// What the chat page shows of the platform, when the bot is in the chat.
pub struct PlatformView {
    pub platform_chat_id: i64,
    pub title: Option<String>,
    pub bot_present: bool,
    /// What to grant the bot, in words.
    pub missing_rights: Vec<&'static str>,
    pub read_at: Option<String>,
    pub present_expected: Vec<PresentRow>,
    pub present_unexpected: Vec<PresentRow>,
    pub absent: Vec<AbsentRow>,
}

/// The rights the bot needs in a chat, in the platform's words and the page's.
const NEEDED: &[(&str, &str)] = &[
    (
        "read_all_messages",
        "«Читать все сообщения» (без него бот не узнаёт, кто вошёл и вышел)",
    ),
    (
        "add_remove_members",
        "«Добавлять и удалять участников» (чтобы удалять выбывших)",
    ),
];

/// The platform side of a portal chat, or None when no bot is in it (the page then
/// shows nothing of the connector).
pub async fn for_chat(
    conn: &mut PgConnection,
    tenant: Tenant,
    chat: ChatId,
    timezone: &str,
) -> sqlx::Result<Option<PlatformView>> {
    let school = tenant.id();
    let Some(head) = sqlx::query!(
        r#"select c.platform_chat_id, c.title, c.bot_present, c.bot_is_admin, c.permissions,
                  c.members_read_at, b.bot_user_id
           from connector_chats c
           join connector_bots b on b.school_id = c.school_id
           where c.school_id = $1 and c.chat_id = $2"#,
        school as SchoolId,
        chat as ChatId
    )
    .fetch_optional(&mut *conn)
    .await?
    else {
        return Ok(None);
    };
    let mut missing_rights = Vec::new();
    if head.bot_is_admin == Some(false) {
        missing_rights.push("назначьте бота администратором чата");
    }
    for (code, words) in NEEDED {
        if head.bot_is_admin.is_some() && !head.permissions.iter().any(|p| p == code) {
            missing_rights.push(*words);
        }
    }
    let rows = sqlx::query!(
        r#"select cm.user_id, cm.name, cm.by_link, cm.is_admin, cm.is_owner,
                  a.surname as "surname?", a.given_name as "given_name?",
                  a.patronymic as "patronymic?", m.role as "role?",
                  (ca.membership_id is not null and (
                     exists(select 1 from chat_expected_members e where e.school_id = cm.school_id
                            and e.chat_id = $3 and e.member_id = ca.membership_id)
                     or exists(select 1 from chat_members k where k.school_id = cm.school_id
                               and k.chat_id = $3 and k.member_id = ca.membership_id)))
                    as "expected!",
                  exists(select 1 from connector_removals r where r.school_id = cm.school_id
                         and r.platform_chat_id = cm.platform_chat_id and r.user_id = cm.user_id
                         and r.state = 'sent') as "pending!",
                  (select r.error from connector_removals r where r.school_id = cm.school_id
                   and r.platform_chat_id = cm.platform_chat_id and r.user_id = cm.user_id
                   and r.state = 'failed' order by r.requested_at desc limit 1) as "failed?"
           from connector_members cm
           left join connector_accounts ca on ca.school_id = cm.school_id and ca.user_id = cm.user_id
           left join memberships m on m.school_id = ca.school_id and m.id = ca.membership_id
           left join accounts a on a.id = m.account_id
           where cm.school_id = $1 and cm.platform_chat_id = $2 and cm.present
             and cm.user_id <> coalesce($4::bigint, 0)
           order by cm.name collate "ru-RU-x-icu", cm.user_id"#,
        school as SchoolId,
        head.platform_chat_id,
        chat as ChatId,
        head.bot_user_id
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut present_expected = Vec::new();
    let mut present_unexpected = Vec::new();
    for r in rows {
        let person = match (&r.surname, &r.given_name) {
            (Some(s), Some(g)) => Some(format!(
                "{} ({})",
                format::full_name(s, g, r.patronymic.as_deref()),
                Role::membership_title(r.role.as_deref().unwrap_or(""))
            )),
            _ => None,
        };
        let row = PresentRow {
            user_id: r.user_id,
            name: r.name,
            person,
            by_link: r.by_link,
            pending: r.pending,
            platform_admin: r.is_admin || r.is_owner,
            failed: r.failed,
        };
        if r.expected {
            present_expected.push(row);
        } else {
            present_unexpected.push(row);
        }
    }
    let absent = sqlx::query!(
        r#"select m.role, a.surname, a.given_name, a.patronymic,
                  ca.user_id as "bound_user?"
           from (select e.member_id from chat_expected_members e
                 where e.school_id = $1 and e.chat_id = $2
                 union
                 select k.member_id from chat_members k
                 where k.school_id = $1 and k.chat_id = $2) x
           join memberships m on m.school_id = $1 and m.id = x.member_id
           join accounts a on a.id = m.account_id
           left join connector_accounts ca on ca.school_id = m.school_id and ca.membership_id = m.id
           where not exists(select 1 from connector_members cm
                            where cm.school_id = $1 and cm.platform_chat_id = $3 and cm.present
                              and cm.user_id = ca.user_id)
           order by a.surname collate "ru-RU-x-icu", a.given_name collate "ru-RU-x-icu""#,
        school as SchoolId,
        chat as ChatId,
        head.platform_chat_id
    )
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .map(|r| AbsentRow {
        name: format::full_name(&r.surname, &r.given_name, r.patronymic.as_deref()),
        role: Role::membership_title(&r.role),
        bound: r.bound_user.is_some(),
    })
    .collect();
    Ok(Some(PlatformView {
        platform_chat_id: head.platform_chat_id,
        title: head.title,
        bot_present: head.bot_present,
        missing_rights,
        read_at: head.members_read_at.map(|t| format::datetime(t, timezone)),
        present_expected,
        present_unexpected,
        absent,
    }))
}
