//! The school's application to be registered on the platform (R2.1.a; issue 13, item 5):
//! the administrator fills in the school's details, their full name, e-mail and phone and
//! uploads the appointment order as a PDF; the portal writes the application e-mail with
//! the PDF attached to the platform's address (`PORTAL_REGISTRATION_EMAIL`) and queues it
//! in the outbox, which retries with back-off. The page lists the applications with their
//! state (отправлена, в очереди, ошибка отправки).

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Multipart, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use uuid::Uuid;

use crate::AppState;
use crate::audit;
use crate::auth::extract::{RequestMeta, SchoolScope};
use crate::auth::permissions::{Access, Action};
use crate::error::{AppError, AppResult};
use crate::ids::{AccountId, SchoolId};
use crate::mail::Delivery;
use crate::web::Routes;
use crate::web::form::FormErrors;
use crate::web::form::{normalize_email, normalize_phone};
use crate::web::format;
use crate::web::layout::Layout;
use crate::web::once::{self, FormKey};

const MAX_PDF: usize = 5 * 1024 * 1024;
const TOO_BIG: &str = "Файл больше 5 МБ. Сохраните приказ в PDF меньшего размера.";

pub fn routes(r: Routes) -> Routes {
    r.get(
        "/s/{school_id}/registration",
        Access::School(Action::EditSchoolProfile),
        page,
    )
    .post(
        "/s/{school_id}/registration",
        Access::School(Action::EditSchoolProfile),
        submit,
    )
}

#[derive(Default)]
struct AppForm {
    form_key: FormKey,
    school_details: String,
    admin_name: String,
    admin_email: String,
    admin_phone: String,
}

struct Row {
    at: String,
    sent_to: String,
    pdf_name: String,
    state: &'static str,
}

#[derive(Template, WebTemplate)]
#[template(path = "registration/page.html")]
struct Page {
    layout: Layout,
    school_id: SchoolId,
    to: String,
    form: AppForm,
    errors: FormErrors,
    rows: Vec<Row>,
    sent: bool,
}

/// The state of the school's latest application, for the school's profile: «черновик»
/// when there is none yet.
pub async fn latest_state(
    conn: &mut sqlx::PgConnection,
    scope: &SchoolScope,
) -> sqlx::Result<&'static str> {
    let row = sqlx::query!(
        r#"select o.sent_at is not null as "sent!", coalesce(o.attempts, 0) as "attempts!",
                  o.last_error is not null as "failed!"
           from registration_applications r left join outbox o on o.id = r.outbox_id
           where r.school_id = $1 order by r.created_at desc limit 1"#,
        scope.school_id() as SchoolId
    )
    .fetch_optional(conn)
    .await?;
    Ok(match row {
        None => "черновик: заявка ещё не отправлена",
        Some(r) => application_state(Delivery::of(r.sent, r.attempts, r.failed)),
    })
}

fn application_state(d: Delivery) -> &'static str {
    match d {
        Delivery::Sent => "отправлена",
        Delivery::Queued => "в очереди на отправку",
        Delivery::Retrying => "ошибка отправки: портал повторит попытку",
        Delivery::Failed => "ошибка отправки: попытки исчерпаны, отправьте заявку ещё раз",
    }
}

async fn show(
    state: &AppState,
    scope: &SchoolScope,
    form: AppForm,
    errors: FormErrors,
    sent: bool,
    status: StatusCode,
) -> AppResult<Response> {
    let mut conn = state.db.acquire().await?;
    let tz = scope.timezone().to_owned();
    let rows = sqlx::query!(
        r#"select r.created_at, r.sent_to, r.pdf_name,
                  o.sent_at is not null as "sent!", coalesce(o.attempts, 0) as "attempts!",
                  o.last_error is not null as "failed!"
           from registration_applications r left join outbox o on o.id = r.outbox_id
           where r.school_id = $1 order by r.created_at desc limit 20"#,
        scope.school_id() as SchoolId
    )
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .map(|r| Row {
        at: format::datetime(r.created_at, &tz),
        sent_to: r.sent_to,
        pdf_name: r.pdf_name,
        state: application_state(Delivery::of(r.sent, r.attempts, r.failed)),
    })
    .collect();
    let mut res = Page {
        layout: Layout::for_scope(scope),
        school_id: scope.school_id(),
        to: state.config.help.registration_email.clone(),
        form,
        errors,
        rows,
        sent,
    }
    .into_response();
    *res.status_mut() = status;
    Ok(res)
}

#[derive(Deserialize, Default)]
struct SentQuery {
    #[serde(default)]
    sent: bool,
}

