//! The bot's settings page (issue 15, item 1), for the administrator: the token (typed
//! once, encrypted, never shown again), the API's address, an extra root certificate; a
//! health check (`GET /me`) before anything is saved; the webhook subscribed with a secret
//! the portal makes; the chats the bot is in that could not be matched by their link, each
//! with a choice of the portal's chat.

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use sqlx::PgConnection;

use super::client::MaxClient;
use super::config::{self, ConnectorKey, Token, random_token};
use super::{presence, worker};
use crate::AppState;
use crate::audit;
use crate::auth::extract::{RequestMeta, SchoolScope};
use crate::auth::permissions::Action;
use crate::auth::tenant::Tenant;
use crate::error::AppResult;
use crate::ids::{AccountId, ChatId, SchoolId};
use crate::web::form::FormErrors;
use crate::web::format;
use crate::web::layout::Layout;
use crate::web::once::{FormKey, KeyOnly, again};

/// The platform's address by default.
pub const DEFAULT_API_BASE: &str = "https://platform-api2.max.ru";

/// The bot's state, for the settings page and the school profile.
pub struct BotState {
    pub name: String,
    pub username: Option<String>,
    pub checked_at: Option<String>,
    pub check_error: Option<String>,
    pub subscribed: bool,
    pub api_base: String,
    /// Those who left the school are removed from the chats without a confirmation.
    pub remove_leavers: bool,
}

/// The school's bot as the pages show it (never its token).
pub async fn state_of(
    conn: &mut PgConnection,
    tenant: Tenant,
    timezone: &str,
) -> sqlx::Result<Option<BotState>> {
    Ok(sqlx::query!(
        "select bot_name, bot_username, checked_at, check_error, subscribed_at, api_base,
                remove_leavers
         from connector_bots where school_id = $1",
        tenant.id() as SchoolId
    )
    .fetch_optional(conn)
    .await?
    .map(|r| BotState {
        name: r.bot_name.unwrap_or_else(|| "—".to_owned()),
        username: r.bot_username,
        checked_at: r.checked_at.map(|t| format::datetime(t, timezone)),
        check_error: r.check_error,
        subscribed: r.subscribed_at.is_some(),
        api_base: r.api_base,
        remove_leavers: r.remove_leavers,
    }))
}

/// A platform chat the bot is in that no portal chat matches yet.
pub struct Unmatched {
    pub platform_chat_id: i64,
    pub title: String,
    pub link: String,
}

pub struct ChatChoice {
    pub id: ChatId,
    pub title: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "connector/settings.html")]
struct SettingsPage {
    layout: Layout,
    school_id: SchoolId,
    has_key: bool,
    bot: Option<BotState>,
    api_base: String,
    errors: FormErrors,
    platform_message: Option<String>,
    saved: bool,
    unmatched: Vec<Unmatched>,
    choices: Vec<ChatChoice>,
    /// For adopting a platform chat as a class's mandatory chat.
    classes: Vec<super::adopt::ClassChoice>,
    kinds: Vec<(&'static str, &'static str)>,
    form_key: FormKey,
}

#[derive(Deserialize)]
pub struct SavedQuery {
    saved: Option<String>,
}

