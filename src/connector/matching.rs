//! Recognising a chat (issue 15, item 4). The bot cannot list its chats: it learns one when
//! it is added (`bot_added` gives the id). The portal then reads the chat and its `link`
//! and matches it to its own chat (or channel) by the platform link it stores; a chat it
//! cannot match waits on the bot's page for the administrator to choose. The bot's rights
//! in the chat are read too, so the chat page can say what to grant.

use sqlx::PgConnection;

use super::client::ApiError;
use super::config::Bot;
use super::presence;
use crate::audit::{self, Entry};
use crate::auth::extract::RequestMeta;
use crate::ids::{ChannelId, ChatId, SchoolId};

/// The bot was added to a chat at `ts`.
pub async fn bot_added(
    conn: &mut PgConnection,
    bot: &Bot,
    platform_chat: i64,
    is_channel: bool,
    ts: i64,
) -> Result<(), presence::ReadError> {
    let school = bot.tenant.id();
    let applied = sqlx::query!(
        "insert into connector_chats (school_id, platform_chat_id, is_channel, bot_present, state_ts)
         values ($1, $2, $3, true, $4)
         on conflict (school_id, platform_chat_id) do update
           set is_channel = excluded.is_channel, bot_present = true, state_ts = excluded.state_ts
           where connector_chats.state_ts < excluded.state_ts",
        school as SchoolId,
        platform_chat,
        is_channel,
        ts
    )
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if applied == 0 {
        return Ok(());
    }
    let client = bot.client()?;
    let info = client.chat(platform_chat).await?;
    sqlx::query!(
        "update connector_chats set title = $3, link = $4
         where school_id = $1 and platform_chat_id = $2",
        school as SchoolId,
        platform_chat,
        info.title,
        info.link
    )
    .execute(&mut *conn)
    .await?;
    if let Some(link) = info.link.as_deref() {
        match_by_link(conn, bot, platform_chat, link, is_channel).await?;
    }
    read_rights(conn, bot, platform_chat).await?;
    let matched = sqlx::query_scalar!(
        r#"select chat_id is not null as "x!" from connector_chats
           where school_id = $1 and platform_chat_id = $2"#,
        school as SchoolId,
        platform_chat
    )
    .fetch_one(&mut *conn)
    .await?;
    if matched && !is_channel {
        // Without the right to read members the read fails: the page says what to grant.
        match presence::full_read(conn, bot, platform_chat).await {
            Ok(_) | Err(presence::ReadError::Api(ApiError::Platform { .. })) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// The bot was removed from a chat at `ts`.
pub async fn bot_removed(
    conn: &mut PgConnection,
    bot: &Bot,
    platform_chat: i64,
    ts: i64,
) -> sqlx::Result<()> {
    sqlx::query!(
        "insert into connector_chats (school_id, platform_chat_id, bot_present, state_ts)
         values ($1, $2, false, $3)
         on conflict (school_id, platform_chat_id) do update
           set bot_present = false, state_ts = excluded.state_ts
           where connector_chats.state_ts < excluded.state_ts",
        bot.tenant.id() as SchoolId,
        platform_chat,
        ts
    )
    .execute(conn)
    .await?;
    Ok(())
}

fn normalise(link: &str) -> String {
    link.trim().trim_end_matches('/').to_owned()
}

/// Matches the platform chat to the school's live chat (or channel) with this link, unless
/// it is matched already.
async fn match_by_link(
    conn: &mut PgConnection,
    bot: &Bot,
    platform_chat: i64,
    link: &str,
    is_channel: bool,
) -> sqlx::Result<()> {
    let school = bot.tenant.id();
    let link = normalise(link);
    let (chat, channel): (Option<ChatId>, Option<ChannelId>) = if is_channel {
        let id = sqlx::query_scalar!(
            r#"select id as "id: ChannelId" from channels
             where school_id = $1 and archived_at is null and rtrim(trim(address), '/') = $2
               and not exists(select 1 from connector_chats c where c.school_id = $1
                              and c.channel_id = channels.id)
             order by created_at limit 1"#,
            school as SchoolId,
            link
        )
        .fetch_optional(&mut *conn)
        .await?;
        (None, id)
    } else {
        let id = sqlx::query_scalar!(
            r#"select id as "id: ChatId" from chats
             where school_id = $1 and archived_at is null and rtrim(trim(platform_url), '/') = $2
               and not exists(select 1 from connector_chats c where c.school_id = $1
                              and c.chat_id = chats.id)
             order by created_at limit 1"#,
            school as SchoolId,
            link
        )
        .fetch_optional(&mut *conn)
        .await?;
        (id, None)
    };
    if chat.is_none() && channel.is_none() {
        return Ok(());
    }
    sqlx::query!(
        "update connector_chats set chat_id = coalesce(chat_id, $3), channel_id = coalesce(channel_id, $4)
         where school_id = $1 and platform_chat_id = $2 and chat_id is null and channel_id is null",
        school as SchoolId,
        platform_chat,
        chat as Option<ChatId>,
        channel as Option<ChannelId>
    )
    .execute(&mut *conn)
    .await?;
    audit::record(
        conn,
        &job_meta(),
        Entry {
            actor: None,
            school: Some(school),
            action: "connector.chat_matched",
            target: Some(match (chat, channel) {
                (Some(c), _) => format!("chat:{c}"),
                (_, Some(c)) => format!("channel:{c}"),
                _ => String::new(),
            }),
            details: Some(format!("чат мессенджера {platform_chat}, по ссылке")),
        },
    )
    .await
}

/// Reads the bot's own rights in the chat.
pub async fn read_rights(
    conn: &mut PgConnection,
    bot: &Bot,
    platform_chat: i64,
) -> Result<(), presence::ReadError> {
    let me = match bot.client()?.my_membership(platform_chat).await {
        Ok(me) => me,
        // Not an admin, say: recorded as no rights.
        Err(ApiError::Platform { status: 403, .. }) => {
            set_rights(conn, bot, platform_chat, false, &[]).await?;
            return Ok(());
        }
        Err(e) => return Err(e.into()),
    };
    let permissions = me.permissions.unwrap_or_default();
    set_rights(
        conn,
        bot,
        platform_chat,
        me.is_admin || me.is_owner,
        &permissions,
    )
    .await?;
    Ok(())
}

pub async fn set_rights(
    conn: &mut PgConnection,
    bot: &Bot,
    platform_chat: i64,
    is_admin: bool,
    permissions: &[String],
) -> sqlx::Result<()> {
    sqlx::query!(
        "update connector_chats set bot_is_admin = $3, permissions = $4
         where school_id = $1 and platform_chat_id = $2",
        bot.tenant.id() as SchoolId,
        platform_chat,
        is_admin,
        permissions
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Where the portal's own work is recorded from in the audit log (no request).
pub fn job_meta() -> RequestMeta {
    RequestMeta {
        request_id: None,
        ip: None,
        user_agent: None,
    }
}
