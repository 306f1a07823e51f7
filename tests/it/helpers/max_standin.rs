//! A STAND-IN for the MAX bot API (`../shared/MAX-BOT-API.md`): the messenger's platform
//! is a third party that cannot be reached from these machines, so the connector's tests
//! talk to this local axum server instead. It speaks the same protocol as faithfully as the
//! document says: the raw token in `Authorization` (401 `verify.token` for a missing, wrong
//! or `Bearer` one), 400 for a bad `count` or id, negative chat ids, times in ms, a `seq`
//! beyond 2^53, 403 where the bot lacks a right, members paged by an opaque marker (20 by
//! default, 100 at most), `GET /chats` gone (404), adding members answering `success:
//! false`, a removal emitting `user_removed` with the bot as `admin_id`, the 4000-character
//! and channel `notify:false` checks, `attachment.not.ready` once on request, an optional
//! 429. Scenario hooks emit the other events; a webhook pusher delivers them to the
//! subscribed URL with the secret header, retrying, with duplicates and reordering on
//! request. Every request is recorded so tests assert the wire format.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Path, Query, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

/// The bot's own platform id.
pub const BOT_USER_ID: i64 = 7_000_001;
/// The first `seq` the stand-in hands out: beyond 2^53, where a float loses digits.
pub const FIRST_SEQ: u64 = 9_007_199_254_740_993;

/// One request as the stand-in saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub query: String,
    pub authorization: Option<String>,
    pub body: String,
}

#[derive(Debug, Clone)]
pub struct Member {
    pub user_id: i64,
    pub name: String,
    pub is_owner: bool,
    pub is_admin: bool,
    pub join_time: i64,
}

#[derive(Debug, Clone)]
pub struct Chat {
    pub id: i64,
    pub title: String,
    pub link: String,
    pub is_channel: bool,
    pub members: BTreeMap<i64, Member>,
    pub bot_in: bool,
    pub bot_admin: bool,
    pub bot_permissions: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct Subscription {
    pub url: String,
    pub secret: String,
}

/// A file the portal uploaded, and the token the stand-in gave for it.
#[derive(Debug, Clone)]
pub struct Uploaded {
    pub kind: String,
    pub filename: String,
    pub bytes: Vec<u8>,
    pub token: String,
}

#[derive(Default)]
pub struct World {
    pub token: String,
    /// The stand-in's own address (upload URLs point here).
    pub base: String,
    pub uploaded: Vec<Uploaded>,
    /// Upload slots handed out by POST /uploads: (kind, used).
    slots: Vec<(String, bool)>,
    /// Messages edited (PUT) and deleted (DELETE), by mid.
    pub edits: Vec<(String, Value)>,
    pub deleted: Vec<String>,
    /// Mids of messages the stand-in holds, and whether the next edit/delete is refused.
    pub mids: Vec<String>,
    refuse_next_change: bool,
    pub chats: BTreeMap<i64, Chat>,
    pub subscriptions: Vec<Subscription>,
    pub requests: Vec<Seen>,
    /// Events emitted and not yet delivered.
    pub pending: Vec<Value>,
    pub messages: Vec<Value>,
    next_seq: u64,
    last_ts: i64,
    not_ready_once: bool,
    throttle: u32,
}

impl World {
    /// Event times: ms, and always after anything the stand-in answered before.
    fn ts(&mut self) -> i64 {
        let now = now_ms();
        self.last_ts = now.max(self.last_ts + 1);
        self.last_ts
    }
}

fn now_ms() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

type Shared = Arc<Mutex<World>>;

pub struct MaxStandin {
    pub base: String,
    pub world: Shared,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for MaxStandin {
    fn drop(&mut self) {
        self.server.abort();
    }
}

fn error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        axum::Json(json!({"code": code, "message": message})),
    )
        .into_response()
}

fn ok(v: Value) -> Response {
    (StatusCode::OK, axum::Json(v)).into_response()
}

