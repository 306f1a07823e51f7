//! A teacher, staff member or deputy leaving the school, once everything they hold is
//! handed over (with a link to where each thing is handed over).

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use sqlx::PgConnection;

use super::{iso, movement_failure, parse_key, recorded, recorded_before};
use crate::AppState;
use crate::auth::extract::{RequestMeta, SchoolScope};
use crate::auth::permissions::Action;
use crate::auth::permissions::Role;
use crate::auth::tenant::Tenant;
use crate::error::{AppError, AppResult};
use crate::ids::{MembershipId, SchoolId};
use crate::movements::domain::{self, Handover, MovementError, MovementId};
use crate::movements::{STAFF_REASONS, reason, required_date, required_order};
use crate::web::form::FormErrors;
use crate::web::format;
use crate::web::layout::Layout;

pub(in crate::movements) struct StaffOption {
    pub id: MembershipId,
    pub label: String,
}

pub(in crate::movements) struct StaffCard {
    pub id: MembershipId,
    pub name: String,
    pub role: &'static str,
    pub position: String,
    pub active: bool,
}

async fn staff_options(conn: &mut PgConnection, tenant: Tenant) -> sqlx::Result<Vec<StaffOption>> {
    let school = tenant.id();
    let rows = sqlx::query!(
        r#"select m.id as "id: MembershipId", m.role, m.position,
                  a.surname, a.given_name, a.patronymic
           from memberships m join accounts a on a.id = m.account_id
           where m.school_id = $1 and m.role in ('teacher', 'staff', 'deputy')
             and m.status <> 'left'
           order by a.surname collate "ru-RU-x-icu", a.given_name collate "ru-RU-x-icu", m.id"#,
        school as SchoolId
    )
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let name = format::full_name(&r.surname, &r.given_name, r.patronymic.as_deref());
            let what = r
                .position
                .unwrap_or_else(|| Role::membership_title(&r.role).to_owned());
            StaffOption {
                id: r.id,
                label: format!("{name} — {what}"),
            }
        })
        .collect())
}

async fn require_staff(
    conn: &mut PgConnection,
    tenant: Tenant,
    value: &str,
) -> AppResult<StaffCard> {
    let school = tenant.id();
    let id: MembershipId = value.trim().parse().map_err(|_| AppError::NotFound)?;
    let row = sqlx::query!(
        r#"select m.id as "id: MembershipId", m.role, m.position, m.status,
                  a.surname, a.given_name, a.patronymic
           from memberships m join accounts a on a.id = m.account_id
           where m.school_id = $1 and m.id = $2 and m.role in ('teacher', 'staff', 'deputy')"#,
        school as SchoolId,
        id as MembershipId
    )
    .fetch_optional(conn)
    .await?
    .ok_or(AppError::NotFound)?;
    Ok(StaffCard {
        id: row.id,
        name: format::full_name(&row.surname, &row.given_name, row.patronymic.as_deref()),
        role: Role::membership_title(&row.role),
        position: row.position.unwrap_or_default(),
        active: row.status != "left",
    })
}

#[derive(Debug, Default, Deserialize)]
pub(in crate::movements) struct StaffLeaveForm {
    #[serde(default)]
    key: String,
    #[serde(default)]
    member: String,
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

/// A hand-over item with the page where it is done.
pub(in crate::movements) struct HandoverLink {
    pub text: String,
    pub href: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "movements/staff_leave.html")]
struct StaffLeavePage {
    layout: Layout,
    school_id: SchoolId,
    staff: Vec<StaffOption>,
    member: Option<StaffCard>,
    handovers: Vec<HandoverLink>,
    handover_message: String,
    form: StaffLeaveForm,
    errors: FormErrors,
    reasons: &'static [&'static str],
}

fn handover_links(tenant: Tenant, items: &[Handover]) -> (Vec<HandoverLink>, String) {
    let school = tenant.id();
    let links = items
        .iter()
        .map(|h| HandoverLink {
            text: h.text(),
            href: format!("/s/{school}{}", h.page()),
        })
        .collect();
    let message = if items.is_empty() {
        String::new()
    } else {
        domain::handover_message(items)
    };
    (links, message)
}

#[derive(Debug, Default, Deserialize)]
pub(in crate::movements) struct MemberQuery {
    #[serde(default)]
    member: String,
}