async fn page(
    conn: &mut PgConnection,
    scope: &SchoolScope,
    key: bool,
    api_base: Option<String>,
    errors: FormErrors,
    platform_message: Option<String>,
    saved: bool,
) -> AppResult<Response> {
    let tenant = scope.tenant();
    let bot = state_of(conn, tenant, scope.timezone()).await?;
    let unmatched = sqlx::query!(
        "select platform_chat_id, title, link from connector_chats
         where school_id = $1 and chat_id is null and channel_id is null and bot_present
           and not is_channel
         order by platform_chat_id",
        tenant.id() as SchoolId
    )
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .map(|r| Unmatched {
        platform_chat_id: r.platform_chat_id,
        title: r.title.unwrap_or_else(|| "без названия".to_owned()),
        link: r.link.unwrap_or_default(),
    })
    .collect::<Vec<_>>();
    let (classes, kinds) = if unmatched.is_empty() {
        (Vec::new(), Vec::new())
    } else {
        (
            super::adopt::classes(&mut *conn, scope).await?,
            super::adopt::kinds(),
        )
    };
    let choices = if unmatched.is_empty() {
        Vec::new()
    } else {
        sqlx::query!(
            r#"select k.id, k.title from chats k
               where k.school_id = $1 and k.archived_at is null
                 and not exists(select 1 from connector_chats c
                                where c.school_id = k.school_id and c.chat_id = k.id)
               order by k.title collate "ru-RU-x-icu" limit 500"#,
            tenant.id() as SchoolId
        )
        .fetch_all(&mut *conn)
        .await?
        .into_iter()
        .map(|r| ChatChoice {
            id: ChatId(r.id),
            title: r.title,
        })
        .collect()
    };
    let api_base = api_base
        .or_else(|| bot.as_ref().map(|b| b.api_base.clone()))
        .unwrap_or_else(|| DEFAULT_API_BASE.to_owned());
    Ok(SettingsPage {
        layout: Layout::for_scope(scope),
        school_id: scope.school_id(),
        has_key: key,
        bot,
        api_base,
        errors,
        platform_message,
        saved,
        unmatched,
        choices,
        classes,
        kinds,
        form_key: FormKey::default(),
    }
    .into_response())
}

/// The settings page again with `errors` (a refused form of it).
pub(super) async fn page_with(
    conn: &mut PgConnection,
    scope: &SchoolScope,
    state: &AppState,
    errors: FormErrors,
) -> AppResult<Response> {
    let has_key = key_of(state).is_some();
    page(conn, scope, has_key, None, errors, None, false).await
}

fn key_of(state: &AppState) -> Option<ConnectorKey> {
    ConnectorKey::from_config(&state.config.connector)
}

pub async fn settings(
    State(state): State<AppState>,
    scope: SchoolScope,
    Query(q): Query<SavedQuery>,
) -> AppResult<Response> {
    scope.require(Action::ManageConnector)?;
    let mut conn = state.db.acquire().await?;
    let key = key_of(&state).is_some();
    page(
        &mut conn,
        &scope,
        key,
        None,
        FormErrors::default(),
        None,
        q.saved.is_some(),
    )
    .await
}

#[derive(Debug, Default, Deserialize)]
pub struct SettingsForm {
    #[serde(default)]
    token: String,
    #[serde(default)]
    api_base: String,
    #[serde(default)]
    root_cert: String,
    #[serde(default)]
    form_key: FormKey,
}

/// https, or http only to this machine (the stand-in in the tests, a local proxy).
fn base_ok(base: &str) -> bool {
    base.starts_with("https://")
        || base.starts_with("http://127.0.0.1")
        || base.starts_with("http://localhost")
}

