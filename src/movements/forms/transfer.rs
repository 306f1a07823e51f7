//! Transferring a student to another class of the current year.

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::pick::{self, PickQuery, Picker, StudentCard, picker, require_student};
use super::{chosen_class, iso, movement_failure, parse_key, recorded, recorded_before};
use crate::AppState;
use crate::auth::extract::{RequestMeta, SchoolScope};
use crate::auth::permissions::Action;
use crate::error::AppResult;
use crate::ids::SchoolId;
use crate::movements::domain::{self, MovementError, MovementId};
use crate::movements::{ClassOption, current_classes, required_date, required_order};
use crate::web::form::FormErrors;
use crate::web::htmx::Htmx;
use crate::web::layout::Layout;

#[derive(Debug, Default, Deserialize)]
pub(in crate::movements) struct TransferForm {
    #[serde(default)]
    key: String,
    #[serde(default)]
    student: String,
    #[serde(default)]
    to_class: String,
    #[serde(default)]
    order_number: String,
    #[serde(default)]
    order_date: String,
    #[serde(default)]
    date: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "movements/transfer.html")]
struct TransferPage {
    layout: Layout,
    school_id: SchoolId,
    action: &'static str,
    picker: Option<Picker>,
    student: Option<StudentCard>,
    form: TransferForm,
    errors: FormErrors,
    classes: Vec<ClassOption>,
}

pub(in crate::movements) async fn transfer_page(
    State(state): State<AppState>,
    scope: SchoolScope,
    htmx: Htmx,
    Query(q): Query<PickQuery>,
) -> AppResult<Response> {
    scope.require(Action::RecordMovements)?;
    let school = scope.school_id();
    let mut conn = state.db.acquire().await?;
    let (picker, student) = if q.student.trim().is_empty() {
        (
            Some(picker(&mut conn, scope.tenant(), &q.q, &q.class).await?),
            None,
        )
    } else {
        (
            None,
            Some(require_student(&mut conn, scope.tenant(), &q.student).await?),
        )
    };
    if htmx.asked()
        && let Some(p) = &picker
    {
        return pick::results(scope.tenant(), "transfer", p);
    }
    let classes = current_classes(&mut conn, scope.tenant()).await?;
    let today = domain::school_today(&mut conn, scope.tenant()).await?;
    Ok(TransferPage {
        layout: Layout::for_scope(&scope),
        school_id: school,
        action: "transfer",
        form: TransferForm {
            key: MovementId::new().to_string(),
            student: student
                .as_ref()
                .map(|s| s.id.to_string())
                .unwrap_or_default(),
            date: iso(today),
            ..Default::default()
        },
        picker,
        student,
        errors: FormErrors::default(),
        classes,
    }
    .into_response())
}

pub(in crate::movements) async fn transfer(
    State(state): State<AppState>,
    scope: SchoolScope,
    meta: RequestMeta,
    Form(form): Form<TransferForm>,
) -> AppResult<Response> {
    scope.require(Action::RecordMovements)?;
    let school = scope.school_id();
    let key = parse_key(&form.key)?;
    if let Some(again) = recorded_before(&state, scope.tenant(), key).await? {
        return Ok(again);
    }
    let mut conn = state.db.acquire().await?;
    let student = require_student(&mut conn, scope.tenant(), &form.student).await?;
    let classes = current_classes(&mut conn, scope.tenant()).await?;
    drop(conn);

    let mut errors = FormErrors::default();
    if !student.active {
        errors.add("student", "Этот ученик уже выбыл из школы.");
    }
    let to = chosen_class(&form.to_class, &classes);
    match to {
        None => errors.add("to_class", "Выберите класс из списка."),
        Some(c) if Some(c) == student.class_id => errors.add(
            "to_class",
            "Ученик уже учится в этом классе. Выберите другой класс.",
        ),
        Some(_) => {}
    }
    let order = required_order(&form.order_number, &form.order_date, &mut errors);
    let on = required_date(&form.date, "date", "Укажите дату перевода.", &mut errors);
    let page =
        |form: TransferForm, student: StudentCard, errors: FormErrors| -> AppResult<Response> {
            Ok(TransferPage {
                layout: Layout::for_scope(&scope),
                school_id: school,
                action: "transfer",
                picker: None,
                student: Some(student),
                form,
                errors,
                classes: classes.clone(),
            }
            .into_response())
        };
    let (Some(to), Some(order), Some(on), true) = (to, order, on, errors.is_empty()) else {
        // The first of two submits sent at once may have just made a check fail (the
        // person has left now): then this one leads where the first did.
        if let Some(again) = recorded_before(&state, scope.tenant(), key).await? {
            return Ok(again);
        }
        return page(form, student, errors);
    };
    let mut tx = state.db.begin().await?;
    let by = scope.by(&meta);
    match domain::transfer(&mut tx, &by, key, student.id, to, &order, on).await {
        Ok(()) => {
            tx.commit().await?;
            Ok(recorded(scope.tenant(), key))
        }
        Err(MovementError::AlreadyRecorded) => Ok(recorded(scope.tenant(), key)),
        Err(MovementError::SameClass) => {
            errors.add(
                "to_class",
                "Ученик уже учится в этом классе. Выберите другой класс.",
            );
            page(form, student, errors)
        }
        Err(MovementError::ClassNotFound) => {
            errors.add("to_class", "Выберите класс из списка.");
            page(form, student, errors)
        }
        Err(MovementError::NotActive) => {
            errors.add("student", "Этот ученик уже выбыл из школы.");
            page(form, student, errors)
        }
        Err(e) => Err(movement_failure(e)),
    }
}
