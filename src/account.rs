//! The person's own account (the «Профиль» pages under `/profile`, for anyone logged in):
//! change the password, see the active sessions and end them, log out everywhere (R2.6.d,
//! R2.7.c; SECURITY.md 5). A school's profile is [`crate::schools::profile`].

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use crate::AppState;
use crate::audit::{self, Entry};
use crate::auth::extract::{Actor, RequestMeta};
use crate::auth::password::{self, Verified};
use crate::auth::permissions::Access;
use crate::auth::{has_admin_rights, session};
use crate::error::{AppError, AppResult};
use crate::ids::{AccountId, SessionId};
use crate::web::Routes;
use crate::web::form::FormErrors;
use crate::web::format::{datetime, phone};
use crate::web::layout::Layout;
use crate::web::once::{self, FormKey};

pub fn routes(r: Routes) -> Routes {
    r.get("/profile", Access::LoggedIn, profile_page)
        .post("/profile/password", Access::LoggedIn, change_password)
        .post(
            "/profile/sessions/{session_id}/end",
            Access::LoggedIn,
            end_session,
        )
        .post(
            "/profile/sessions/end-all",
            Access::LoggedIn,
            end_all_sessions,
        )
}

struct SessionRow {
    id: SessionId,
    current: bool,
    created: String,
    last_seen: String,
    ip: String,
    device: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "profile/index.html")]
struct ProfilePage {
    layout: Layout,
    name: String,
    email: Option<String>,
    phone: Option<String>,
    sessions: Vec<SessionRow>,
    errors: FormErrors,
    notice: Option<&'static str>,
    min_length: usize,
    /// The password form's key.
    form_key: FormKey,
}

#[derive(Deserialize)]
struct NoticeQuery {
    done: Option<String>,
}

/// A short, readable name for a browser from its User-Agent.
fn device(ua: Option<&str>) -> String {
    let Some(ua) = ua else {
        return "неизвестное устройство".to_owned();
    };
    let browser = if ua.contains("YaBrowser") {
        "Яндекс Браузер"
    } else if ua.contains("Edg/") {
        "Edge"
    } else if ua.contains("Firefox") {
        "Firefox"
    } else if ua.contains("Chrome") {
        "Chrome"
    } else if ua.contains("Safari") {
        "Safari"
    } else {
        "браузер"
    };
    let os = if ua.contains("Android") {
        "Android"
    } else if ua.contains("iPhone") || ua.contains("iPad") {
        "iOS"
    } else if ua.contains("Windows") {
        "Windows"
    } else if ua.contains("Mac OS") {
        "macOS"
    } else if ua.contains("Linux") {
        "Linux"
    } else {
        ""
    };
    if os.is_empty() {
        browser.to_owned()
    } else {
        format!("{browser}, {os}")
    }
}

async fn page(
    state: &AppState,
    actor: &Actor,
    errors: FormErrors,
    notice: Option<&'static str>,
) -> AppResult<Response> {
    let mut conn = state.db.acquire().await?;
    let account = sqlx::query!(
        "select email, phone from accounts where id = $1",
        actor.id() as AccountId
    )
    .fetch_one(&mut *conn)
    .await?;
    let tz = "Europe/Moscow";
    let sessions = sqlx::query!(
        r#"select id as "id: SessionId", created_at, last_seen_at, ip, user_agent
           from sessions s
           where account_id = $1 and expires_at > now()
             and last_seen_at > now() - make_interval(secs => $2)
             and security_stamp = (select security_stamp from accounts where id = $1)
           order by last_seen_at desc"#,
        actor.id() as AccountId,
        state.config.session_idle().as_secs_f64()
    )
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .map(|s| SessionRow {
        current: s.id == actor.session_id(),
        id: s.id,
        created: datetime(s.created_at, tz),
        last_seen: datetime(s.last_seen_at, tz),
        ip: s.ip.unwrap_or_else(|| "—".into()),
        device: device(s.user_agent.as_deref()),
    })
    .collect();
    let admin = has_admin_rights(&mut conn, actor.id()).await?;
    Ok(ProfilePage {
        layout: Layout::for_actor(actor),
        name: actor.full_name(),
        email: account.email,
        phone: account.phone.as_deref().map(phone),
        sessions,
        errors,
        notice,
        min_length: if admin { 15 } else { 8 },
        form_key: FormKey::default(),
    }
    .into_response())
}

async fn profile_page(
    State(state): State<AppState>,
    actor: Actor,
    Query(q): Query<NoticeQuery>,
) -> AppResult<Response> {
    let notice = match q.done.as_deref() {
        Some("password") => Some("Пароль изменён. Все другие сеансы завершены."),
        Some("session") => Some("Сеанс завершён."),
        _ => None,
    };
    page(&state, &actor, FormErrors::default(), notice).await
}

