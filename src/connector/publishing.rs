//! Publishing approved channel posts through the bot (issue 15, item 8; R2.1.m): the
//! channels' [`Publisher`] seam. The poller hands a due post over inside its transaction
//! with the post's row locked (`FOR UPDATE SKIP LOCKED`), so however many portal processes
//! run, one of them posts it, once. A school without a bot, or a channel the bot is not
//! in, gets the manual publisher's reminder, as before; a refusal by the platform is stored
//! on the post with the platform's message and the administrator is reminded.

use sqlx::PgConnection;

use super::client::NewMessage;
use super::config::{self, ConnectorKey};
use crate::channels::publish::{DuePost, Manual, Outcome, Publisher};
use crate::ids::SchoolId;

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
            post.id
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
        let message = NewMessage {
            text: html(&post.title, &post.body),
            format: "html",
            attachments: Vec::new(),
            // A channel refuses notify:false.
            notify: true,
        };
        let sent = match bot.client() {
            Ok(c) => c.send_message(target.platform_chat_id, &message).await,
            Err(e) => Err(e),
        };
        match sent {
            Ok(sent) => {
                sqlx::query!(
                    "update posts set platform_mid = $2, platform_error = null where id = $1",
                    post.id,
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
                    post.id,
                    e.for_people()
                )
                .execute(&mut *conn)
                .await?;
                Manual.due(conn, post, public_url).await
            }
        }
    }
}
