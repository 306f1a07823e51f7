//! Accounts and sessions (SECURITY.md 1–9; R2.1.b, R2.6.d, R2.7.c): login by e-mail or
//! phone, logout, the operator's first-run setup link, and one-time "set your password"
//! links for appointed administrators.

pub mod extract;
pub mod objects;
pub mod password;
pub mod permissions;
pub mod recovery;
pub mod region;
pub mod session;
pub mod tenant;
pub mod throttle;

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use sqlx::PgConnection;
use time::OffsetDateTime;

use self::extract::{MaybeActor, RequestMeta};
use self::password::Verified;
use self::permissions::Access;
use crate::AppState;
use crate::audit::{self, Entry};
use crate::error::{AppError, AppResult};
use crate::ids::AccountId;
use crate::web::Routes;
use crate::web::form::{FormErrors, normalize_email, normalize_phone};
use crate::web::layout::Layout;

pub fn routes(r: Routes) -> Routes {
    let r = recovery::routes(r);
    r.get("/login", Access::Public, login_page)
        .post("/login", Access::Public, login)
        .post("/logout", Access::LoggedIn, logout)
        .get("/setup/{token}", Access::Public, setup_page)
        .post("/setup/{token}", Access::Public, setup)
        .get("/password/{token}", Access::Public, set_password_page)
        .post("/password/{token}", Access::Public, set_password)
}

/// A local path to go back to after login (SECURITY.md 37); anything else becomes "/".
/// One leading `/`, then no `//`, no `\`, no scheme, no control character or whitespace,
/// checked on the value and on its percent-decoded form (`/%09/evil.example` is refused:
/// browsers drop the tab and read `//evil.example`). What passes is always a valid
/// `Location` header, so a line break can never turn into a 500.
pub(crate) fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if is_own_path(n) && is_own_path(&percent_decode(n)) => n.to_owned(),
        _ => "/".to_owned(),
    }
}

fn is_own_path(p: &str) -> bool {
    p.starts_with('/')
        && !p.starts_with("//")
        && !p.contains('\\')
        && !p.contains("//")
        && !p.chars().any(|c| c.is_control() || c.is_whitespace())
}

/// `%XX` sequences decoded (bytes that are not UTF-8 become U+FFFD).
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%'
            && let (Some(h), Some(l)) = (
                bytes.get(i + 1).and_then(|b| hex(*b)),
                bytes.get(i + 2).and_then(|b| hex(*b)),
            )
        {
            out.push((h * 16 + l) as u8);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A redirect that also sets the new session cookie.
fn redirect_with_session(state: &AppState, to: &str, token: &str) -> Response {
    let mut res = Redirect::to(to).into_response();
    res.headers_mut().append(
        header::SET_COOKIE,
        session::set_cookie(&state.config, token),
    );
    res
}

#[derive(Template, WebTemplate)]
#[template(path = "auth/login.html")]
struct LoginPage {
    layout: Layout,
    login: String,
    next: String,
    error: Option<String>,
    /// Messages next to the fields (control characters the edge removed).
    errors: FormErrors,
}

#[derive(Deserialize)]
struct NextQuery {
    next: Option<String>,
}

async fn login_page(
    MaybeActor(actor): MaybeActor,
    Query(q): Query<NextQuery>,
) -> AppResult<Response> {
    if actor.is_some() {
        return Ok(Redirect::to(&safe_next(q.next.as_deref())).into_response());
    }
    Ok(LoginPage {
        layout: Layout::anonymous(),
        login: String::new(),
        next: safe_next(q.next.as_deref()),
        error: None,
        errors: FormErrors::none(),
    }
    .into_response())
}

#[derive(Deserialize)]
struct LoginForm {
    login: String,
    password: String,
    next: Option<String>,
}

/// The account a login name (e-mail or phone) belongs to.
async fn find_account(
    conn: &mut PgConnection,
    login: &str,
) -> sqlx::Result<Option<(AccountId, Option<String>)>> {
    let (email, phone) = if login.contains('@') {
        (normalize_email(login), None)
    } else {
        (None, normalize_phone(login))
    };
    if email.is_none() && phone.is_none() {
        return Ok(None);
    }
    let row = sqlx::query!(
        r#"select id as "id: AccountId", password_hash from accounts
           where deactivated_at is null
             and ((email = $1 and $1 is not null) or (phone = $2 and $2 is not null))"#,
        email,
        phone
    )
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|r| (r.id, r.password_hash)))
}

fn locked_message(secs: i64) -> String {
    let minutes = (secs + 59) / 60;
    format!(
        "Слишком много неудачных попыток входа. Попробуйте снова через {}.",
        crate::web::format::count(minutes, "минуту", "минуты", "минут")
    )
}

