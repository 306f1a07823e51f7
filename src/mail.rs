//! Outgoing e-mail through a real SMTP server (R2.1.f: invite links sent by e-mail; R2.1.i:
//! the outcome of a join request). Messages go into the `outbox` table inside the same
//! transaction as the change they tell about; a background sender delivers due messages,
//! taking them with `FOR UPDATE SKIP LOCKED` (any number of processes may run it) and
//! retrying with back-off. A delivered or abandoned message's body is wiped, because an
//! invite's e-mail carries its raw link (SECURITY.md 20). A message may carry files
//! ([`attach`], the registration application's order, R2.1.a): sent as a
//! `multipart/mixed` message and deleted with the body.

use std::time::Duration;

use anyhow::Context;
use lettre::message::header::ContentType;
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use sqlx::{PgConnection, PgPool};

use crate::auth::tenant::Tenant;
use crate::config::SmtpConfig;
use crate::ids::{MessageId, SchoolId};

/// After this many failed attempts a message is abandoned (and its body wiped).
pub const MAX_ATTEMPTS: i32 = 10;
/// Messages one pass sends at most.
const BATCH: usize = 50;

/// Queues a message; it is sent after the surrounding transaction commits. Returns its id
/// (to follow its state, or to attach files with [`attach`]).
pub async fn enqueue(
    conn: &mut PgConnection,
    school: Option<Tenant>,
    to: &str,
    subject: &str,
    body: &str,
) -> sqlx::Result<MessageId> {
    let school = school.map(Tenant::id);
    let id = MessageId::new();
    sqlx::query!(
        r#"insert into outbox (id, school_id, to_address, subject, body) values ($1, $2, $3, $4, $5)"#,
        id as MessageId,
        school as Option<SchoolId>,
        to,
        subject,
        body
    )
    .execute(conn)
    .await?;
    Ok(id)
}

/// What became of a queued message, as the pages say it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    Queued,
    Sent,
    /// The last attempt failed; the sender tries again later.
    Retrying,
    /// Every attempt failed; the message was given up.
    Failed,
}

impl Delivery {
    pub fn of(sent: bool, attempts: i32, failed_before: bool) -> Delivery {
        if sent {
            Delivery::Sent
        } else if attempts >= MAX_ATTEMPTS {
            Delivery::Failed
        } else if failed_before {
            Delivery::Retrying
        } else {
            Delivery::Queued
        }
    }
    pub fn title(self) -> &'static str {
        match self {
            Delivery::Queued => "в очереди на отправку",
            Delivery::Sent => "отправлено",
            Delivery::Retrying => "ошибка отправки, портал повторит попытку",
            Delivery::Failed => "ошибка отправки: все попытки исчерпаны",
        }
    }
}