#[derive(Deserialize)]
struct PasswordForm {
    #[serde(default)]
    form_key: FormKey,
    current: String,
    password: String,
    password2: String,
}

async fn change_password(
    State(state): State<AppState>,
    actor: Actor,
    meta: RequestMeta,
    Form(form): Form<PasswordForm>,
) -> AppResult<Response> {
    // Sent again: the first changed it (and the current password is no longer that one).
    if let Some(url) = form.form_key.seen_before(&state.db, actor.id()).await? {
        return Ok(once::again(&url));
    }
    let mut conn = state.db.acquire().await?;
    let stored = sqlx::query_scalar!(
        "select password_hash from accounts where id = $1",
        actor.id() as AccountId
    )
    .fetch_one(&mut *conn)
    .await?;
    let admin = has_admin_rights(&mut conn, actor.id()).await?;
    drop(conn);
    let mut errors = FormErrors::default();
    if state.hasher.verify(form.current, stored).await? == Verified::No {
        errors.add("current", "Текущий пароль указан неверно.");
    }
    if let Err(m) = password::check_new_password(&form.password, admin) {
        errors.add("password", m);
    }
    if form.password != form.password2 {
        errors.add("password2", "Пароли не совпадают.");
    }
    if !errors.is_empty() {
        return page(&state, &actor, errors, None).await;
    }
    let hash = state.hasher.hash(form.password).await?;
    let mut tx = state.db.begin().await?;
    if let Some(url) = form.form_key.seen(&mut tx, actor.id()).await? {
        return Ok(once::again(&url));
    }
    sqlx::query!(
        "update accounts set password_hash = $2 where id = $1",
        actor.id() as AccountId,
        hash
    )
    .execute(&mut *tx)
    .await?;
    // Every session ends (SECURITY.md 5); this browser gets a new one.
    session::end_all(&mut tx, actor.id()).await?;
    let token = session::create(
        &mut tx,
        &state.config,
        actor.id(),
        meta.ip.as_deref(),
        meta.user_agent.as_deref(),
    )
    .await?;
    audit::record(
        &mut tx,
        &meta,
        Entry {
            actor: Some(actor.id()),
            school: None,
            action: "password.changed",
            target: Some(format!("account:{}", actor.id())),
            details: None,
        },
    )
    .await?;
    form.form_key
        .done(&mut tx, actor.id(), "/profile?done=password")
        .await?;
    tx.commit().await?;
    let mut res = Redirect::to("/profile?done=password").into_response();
    res.headers_mut().append(
        header::SET_COOKIE,
        session::set_cookie(&state.config, &token),
    );
    Ok(res)
}

async fn end_session(
    State(state): State<AppState>,
    actor: Actor,
    meta: RequestMeta,
    Path(session_id): Path<SessionId>,
) -> AppResult<Response> {
    let mut conn = state.db.acquire().await?;
    // Only one's own sessions: another person's id is "not found".
    let done = sqlx::query!(
        "delete from sessions where id = $1 and account_id = $2",
        session_id as SessionId,
        actor.id() as AccountId
    )
    .execute(&mut *conn)
    .await?;
    if done.rows_affected() == 0 {
        return Err(AppError::NotFound);
    }
    audit::record(
        &mut conn,
        &meta,
        Entry {
            actor: Some(actor.id()),
            school: None,
            action: "session.ended",
            target: Some(format!("account:{}", actor.id())),
            details: None,
        },
    )
    .await?;
    if session_id == actor.session_id() {
        let mut res = Redirect::to("/login").into_response();
        res.headers_mut()
            .append(header::SET_COOKIE, session::clear_cookie(&state.config));
        return Ok(res);
    }
    Ok(Redirect::to("/profile?done=session").into_response())
}

async fn end_all_sessions(
    State(state): State<AppState>,
    actor: Actor,
    meta: RequestMeta,
) -> AppResult<Response> {
    let mut tx = state.db.begin().await?;
    session::end_all(&mut tx, actor.id()).await?;
    audit::record(
        &mut tx,
        &meta,
        Entry {
            actor: Some(actor.id()),
            school: None,
            action: "session.ended_all",
            target: Some(format!("account:{}", actor.id())),
            details: None,
        },
    )
    .await?;
    tx.commit().await?;
    let mut res = Redirect::to("/login").into_response();
    res.headers_mut()
        .append(header::SET_COOKIE, session::clear_cookie(&state.config));
    Ok(res)
}