async fn record_and_check(
    State(world): State<Shared>,
    req: Request,
    next: axum::middleware::Next,
) -> Response {
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, 10 << 20)
        .await
        .unwrap_or_default();
    let authorization = parts
        .headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    {
        let mut w = world.lock().unwrap();
        w.requests.push(Seen {
            method: parts.method.to_string(),
            path: parts.uri.path().to_owned(),
            query: parts.uri.query().unwrap_or("").to_owned(),
            authorization: authorization.clone(),
            body: String::from_utf8_lossy(&bytes).into_owned(),
        });
        let now = now_ms();
        w.last_ts = w.last_ts.max(now);
        if authorization.as_deref() != Some(w.token.as_str()) {
            return error(
                StatusCode::UNAUTHORIZED,
                "verify.token",
                "Invalid access_token",
            );
        }
        if w.throttle > 0 {
            w.throttle -= 1;
            return error(
                StatusCode::TOO_MANY_REQUESTS,
                "too.many.requests",
                "Slow down",
            );
        }
    }
    next.run(Request::from_parts(parts, axum::body::Body::from(bytes)))
        .await
}

#[allow(clippy::result_large_err)] // a handler's early answer, as axum handlers return
fn chat_id(raw: &str) -> Result<i64, Response> {
    raw.parse()
        .map_err(|_| error(StatusCode::BAD_REQUEST, "proto.payload", "bad chat id"))
}

async fn me() -> Response {
    ok(
        json!({"user_id": BOT_USER_ID, "name": "Бот школы № 1", "username": "school1_bot", "is_bot": true}),
    )
}

async fn chats_gone() -> Response {
    error(
        StatusCode::NOT_FOUND,
        "not.found",
        "Path /chats is not recognized",
    )
}

async fn chat(State(world): State<Shared>, Path(id): Path<String>) -> Response {
    let id = match chat_id(&id) {
        Ok(i) => i,
        Err(r) => return r,
    };
    let w = world.lock().unwrap();
    match w.chats.get(&id) {
        Some(c) if c.bot_in => ok(json!({
            "chat_id": c.id,
            "type": if c.is_channel { "channel" } else { "chat" },
            "status": "active",
            "title": c.title,
            "link": c.link,
            "participants_count": c.members.len(),
            "last_event_time": now_ms(),
        })),
        Some(_) => error(StatusCode::FORBIDDEN, "chat.denied", "Bot is not a member"),
        None => error(StatusCode::NOT_FOUND, "chat.not.found", "Chat not found"),
    }
}

async fn members_me(State(world): State<Shared>, Path(id): Path<String>) -> Response {
    let id = match chat_id(&id) {
        Ok(i) => i,
        Err(r) => return r,
    };
    let w = world.lock().unwrap();
    match w.chats.get(&id) {
        Some(c) if c.bot_in => ok(json!({
            "user_id": BOT_USER_ID,
            "name": "Бот школы № 1",
            "is_owner": false,
            "is_admin": c.bot_admin,
            "join_time": now_ms(),
            "permissions": if c.bot_admin { json!(c.bot_permissions) } else { Value::Null },
        })),
        _ => error(StatusCode::FORBIDDEN, "chat.denied", "Bot is not a member"),
    }
}

async fn members(
    State(world): State<Shared>,
    Path(id): Path<String>,
    Query(q): Query<BTreeMap<String, String>>,
) -> Response {
    let id = match chat_id(&id) {
        Ok(i) => i,
        Err(r) => return r,
    };
    let count: usize = match q.get("count").map(|c| c.parse::<usize>()) {
        None => 20,
        Some(Ok(c)) if (1..=100).contains(&c) => c,
        Some(_) => {
            return error(
                StatusCode::BAD_REQUEST,
                "proto.payload",
                "count must be 1..100",
            );
        }
    };
    // The marker is opaque to the client: here an offset, disguised.
    let offset: usize = match q.get("marker").map(|m| m.parse::<i64>()) {
        None => 0,
        Some(Ok(m)) if m >= 1_000_000 => (m - 1_000_000) as usize,
        Some(_) => return error(StatusCode::BAD_REQUEST, "proto.payload", "bad marker"),
    };
    let w = world.lock().unwrap();
    let Some(c) = w.chats.get(&id) else {
        return error(StatusCode::NOT_FOUND, "chat.not.found", "Chat not found");
    };
    if !c.bot_in || !c.bot_admin || !c.bot_permissions.iter().any(|p| p == "read_all_messages") {
        return error(StatusCode::FORBIDDEN, "chat.denied", "Not enough rights");
    }
    let mut all: Vec<&Member> = c.members.values().collect();
    all.sort_by_key(|m| m.user_id);
    let page: Vec<Value> = all
        .iter()
        .skip(offset)
        .take(count)
        .map(|m| {
            json!({"user_id": m.user_id, "name": m.name, "is_owner": m.is_owner,
                   "is_admin": m.is_admin, "join_time": m.join_time,
                   "last_access_time": m.join_time, "is_bot": false})
        })
        .collect();
    let next = offset + page.len();
    let marker = if next < all.len() {
        json!(1_000_000 + next as i64)
    } else {
        Value::Null
    };
    ok(json!({"members": page, "marker": marker}))
}

