//! Sharing a new link: a printable poster, the QR code as a file, and sending it by e-mail
//! through the outbox.

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use sqlx::PgConnection;

use super::create::created_page;
use super::{View, view_by_token};
use crate::AppState;
use crate::audit::{self, Entry};
use crate::auth::extract::{RequestMeta, SchoolScope};
use crate::auth::permissions::Action;
use crate::error::{AppError, AppResult};
use crate::ids::SchoolId;
use crate::invites::{class_limit, issue, join_url, may_create, qr_svg, qr_svg_file};
use crate::web::form::{FormErrors, normalize_email};
use crate::web::once::FormKey;

#[derive(Deserialize, Default)]
pub(super) struct ShareForm {
    #[serde(default)]
    form_key: FormKey,
    #[serde(default)]
    token: String,
    #[serde(default)]
    email: String,
}

/// The link behind a token the creator holds, if the actor may share it.
async fn shared(conn: &mut PgConnection, scope: &SchoolScope, token: &str) -> AppResult<View> {
    if token.trim().is_empty() {
        return Err(AppError::BadRequest(crate::ru!(
            "Не указана ссылка-приглашение."
        )));
    }
    let view = view_by_token(&mut *conn, scope, token)
        .await?
        .ok_or(AppError::NotFound)?;
    let limit = class_limit(scope);
    let leads = limit.as_ref().is_none_or(|l| l.contains(&view.class));
    // Another class's link: the object rule LeadsClass, 403.
    if !may_create(scope.roles(), leads, &view.role) {
        return Err(AppError::Forbidden);
    }
    Ok(view)
}

#[derive(Template, WebTemplate)]
#[template(path = "invites/poster.html")]
struct PosterPage {
    school_name: String,
    school_id: SchoolId,
    view: View,
    link: String,
    /// Server-built SVG markup.
    qr: String,
}

pub(super) async fn poster(
    State(state): State<AppState>,
    scope: SchoolScope,
    Form(form): Form<ShareForm>,
) -> AppResult<Response> {
    scope.require(Action::CreateInvites)?;
    let mut conn = state.db.acquire().await?;
    let view = shared(&mut conn, &scope, &form.token).await?;
    let link = join_url(&state.public_url, &form.token);
    Ok(PosterPage {
        school_name: scope.school_name().to_owned(),
        school_id: scope.school_id(),
        qr: qr_svg(&link),
        link,
        view,
    }
    .into_response())
}

pub(super) async fn qr_file(
    State(state): State<AppState>,
    scope: SchoolScope,
    Form(form): Form<ShareForm>,
) -> AppResult<Response> {
    scope.require(Action::CreateInvites)?;
    let mut conn = state.db.acquire().await?;
    shared(&mut conn, &scope, &form.token).await?;
    let svg = qr_svg_file(&join_url(&state.public_url, &form.token));
    Ok((
        [
            (header::CONTENT_TYPE, "image/svg+xml"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"invite-qr.svg\"",
            ),
        ],
        svg,
    )
        .into_response())
}

/// The e-mail that carries a link.
pub(crate) fn invite_mail(school: &str, view: &View, link: &str) -> (String, String) {
    let subject = format!("Приглашение на школьный портал: {school}");
    let child = view
        .child
        .as_deref()
        .map(|c| format!(" (ребёнок: {c})"))
        .unwrap_or_default();
    let body = format!(
        "Здравствуйте!\r\n\r\n{school} приглашает вас на школьный портал: {}{child}, {}.\r\n\r\n\
         Чтобы присоединиться, откройте ссылку:\r\n{link}\r\n\r\n\
         Ссылка действует до {}.{}\r\n\r\n\
         Если вы не ждали этого письма, просто удалите его.\r\n",
        view.role_title,
        view.target,
        view.expires,
        if view.approval {
            " После вступления заявку рассмотрит администратор или классный руководитель."
        } else {
            ""
        }
    );
    (subject, body)
}

pub(super) async fn email(
    State(state): State<AppState>,
    scope: SchoolScope,
    meta: RequestMeta,
    Form(form): Form<ShareForm>,
) -> AppResult<Response> {
    scope.require(Action::CreateInvites)?;
    let mut tx = state.db.begin().await?;
    let seen = form.form_key.seen(&mut tx, scope.actor().id()).await?;
    let view = shared(&mut tx, &scope, &form.token).await?;
    if seen.is_some() {
        // Sent again (at once, or after Back): the letter is already queued; the same page.
        let notice = Some("Письмо с приглашением уже поставлено в очередь отправки.".to_owned());
        return Ok(created_page(&state, &scope, &form.token, view, notice).into_response());
    }
    let to = normalize_email(&form.email);
    let Some(to) = to else {
        let mut page = created_page(&state, &scope, &form.token, view, None);
        page.email = form.email.trim().to_owned();
        page.email_errors = FormErrors::field(
            "email",
            "Укажите адрес электронной почты, например ivanova@mail.ru.",
        );
        return Ok(page.into_response());
    };
    issue::creation_limit(&mut tx, &state, scope.actor().id()).await?;
    let link = join_url(&state.public_url, &form.token);
    let (subject, body) = invite_mail(scope.school_name(), &view, &link);
    crate::mail::enqueue(&mut tx, Some(scope.tenant()), &to, &subject, &body).await?;
    audit::record(
        &mut tx,
        &meta,
        Entry {
            actor: Some(scope.actor().id()),
            school: Some(scope.school_id()),
            action: "invite.sent_by_email",
            target: Some(format!("invite:{}", view.id)),
            details: Some(format!("to {to}")),
        },
    )
    .await?;
    let url = format!("/s/{}/invites", scope.school_id());
    form.form_key
        .done(&mut tx, scope.actor().id(), &url)
        .await?;
    tx.commit().await?;
    let notice = Some(format!(
        "Письмо с приглашением поставлено в очередь отправки на {to}."
    ));
    let page = created_page(&state, &scope, &form.token, view, notice);
    Ok(page.into_response())
}
