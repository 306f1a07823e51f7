//! The bot API client (`../shared/MAX-BOT-API.md`): reqwest + serde, the raw token in
//! `Authorization`, paths at the root, times in ms, a message's `seq` as `u64` (serde_json
//! keeps integers integers; never through a float). One error type, [`ApiError`], for a
//! non-2xx answer and for `200 {success: false}`. At most [`MAX_PER_SECOND`] requests a
//! second per token in this process; only requests safe to repeat are retried (reads, a
//! member's removal, a subscription; a message only when the platform said the attachment
//! was not ready, i.e. nothing was posted).

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};
use std::time::{Duration, Instant};

use reqwest::Method;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::config::Token;

/// Under the platform's ~30 requests/s, with room: 20 a second.
pub const MAX_PER_SECOND: u32 = 20;
/// Attempts of a request safe to repeat.
const ATTEMPTS: u32 = 3;

/// What went wrong talking to the platform.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The platform refused: a non-2xx answer with `{code, message}`, or `200 {success:
    /// false, code, message}` (then `status` is 200).
    #[error("the platform answered {status}: {code}: {message}")]
    Platform {
        status: u16,
        code: String,
        message: String,
    },
    /// No answer (connection, TLS, timeout).
    #[error("cannot reach the platform: {0}")]
    Transport(String),
    /// An answer that is not what the protocol says.
    #[error("unexpected answer from the platform: {0}")]
    Decode(String),
}

impl ApiError {
    /// For the page (the platform's own message, in its words).
    pub fn for_people(&self) -> String {
        match self {
            ApiError::Platform { code, message, .. } => {
                format!("Платформа ответила: «{message}» ({code}).")
            }
            ApiError::Transport(_) => "Платформа не отвечает. Попробуйте позже.".to_owned(),
            ApiError::Decode(_) => "Платформа ответила не по протоколу.".to_owned(),
        }
    }

    pub fn code(&self) -> Option<&str> {
        match self {
            ApiError::Platform { code, .. } => Some(code),
            _ => None,
        }
    }

    fn retryable(&self) -> bool {
        match self {
            ApiError::Platform { status, .. } => *status == 429 || *status >= 500,
            ApiError::Transport(_) => true,
            ApiError::Decode(_) => false,
        }
    }
}

/// The spacing of requests per token in this process.
static LAST_REQUEST: LazyLock<Mutex<HashMap<[u8; 32], Instant>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

async fn wait_turn(token: &Token) {
    use sha2::{Digest, Sha256};
    let id: [u8; 32] = Sha256::digest(token.expose().as_bytes()).into();
    let gap = Duration::from_secs(1) / MAX_PER_SECOND;
    let wait = {
        let Ok(mut map) = LAST_REQUEST.lock() else {
            return;
        };
        let now = Instant::now();
        let next = map.get(&id).map_or(now, |last| (*last + gap).max(now));
        map.insert(id, next);
        next - now
    };
    if !wait.is_zero() {
        tokio::time::sleep(wait).await;
    }
}

/// The bot, as `GET /me` describes it.
#[derive(Debug, Clone, Deserialize)]
pub struct BotInfo {
    pub user_id: i64,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub username: Option<String>,
}

/// A chat, as `GET /chats/{id}` describes it.
#[derive(Debug, Clone, Deserialize)]
pub struct ChatInfo {
    pub chat_id: i64,
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub link: Option<String>,
    #[serde(default)]
    pub participants_count: Option<i64>,
}

/// A member of a chat (no phone, no e-mail: the platform gives none).
#[derive(Debug, Clone, Deserialize)]
pub struct ChatMember {
    pub user_id: i64,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub is_owner: bool,
    #[serde(default)]
    pub is_admin: bool,
    #[serde(default)]
    pub join_time: Option<i64>,
    #[serde(default)]
    pub last_access_time: Option<i64>,
    #[serde(default)]
    pub permissions: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
struct MembersPage {
    #[serde(default)]
    members: Vec<ChatMember>,
    #[serde(default)]
    marker: Option<Value>,
}

/// A message to send or an edit.
#[derive(Debug, Clone, Serialize)]
pub struct NewMessage {
    pub text: String,
    pub format: &'static str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<Value>,
    pub notify: bool,
}

/// What `POST /messages` answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    pub mid: String,
    /// Beyond 2^53: an integer all the way.
    pub seq: u64,
    pub url: Option<String>,
}