async fn remove_member(
    State(world): State<Shared>,
    Path(id): Path<String>,
    Query(q): Query<BTreeMap<String, String>>,
) -> Response {
    let id = match chat_id(&id) {
        Ok(i) => i,
        Err(r) => return r,
    };
    let Some(user) = q.get("user_id").and_then(|u| u.parse::<i64>().ok()) else {
        return error(StatusCode::BAD_REQUEST, "proto.payload", "user_id required");
    };
    let mut w = world.lock().unwrap();
    let Some(c) = w.chats.get(&id) else {
        return error(StatusCode::NOT_FOUND, "chat.not.found", "Chat not found");
    };
    if !c.bot_admin || !c.bot_permissions.iter().any(|p| p == "add_remove_members") {
        return error(StatusCode::FORBIDDEN, "chat.denied", "Not enough rights");
    }
    let is_channel = c.is_channel;
    let removed = w.chats.get_mut(&id).unwrap().members.remove(&user);
    let Some(m) = removed else {
        return ok(json!({"success": false, "code": "user.not.found", "message": "Not a member"}));
    };
    let ts = w.ts();
    w.pending.push(json!({
        "update_type": "user_removed", "timestamp": ts, "chat_id": id,
        "user": {"user_id": m.user_id, "name": m.name, "is_bot": false},
        "admin_id": BOT_USER_ID, "is_channel": is_channel,
    }));
    ok(json!({"success": true}))
}

async fn add_members() -> Response {
    ok(json!({"success": false, "code": "add.participant.privacy",
              "message": "Adding members is restricted"}))
}

