//! Form keys: every state-changing form is safe to send twice (SECURITY.md 18, ASVS 2.3.3).
//!
//! A form page renders a fresh [`FormKey`] into a hidden `form_key` field (a form struct
//! gets one by `#[serde(default)] form_key: FormKey`; its `Default` makes a new key). The
//! handler, inside the transaction of its change, first asks [`FormKey::seen`]: that takes
//! an advisory lock on the key (a second submit sent at the same moment waits for the first
//! to commit) and answers the address the first successful submit led to. After its change
//! the handler calls [`FormKey::done`] with the address it redirects to, in the same
//! transaction. A form sent again (at once, or after Back) is redirected there and changes
//! nothing; a submit that failed validation records nothing, so its corrected resend runs.
//!
//! A key is the submitter's: keys are stored per account, so one person's key cannot send
//! another person anywhere.

use std::fmt;

use axum::response::{IntoResponse, Redirect, Response};
use serde::{Deserialize, Deserializer};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::ids::AccountId;

/// The hidden key of one rendered form. A missing or malformed key deserialises to a new
/// one, which makes that submit behave as a first one (nothing to deduplicate against).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FormKey(pub Uuid);

impl Default for FormKey {
    fn default() -> Self {
        Self(Uuid::now_v7())
    }
}

impl fmt::Display for FormKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl<'de> Deserialize<'de> for FormKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Self::parse(&String::deserialize(d)?))
    }
}

impl FormKey {
    /// The key a form sent (a multipart form's field, say); a new one when malformed.
    pub fn parse(raw: &str) -> Self {
        raw.trim()
            .parse::<Uuid>()
            .map(Self)
            .unwrap_or_else(|_| Self::default())
    }

    /// This key as the form posting to `action` sends it. A page that renders one key into
    /// several forms (a «remove» button per row, say) keeps their submits apart this way:
    /// each action gets its own derived key, stable across restarts.
    pub fn for_action(&self, action: &str) -> Self {
        use sha2::{Digest, Sha256};
        let digest = Sha256::new()
            .chain_update(self.0.as_bytes())
            .chain_update(action.as_bytes())
            .finalize();
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(&digest[..16]);
        Self(uuid::Builder::from_custom_bytes(bytes).into_uuid())
    }

    /// Serialises the submits of this form (call it first in the change's transaction) and
    /// answers the address a previous successful submit led to.
    pub async fn seen(
        &self,
        conn: &mut PgConnection,
        actor: AccountId,
    ) -> sqlx::Result<Option<String>> {
        sqlx::query!(
            r#"select 1 as "locked!" from pg_advisory_xact_lock(hashtextextended('form:' || $1::text, 0))"#,
            self.0.to_string()
        )
        .fetch_one(&mut *conn)
        .await?;
        sqlx::query_scalar!(
            "select url from form_keys where account_id = $1 and key = $2",
            actor as AccountId,
            self.0
        )
        .fetch_optional(&mut *conn)
        .await
    }

    /// [`Self::seen`] in a transaction of its own, for a handler to ask before it checks the
    /// form: a resend would fail checks the first submit made true (a second file, a state
    /// already changed, a password already new). A submit of this key in flight is waited
    /// for. The change's transaction still asks [`Self::seen`] first.
    pub async fn seen_before(
        &self,
        db: &sqlx::PgPool,
        actor: AccountId,
    ) -> sqlx::Result<Option<String>> {
        let mut tx = db.begin().await?;
        let url = self.seen(&mut tx, actor).await?;
        tx.rollback().await?;
        Ok(url)
    }

    /// Records that this form's submit succeeded and led to `url` (in the change's
    /// transaction), and deletes this person's keys older than a day.
    pub async fn done(
        &self,
        conn: &mut PgConnection,
        actor: AccountId,
        url: &str,
    ) -> sqlx::Result<()> {
        sqlx::query!(
            "delete from form_keys where account_id = $1 and created_at < now() - interval '1 day'",
            actor as AccountId
        )
        .execute(&mut *conn)
        .await?;
        sqlx::query!(
            "insert into form_keys (account_id, key, url) values ($1, $2, $3)
             on conflict (account_id, key) do nothing",
            actor as AccountId,
            self.0,
            url
        )
        .execute(&mut *conn)
        .await?;
        Ok(())
    }
}

/// A form whose only field is its key (a button such as «Удалить» or «Отозвать»).
#[derive(Debug, Default, Deserialize)]
pub struct KeyOnly {
    #[serde(default)]
    pub form_key: FormKey,
}

/// The answer to a form sent again: back to where its first submit led.
pub fn again(url: &str) -> Response {
    Redirect::to(url).into_response()
}
