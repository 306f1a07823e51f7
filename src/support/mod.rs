//! Support (R3.2, R2.1.p; issue 13, item 4): every page's footer names the platform's
//! technical support address (`PORTAL_SUPPORT_EMAIL`) and, inside a school, links here:
//! the school's administrators with their contacts, and a support request that drafts an
//! e-mail to the platform's support with the school's details, the person's description
//! and the request's number, sent through the outbox. «Обращения в поддержку» lists the
//! requests with their state: a member sees their own, the administrator the school's.

use std::sync::OnceLock;

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use uuid::Uuid;

use crate::AppState;
use crate::audit;
use crate::auth::extract::{RequestMeta, SchoolScope};
use crate::auth::permissions::{Access, Action, Role};
use crate::error::AppResult;
use crate::ids::{AccountId, SchoolId};
use crate::mail::Delivery;
use crate::web::Routes;
use crate::web::form::FormErrors;
use crate::web::format::{self, full_name};
use crate::web::layout::Layout;
use crate::web::once::{self, FormKey};

static SUPPORT_EMAIL: OnceLock<String> = OnceLock::new();

/// Set once from the configuration when the application is built (the first value wins).
pub fn set_support_email(address: &str) {
    let _ = SUPPORT_EMAIL.set(address.to_owned());
}

/// The platform's technical support address.
pub fn support_email() -> &'static str {
    SUPPORT_EMAIL
        .get()
        .map(String::as_str)
        .unwrap_or("info@sferum.ru")
}

/// The request's number as people quote it.
pub fn request_number(n: i64) -> String {
    format!("SP-{n:06}")
}

pub fn routes(r: Routes) -> Routes {
    r.get(
        "/s/{school_id}/support",
        Access::School(Action::ContactSupport),
        page,
    )
    .post(
        "/s/{school_id}/support",
        Access::School(Action::ContactSupport),
        submit,
    )
}

struct Contact {
    name: String,
    email: Option<String>,
    phone: Option<String>,
}

struct RequestRow {
    number: String,
    topic: String,
    who: String,
    at: String,
    state: &'static str,
}

#[derive(Deserialize, Default)]
struct SupportForm {
    #[serde(default)]
    form_key: FormKey,
    #[serde(default)]
    topic: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    contact: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "support/page.html")]
struct SupportPage {
    layout: Layout,
    school_id: SchoolId,
    admins: Vec<Contact>,
    support_email: &'static str,
    form: SupportForm,
    errors: FormErrors,
    requests: Vec<RequestRow>,
    all: bool,
    sent: Option<String>,
}

#[derive(Deserialize, Default)]
struct SentQuery {
    #[serde(default)]
    sent: Option<i64>,
}

async fn render_page(
    state: &AppState,
    scope: &SchoolScope,
    form: SupportForm,
    errors: FormErrors,
    sent: Option<i64>,
) -> AppResult<Response> {
    let mut conn = state.db.acquire().await?;
    let school = scope.school_id();
    let admins = sqlx::query!(
        r#"select distinct a.surname, a.given_name, a.patronymic, a.email, a.phone
           from active_admin_grants g join accounts a on a.id = g.account_id
           where g.school_id = $1 and a.deactivated_at is null
           order by a.surname, a.given_name"#,
        school as SchoolId
    )
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .map(|r| Contact {
        name: full_name(&r.surname, &r.given_name, r.patronymic.as_deref()),
        email: r.email,
        phone: r.phone.as_deref().map(format::phone),
    })
    .collect();
    let all = scope.has(Role::Admin);
    let tz = scope.timezone().to_owned();
    let requests = sqlx::query!(
        r#"select r.number, r.topic, r.created_at,
                  coalesce(a.surname || ' ' || a.given_name, '—') as "who!",
                  o.sent_at is not null as "sent!", coalesce(o.attempts, 0) as "attempts!",
                  o.last_error is not null as "failed!"
           from support_requests r
           left join accounts a on a.id = r.account_id
           left join outbox o on o.id = r.outbox_id
           where r.school_id = $1 and ($2 or r.account_id = $3)
           order by r.created_at desc limit 50"#,
        school as SchoolId,
        all,
        scope.actor().id() as AccountId
    )
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .map(|r| RequestRow {
        number: request_number(r.number),
        topic: r.topic,
        who: r.who,
        at: format::datetime(r.created_at, &tz),
        state: Delivery::of(r.sent, r.attempts, r.failed).title(),
    })
    .collect();
    Ok(SupportPage {
        layout: Layout::for_scope(scope),
        school_id: school,
        admins,
        support_email: support_email(),
        form,
        errors,
        requests,
        all,
        sent: sent.map(request_number),
    }
    .into_response())
}

