//! A school's bot: its settings, and its token encrypted at rest. The token is typed once
//! into the settings form, encrypted with the deployment's key (ChaCha20-Poly1305, the
//! school's id as associated data, so a row copied to another school does not decrypt)
//! and never shown, logged or audited again: [`Token`] prints as «скрыт».

use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use sqlx::PgConnection;

use super::client::{ApiError, MaxClient};
use crate::auth::tenant::Tenant;
use crate::config::ConnectorConfig;
use crate::ids::SchoolId;

/// The deployment's key for the bot tokens (`PORTAL_CONNECTOR_KEY`).
#[derive(Clone)]
pub struct ConnectorKey([u8; 32]);

impl std::fmt::Debug for ConnectorKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ConnectorKey(«скрыт»)")
    }
}

impl ConnectorKey {
    /// The key from the configuration: None when unset or not 32 bytes of base64.
    pub fn from_config(config: &ConnectorConfig) -> Option<Self> {
        let raw = config.connector_key.as_deref()?.trim();
        let bytes = base64::engine::general_purpose::STANDARD.decode(raw).ok()?;
        let key: [u8; 32] = bytes.try_into().ok()?;
        Some(Self(key))
    }

    fn cipher(&self) -> ChaCha20Poly1305 {
        ChaCha20Poly1305::new(Key::from_slice(&self.0))
    }

    /// Encrypts a token for `school`: (nonce, ciphertext).
    pub fn seal(&self, tenant: Tenant, token: &Token) -> anyhow::Result<(Vec<u8>, Vec<u8>)> {
        let nonce: [u8; 12] = rand::random();
        let cipher = self
            .cipher()
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: token.0.as_bytes(),
                    aad: tenant.id().to_string().as_bytes(),
                },
            )
            .map_err(|_| anyhow::anyhow!("cannot encrypt the bot token"))?;
        Ok((nonce.to_vec(), cipher))
    }

    /// Decrypts a stored token of `school`.
    pub fn open(&self, tenant: Tenant, nonce: &[u8], cipher: &[u8]) -> anyhow::Result<Token> {
        if nonce.len() != 12 {
            anyhow::bail!("bad nonce length");
        }
        let plain = self
            .cipher()
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: cipher,
                    aad: tenant.id().to_string().as_bytes(),
                },
            )
            .map_err(|_| anyhow::anyhow!("the bot token does not decrypt with this key"))?;
        Ok(Token(String::from_utf8(plain)?))
    }
}

/// A bot's token. Never printed: `Debug` and `Display` say «скрыт».
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl Token {
    pub fn new(raw: &str) -> Self {
        Self(raw.trim().to_owned())
    }
    /// The header value, for the client only.
    pub(super) fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(«скрыт»)")
    }
}

impl std::fmt::Display for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("«скрыт»")
    }
}

/// A school's configured bot, token decrypted.
#[derive(Debug, Clone)]
pub struct Bot {
    pub tenant: Tenant,
    pub api_base: String,
    pub root_cert: Option<String>,
    pub webhook_secret: String,
    pub hook_id: String,
    pub bot_user_id: Option<i64>,
    pub bot_name: Option<String>,
    pub bot_username: Option<String>,
    pub token: Token,
}

impl Bot {
    /// A client for this bot.
    pub fn client(&self) -> Result<MaxClient, ApiError> {
        MaxClient::new(
            &self.api_base,
            self.token.clone(),
            self.root_cert.as_deref(),
        )
    }

    /// The address the platform posts this school's updates to.
    pub fn webhook_url(&self, public_url: &str) -> String {
        webhook_url(public_url, &self.hook_id)
    }
}

pub fn webhook_url(public_url: &str, hook_id: &str) -> String {
    format!("{}/hooks/max/{hook_id}", public_url.trim_end_matches('/'))
}

/// The school's bot, if one is configured and its token opens with `key`.
pub async fn load(
    conn: &mut PgConnection,
    tenant: Tenant,
    key: Option<&ConnectorKey>,
) -> anyhow::Result<Option<Bot>> {
    let Some(key) = key else { return Ok(None) };
    let row = sqlx::query!(
        "select token_nonce, token_cipher, api_base, root_cert, webhook_secret, hook_id,
                bot_user_id, bot_name, bot_username
         from connector_bots where school_id = $1",
        tenant.id() as SchoolId
    )
    .fetch_optional(conn)
    .await?;
    let Some(r) = row else { return Ok(None) };
    let token = key.open(tenant, &r.token_nonce, &r.token_cipher)?;
    Ok(Some(Bot {
        tenant,
        api_base: r.api_base,
        root_cert: r.root_cert,
        webhook_secret: r.webhook_secret,
        hook_id: r.hook_id,
        bot_user_id: r.bot_user_id,
        bot_name: r.bot_name,
        bot_username: r.bot_username,
        token,
    }))
}

/// Whether the school has a bot at all (no key needed: for the pages).
pub async fn configured(conn: &mut PgConnection, tenant: Tenant) -> sqlx::Result<bool> {
    sqlx::query_scalar!(
        r#"select exists(select 1 from connector_bots where school_id = $1) as "x!""#,
        tenant.id() as SchoolId
    )
    .fetch_one(conn)
    .await
}

/// A random string of `len` letters and digits (hook ids, webhook secrets, payloads).
pub fn random_token(len: usize) -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    (0..len)
        .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_token_opens_only_for_its_school_and_never_prints() {
        let key = ConnectorKey([7; 32]);
        let a = Tenant::for_tests(SchoolId::new());
        let b = Tenant::for_tests(SchoolId::new());
        let token = Token::new("secret-token-123");
        let (nonce, cipher) = key.seal(a, &token).unwrap();
        assert_eq!(key.open(a, &nonce, &cipher).unwrap(), token);
        assert!(key.open(b, &nonce, &cipher).is_err());
        assert!(!format!("{token:?} {token}").contains("secret"));
        assert!(!cipher.windows(6).any(|w| w == b"secret"));
    }
}