async fn login(
    State(state): State<AppState>,
    meta: RequestMeta,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> AppResult<Response> {
    let next = safe_next(form.next.as_deref());
    let login = form.login.trim().to_owned();
    let again = |error: String| -> AppResult<Response> {
        Ok(LoginPage {
            layout: Layout::anonymous(),
            login: login.clone(),
            next: next.clone(),
            error: Some(error),
            errors: FormErrors::none(),
        }
        .into_response())
    };
    // Control characters removed at the edge: the form again, the message next to the
    // field, nothing tried (no throttle, no audit row, no session).
    let errors = FormErrors::default();
    if !errors.is_empty() {
        return Ok(LoginPage {
            layout: Layout::anonymous(),
            login: login.clone(),
            next: next.clone(),
            error: None,
            errors,
        }
        .into_response());
    }
    let mut conn = state.db.acquire().await?;

    let ip_key = format!("login-ip:{}", meta.ip.as_deref().unwrap_or("unknown"));
    throttle::limit(&mut conn, &ip_key, state.config.login_per_ip_per_minute).await?;

    let account = find_account(&mut conn, &login).await?;
    let key = match &account {
        Some((id, _)) => format!("account:{id}"),
        None => format!("login:{}", login.to_lowercase()),
    };
    if let Some(secs) = throttle::locked_for(&mut conn, &key).await? {
        return again(locked_message(secs));
    }
    // Give the connection back while the hash runs.
    drop(conn);

    let stored = account.as_ref().and_then(|(_, h)| h.clone());
    let verified = state.hasher.verify(form.password, stored).await?;
    let mut conn = state.db.acquire().await?;
    let account_id = match (verified, &account) {
        (Verified::No, _) | (_, None) => {
            let locked = throttle::fail(&mut conn, &key).await?;
            audit::record(
                &mut conn,
                &meta,
                Entry {
                    actor: account.as_ref().map(|(id, _)| *id),
                    school: None,
                    action: "login.failed",
                    target: None,
                    details: locked.map(|s| format!("вход закрыт на {s} с")),
                },
            )
            .await?;
            return again(match locked {
                Some(secs) => locked_message(secs),
                None => "Неверный логин или пароль.".to_owned(),
            });
        }
        (Verified::YesRehash(new_hash), Some((id, _))) => {
            sqlx::query!(
                "update accounts set password_hash = $2 where id = $1",
                *id as AccountId,
                new_hash
            )
            .execute(&mut *conn)
            .await?;
            *id
        }
        (Verified::Yes, Some((id, _))) => *id,
    };

    throttle::clear(&mut conn, &key).await?;
    // A new session id at every login; the one the browser had is dead (SECURITY.md 2).
    let token =
        session::renew(&mut conn, &state.config, &headers, account_id, &meta, &next).await?;
    audit::record(
        &mut conn,
        &meta,
        Entry {
            actor: Some(account_id),
            school: None,
            action: "login",
            target: None,
            details: None,
        },
    )
    .await?;
    Ok(redirect_with_session(&state, &next, &token))
}

async fn logout(
    State(state): State<AppState>,
    actor: extract::Actor,
    meta: RequestMeta,
    headers: HeaderMap,
) -> AppResult<Response> {
    let mut conn = state.db.acquire().await?;
    if let Some(token) = session::token_from_headers(&headers, &state.config) {
        session::delete_by_token(&mut conn, &token).await?;
    }
    audit::record(
        &mut conn,
        &meta,
        Entry {
            actor: Some(actor.id()),
            school: None,
            action: "logout",
            target: None,
            details: None,
        },
    )
    .await?;
    let mut res = Redirect::to("/login").into_response();
    res.headers_mut()
        .append(header::SET_COOKIE, session::clear_cookie(&state.config));
    Ok(res)
}

// ---- one-time links -------------------------------------------------------------------

/// Makes a one-time link token; returns the raw token (shown once, never stored).
pub async fn issue_one_time_token(
    conn: &mut PgConnection,
    purpose: &str,
    account: Option<AccountId>,
    valid_for: time::Duration,
) -> sqlx::Result<String> {
    let token = session::new_token();
    sqlx::query!(
        "insert into one_time_tokens (token_hash, purpose, account_id, expires_at) values ($1, $2, $3, $4)",
        session::token_hash(&token),
        purpose,
        account as Option<AccountId>,
        OffsetDateTime::now_utc() + valid_for,
    )
    .execute(conn)
    .await?;
    Ok(token)
}

/// The account (if any) of a live one-time token of this purpose.
async fn live_token(
    conn: &mut PgConnection,
    token: &str,
    purpose: &str,
) -> sqlx::Result<Option<Option<AccountId>>> {
    let row = sqlx::query!(
        r#"select account_id as "account_id: AccountId" from one_time_tokens
           where token_hash = $1 and purpose = $2 and used_at is null and expires_at > now()"#,
        session::token_hash(token),
        purpose
    )
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|r| r.account_id))
}