async fn page(
    State(state): State<AppState>,
    scope: SchoolScope,
    Query(q): Query<SentQuery>,
) -> AppResult<Response> {
    scope.require(Action::EditSchoolProfile)?;
    let s = sqlx::query!(
        r#"select s.name, s.inn, s.address, s.phone, s.email, a.surname, a.given_name,
                  a.patronymic, a.email as "admin_email?", a.phone as "admin_phone?"
           from schools s, accounts a where s.id = $1 and a.id = $2"#,
        scope.school_id() as SchoolId,
        scope.actor().id() as AccountId
    )
    .fetch_one(&state.db)
    .await?;
    let details = [
        Some(s.name),
        s.inn.map(|i| format!("ИНН {i}")),
        s.address,
        s.phone.map(|p| format!("тел. {p}")),
        s.email,
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>()
    .join("\n");
    let form = AppForm {
        school_details: details,
        admin_name: format::full_name(&s.surname, &s.given_name, s.patronymic.as_deref()),
        admin_email: s.admin_email.unwrap_or_default(),
        admin_phone: s
            .admin_phone
            .as_deref()
            .map(format::phone)
            .unwrap_or_default(),
        ..AppForm::default()
    };
    show(
        &state,
        &scope,
        form,
        FormErrors::default(),
        q.sent,
        StatusCode::OK,
    )
    .await
}

async fn submit(
    State(state): State<AppState>,
    scope: SchoolScope,
    meta: RequestMeta,
    mut multipart: Multipart,
) -> AppResult<Response> {
    scope.require(Action::EditSchoolProfile)?;
    let mut form = AppForm::default();
    let mut pdf: Option<(Vec<u8>, String)> = None;
    let mut errors = FormErrors::default();
    let mut too_big = false;
    loop {
        let field = match multipart.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => break,
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                too_big = true;
                errors.add("pdf", TOO_BIG);
                break;
            }
            Err(_) => {
                return Err(AppError::BadRequest(crate::ru!(
                    "Форму не удалось прочитать. Попробуйте ещё раз."
                )));
            }
        };
        let name = field.name().unwrap_or("").to_owned();
        if name == "pdf" {
            let filename = field.file_name().unwrap_or("").to_owned();
            let bytes = match field.bytes().await {
                Ok(bytes) => bytes,
                Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                    too_big = true;
                    errors.add("pdf", TOO_BIG);
                    break;
                }
                Err(_) => {
                    return Err(AppError::BadRequest(crate::ru!(
                        "Файл не удалось прочитать."
                    )));
                }
            };
            if bytes.is_empty() {
                continue;
            }
            if bytes.len() > MAX_PDF {
                too_big = true;
                errors.add("pdf", TOO_BIG);
            } else if !bytes.starts_with(b"%PDF-") {
                errors.add("pdf", "Это не PDF-файл. Сохраните приказ в PDF.");
            } else {
                pdf = Some((bytes.to_vec(), filename));
            }
            continue;
        }
        let value = field
            .text()
            .await
            .map_err(|_| AppError::BadRequest(crate::ru!("Форму не удалось прочитать.")))?;
        match name.as_str() {
            "form_key" => form.form_key = FormKey::parse(&value),
            "school_details" => form.school_details = value,
            "admin_name" => form.admin_name = value,
            "admin_email" => form.admin_email = value,
            "admin_phone" => form.admin_phone = value,
            _ => {}
        }
    }
    let details = form.school_details.trim().to_owned();
    if details.is_empty() {
        errors.add(
            "school_details",
            "Укажите полное название школы, ИНН и адрес.",
        );
    } else if details.chars().count() > 2000 {
        errors.add("school_details", "Не длиннее 2000 символов.");
    }
    let name = form.admin_name.trim().to_owned();
    if name.is_empty() || name.chars().count() > 300 {
        errors.add(
            "admin_name",
            "Укажите фамилию, имя и отчество администратора.",
        );
    }
    let email = normalize_email(&form.admin_email);
    if email.is_none() {
        errors.add("admin_email", "Укажите почту, например ivanova@school.ru.");
    }
    let phone = normalize_phone(&form.admin_phone);
    if phone.is_none() {
        errors.add("admin_phone", "Укажите телефон, например +7 900 123-45-67.");
    }
    if pdf.is_none() && errors.get("pdf").is_none() {
        errors.add("pdf", "Приложите приказ о назначении администратора (PDF).");
    }
    let (Some(email), Some(phone), Some((bytes, pdf_name)), true) =
        (email, phone, pdf, errors.is_empty())
    else {
        let status = if too_big {
            StatusCode::PAYLOAD_TOO_LARGE
        } else {
            StatusCode::OK
        };
        return show(&state, &scope, form, errors, false, status).await;
    };
    let pdf_name = if pdf_name.trim().is_empty() || !pdf_name.to_lowercase().ends_with(".pdf") {
        "prikaz.pdf".to_owned()
    } else {
        pdf_name.chars().take(120).collect()
    };
    let to = state.config.help.registration_email.clone();
    let school = scope.school_id();
    let done = format!("/s/{school}/registration?sent=true");
    let mut tx = state.db.begin().await?;
    if let Some(url) = form.form_key.seen(&mut tx, scope.actor().id()).await? {
        return Ok(once::again(&url));
    }
    let body = format!(
        "Заявка на регистрацию образовательной организации на платформе\n\n\
         Образовательная организация:\n{details}\n\n\
         Администратор платформы в организации:\n\
         ФИО: {name}\nЭлектронная почта: {email}\nТелефон: {}\n\n\
         Приказ о назначении администратора приложен ({pdf_name}).\n\n\
         Идентификатор школы на Школьном портале: {school}\n",
        format::phone(&phone),
    );
    let outbox = crate::mail::enqueue(
        &mut tx,
        Some(scope.tenant()),
        &to,
        &format!("Заявка на регистрацию: {}", scope.school_name()),
        &body,
    )
    .await?;
    crate::mail::attach(&mut tx, outbox, &pdf_name, "application/pdf", &bytes).await?;
    sqlx::query!(
        r#"insert into registration_applications (school_id, id, school_details, admin_name,
               admin_email, admin_phone, pdf, pdf_name, outbox_id, sent_to, created_by)
           values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"#,
        school as SchoolId,
        Uuid::now_v7(),
        details,
        name,
        email,
        phone,
        bytes,
        pdf_name,
        outbox as crate::ids::MessageId,
        to,
        scope.actor().id() as AccountId
    )
    .execute(&mut *tx)
    .await?;
    audit::in_school(
        &mut tx,
        &meta,
        &scope,
        "registration.applied",
        Some(format!("school:{school}")),
        Some(format!("заявление отправлено: {to}")),
    )
    .await?;
    form.form_key
        .done(&mut tx, scope.actor().id(), &done)
        .await?;
    tx.commit().await?;
    Ok(Redirect::to(&done).into_response())
}
