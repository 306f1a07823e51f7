//! A student leaving the school, with the parents who leave with them named first.

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::pick::{self, PickQuery, Picker, StudentCard, picker, require_student};
use super::{iso, movement_failure, parse_key, recorded, recorded_before};
use crate::AppState;
use crate::auth::extract::{RequestMeta, SchoolScope};
use crate::auth::permissions::Action;
use crate::error::AppResult;
use crate::ids::SchoolId;
use crate::movements::domain::{self, MovementError, MovementId};
use crate::movements::{LEAVING_REASONS, reason, required_date, required_order};
use crate::web::form::FormErrors;
use crate::web::htmx::Htmx;
use crate::web::layout::Layout;

#[derive(Debug, Default, Deserialize)]
pub(in crate::movements) struct LeaveForm {
    #[serde(default)]
    key: String,
    #[serde(default)]
    student: String,
    #[serde(default)]
    order_number: String,
    #[serde(default)]
    order_date: String,
    #[serde(default)]
    date: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    confirm: Option<String>,
}

#[derive(Template, WebTemplate)]
#[template(path = "movements/leave.html")]
struct LeavePage {
    layout: Layout,
    school_id: SchoolId,
    action: &'static str,
    picker: Option<Picker>,
    student: Option<StudentCard>,
    parents: Vec<String>,
    form: LeaveForm,
    errors: FormErrors,
    reasons: &'static [&'static str],
}

pub(in crate::movements) async fn leave_page(
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
        return pick::results(scope.tenant(), "leave", p);
    }
    let parents = match &student {
        Some(s) if s.active => domain::parents_left_alone(&mut conn, scope.tenant(), s.id).await?,
        _ => Vec::new(),
    };
    let today = domain::school_today(&mut conn, scope.tenant()).await?;
    Ok(LeavePage {
        layout: Layout::for_scope(&scope),
        school_id: school,
        action: "leave",
        form: LeaveForm {
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
        parents,
        errors: FormErrors::default(),
        reasons: LEAVING_REASONS,
    }
    .into_response())
}

pub(in crate::movements) async fn leave(
    State(state): State<AppState>,
    scope: SchoolScope,
    meta: RequestMeta,
    Form(form): Form<LeaveForm>,
) -> AppResult<Response> {
    scope.require(Action::RecordMovements)?;
    let school = scope.school_id();
    let key = parse_key(&form.key)?;
    if let Some(again) = recorded_before(&state, scope.tenant(), key).await? {
        return Ok(again);
    }
    let mut conn = state.db.acquire().await?;
    let student = require_student(&mut conn, scope.tenant(), &form.student).await?;
    let parents = if student.active {
        domain::parents_left_alone(&mut conn, scope.tenant(), student.id).await?
    } else {
        Vec::new()
    };
    drop(conn);

    let mut errors = FormErrors::default();
    if !student.active {
        errors.add("student", "Этот ученик уже выбыл из школы.");
    }
    let order = required_order(&form.order_number, &form.order_date, &mut errors);
    let on = required_date(&form.date, "date", "Укажите дату выбытия.", &mut errors);
    let why = reason(&form.reason, &mut errors);
    if form.confirm.is_none() {
        errors.add("confirm", "Подтвердите выбытие: отметьте «Подтверждаю».");
    }
    let student_id = student.id;
    let page = |form: LeaveForm, errors: FormErrors| -> AppResult<Response> {
        Ok(LeavePage {
            layout: Layout::for_scope(&scope),
            school_id: school,
            action: "leave",
            picker: None,
            student: Some(student),
            parents,
            form,
            errors,
            reasons: LEAVING_REASONS,
        }
        .into_response())
    };
    let (Some(order), Some(on), true) = (order, on, errors.is_empty()) else {
        // The first of two submits sent at once may have just made a check fail (the
        // person has left now): then this one leads where the first did.
        if let Some(again) = recorded_before(&state, scope.tenant(), key).await? {
            return Ok(again);
        }
        return page(form, errors);
    };
    let mut tx = state.db.begin().await?;
    let by = scope.by(&meta);
    match domain::leave(&mut tx, &by, key, student_id, &order, on, why.as_deref()).await {
        Ok(_) => {
            tx.commit().await?;
            Ok(recorded(scope.tenant(), key))
        }
        Err(MovementError::AlreadyRecorded) => Ok(recorded(scope.tenant(), key)),
        Err(MovementError::NotActive) => {
            errors.add("student", "Этот ученик уже выбыл из школы.");
            page(form, errors)
        }
        Err(e) => Err(movement_failure(e)),
    }
}
