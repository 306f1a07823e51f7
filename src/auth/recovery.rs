//! Password recovery by e-mail (issue 13, item 2; SECURITY.md 6–8). «Забыли пароль?» on the
//! login page leads here: the person types their e-mail and gets a one-time link (its
//! SHA-256 stored, valid `PORTAL_RESET_LINK_MINUTES`, single use) through the outbox. The
//! answer is the same page whether the address is known or not, and for a phone number;
//! requests are limited per IP and per typed address. The link opens the same «set your
//! password» page appointed people use (`/password/{token}`); saving ends every session of
//! the account. People without e-mail are told to ask their school's administrator, who
//! sends a login link from the person's card.

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use sqlx::PgConnection;

use super::extract::{MaybeActor, RequestMeta};
use super::permissions::Access;
use super::{issue_one_time_token, throttle};
use crate::AppState;
use crate::audit::{self, Entry};
use crate::error::AppResult;
use crate::ids::AccountId;
use crate::web::Routes;
use crate::web::form::{normalize_email, normalize_phone};
use crate::web::format::full_name;
use crate::web::layout::Layout;

/// The purpose of recovery tokens in `one_time_tokens`.
pub const PURPOSE: &str = "reset_password";
/// Requests for the same typed address allowed per minute.
const PER_ADDRESS_PER_MINUTE: i32 = 3;

pub fn routes(r: Routes) -> Routes {
    r.get("/forgot", Access::Public, page)
        .post("/forgot", Access::Public, request)
}

#[derive(Template, WebTemplate)]
#[template(path = "auth/forgot.html")]
struct ForgotPage {
    layout: Layout,
    login: String,
    error: Option<&'static str>,
    /// The request was taken: the same words whoever asked.
    done: bool,
}

async fn page(MaybeActor(actor): MaybeActor) -> AppResult<Response> {
    if actor.is_some() {
        return Ok(Redirect::to("/profile").into_response());
    }
    Ok(ForgotPage {
        layout: Layout::anonymous(),
        login: String::new(),
        error: None,
        done: false,
    }
    .into_response())
}

#[derive(Deserialize)]
struct ForgotForm {
    #[serde(default)]
    login: String,
}

async fn request(
    State(state): State<AppState>,
    meta: RequestMeta,
    Form(form): Form<ForgotForm>,
) -> AppResult<Response> {
    let login = form.login.trim().to_owned();
    let email = normalize_email(&login);
    if email.is_none() && normalize_phone(&login).is_none() {
        return Ok(ForgotPage {
            layout: Layout::anonymous(),
            login,
            error: Some("Укажите адрес электронной почты, например ivanova@mail.ru."),
            done: false,
        }
        .into_response());
    }
    let mut conn = state.db.acquire().await?;
    let ip_key = format!("reset-ip:{}", meta.ip.as_deref().unwrap_or("unknown"));
    throttle::limit(
        &mut conn,
        &ip_key,
        state.config.help.reset_per_ip_per_minute,
    )
    .await?;
    let address_key = format!("reset-login:{}", login.to_lowercase());
    throttle::limit(&mut conn, &address_key, PER_ADDRESS_PER_MINUTE).await?;
    drop(conn);
    if let Some(email) = email {
        let mut tx = state.db.begin().await?;
        send_link(&mut tx, &state, &meta, &email).await?;
        tx.commit().await?;
    }
    Ok(ForgotPage {
        layout: Layout::anonymous(),
        login,
        error: None,
        done: true,
    }
    .into_response())
}

/// Mails a fresh recovery link to the account with this e-mail, if there is one. A link
/// asked for less than a minute after the previous one (a double submit) sends nothing
/// more; earlier unused links stop working.
async fn send_link(
    conn: &mut PgConnection,
    state: &AppState,
    meta: &RequestMeta,
    email: &str,
) -> sqlx::Result<()> {
    let Some(a) = sqlx::query!(
        r#"select id as "id: AccountId", surname, given_name, patronymic from accounts
           where email = $1 and deactivated_at is null
           for update"#,
        email
    )
    .fetch_optional(&mut *conn)
    .await?
    else {
        return Ok(());
    };
    let recent: bool = sqlx::query_scalar!(
        r#"select exists(select 1 from one_time_tokens where account_id = $1 and purpose = $2
                         and used_at is null and created_at > now() - interval '1 minute') as "e!""#,
        a.id as AccountId,
        PURPOSE
    )
    .fetch_one(&mut *conn)
    .await?;
    if recent {
        return Ok(());
    }
    sqlx::query!(
        "update one_time_tokens set used_at = now() where account_id = $1 and purpose = $2 and used_at is null",
        a.id as AccountId,
        PURPOSE
    )
    .execute(&mut *conn)
    .await?;
    let minutes = state.config.help.reset_link_minutes.max(1);
    let token =
        issue_one_time_token(conn, PURPOSE, Some(a.id), time::Duration::minutes(minutes)).await?;
    let name = full_name(&a.surname, &a.given_name, a.patronymic.as_deref());
    let body = format!(
        "Здравствуйте, {name}!\n\n\
         На Школьном портале попросили восстановить пароль для этого адреса.\n\
         Чтобы задать новый пароль, откройте ссылку (она действует {}, один раз):\n\n\
         {}/password/{token}\n\n\
         После сохранения нового пароля портал закроет все открытые сеансы входа.\n\
         Если вы не просили восстановить пароль, ничего не делайте: пароль останется прежним.\n",
        crate::web::format::count(minutes, "минуту", "минуты", "минут"),
        state.public_url,
    );
    crate::mail::enqueue(conn, None, email, "Восстановление пароля", &body).await?;
    audit::record(
        conn,
        meta,
        Entry {
            actor: None,
            school: None,
            action: "password.reset_requested",
            target: Some(format!("account:{}", a.id)),
            details: None,
        },
    )
    .await
}