async fn send_message(
    State(world): State<Shared>,
    Query(q): Query<BTreeMap<String, String>>,
    body: String,
) -> Response {
    let Some(id) = q.get("chat_id").and_then(|c| c.parse::<i64>().ok()) else {
        return error(StatusCode::BAD_REQUEST, "proto.payload", "chat_id required");
    };
    let Ok(msg) = serde_json::from_str::<Value>(&body) else {
        return error(StatusCode::BAD_REQUEST, "proto.payload", "bad json");
    };
    let mut w = world.lock().unwrap();
    let Some(c) = w.chats.get(&id).cloned() else {
        return error(StatusCode::NOT_FOUND, "chat.not.found", "Chat not found");
    };
    if !c.bot_in || (c.is_channel && !c.bot_permissions.iter().any(|p| p == "write")) {
        return error(StatusCode::FORBIDDEN, "chat.denied", "Cannot write");
    }
    let text = msg["text"].as_str().unwrap_or("");
    if text.chars().count() > 4000 {
        return error(
            StatusCode::BAD_REQUEST,
            "proto.payload",
            "text: size must be 0..4000",
        );
    }
    if c.is_channel && msg["notify"] == json!(false) {
        return error(
            StatusCode::BAD_REQUEST,
            "proto.payload",
            "notify:false is not allowed in a channel",
        );
    }
    let tokens: Vec<String> = w.uploaded.iter().map(|u| u.token.clone()).collect();
    for a in msg["attachments"].as_array().into_iter().flatten() {
        let payload = &a["payload"];
        let token = payload["token"].as_str().map(str::to_owned).or_else(|| {
            payload["photos"]
                .as_object()
                .and_then(|p| p.values().next())
                .and_then(|p| p["token"].as_str())
                .map(str::to_owned)
        });
        if !token.is_some_and(|t| tokens.contains(&t)) {
            return error(
                StatusCode::BAD_REQUEST,
                "attachment.invalid",
                "Attachment token is not valid",
            );
        }
    }
    if msg["attachments"].as_array().is_some_and(|a| !a.is_empty()) && w.not_ready_once {
        w.not_ready_once = false;
        return error(
            StatusCode::BAD_REQUEST,
            "attachment.not.ready",
            "Key: errors.process.attachment.file.not.processed",
        );
    }
    if w.next_seq == 0 {
        w.next_seq = FIRST_SEQ;
    }
    let seq = w.next_seq;
    w.next_seq += 1;
    let mid = format!("mid.{:016x}", seq);
    let ts = w.ts();
    w.messages.push(msg.clone());
    w.mids.push(mid.clone());
    let url = c
        .is_channel
        .then(|| format!("https://max.ru/c/{}/{mid}", c.id));
    // Written by hand: a JSON library on this side must not round the seq either.
    let answer = format!(
        r#"{{"message":{{"recipient":{{"chat_id":{id}}},"timestamp":{ts},"body":{{"mid":"{mid}","seq":{seq},"text":{}}},"url":{}}}}}"#,
        serde_json::to_string(text).unwrap(),
        url.map_or("null".to_owned(), |u| format!("\"{u}\""))
    );
    (
        StatusCode::OK,
        [("content-type", "application/json")],
        answer,
    )
        .into_response()
}

async fn edit_message(
    State(world): State<Shared>,
    Query(q): Query<BTreeMap<String, String>>,
    body: String,
) -> Response {
    let Some(mid) = q.get("message_id").cloned() else {
        return error(
            StatusCode::BAD_REQUEST,
            "proto.payload",
            "message_id required",
        );
    };
    let Ok(msg) = serde_json::from_str::<Value>(&body) else {
        return error(StatusCode::BAD_REQUEST, "proto.payload", "bad json");
    };
    if msg["text"]
        .as_str()
        .is_some_and(|t| t.chars().count() > 4000)
    {
        return error(
            StatusCode::BAD_REQUEST,
            "proto.payload",
            "text: size must be 0..4000",
        );
    }
    let mut w = world.lock().unwrap();
    if std::mem::take(&mut w.refuse_next_change) {
        return ok(json!({"success": false, "code": "message.edit.denied",
                         "message": "Message is too old to be edited"}));
    }
    if !w.mids.contains(&mid) || w.deleted.contains(&mid) {
        return ok(json!({"success": false, "code": "message.not.found",
                         "message": "Message not found"}));
    }
    w.edits.push((mid, msg));
    ok(json!({"success": true}))
}

async fn delete_message(
    State(world): State<Shared>,
    Query(q): Query<BTreeMap<String, String>>,
) -> Response {
    let Some(mid) = q.get("message_id").cloned() else {
        return error(
            StatusCode::BAD_REQUEST,
            "proto.payload",
            "message_id required",
        );
    };
    let mut w = world.lock().unwrap();
    if std::mem::take(&mut w.refuse_next_change) {
        return ok(json!({"success": false, "code": "message.delete.denied",
                         "message": "Message is too old to be deleted"}));
    }
    if !w.mids.contains(&mid) || w.deleted.contains(&mid) {
        return ok(json!({"success": false, "code": "message.not.found",
                         "message": "Message not found"}));
    }
    w.deleted.push(mid);
    ok(json!({"success": true}))
}

async fn subscriptions(State(world): State<Shared>) -> Response {
    let w = world.lock().unwrap();
    let subs: Vec<Value> = w
        .subscriptions
        .iter()
        .map(|s| json!({"url": s.url, "time": now_ms(), "update_types": null, "version": "0.0.33"}))
        .collect();
    ok(json!({"subscriptions": subs}))
}