/// Attaches a file to a queued message (in the same transaction as [`enqueue`]).
pub async fn attach(
    conn: &mut PgConnection,
    message: MessageId,
    filename: &str,
    content_type: &str,
    content: &[u8],
) -> sqlx::Result<()> {
    sqlx::query!(
        r#"insert into outbox_attachments (outbox_id, position, filename, content_type, content)
           values ($1, (select count(*)::int from outbox_attachments where outbox_id = $1), $2, $3, $4)"#,
        message as MessageId,
        filename,
        content_type,
        content
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// A file sent with a message.
struct File {
    filename: String,
    content_type: String,
    content: Vec<u8>,
}

fn transport(cfg: &SmtpConfig, host: &str) -> anyhow::Result<AsyncSmtpTransport<Tokio1Executor>> {
    let builder = if cfg.smtp_starttls {
        AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(host)
            .context("SMTP STARTTLS settings")?
    } else {
        AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
    };
    let mut builder = builder
        .port(cfg.smtp_port)
        .timeout(Some(Duration::from_secs(20)));
    if let (Some(user), Some(password)) = (&cfg.smtp_user, &cfg.smtp_password) {
        builder = builder.credentials(Credentials::new(user.clone(), password.clone()));
    }
    Ok(builder.build())
}

fn message(
    cfg: &SmtpConfig,
    to: &str,
    subject: &str,
    body: &str,
    files: Vec<File>,
) -> anyhow::Result<Message> {
    let from: Mailbox = cfg.smtp_from.parse().context("PORTAL_SMTP_FROM")?;
    let to: Mailbox = to.parse().context("recipient address")?;
    // lettre picks 7bit, quoted-printable or base64: safe for every server.
    let part = SinglePart::builder()
        .header(ContentType::TEXT_PLAIN)
        .body(body.to_owned());
    let builder = Message::builder().from(from).to(to).subject(subject);
    if files.is_empty() {
        return Ok(builder.singlepart(part)?);
    }
    let mut mixed = MultiPart::mixed().singlepart(part);
    for f in files {
        let kind = ContentType::parse(&f.content_type).context("attachment content type")?;
        mixed = mixed.singlepart(Attachment::new(f.filename).body(f.content, kind));
    }
    Ok(builder.multipart(mixed)?)
}

/// Seconds to wait before the next attempt after `attempts` failures: 30 s doubling, at
/// most six hours.
fn backoff_secs(attempts: i32) -> f64 {
    let exp = u32::try_from(attempts.clamp(0, 12)).unwrap_or(0);
    (30.0 * f64::from(2u32.pow(exp))).min(6.0 * 3600.0)
}

/// One sending pass: delivers the messages that are due; returns how many were sent.
/// Without an SMTP host nothing is sent and messages wait.
pub async fn send_due(pool: &PgPool, cfg: &SmtpConfig) -> anyhow::Result<usize> {
    let Some(host) = cfg.smtp_host.as_deref() else {
        return Ok(0);
    };
    let mailer = transport(cfg, host)?;
    let mut sent = 0;
    for _ in 0..BATCH {
        let mut tx = pool.begin().await?;
        let row = sqlx::query!(
            r#"select id, to_address, subject, body, attempts from outbox
               where sent_at is null and attempts < $1 and next_attempt_at <= now()
               order by next_attempt_at, id limit 1
               for update skip locked"#,
            MAX_ATTEMPTS
        )
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else { break };
        let files = sqlx::query_as!(
            File,
            "select filename, content_type, content from outbox_attachments where outbox_id = $1 order by position",
            row.id
        )
        .fetch_all(&mut *tx)
        .await?;
        let result = match message(cfg, &row.to_address, &row.subject, &row.body, files) {
            Ok(msg) => mailer
                .send(msg)
                .await
                .map(drop)
                .map_err(anyhow::Error::from),
            Err(e) => Err(e),
        };
        match result {
            Ok(()) => {
                sqlx::query!(
                    r#"update outbox set sent_at = now(), body = '', attempts = attempts + 1,
                              last_error = null where id = $1"#,
                    row.id
                )
                .execute(&mut *tx)
                .await?;
                sqlx::query!(
                    "delete from outbox_attachments where outbox_id = $1",
                    row.id
                )
                .execute(&mut *tx)
                .await?;
                sent += 1;
            }
            Err(e) => {
                let error: String = format!("{e:#}").chars().take(500).collect();
                tracing::warn!(error, attempts = row.attempts + 1, "e-mail not sent");
                sqlx::query!(
                    r#"update outbox set attempts = attempts + 1, last_error = $2,
                              next_attempt_at = now() + make_interval(secs => $3),
                              body = case when attempts + 1 >= $4 then '' else body end
                       where id = $1"#,
                    row.id,
                    error,
                    backoff_secs(row.attempts),
                    MAX_ATTEMPTS
                )
                .execute(&mut *tx)
                .await?;
                if row.attempts + 1 >= MAX_ATTEMPTS {
                    sqlx::query!(
                        "delete from outbox_attachments where outbox_id = $1",
                        row.id
                    )
                    .execute(&mut *tx)
                    .await?;
                }
            }
        }
        tx.commit().await?;
    }
    Ok(sent)
}

/// The background sender: a pass every `mail_interval_secs`, for as long as the task lives.
pub fn spawn_sender(pool: PgPool, cfg: SmtpConfig) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        if cfg.smtp_host.is_none() {
            tracing::info!("PORTAL_SMTP_HOST is not set: e-mail waits in the outbox");
        }
        let pause = Duration::from_secs(cfg.mail_interval_secs.max(1));
        loop {
            match send_due(&pool, &cfg).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(sent = n, "e-mail sent"),
                Err(e) => tracing::warn!(error = format!("{e:#}"), "e-mail pass failed"),
            }
            tokio::time::sleep(pause).await;
        }
    })
}

#[cfg(test)]
mod tests {
    use super::backoff_secs;

    #[test]
    fn back_off_doubles_and_is_capped() {
        assert_eq!(backoff_secs(0), 30.0);
        assert_eq!(backoff_secs(1), 60.0);
        assert_eq!(backoff_secs(12), 6.0 * 3600.0);
    }
}