/// The account of a live «set your password» token: an appointed person's, an
/// administrator's login link, or a recovery link ([`recovery`]).
async fn live_password_token(
    conn: &mut PgConnection,
    token: &str,
) -> sqlx::Result<Option<AccountId>> {
    for purpose in ["set_password", recovery::PURPOSE] {
        if let Some(Some(account)) = live_token(conn, token, purpose).await? {
            return Ok(Some(account));
        }
    }
    Ok(None)
}

/// Marks a token used; false if someone used it first (one use only).
async fn consume_token(conn: &mut PgConnection, token: &str) -> sqlx::Result<bool> {
    let done = sqlx::query!(
        "update one_time_tokens set used_at = now() where token_hash = $1 and used_at is null and expires_at > now()",
        session::token_hash(token)
    )
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// On a database with no operator yet, a fresh one-time setup link (printed at start-up).
/// Earlier unused setup links stop working.
pub async fn first_run_link(db: &sqlx::PgPool, public_url: &str) -> anyhow::Result<Option<String>> {
    let mut tx = db.begin().await?;
    let has_operator: bool =
        sqlx::query_scalar!(r#"select exists(select 1 from accounts where is_operator) as "e!""#)
            .fetch_one(&mut *tx)
            .await?;
    if has_operator {
        return Ok(None);
    }
    sqlx::query!("delete from one_time_tokens where purpose = 'setup' and used_at is null")
        .execute(&mut *tx)
        .await?;
    let token = issue_one_time_token(&mut tx, "setup", None, time::Duration::days(1)).await?;
    tx.commit().await?;
    Ok(Some(format!("{public_url}/setup/{token}")))
}

#[derive(Template, WebTemplate)]
#[template(path = "auth/setup.html")]
struct SetupPage {
    layout: Layout,
    form: AccountForm,
    errors: FormErrors,
    /// «setup» (the operator) or «password» (an appointed person setting theirs).
    mode: &'static str,
    who: String,
}

#[derive(Deserialize, Default, Debug)]
struct AccountForm {
    #[serde(default)]
    surname: String,
    #[serde(default)]
    given_name: String,
    #[serde(default)]
    patronymic: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    password2: String,
}

fn invalid_link() -> AppError {
    AppError::NotFound
}

async fn setup_page(
    State(state): State<AppState>,
    Path(token): Path<String>,
) -> AppResult<Response> {
    let mut conn = state.db.acquire().await?;
    if live_token(&mut conn, &token, "setup").await?.is_none() {
        return Err(invalid_link());
    }
    Ok(SetupPage {
        layout: Layout::anonymous(),
        form: AccountForm::default(),
        errors: FormErrors::default(),
        mode: "setup",
        who: String::new(),
    }
    .into_response())
}

fn check_passwords(form: &AccountForm, admin: bool, errors: &mut FormErrors) {
    if let Err(m) = password::check_new_password(&form.password, admin) {
        errors.add("password", m);
    }
    if form.password != form.password2 {
        errors.add("password2", "Пароли не совпадают.");
    }
}

async fn setup(
    State(state): State<AppState>,
    Path(token): Path<String>,
    meta: RequestMeta,
    Form(mut form): Form<AccountForm>,
) -> AppResult<Response> {
    let mut errors = FormErrors::default();
    let surname = form.surname.trim().to_owned();
    let given = form.given_name.trim().to_owned();
    let patronymic = Some(form.patronymic.trim().to_owned()).filter(|p| !p.is_empty());
    if surname.is_empty() {
        errors.add("surname", "Укажите фамилию.");
    }
    if given.is_empty() {
        errors.add("given_name", "Укажите имя.");
    }
    let email = normalize_email(&form.email);
    if email.is_none() {
        errors.add(
            "email",
            "Укажите адрес электронной почты, например ivanov@school.ru.",
        );
    }
    check_passwords(&form, true, &mut errors);
    {
        let mut conn = state.db.acquire().await?;
        if live_token(&mut conn, &token, "setup").await?.is_none() {
            return Err(invalid_link());
        }
    }
    if !errors.is_empty() {
        form.password.clear();
        form.password2.clear();
        return Ok(SetupPage {
            layout: Layout::anonymous(),
            form,
            errors,
            mode: "setup",
            who: String::new(),
        }
        .into_response());
    }
    let hash = state.hasher.hash(form.password.clone()).await?;
    let mut tx = state.db.begin().await?;
    if !consume_token(&mut tx, &token).await? {
        return Err(invalid_link());
    }
    let id = AccountId::new();
    sqlx::query!(
        r#"insert into accounts (id, surname, given_name, patronymic, email, password_hash,
                                 is_operator, security_stamp)
           values ($1, $2, $3, $4, $5, $6, true, gen_random_uuid())"#,
        id as AccountId,
        surname,
        given,
        patronymic,
        email,
        hash
    )
    .execute(&mut *tx)
    .await?;
    audit::record(
        &mut tx,
        &meta,
        Entry {
            actor: Some(id),
            school: None,
            action: "operator.created",
            target: Some(format!("account:{id}")),
            details: None,
        },
    )
    .await?;
    let session = session::create(
        &mut tx,
        &state.config,
        id,
        meta.ip.as_deref(),
        meta.user_agent.as_deref(),
    )
    .await?;
    tx.commit().await?;
    Ok(redirect_with_session(&state, "/operator/schools", &session))
}

async fn set_password_page(
    State(state): State<AppState>,
    Path(token): Path<String>,
) -> AppResult<Response> {
    let mut conn = state.db.acquire().await?;
    let Some(account) = live_password_token(&mut conn, &token).await? else {
        return Err(invalid_link());
    };
    let who = account_name(&mut conn, account).await?;
    Ok(SetupPage {
        layout: Layout::anonymous(),
        form: AccountForm::default(),
        errors: FormErrors::default(),
        mode: "password",
        who,
    }
    .into_response())
}

async fn account_name(conn: &mut PgConnection, account: AccountId) -> sqlx::Result<String> {
    let r = sqlx::query!(
        "select surname, given_name, patronymic from accounts where id = $1",
        account as AccountId
    )
    .fetch_one(conn)
    .await?;
    Ok(crate::web::format::full_name(
        &r.surname,
        &r.given_name,
        r.patronymic.as_deref(),
    ))
}

/// Whether the account holds admin rights anywhere, or a grant waiting for approval (or
/// runs the deployment): such accounts need 15-character passwords (SECURITY.md 9).
pub async fn has_admin_rights(conn: &mut PgConnection, account: AccountId) -> sqlx::Result<bool> {
    sqlx::query_scalar!(
        r#"select exists(select 1 from accounts where id = $1 and is_operator)
               or exists(select 1 from active_admin_grants where account_id = $1)
               or exists(select 1 from admin_grants where account_id = $1 and approved_at is null
                         and rejected_at is null and revoked_at is null
                         and (expires_at is null or expires_at > now())) as "e!""#,
        account as AccountId
    )
    .fetch_one(conn)
    .await
}

async fn set_password(
    State(state): State<AppState>,
    Path(token): Path<String>,
    meta: RequestMeta,
    Form(mut form): Form<AccountForm>,
) -> AppResult<Response> {
    let mut conn = state.db.acquire().await?;
    let Some(account) = live_password_token(&mut conn, &token).await? else {
        return Err(invalid_link());
    };
    let admin = has_admin_rights(&mut conn, account).await?;
    let mut errors = FormErrors::default();
    check_passwords(&form, admin, &mut errors);
    if !errors.is_empty() {
        let who = account_name(&mut conn, account).await?;
        form.password.clear();
        form.password2.clear();
        return Ok(SetupPage {
            layout: Layout::anonymous(),
            form,
            errors,
            mode: "password",
            who,
        }
        .into_response());
    }
    drop(conn);
    let hash = state.hasher.hash(form.password.clone()).await?;
    let mut tx = state.db.begin().await?;
    if !consume_token(&mut tx, &token).await? {
        return Err(invalid_link());
    }
    sqlx::query!(
        "update accounts set password_hash = $2 where id = $1",
        account as AccountId,
        hash
    )
    .execute(&mut *tx)
    .await?;
    // Any session opened with an earlier password ends, with every other link of the kind.
    session::end_all(&mut tx, account).await?;
    sqlx::query!(
        r#"update one_time_tokens set used_at = now()
           where account_id = $1 and used_at is null and purpose in ('set_password', 'reset_password')"#,
        account as AccountId
    )
    .execute(&mut *tx)
    .await?;
    throttle::clear(&mut tx, &format!("account:{account}")).await?;
    audit::record(
        &mut tx,
        &meta,
        Entry {
            actor: Some(account),
            school: None,
            action: "password.set_by_link",
            target: Some(format!("account:{account}")),
            details: None,
        },
    )
    .await?;
    let session = session::create(
        &mut tx,
        &state.config,
        account,
        meta.ip.as_deref(),
        meta.user_agent.as_deref(),
    )
    .await?;
    tx.commit().await?;
    Ok(redirect_with_session(&state, "/", &session))
}
