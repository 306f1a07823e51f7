//! Publishing approved channel posts through the bot (issue 15, item 8; R2.1.m): the
//! channels' [`Publisher`] seam. The poller hands a due post over inside its transaction
//! with the post's row locked (`FOR UPDATE SKIP LOCKED`), so however many portal processes
//! run, one of them posts it, once. A school without a bot, or a channel the bot is not
//! in, gets the manual publisher's reminder, as before; a refusal by the platform is stored
//! on the post with the platform's message and the administrator is reminded.

use sqlx::PgConnection;

use super::client::{ApiError, MaxClient, NewMessage};
use super::config::{self, ConnectorKey};
use crate::auth::tenant::Tenant;
use crate::channels::publish::{DuePost, Manual, Outcome, Publisher};
use crate::ids::{PostId, SchoolId};

/// The publisher the portal runs: the bot where there is one, else [`Manual`].
#[derive(Debug, Clone, Default)]
pub struct BotPublisher {
    key: Option<ConnectorKey>,
}

impl BotPublisher {
    pub fn new(key: Option<ConnectorKey>) -> Self {
        Self { key }
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The post as the platform's HTML: the title in bold, then the text.
pub fn html(title: &str, body: &str) -> String {
    format!("<b>{}</b>\n\n{}", escape(title), escape(body))
}

/// The platform's upload type for a stored attachment.
fn upload_kind(content_type: &str) -> &'static str {
    if content_type.starts_with("image/") {
        "image"
    } else {
        "file"
    }
}

/// Uploads the post's attachments (in their order) and sends the message with them; the
/// client repeats the message while the platform says an attachment is not ready.
async fn send(
    conn: &mut PgConnection,
    client: &MaxClient,
    post: &DuePost,
    platform_chat: i64,
) -> anyhow::Result<Result<super::client::Sent, ApiError>> {
    let files = sqlx::query!(
        "select filename, content_type, content from post_attachments
         where school_id = $1 and post_id = $2 order by created_at, id",
        post.tenant.id() as SchoolId,
        post.id as PostId
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut attachments = Vec::with_capacity(files.len());
    for f in files {
        match client
            .upload(upload_kind(&f.content_type), &f.filename, f.content)
            .await
        {
            Ok(a) => attachments.push(a),
            Err(e) => return Ok(Err(e)),
        }
    }
    let message = NewMessage {
        text: html(&post.title, &post.body),
        format: "html",
        attachments,
        // A channel refuses notify:false.
        notify: true,
    };
    Ok(client.send_message(platform_chat, &message).await)
}

impl Publisher for BotPublisher {
    async fn due(
        &self,
        conn: &mut PgConnection,
        post: &DuePost,
        public_url: &str,
    ) -> anyhow::Result<Outcome> {
        let target = sqlx::query!(
            "select c.platform_chat_id, c.link from posts p
             join connector_chats c on c.school_id = p.school_id and c.channel_id = p.channel_id
             where p.school_id = $1 and p.id = $2 and c.bot_present",
            post.tenant.id() as SchoolId,
            post.id as PostId
        )
        .fetch_optional(&mut *conn)
        .await?;
        let Some(target) = target else {
            return Manual.due(conn, post, public_url).await;
        };
        let bot = match config::load(conn, post.tenant, self.key.as_ref()).await {
            Ok(Some(bot)) => bot,
            Ok(None) => return Manual.due(conn, post, public_url).await,
            Err(e) => {
                tracing::warn!(error = format!("{e:#}"), "bot not usable: manual reminder");
                return Manual.due(conn, post, public_url).await;
            }
        };
        let sent = match bot.client() {
            Ok(c) => send(conn, &c, post, target.platform_chat_id).await?,
            Err(e) => Err(e),
        };
        match sent {
            Ok(sent) => {
                sqlx::query!(
                    "update posts set platform_mid = $2, platform_error = null where id = $1",
                    post.id as PostId,
                    sent.mid
                )
                .execute(&mut *conn)
                .await?;
                Ok(Outcome::Published {
                    url: sent.url.or(target.link).unwrap_or_default(),
                })
            }
            Err(e) => {
                sqlx::query!(
                    "update posts set platform_error = $2 where id = $1",
                    post.id as PostId,
                    e.for_people()
                )
                .execute(&mut *conn)
                .await?;
                Manual.due(conn, post, public_url).await
            }
        }
    }
}

/// What the platform said to a change of a post the bot published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Not published by the bot: nothing to change on the platform.
    NotThrough,
    /// Changed on the platform.
    Done,
    /// Refused, with the platform's message for the administrator.
    Refused(String),
}

/// The post's message on the platform, and the school's bot to change it with.
async fn published(
    conn: &mut PgConnection,
    key: Option<&ConnectorKey>,
    tenant: Tenant,
    post: PostId,
) -> anyhow::Result<Option<(String, Result<MaxClient, String>)>> {
    let mid = sqlx::query_scalar!(
        "select platform_mid from posts where school_id = $1 and id = $2",
        tenant.id() as SchoolId,
        post as PostId
    )
    .fetch_optional(&mut *conn)
    .await?
    .flatten();
    let Some(mid) = mid else { return Ok(None) };
    let client = match config::load(conn, tenant, key).await {
        Ok(Some(bot)) => bot.client().map_err(|e| e.for_people()),
        Ok(None) => Err("Бот школы не настроен: проверьте его в профиле школы.".to_owned()),
        Err(e) => {
            tracing::warn!(error = format!("{e:#}"), "bot not usable");
            Err("Токен бота не расшифровывается: настройте бота заново.".to_owned())
        }
    };
    Ok(Some((mid, client)))
}

async fn note(
    conn: &mut PgConnection,
    tenant: Tenant,
    post: PostId,
    error: Option<&str>,
) -> sqlx::Result<()> {
    sqlx::query!(
        "update posts set platform_error = $3 where school_id = $1 and id = $2",
        tenant.id() as SchoolId,
        post as PostId,
        error
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// An edit of a published post, sent to the platform (`PUT /messages`): the text as
/// the platform's HTML; its attachments stay as they are. A refusal is kept on the post.
pub async fn edit_published(
    conn: &mut PgConnection,
    key: Option<&ConnectorKey>,
    tenant: Tenant,
    post: PostId,
    title: &str,
    body: &str,
) -> anyhow::Result<Change> {
    let Some((mid, client)) = published(conn, key, tenant, post).await? else {
        return Ok(Change::NotThrough);
    };
    let message = NewMessage {
        text: html(title, body),
        format: "html",
        attachments: Vec::new(),
        notify: true,
    };
    let result = match client {
        Ok(c) => c
            .edit_message(&mid, &message)
            .await
            .map_err(|e| e.for_people()),
        Err(e) => Err(e),
    };
    Ok(match result {
        Ok(()) => {
            note(conn, tenant, post, None).await?;
            Change::Done
        }
        Err(e) => Change::Refused(e),
    })
}

/// A withdrawal, sent to the platform (`DELETE /messages`). The portal's withdrawal stands
/// either way; a refusal is kept on the post for the administrator to remove it by hand.
pub async fn withdraw_published(
    conn: &mut PgConnection,
    key: Option<&ConnectorKey>,
    tenant: Tenant,
    post: PostId,
) -> anyhow::Result<Change> {
    let Some((mid, client)) = published(conn, key, tenant, post).await? else {
        return Ok(Change::NotThrough);
    };
    let result = match client {
        Ok(c) => c.delete_message(&mid).await.map_err(|e| e.for_people()),
        Err(e) => Err(e),
    };
    Ok(match result {
        Ok(()) => {
            note(conn, tenant, post, None).await?;
            Change::Done
        }
        Err(e) => {
            note(conn, tenant, post, Some(&e)).await?;
            Change::Refused(e)
        }
    })
}

/// Keeps the platform's refusal of an edit on the post (after the edit was rolled back).
pub async fn refused_edit(
    conn: &mut PgConnection,
    tenant: Tenant,
    post: PostId,
    message: &str,
) -> sqlx::Result<()> {
    note(conn, tenant, post, Some(message)).await
}