#[derive(Debug, Deserialize)]
struct SentBody {
    mid: String,
    seq: u64,
}

#[derive(Debug, Deserialize)]
struct SentMessage {
    body: SentBody,
    #[serde(default)]
    url: Option<String>,
}

#[derive(Debug, Deserialize)]
struct SentAnswer {
    message: SentMessage,
}

/// A webhook subscription.
#[derive(Debug, Clone, Deserialize)]
pub struct Subscription {
    pub url: String,
    #[serde(default)]
    pub time: Option<i64>,
    #[serde(default)]
    pub update_types: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
struct Subscriptions {
    #[serde(default)]
    subscriptions: Vec<Subscription>,
}

/// The update types the portal subscribes to.
pub const UPDATE_TYPES: &[&str] = &[
    "bot_added",
    "bot_removed",
    "user_added",
    "user_removed",
    "chat_title_changed",
    "bot_admin_permissions_changed",
    "bot_started",
    "message_created",
];

/// A page of `GET /updates` (long polling, development only).
#[derive(Debug, Deserialize)]
pub struct UpdatesPage {
    #[serde(default)]
    pub updates: Vec<Value>,
    #[serde(default)]
    pub marker: Option<i64>,
}

/// One bot's client.
#[derive(Clone)]
pub struct MaxClient {
    http: reqwest::Client,
    base: String,
    token: Token,
}

impl std::fmt::Debug for MaxClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MaxClient")
            .field("base", &self.base)
            .field("token", &self.token)
            .finish()
    }
}

fn marker_text(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) if s.is_empty() => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

impl MaxClient {
    /// A client for `base`, trusting the web's roots and `root_cert` (PEM) beside them.
    pub fn new(base: &str, token: Token, root_cert: Option<&str>) -> Result<Self, ApiError> {
        let mut builder = reqwest::Client::builder()
            .timeout(Duration::from_secs(20))
            .connect_timeout(Duration::from_secs(5))
            .redirect(reqwest::redirect::Policy::none());
        if let Some(pem) = root_cert.filter(|p| !p.trim().is_empty()) {
            let cert = reqwest::Certificate::from_pem(pem.as_bytes())
                .map_err(|e| ApiError::Decode(format!("root certificate: {e}")))?;
            builder = builder.add_root_certificate(cert);
        }
        let http = builder
            .build()
            .map_err(|e| ApiError::Transport(e.to_string()))?;
        Ok(Self {
            http,
            base: base.trim_end_matches('/').to_owned(),
            token,
        })
    }

