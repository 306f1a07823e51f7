//! The school's regulation, edition by edition (R1.3, R4.1–4.2): each edition records its
//! approving order and the date it takes effect, with its text or a PDF; everyone in the
//! school reads the edition in force, and the earlier ones stay available.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Multipart, Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};

use crate::AppState;
use crate::audit;
use crate::auth::extract::{RequestMeta, SchoolScope};
use crate::auth::permissions::{Access, Action};
use crate::auth::tenant::Tenant;
use crate::error::{AppError, AppResult};
use crate::ids::{AccountId, EditionId, SchoolId};
use crate::web::Routes;
use crate::web::clock::SchoolClock;
use crate::web::form::FormErrors;
use crate::web::form::parse_date;
use crate::web::format;
use crate::web::layout::Layout;
use crate::web::once::{self, FormKey};

pub fn routes(r: Routes) -> Routes {
    r.get(
        "/s/{school_id}/regulation",
        Access::School(Action::ViewRegulation),
        current,
    )
    .get(
        "/s/{school_id}/regulation/new",
        Access::School(Action::ManageRegulation),
        new_page,
    )
    .post(
        "/s/{school_id}/regulation",
        Access::School(Action::ManageRegulation),
        create,
    )
    .get(
        "/s/{school_id}/regulation/{edition_id}",
        Access::School(Action::ViewRegulation),
        show,
    )
    .get(
        "/s/{school_id}/regulation/{edition_id}/pdf",
        Access::School(Action::ViewRegulation),
        pdf,
    )
}

/// Largest PDF accepted (the request body limit applies too).
const MAX_PDF: usize = 1536 * 1024;
const TOO_BIG: &str = "Файл больше 1,5 МБ. Сожмите PDF или вставьте текст.";

struct Edition {
    id: EditionId,
    edition: String,
    order: String,
    effective: String,
    in_force: bool,
    future: bool,
    body: Option<String>,
    has_pdf: bool,
}

#[derive(Template, WebTemplate)]
#[template(path = "regulation/show.html")]
struct ShowPage {
    layout: Layout,
    school_id: SchoolId,
    shown: Option<Edition>,
    editions: Vec<Edition>,
    can_manage: bool,
}

async fn editions(state: &AppState, tenant: Tenant, clock: SchoolClock) -> AppResult<Vec<Edition>> {
    let school = tenant.id();
    let mut conn = state.db.acquire().await?;
    let today = clock.today();
    let rows = sqlx::query!(
        r#"select id, edition, order_number, order_date, effective_from, body, pdf is not null as "has_pdf!"
           from regulation_editions where school_id = $1
           order by effective_from desc, created_at desc"#,
        school as SchoolId
    )
    .fetch_all(&mut *conn)
    .await?;
    let in_force = rows
        .iter()
        .find(|r| r.effective_from <= today)
        .map(|r| r.id);
    Ok(rows
        .into_iter()
        .map(|r| Edition {
            in_force: Some(r.id) == in_force,
            future: r.effective_from > today,
            id: EditionId(r.id),
            edition: r.edition,
            order: format::order(&r.order_number, r.order_date),
            effective: format::date_prose(r.effective_from),
            body: r.body,
            has_pdf: r.has_pdf,
        })
        .collect())
}

async fn show_edition(
    state: &AppState,
    scope: &SchoolScope,
    pick: Option<EditionId>,
) -> AppResult<Response> {
    let mut all = editions(state, scope.tenant(), SchoolClock::of(scope)).await?;
    let index = match pick {
        Some(id) => Some(
            all.iter()
                .position(|e| e.id == id)
                .ok_or(AppError::NotFound)?,
        ),
        None => all.iter().position(|e| e.in_force),
    };
    let shown = index.map(|i| all.remove(i));
    Ok(ShowPage {
        layout: Layout::for_scope(scope),
        school_id: scope.school_id(),
        shown,
        editions: all,
        can_manage: scope.can(Action::ManageRegulation),
    }
    .into_response())
}

async fn current(State(state): State<AppState>, scope: SchoolScope) -> AppResult<Response> {
    scope.require(Action::ViewRegulation)?;
    show_edition(&state, &scope, None).await
}

async fn show(
    State(state): State<AppState>,
    scope: SchoolScope,
    Path((_, edition)): Path<(SchoolId, EditionId)>,
) -> AppResult<Response> {
    scope.require(Action::ViewRegulation)?;
    show_edition(&state, &scope, Some(edition)).await
}