pub async fn save(
    State(state): State<AppState>,
    scope: SchoolScope,
    meta: RequestMeta,
    Form(form): Form<SettingsForm>,
) -> AppResult<Response> {
    scope.require(Action::ManageConnector)?;
    let tenant = scope.tenant();
    let actor = scope.actor().id();
    let key = key_of(&state);
    let mut tx = state.db.begin().await?;
    if let Some(url) = form.form_key.seen(&mut tx, actor).await? {
        return Ok(again(&url));
    }
    let api_base = form.api_base.trim().trim_end_matches('/').to_owned();
    let root_cert = Some(form.root_cert.trim().to_owned()).filter(|c| !c.is_empty());
    let mut errors = FormErrors::default();
    let Some(key) = key else {
        errors.add("token", "На сервере не задан ключ шифрования токенов.");
        return page(&mut tx, &scope, false, Some(api_base), errors, None, false).await;
    };
    let existing = config::load(&mut tx, tenant, Some(&key))
        .await
        .ok()
        .flatten();
    let token = match (form.token.trim(), &existing) {
        ("", Some(bot)) => bot.token.clone(),
        ("", None) => {
            errors.add("token", "Вставьте токен бота.");
            Token::new("")
        }
        (t, _) if t.len() > 500 || t.chars().any(char::is_whitespace) => {
            errors.add("token", "Токен — одна строка без пробелов.");
            Token::new("")
        }
        (t, _) => Token::new(t),
    };
    if !base_ok(&api_base) || api_base.len() > 300 {
        errors.add(
            "api_base",
            "Адрес API начинается с https:// (например, https://platform-api2.max.ru).",
        );
    }
    if root_cert
        .as_deref()
        .is_some_and(|c| c.len() > 20_000 || reqwest::Certificate::from_pem(c.as_bytes()).is_err())
    {
        errors.add(
            "root_cert",
            "Сертификат в формате PEM: от «-----BEGIN CERTIFICATE-----» до «-----END CERTIFICATE-----».",
        );
    }
    if !errors.is_empty() {
        return page(&mut tx, &scope, true, Some(api_base), errors, None, false).await;
    }
    // The health check first: nothing is saved unless the platform takes the token.
    let me = match MaxClient::new(&api_base, token.clone(), root_cert.as_deref()) {
        Ok(c) => c.me().await,
        Err(e) => Err(e),
    };
    let me = match me {
        Ok(me) => me,
        Err(e) => {
            errors.add("token", "Платформа не приняла настройки бота.");
            return page(
                &mut tx,
                &scope,
                true,
                Some(api_base),
                errors,
                Some(e.for_people()),
                false,
            )
            .await;
        }
    };
    let (nonce, cipher) = key.seal(tenant, &token)?;
    sqlx::query!(
        "insert into connector_bots (school_id, token_nonce, token_cipher, api_base, root_cert,
                                     webhook_secret, hook_id, bot_user_id, bot_name, bot_username,
                                     checked_at, check_error, configured_by)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, now(), null, $11)
         on conflict (school_id) do update
           set token_nonce = excluded.token_nonce, token_cipher = excluded.token_cipher,
               api_base = excluded.api_base, root_cert = excluded.root_cert,
               bot_user_id = excluded.bot_user_id, bot_name = excluded.bot_name,
               bot_username = excluded.bot_username, checked_at = now(), check_error = null,
               configured_by = excluded.configured_by, updated_at = now()",
        tenant.id() as SchoolId,
        nonce,
        cipher,
        api_base,
        root_cert,
        random_token(40),
        random_token(40),
        me.user_id,
        me.name,
        me.username,
        actor as AccountId
    )
    .execute(&mut *tx)
    .await?;
    audit::in_school(
        &mut tx,
        &meta,
        &scope,
        "connector.configured",
        Some("connector:bot".to_owned()),
        Some(format!(
            "бот «{}» (id {}), API {api_base}{}",
            me.name,
            me.user_id,
            if root_cert.is_some() {
                ", свой корневой сертификат"
            } else {
                ""
            }
        )),
    )
    .await?;
    subscribe(&mut tx, tenant, &key, &state.public_url).await?;
    let url = format!("/s/{}/connector?saved=1", scope.school_id());
    form.form_key.done(&mut tx, actor, &url).await?;
    tx.commit().await?;
    Ok(Redirect::to(&url).into_response())
}