    async fn once(
        &self,
        method: &Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> Result<Value, ApiError> {
        wait_turn(&self.token).await;
        let mut auth = reqwest::header::HeaderValue::from_str(self.token.expose())
            .map_err(|_| ApiError::Decode("the token is not a header value".to_owned()))?;
        // Never printed by the HTTP stack's own debugging.
        auth.set_sensitive(true);
        let mut req = self
            .http
            .request(method.clone(), format!("{}{path}", self.base))
            .header(reqwest::header::AUTHORIZATION, auth)
            .query(query);
        if let Some(b) = body {
            req = req
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(b.to_string());
        }
        let res = req
            .send()
            .await
            .map_err(|e| ApiError::Transport(e.without_url().to_string()))?;
        let status = res.status().as_u16();
        let bytes = res
            .bytes()
            .await
            .map_err(|e| ApiError::Transport(e.without_url().to_string()))?;
        let value: Value = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).map_err(|e| ApiError::Decode(e.to_string()))?
        };
        let field = |name: &str| {
            value
                .get(name)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned()
        };
        if !(200..300).contains(&status) {
            return Err(ApiError::Platform {
                status,
                code: field("code"),
                message: field("message"),
            });
        }
        if value.get("success").and_then(Value::as_bool) == Some(false) {
            return Err(ApiError::Platform {
                status,
                code: field("code"),
                message: field("message"),
            });
        }
        Ok(value)
    }

    /// A request; repeated on 429, 5xx or no answer when `safe`.
    async fn call(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
        safe: bool,
    ) -> Result<Value, ApiError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.once(&method, path, query, body).await {
                Err(e) if safe && attempt < ATTEMPTS && e.retryable() => {
                    tokio::time::sleep(Duration::from_millis(100 << attempt)).await;
                }
                other => return other,
            }
        }
    }

    async fn typed<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
        safe: bool,
    ) -> Result<T, ApiError> {
        let v = self.call(method, path, query, body, safe).await?;
        serde_json::from_value(v).map_err(|e| ApiError::Decode(e.to_string()))
    }

    /// `GET /me`: the token works, and who the bot is.
    pub async fn me(&self) -> Result<BotInfo, ApiError> {
        self.typed(Method::GET, "/me", &[], None, true).await
    }

    /// `GET /chats/{id}`: type, title, link.
    pub async fn chat(&self, chat_id: i64) -> Result<ChatInfo, ApiError> {
        self.typed(Method::GET, &format!("/chats/{chat_id}"), &[], None, true)
            .await
    }

    /// `GET /chats/{id}/members/me`: the bot's own rights in the chat.
    pub async fn my_membership(&self, chat_id: i64) -> Result<ChatMember, ApiError> {
        self.typed(
            Method::GET,
            &format!("/chats/{chat_id}/members/me"),
            &[],
            None,
            true,
        )
        .await
    }

    /// Every member of a chat, page by page (100 a page) until no marker.
    pub async fn all_members(&self, chat_id: i64) -> Result<Vec<ChatMember>, ApiError> {
        let mut out = Vec::new();
        let mut marker: Option<String> = None;
        for _ in 0..1000 {
            let mut query = vec![("count", "100".to_owned())];
            if let Some(m) = &marker {
                query.push(("marker", m.clone()));
            }
            let page: MembersPage = self
                .typed(
                    Method::GET,
                    &format!("/chats/{chat_id}/members"),
                    &query,
                    None,
                    true,
                )
                .await?;
            out.extend(page.members);
            marker = page.marker.as_ref().and_then(marker_text);
            if marker.is_none() {
                return Ok(out);
            }
        }
        Err(ApiError::Decode("the members never end".to_owned()))
    }

    /// `DELETE /chats/{id}/members?user_id=`: removes a member (needs `add_remove_members`).
    pub async fn remove_member(&self, chat_id: i64, user_id: i64) -> Result<(), ApiError> {
        self.call(
            Method::DELETE,
            &format!("/chats/{chat_id}/members"),
            &[("user_id", user_id.to_string())],
            None,
            true,
        )
        .await
        .map(|_| ())
    }

    /// `POST /chats/{id}/members`: restricted since September 2026 (answers `success:
    /// false` for most bots; never for channels).
    pub async fn add_members(&self, chat_id: i64, user_ids: &[i64]) -> Result<(), ApiError> {
        let body = serde_json::json!({ "user_ids": user_ids });
        self.call(
            Method::POST,
            &format!("/chats/{chat_id}/members"),
            &[],
            Some(&body),
            false,
        )
        .await
        .map(|_| ())
    }

    /// `POST /messages?chat_id=`. Repeated only while the platform says an attachment is
    /// not ready (nothing was posted then).
    pub async fn send_message(&self, chat_id: i64, msg: &NewMessage) -> Result<Sent, ApiError> {
        if msg.text.chars().count() > 4000 {
            return Err(ApiError::Platform {
                status: 400,
                code: "text.too.long".to_owned(),
                message: "Текст длиннее 4000 символов".to_owned(),
            });
        }
        let body = serde_json::to_value(msg).map_err(|e| ApiError::Decode(e.to_string()))?;
        let mut delay = Duration::from_millis(200);
        for attempt in 1..=5 {
            let res = self
                .call(
                    Method::POST,
                    "/messages",
                    &[("chat_id", chat_id.to_string())],
                    Some(&body),
                    false,
                )
                .await;
            match res {
                Err(e) if e.code() == Some("attachment.not.ready") && attempt < 5 => {
                    tokio::time::sleep(delay).await;
                    delay *= 2;
                }
                Err(e) => return Err(e),
                Ok(v) => {
                    let a: SentAnswer =
                        serde_json::from_value(v).map_err(|e| ApiError::Decode(e.to_string()))?;
                    return Ok(Sent {
                        mid: a.message.body.mid,
                        seq: a.message.body.seq,
                        url: a.message.url,
                    });
                }
            }
        }
        Err(ApiError::Decode("attachment never ready".to_owned()))
    }

    /// `PUT /messages?message_id=`: an edit.
    pub async fn edit_message(&self, mid: &str, msg: &NewMessage) -> Result<(), ApiError> {
        let body = serde_json::to_value(msg).map_err(|e| ApiError::Decode(e.to_string()))?;
        self.call(
            Method::PUT,
            "/messages",
            &[("message_id", mid.to_owned())],
            Some(&body),
            true,
        )
        .await
        .map(|_| ())
    }

    /// `DELETE /messages?message_id=`: a withdrawal.
    pub async fn delete_message(&self, mid: &str) -> Result<(), ApiError> {
        self.call(
            Method::DELETE,
            "/messages",
            &[("message_id", mid.to_owned())],
            None,
            true,
        )
        .await
        .map(|_| ())
    }

    /// `POST /uploads?type=` then the file to the returned URL: the token to attach.
    pub async fn upload(&self, kind: &str, name: &str, bytes: Vec<u8>) -> Result<Value, ApiError> {
        let slot = self
            .call(
                Method::POST,
                "/uploads",
                &[("type", kind.to_owned())],
                None,
                false,
            )
            .await?;
        let url = slot
            .get("url")
            .and_then(Value::as_str)
            .ok_or_else(|| ApiError::Decode("no upload url".to_owned()))?
            .to_owned();
        wait_turn(&self.token).await;
        let part = reqwest::multipart::Part::bytes(bytes).file_name(name.to_owned());
        // The upload URL is signed by the platform: the token is never sent there (it may
        // be another host).
        let res = self
            .http
            .post(url)
            .multipart(reqwest::multipart::Form::new().part("data", part))
            .send()
            .await
            .map_err(|e| ApiError::Transport(e.without_url().to_string()))?;
        let status = res.status().as_u16();
        let v: Value = res
            .json_value()
            .await
            .map_err(|e| ApiError::Decode(e.to_string()))?;
        if !(200..300).contains(&status) {
            return Err(ApiError::Platform {
                status,
                code: v["code"].as_str().unwrap_or("").to_owned(),
                message: v["message"].as_str().unwrap_or("").to_owned(),
            });
        }
        Ok(serde_json::json!({ "type": kind, "payload": v }))
    }

    /// `GET /subscriptions`.
    pub async fn subscriptions(&self) -> Result<Vec<Subscription>, ApiError> {
        let s: Subscriptions = self
            .typed(Method::GET, "/subscriptions", &[], None, true)
            .await?;
        Ok(s.subscriptions)
    }

    /// `POST /subscriptions {url, update_types, secret}`.
    pub async fn subscribe(&self, url: &str, secret: &str) -> Result<(), ApiError> {
        let body = serde_json::json!({
            "url": url,
            "update_types": UPDATE_TYPES,
            "secret": secret,
        });
        self.call(Method::POST, "/subscriptions", &[], Some(&body), true)
            .await
            .map(|_| ())
    }

    /// `DELETE /subscriptions?url=`.
    pub async fn unsubscribe(&self, url: &str) -> Result<(), ApiError> {
        self.call(
            Method::DELETE,
            "/subscriptions",
            &[("url", url.to_owned())],
            None,
            true,
        )
        .await
        .map(|_| ())
    }

    /// `GET /updates?marker=&timeout=`: long polling, for development only (the platform
    /// refuses it while a webhook is subscribed).
    pub async fn updates(
        &self,
        marker: Option<i64>,
        timeout: u32,
    ) -> Result<UpdatesPage, ApiError> {
        let mut query = vec![("timeout", timeout.to_string())];
        if let Some(m) = marker {
            query.push(("marker", m.to_string()));
        }
        self.typed(Method::GET, "/updates", &query, None, true)
            .await
    }
}

/// Reads a JSON body as a value (an empty body is null).
trait JsonValue {
    async fn json_value(self) -> Result<Value, String>;
}

impl JsonValue for reqwest::Response {
    async fn json_value(self) -> Result<Value, String> {
        let bytes = self.bytes().await.map_err(|e| e.to_string())?;
        if bytes.is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_slice(&bytes).map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_seq_beyond_two_to_the_53_stays_exact() {
        let raw = r#"{"message":{"body":{"mid":"mid.1","seq":9007199254740993},"url":null}}"#;
        let v: Value = serde_json::from_str(raw).unwrap();
        let a: SentAnswer = serde_json::from_value(v).unwrap();
        assert_eq!(a.message.body.seq, 9_007_199_254_740_993);
    }
}