async fn subscribe(State(world): State<Shared>, body: String) -> Response {
    let Ok(v) = serde_json::from_str::<Value>(&body) else {
        return error(StatusCode::BAD_REQUEST, "proto.payload", "bad json");
    };
    let url = v["url"].as_str().unwrap_or("").to_owned();
    let secret = v["secret"].as_str().unwrap_or("").to_owned();
    let secret_ok = (5..=256).contains(&secret.len())
        && secret
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-');
    if url.is_empty() || !secret_ok {
        return ok(
            json!({"success": false, "code": "proto.payload", "message": "bad url or secret"}),
        );
    }
    let mut w = world.lock().unwrap();
    w.subscriptions.retain(|s| s.url != url);
    w.subscriptions.push(Subscription { url, secret });
    ok(json!({"success": true}))
}

async fn unsubscribe(
    State(world): State<Shared>,
    Query(q): Query<BTreeMap<String, String>>,
) -> Response {
    let url = q.get("url").cloned().unwrap_or_default();
    world.lock().unwrap().subscriptions.retain(|s| s.url != url);
    ok(json!({"success": true}))
}

async fn uploads(
    State(world): State<Shared>,
    Query(q): Query<BTreeMap<String, String>>,
) -> Response {
    match q.get("type").map(String::as_str) {
        Some(kind @ ("image" | "video" | "audio" | "file")) => {
            let mut w = world.lock().unwrap();
            w.slots.push((kind.to_owned(), false));
            let n = w.slots.len() - 1;
            ok(json!({"url": format!("{}/upload/{n}?sig=stand-in", w.base)}))
        }
        _ => error(StatusCode::BAD_REQUEST, "proto.payload", "type required"),
    }
}

/// The upload URL itself (the platform's file server: a signed URL, no token needed).
async fn upload_file(
    State(world): State<Shared>,
    Path(n): Path<usize>,
    headers: axum::http::HeaderMap,
    mut form: axum::extract::Multipart,
) -> Response {
    let mut file = None;
    while let Ok(Some(field)) = form.next_field().await {
        if field.name() == Some("data") {
            let name = field.file_name().unwrap_or("").to_owned();
            file = Some((name, field.bytes().await.unwrap_or_default().to_vec()));
        }
    }
    let mut w = world.lock().unwrap();
    w.requests.push(Seen {
        method: "POST".to_owned(),
        path: format!("/upload/{n}"),
        query: String::new(),
        authorization: headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        body: String::new(),
    });
    let Some((filename, bytes)) = file.filter(|f| !f.1.is_empty()) else {
        return error(StatusCode::BAD_REQUEST, "proto.payload", "no data");
    };
    let Some((kind, used)) = w.slots.get_mut(n) else {
        return error(StatusCode::NOT_FOUND, "not.found", "no such upload");
    };
    if *used {
        return error(StatusCode::BAD_REQUEST, "proto.payload", "already uploaded");
    }
    *used = true;
    let kind = kind.clone();
    let token = format!("{kind}-token-{n}");
    let answer = if kind == "image" {
        json!({"photos": {format!("photo{n}"): {"token": token}}})
    } else {
        json!({"fileId": n, "token": token})
    };
    w.uploaded.push(Uploaded {
        kind,
        filename,
        bytes,
        token,
    });
    ok(answer)
}

async fn updates(State(world): State<Shared>) -> Response {
    let w = world.lock().unwrap();
    if !w.subscriptions.is_empty() {
        return error(
            StatusCode::CONFLICT,
            "conflict",
            "Long polling is not available while a webhook is set",
        );
    }
    ok(json!({"updates": [], "marker": null}))
}

/// How events are delivered.
#[derive(Debug, Clone, Copy, Default)]
pub struct Delivery {
    /// Each event sent twice.
    pub twice: bool,
    /// In reverse order.
    pub reversed: bool,
}