async fn pdf(
    State(state): State<AppState>,
    scope: SchoolScope,
    Path((_, edition)): Path<(SchoolId, EditionId)>,
) -> AppResult<Response> {
    scope.require(Action::ViewRegulation)?;
    let mut conn = state.db.acquire().await?;
    let row = sqlx::query!(
        "select pdf, pdf_name from regulation_editions where school_id = $1 and id = $2",
        scope.school_id() as SchoolId,
        edition as EditionId
    )
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(AppError::NotFound)?;
    let bytes = row.pdf.ok_or(AppError::NotFound)?;
    let mut res = bytes.into_response();
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/pdf"),
    );
    h.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static("inline; filename=\"polozhenie.pdf\""),
    );
    Ok(res)
}

#[derive(Default)]
struct EditionForm {
    form_key: FormKey,
    edition: String,
    order_number: String,
    order_date: String,
    effective_from: String,
    body: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "regulation/new.html")]
struct NewPage {
    layout: Layout,
    school_id: SchoolId,
    form: EditionForm,
    errors: FormErrors,
}

async fn new_page(scope: SchoolScope) -> AppResult<Response> {
    scope.require(Action::ManageRegulation)?;
    Ok(NewPage {
        layout: Layout::for_scope(&scope),
        school_id: scope.school_id(),
        form: EditionForm::default(),
        errors: FormErrors::default(),
    }
    .into_response())
}

async fn create(
    State(state): State<AppState>,
    scope: SchoolScope,
    meta: RequestMeta,
    mut multipart: Multipart,
) -> AppResult<Response> {
    scope.require(Action::ManageRegulation)?;
    let mut form = EditionForm::default();
    let mut pdf: Option<(Vec<u8>, String)> = None;
    let mut errors = FormErrors::default();
    // Over the limit: the form comes back with 413 (the body limit's error counts too).
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
                errors.add("pdf", "Это не PDF-файл.");
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
            "edition" => form.edition = value,
            "order_number" => form.order_number = value,
            "order_date" => form.order_date = value,
            "effective_from" => form.effective_from = value,
            "body" => form.body = value,
            _ => {}
        }
    }
    if form.edition.trim().is_empty() {
        errors.add("edition", "Укажите редакцию, например «редакция № 2».");
    }
    if form.order_number.trim().is_empty() {
        errors.add("order_number", "Укажите номер приказа об утверждении.");
    }
    let order_date = parse_date(&form.order_date);
    if order_date.is_none() {
        errors.add("order_date", "Укажите дату приказа, например 01.09.2025.");
    }
    let effective = parse_date(&form.effective_from);
    if effective.is_none() {
        errors.add("effective_from", "Укажите дату вступления в силу.");
    }
    if let (Some(o), Some(e)) = (order_date, effective)
        && e < o
    {
        errors.add(
            "effective_from",
            "Положение не вступает в силу раньше приказа.",
        );
    }
    let body = Some(form.body.trim().to_owned()).filter(|b| !b.is_empty());
    if body.is_none() && pdf.is_none() && errors.get("pdf").is_none() {
        errors.add("body", "Вставьте текст Положения или приложите PDF.");
    }
    let (Some(order_date), Some(effective), true) = (order_date, effective, errors.is_empty())
    else {
        let page = NewPage {
            layout: Layout::for_scope(&scope),
            school_id: scope.school_id(),
            form,
            errors,
        };
        return Ok(if too_big {
            (StatusCode::PAYLOAD_TOO_LARGE, page).into_response()
        } else {
            page.into_response()
        });
    };
    let (pdf_bytes, pdf_name) = match pdf {
        Some((b, n)) => (Some(b), Some(n)),
        None => (None, None),
    };
    let mut tx = state.db.begin().await?;
    if let Some(url) = form.form_key.seen(&mut tx, scope.actor().id()).await? {
        return Ok(once::again(&url));
    }
    let id = EditionId::new();
    sqlx::query!(
        r#"insert into regulation_editions (school_id, id, edition, order_number, order_date,
                                            effective_from, body, pdf, pdf_name, created_by)
           values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"#,
        scope.school_id() as SchoolId,
        id as EditionId,
        form.edition.trim(),
        form.order_number.trim(),
        order_date,
        effective,
        body,
        pdf_bytes,
        pdf_name,
        scope.actor().id() as AccountId
    )
    .execute(&mut *tx)
    .await?;
    audit::in_school(
        &mut tx,
        &meta,
        &scope,
        "regulation.edition_added",
        Some(format!("regulation:{id}")),
        Some(format!(
            "{}; {}; в силе с {}",
            form.edition.trim(),
            format::order(form.order_number.trim(), order_date),
            format::date(effective)
        )),
    )
    .await?;
    let url = format!("/s/{}/regulation/{id}", scope.school_id());
    form.form_key
        .done(&mut tx, scope.actor().id(), &url)
        .await?;
    tx.commit().await?;
    Ok(Redirect::to(&url).into_response())
}