/// Subscribes the webhook (or finds it subscribed); a failure is kept as the bot's state.
async fn subscribe(
    conn: &mut PgConnection,
    tenant: Tenant,
    key: &ConnectorKey,
    public_url: &str,
) -> AppResult<()> {
    let Some(bot) = config::load(conn, tenant, Some(key)).await? else {
        return Ok(());
    };
    if let Err(e) = worker::ensure_subscribed(conn, &bot, public_url).await {
        let message = match e {
            presence::ReadError::Api(e) => e.for_people(),
            presence::ReadError::Db(e) => return Err(e.into()),
        };
        sqlx::query!(
            "update connector_bots set check_error = $2 where school_id = $1",
            tenant.id() as SchoolId,
            message
        )
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// «Проверить бота»: `GET /me` and the subscription.
pub async fn check(
    State(state): State<AppState>,
    scope: SchoolScope,
    Form(form): Form<KeyOnly>,
) -> AppResult<Response> {
    scope.require(Action::ManageConnector)?;
    let tenant = scope.tenant();
    let actor = scope.actor().id();
    let mut tx = state.db.begin().await?;
    if let Some(url) = form.form_key.seen(&mut tx, actor).await? {
        return Ok(again(&url));
    }
    let url = format!("/s/{}/connector", scope.school_id());
    let key = key_of(&state);
    let bot = match key.as_ref() {
        Some(k) => config::load(&mut tx, tenant, Some(k)).await.ok().flatten(),
        None => None,
    };
    let (Some(bot), Some(key)) = (bot, key) else {
        let mut errors = FormErrors::default();
        errors.add("check", "Бот не настроен.");
        let has_key = key_of(&state).is_some();
        return page(&mut tx, &scope, has_key, None, errors, None, false).await;
    };
    let result = match bot.client() {
        Ok(c) => c.me().await,
        Err(e) => Err(e),
    };
    match result {
        Ok(me) => {
            sqlx::query!(
                "update connector_bots set checked_at = now(), check_error = null,
                        bot_user_id = $2, bot_name = $3, bot_username = $4
                 where school_id = $1",
                tenant.id() as SchoolId,
                me.user_id,
                me.name,
                me.username
            )
            .execute(&mut *tx)
            .await?;
            subscribe(&mut tx, tenant, &key, &state.public_url).await?;
        }
        Err(e) => {
            sqlx::query!(
                "update connector_bots set checked_at = now(), check_error = $2 where school_id = $1",
                tenant.id() as SchoolId,
                e.for_people()
            )
            .execute(&mut *tx)
            .await?;
        }
    }
    form.form_key.done(&mut tx, actor, &url).await?;
    tx.commit().await?;
    Ok(Redirect::to(&url).into_response())
}

#[derive(Debug, Default, Deserialize)]
pub struct MatchForm {
    #[serde(default)]
    platform_chat_id: String,
    #[serde(default)]
    chat_id: String,
    #[serde(default)]
    form_key: FormKey,
}

/// «Чат на платформе: … — это …?»: the administrator chooses the portal's chat.
pub async fn match_chat(
    State(state): State<AppState>,
    scope: SchoolScope,
    meta: RequestMeta,
    Form(form): Form<MatchForm>,
) -> AppResult<Response> {
    scope.require(Action::ManageConnector)?;
    let tenant = scope.tenant();
    let actor = scope.actor().id();
    let mut tx = state.db.begin().await?;
    if let Some(url) = form.form_key.seen(&mut tx, actor).await? {
        return Ok(again(&url));
    }
    let has_key = key_of(&state).is_some();
    let platform_chat = form.platform_chat_id.trim().parse::<i64>().ok();
    let chat = form.chat_id.trim().parse::<ChatId>().ok();
    let (Some(platform_chat), Some(chat)) = (platform_chat, chat) else {
        let mut errors = FormErrors::default();
        errors.add("match", "Выберите чат портала.");
        return page(&mut tx, &scope, has_key, None, errors, None, false).await;
    };
    let matched = sqlx::query!(
        "update connector_chats c set chat_id = $3
         where c.school_id = $1 and c.platform_chat_id = $2 and c.chat_id is null
           and c.channel_id is null
           and exists(select 1 from chats k where k.school_id = $1 and k.id = $3
                      and k.archived_at is null)
           and not exists(select 1 from connector_chats o where o.school_id = $1 and o.chat_id = $3)",
        tenant.id() as SchoolId,
        platform_chat,
        chat as ChatId
    )
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if matched == 0 {
        let mut errors = FormErrors::default();
        errors.add("match", "Этот чат уже сопоставлен или его нет.");
        return page(&mut tx, &scope, has_key, None, errors, None, false).await;
    }
    audit::in_school(
        &mut tx,
        &meta,
        &scope,
        "connector.chat_matched",
        Some(format!("chat:{chat}")),
        Some(format!(
            "чат мессенджера {platform_chat}, выбран администратором"
        )),
    )
    .await?;
    if let Some(bot) = config::load(&mut tx, tenant, key_of(&state).as_ref())
        .await
        .ok()
        .flatten()
    {
        // Best effort: without the rights the chat page says what to grant.
        let _ = super::matching::read_rights(&mut tx, &bot, platform_chat).await;
        let _ = presence::full_read(&mut tx, &bot, platform_chat).await;
    }
    let url = format!("/s/{}/chats/{chat}", scope.school_id());
    form.form_key.done(&mut tx, actor, &url).await?;
    tx.commit().await?;
    Ok(Redirect::to(&url).into_response())
}