pub(in crate::movements) async fn staff_leave_page(
    State(state): State<AppState>,
    scope: SchoolScope,
    Query(q): Query<MemberQuery>,
) -> AppResult<Response> {
    scope.require(Action::RecordMovements)?;
    let school = scope.school_id();
    let mut conn = state.db.acquire().await?;
    let member = if q.member.trim().is_empty() {
        None
    } else {
        Some(require_staff(&mut conn, scope.tenant(), &q.member).await?)
    };
    let items = match &member {
        Some(m) if m.active => domain::handovers(&mut conn, scope.tenant(), m.id).await?,
        _ => Vec::new(),
    };
    let (handovers, handover_message) = handover_links(scope.tenant(), &items);
    let staff = if member.is_none() {
        staff_options(&mut conn, scope.tenant()).await?
    } else {
        Vec::new()
    };
    let today = domain::school_today(&mut conn, scope.tenant()).await?;
    Ok(StaffLeavePage {
        layout: Layout::for_scope(&scope),
        school_id: school,
        form: StaffLeaveForm {
            key: MovementId::new().to_string(),
            member: member
                .as_ref()
                .map(|m| m.id.to_string())
                .unwrap_or_default(),
            date: iso(today),
            ..Default::default()
        },
        staff,
        member,
        handovers,
        handover_message,
        errors: FormErrors::default(),
        reasons: STAFF_REASONS,
    }
    .into_response())
}

pub(in crate::movements) async fn staff_leave(
    State(state): State<AppState>,
    scope: SchoolScope,
    meta: RequestMeta,
    Form(form): Form<StaffLeaveForm>,
) -> AppResult<Response> {
    scope.require(Action::RecordMovements)?;
    let school = scope.school_id();
    let key = parse_key(&form.key)?;
    if let Some(again) = recorded_before(&state, scope.tenant(), key).await? {
        return Ok(again);
    }
    let mut conn = state.db.acquire().await?;
    let member = require_staff(&mut conn, scope.tenant(), &form.member).await?;
    drop(conn);

    let mut errors = FormErrors::default();
    if !member.active {
        errors.add("member", "Этот сотрудник уже выбыл из школы.");
    }
    let order = required_order(&form.order_number, &form.order_date, &mut errors);
    let on = required_date(&form.date, "date", "Укажите дату выбытия.", &mut errors);
    let why = reason(&form.reason, &mut errors);
    if form.confirm.is_none() {
        errors.add("confirm", "Подтвердите выбытие: отметьте «Подтверждаю».");
    }
    let page = |form: StaffLeaveForm,
                member: StaffCard,
                errors: FormErrors,
                items: &[Handover]|
     -> AppResult<Response> {
        let (handovers, handover_message) = handover_links(scope.tenant(), items);
        Ok(StaffLeavePage {
            layout: Layout::for_scope(&scope),
            school_id: school,
            staff: Vec::new(),
            member: Some(member),
            handovers,
            handover_message,
            form,
            errors,
            reasons: STAFF_REASONS,
        }
        .into_response())
    };
    let (Some(order), Some(on), true) = (order, on, errors.is_empty()) else {
        // The first of two submits sent at once may have just made a check fail (the
        // person has left now): then this one leads where the first did.
        if let Some(again) = recorded_before(&state, scope.tenant(), key).await? {
            return Ok(again);
        }
        let mut conn = state.db.acquire().await?;
        let items = if member.active {
            domain::handovers(&mut conn, scope.tenant(), member.id).await?
        } else {
            Vec::new()
        };
        return page(form, member, errors, &items);
    };
    let mut tx = state.db.begin().await?;
    let by = scope.by(&meta);
    match domain::staff_leave(&mut tx, &by, key, member.id, &order, on, why.as_deref()).await {
        Ok(()) => {
            tx.commit().await?;
            Ok(recorded(scope.tenant(), key))
        }
        Err(MovementError::AlreadyRecorded) => Ok(recorded(scope.tenant(), key)),
        Err(MovementError::HandOverFirst(items)) => {
            drop(tx);
            page(form, member, errors, &items)
        }
        Err(MovementError::NotActive) => {
            errors.add("member", "Этот сотрудник уже выбыл из школы.");
            page(form, member, errors, &[])
        }
        Err(e) => Err(movement_failure(e)),
    }
}