async fn page(
    State(state): State<AppState>,
    scope: SchoolScope,
    Query(q): Query<SentQuery>,
) -> AppResult<Response> {
    scope.require(Action::ContactSupport)?;
    let contact = sqlx::query_scalar!(
        "select coalesce(email, phone, '') as \"c!\" from accounts where id = $1",
        scope.actor().id() as AccountId
    )
    .fetch_one(&state.db)
    .await?;
    let form = SupportForm {
        contact,
        ..SupportForm::default()
    };
    render_page(&state, &scope, form, FormErrors::default(), q.sent).await
}

async fn submit(
    State(state): State<AppState>,
    scope: SchoolScope,
    meta: RequestMeta,
    Form(mut form): Form<SupportForm>,
) -> AppResult<Response> {
    scope.require(Action::ContactSupport)?;
    form.topic = form.topic.trim().to_owned();
    form.description = form.description.trim().to_owned();
    form.contact = form.contact.trim().to_owned();
    let mut errors = FormErrors::default();
    if form.topic.is_empty() {
        errors.add("topic", "Коротко назовите, о чём обращение.");
    } else if form.topic.chars().count() > 200 {
        errors.add("topic", "Тема — не длиннее 200 символов.");
    }
    if form.description.is_empty() {
        errors.add("description", "Опишите, что случилось и что вы делали.");
    } else if form.description.chars().count() > 5000 {
        errors.add("description", "Описание — не длиннее 5000 символов.");
    }
    if form.contact.is_empty() {
        errors.add("contact", "Укажите почту или телефон для ответа.");
    } else if form.contact.chars().count() > 200 {
        errors.add("contact", "Контакт — не длиннее 200 символов.");
    }
    if !errors.is_empty() {
        return render_page(&state, &scope, form, errors, None).await;
    }
    let school = scope.school_id();
    let mut tx = state.db.begin().await?;
    if let Some(url) = form.form_key.seen(&mut tx, scope.actor().id()).await? {
        return Ok(once::again(&url));
    }
    let id = Uuid::now_v7();
    let number = sqlx::query_scalar!(
        r#"insert into support_requests (school_id, id, account_id, topic, description, contact)
           values ($1, $2, $3, $4, $5, $6) returning number"#,
        school as SchoolId,
        id,
        scope.actor().id() as AccountId,
        form.topic,
        form.description,
        form.contact
    )
    .fetch_one(&mut *tx)
    .await?;
    let s = sqlx::query!(
        "select name, inn, address, phone, email from schools where id = $1",
        school as SchoolId
    )
    .fetch_one(&mut *tx)
    .await?;
    let roles: Vec<&str> = scope.roles().iter().map(|r| r.title()).collect();
    let no = request_number(number);
    let body = format!(
        "Обращение в техническую поддержку № {no}\n\n\
         Школа: {}\nИНН: {}\nАдрес: {}\nТелефон школы: {}\nПочта школы: {}\n\
         Идентификатор школы на портале: {school}\n\n\
         Обратился: {} ({})\nКонтакт для ответа: {}\n\n\
         Тема: {}\n\n{}\n\n\
         При ответе, пожалуйста, укажите номер обращения {no}.\n",
        s.name,
        s.inn.as_deref().unwrap_or("не указан"),
        s.address.as_deref().unwrap_or("не указан"),
        s.phone.as_deref().unwrap_or("не указан"),
        s.email.as_deref().unwrap_or("не указана"),
        scope.actor().full_name(),
        roles.join(", "),
        form.contact,
        form.topic,
        form.description,
    );
    let outbox = crate::mail::enqueue(
        &mut tx,
        Some(scope.tenant()),
        support_email(),
        &format!("Обращение {no}: {}", form.topic),
        &body,
    )
    .await?;
    sqlx::query!(
        "update support_requests set outbox_id = $3 where school_id = $1 and id = $2",
        school as SchoolId,
        id,
        outbox as crate::ids::MessageId
    )
    .execute(&mut *tx)
    .await?;
    audit::in_school(
        &mut tx,
        &meta,
        &scope,
        "support.requested",
        Some(format!("support:{no}")),
        None,
    )
    .await?;
    let to = format!("/s/{school}/support?sent={number}");
    form.form_key.done(&mut tx, scope.actor().id(), &to).await?;
    tx.commit().await?;
    Ok(Redirect::to(&to).into_response())
}