impl MaxStandin {
    /// Starts the stand-in on 127.0.0.1:0, accepting `token`.
    pub async fn start(token: &str) -> Self {
        let world: Shared = Arc::new(Mutex::new(World {
            token: token.to_owned(),
            ..World::default()
        }));
        let app = Router::new()
            .route("/me", get(me))
            .route("/chats", get(chats_gone))
            .route("/chats/{id}", get(chat))
            .route("/chats/{id}/members/me", get(members_me))
            .route(
                "/chats/{id}/members",
                get(members).delete(remove_member).post(add_members),
            )
            .route(
                "/messages",
                post(send_message).put(edit_message).delete(delete_message),
            )
            .route(
                "/subscriptions",
                get(subscriptions).post(subscribe).delete(unsubscribe),
            )
            .route("/uploads", post(uploads))
            .route("/updates", get(updates))
            .layer(axum::middleware::from_fn_with_state(
                world.clone(),
                record_and_check,
            ))
            // The upload URLs are signed: no Authorization there (and the portal sends
            // none).
            .route("/upload/{n}", post(upload_file))
            .with_state(world.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        world.lock().unwrap().base = base.clone();
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        MaxStandin {
            base,
            world,
            server,
        }
    }

    pub fn requests(&self) -> Vec<Seen> {
        self.world.lock().unwrap().requests.clone()
    }

    /// The requests of this method to this path.
    pub fn seen(&self, method: &str, path: &str) -> Vec<Seen> {
        self.requests()
            .into_iter()
            .filter(|r| r.method == method && r.path == path)
            .collect()
    }

    /// A chat (or channel) the bot is not in yet.
    pub fn chat(&self, id: i64, title: &str, link: &str, is_channel: bool) {
        self.world.lock().unwrap().chats.insert(
            id,
            Chat {
                id,
                title: title.to_owned(),
                link: link.to_owned(),
                is_channel,
                members: BTreeMap::new(),
                bot_in: false,
                bot_admin: false,
                bot_permissions: Vec::new(),
            },
        );
    }

    /// Someone already in the chat (no event: the bot was not there to see it).
    pub fn member(&self, chat: i64, user_id: i64, name: &str, is_owner: bool) {
        let mut w = self.world.lock().unwrap();
        let ts = w.ts();
        w.chats.get_mut(&chat).unwrap().members.insert(
            user_id,
            Member {
                user_id,
                name: name.to_owned(),
                is_owner,
                is_admin: is_owner,
                join_time: ts,
            },
        );
    }

    fn emit(&self, w: &mut World, mut event: Value) {
        let ts = w.ts();
        event["timestamp"] = json!(ts);
        w.pending.push(event);
    }

    /// The chat's owner adds the bot as an administrator with these rights.
    pub fn add_bot(&self, chat: i64, permissions: &[&str]) {
        let mut w = self.world.lock().unwrap();
        let c = w.chats.get_mut(&chat).unwrap();
        c.bot_in = true;
        c.bot_admin = true;
        c.bot_permissions = permissions.iter().map(|p| (*p).to_owned()).collect();
        let is_channel = c.is_channel;
        self.emit(
            &mut w,
            json!({"update_type": "bot_added", "chat_id": chat, "is_channel": is_channel}),
        );
    }

    /// The chat's owner removes the bot from the chat.
    pub fn remove_bot(&self, chat: i64) {
        let mut w = self.world.lock().unwrap();
        let c = w.chats.get_mut(&chat).unwrap();
        c.bot_in = false;
        c.bot_admin = false;
        c.bot_permissions.clear();
        let is_channel = c.is_channel;
        self.emit(
            &mut w,
            json!({"update_type": "bot_removed", "chat_id": chat, "is_channel": is_channel}),
        );
    }

    /// Someone joins by the chat's link (`inviter_id` null).
    pub fn join_by_link(&self, chat: i64, user_id: i64, name: &str) {
        let mut w = self.world.lock().unwrap();
        let ts = w.ts();
        w.chats.get_mut(&chat).unwrap().members.insert(
            user_id,
            Member {
                user_id,
                name: name.to_owned(),
                is_owner: false,
                is_admin: false,
                join_time: ts,
            },
        );
        self.emit(
            &mut w,
            json!({"update_type": "user_added", "chat_id": chat, "is_channel": false,
                   "user": {"user_id": user_id, "name": name, "is_bot": false},
                   "inviter_id": null}),
        );
    }

    /// Someone leaves the chat by themselves (`admin_id` null).
    pub fn leaves(&self, chat: i64, user_id: i64) {
        let mut w = self.world.lock().unwrap();
        let m = w
            .chats
            .get_mut(&chat)
            .unwrap()
            .members
            .remove(&user_id)
            .unwrap();
        self.emit(
            &mut w,
            json!({"update_type": "user_removed", "chat_id": chat, "is_channel": false,
                   "user": {"user_id": m.user_id, "name": m.name, "is_bot": false},
                   "admin_id": null}),
        );
    }

    /// A person opens their deep link to the bot and presses «Начать».
    pub fn bot_started(&self, user_id: i64, name: &str, payload: &str) {
        let mut w = self.world.lock().unwrap();
        self.emit(
            &mut w,
            json!({"update_type": "bot_started", "chat_id": user_id * 10,
                   "user": {"user_id": user_id, "name": name, "is_bot": false},
                   "payload": payload, "user_locale": "ru"}),
        );
    }

    /// An event type the portal does not know, with unknown fields.
    pub fn unknown_event(&self) {
        let mut w = self.world.lock().unwrap();
        self.emit(
            &mut w,
            json!({"update_type": "message_chat_created", "chat": {"chat_id": -1}, "novelty": 1}),
        );
    }

    /// The platform unsubscribes the webhook (after 8 hours of failed deliveries).
    pub fn drop_subscriptions(&self) {
        self.world.lock().unwrap().subscriptions.clear();
    }

    pub fn subscribed_urls(&self) -> Vec<String> {
        let w = self.world.lock().unwrap();
        w.subscriptions.iter().map(|s| s.url.clone()).collect()
    }

    /// The next message with attachments answers `attachment.not.ready` once.
    pub fn attachment_not_ready_once(&self) {
        self.world.lock().unwrap().not_ready_once = true;
    }

    /// The next edit or deletion of a message is refused (`success: false`).
    pub fn refuse_next_change(&self) {
        self.world.lock().unwrap().refuse_next_change = true;
    }

    /// The next `n` requests answer 429.
    pub fn throttle(&self, n: u32) {
        self.world.lock().unwrap().throttle = n;
    }

    /// Delivers the pending events to every subscription, in order, with the secret
    /// header; a delivery that is not answered 200 is retried (at most 3 times). Answers
    /// the status of each delivery's last attempt.
    pub async fn deliver(&self) -> Vec<u16> {
        self.deliver_with(Delivery::default()).await
    }

    pub async fn deliver_with(&self, how: Delivery) -> Vec<u16> {
        let (mut events, subs) = {
            let mut w = self.world.lock().unwrap();
            (std::mem::take(&mut w.pending), w.subscriptions.clone())
        };
        if how.reversed {
            events.reverse();
        }
        let client = reqwest::Client::new();
        let mut statuses = Vec::new();
        for event in &events {
            let times = if how.twice { 2 } else { 1 };
            for _ in 0..times {
                for s in &subs {
                    statuses.push(push(&client, &s.url, &s.secret, event).await);
                }
            }
        }
        statuses
    }

    /// Delivers one raw body with this secret header to `url` (once, no retry).
    pub async fn push_raw(url: &str, secret: Option<&str>, body: &str) -> u16 {
        let mut req = reqwest::Client::new()
            .post(url)
            .header("content-type", "application/json")
            .body(body.to_owned());
        if let Some(s) = secret {
            req = req.header("X-Max-Bot-Api-Secret", s);
        }
        req.send().await.map(|r| r.status().as_u16()).unwrap_or(0)
    }
}

async fn push(client: &reqwest::Client, url: &str, secret: &str, event: &Value) -> u16 {
    let mut last = 0;
    for _ in 0..3 {
        let res = client
            .post(url)
            .header("content-type", "application/json")
            .header("X-Max-Bot-Api-Secret", secret)
            .body(event.to_string())
            .send()
            .await;
        last = res.map(|r| r.status().as_u16()).unwrap_or(0);
        if last == 200 {
            break;
        }
    }
    last
}
