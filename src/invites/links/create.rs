//! Creating a link (R2.1.f): the form (the roles and classes the actor may invite into, the
//! term and the limit of uses), its checks, and the page that shows the new link once.

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use sqlx::PgConnection;

use super::{MessagePage, View, class_choices, view_by_token};
use crate::AppState;
use crate::auth::extract::{RequestMeta, SchoolScope};
use crate::auth::permissions::Action;
use crate::auth::permissions::Role;
use crate::error::{AppError, AppResult};
use crate::ids::{ClassId, SchoolId};
use crate::invites::{
    InviteId, ROLES, STAFF_DIRECT_MAX_DAYS, class_limit, is_staff_role, issue, join_url,
    may_create, policy, qr_svg,
};
use crate::web::form::FormErrors;
use crate::web::format::count;
use crate::web::layout::Layout;

#[derive(Deserialize, Default, Debug, Clone)]
pub(super) struct NewForm {
    #[serde(default)]
    form_id: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    class_id: String,
    #[serde(default)]
    purpose: String,
    #[serde(default)]
    days: String,
    #[serde(default)]
    max_uses: String,
    /// "" (the role's default), "yes" or "no".
    #[serde(default)]
    approval: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "invites/new.html")]
struct NewPage {
    layout: Layout,
    school_id: SchoolId,
    form: NewForm,
    errors: FormErrors,
    roles: Vec<(&'static str, &'static str)>,
    classes: Vec<(ClassId, String)>,
}

fn allowed_roles(scope: &SchoolScope) -> Vec<(&'static str, &'static str)> {
    ROLES
        .iter()
        .filter(|r| may_create(scope.roles(), true, r))
        .map(|r| (*r, Role::membership_title(r)))
        .collect()
}

/// `?class_id=` from a class's page: the form starts at that class.
#[derive(Deserialize, Default)]
pub(super) struct NewQuery {
    #[serde(default)]
    class_id: String,
}

/// The class the form starts at: the one asked for if it is offered, else the only one
/// offered (a class teacher of one class), else none («—»).
fn preselected(classes: &[(ClassId, String)], asked: &str) -> String {
    let asked = classes
        .iter()
        .find(|(id, _)| id.to_string() == asked.trim());
    match (asked, classes) {
        (Some((id, _)), _) => id.to_string(),
        (None, [(only, _)]) => only.to_string(),
        _ => String::new(),
    }
}

pub(super) async fn new_page(
    State(state): State<AppState>,
    scope: SchoolScope,
    axum::extract::Query(q): axum::extract::Query<NewQuery>,
) -> AppResult<Response> {
    scope.require(Action::CreateInvites)?;
    let mut conn = state.db.acquire().await?;
    let limit = class_limit(&scope);
    let classes = class_choices(&mut conn, &scope, &limit).await?;
    Ok(NewPage {
        layout: Layout::for_scope(&scope),
        school_id: scope.school_id(),
        form: NewForm {
            form_id: InviteId::new().to_string(),
            class_id: preselected(&classes, &q.class_id),
            ..NewForm::default()
        },
        errors: FormErrors::default(),
        roles: allowed_roles(&scope),
        classes,
    }
    .into_response())
}

/// A checked link, ready to insert.
struct Checked {
    id: InviteId,
    role: String,
    class: ClassId,
    purpose: String,
    days: i64,
    max_uses: i32,
    approval: bool,
}

async fn check(
    conn: &mut PgConnection,
    scope: &SchoolScope,
    classes: &[(ClassId, String)],
    form: &NewForm,
) -> sqlx::Result<Result<Checked, FormErrors>> {
    let mut errors = FormErrors::default();
    let role = form.role.trim();
    if !ROLES.contains(&role) || !may_create(scope.roles(), true, role) {
        errors.add("role", "Выберите роль из списка.");
    }
    let class = if is_staff_role(role) {
        Some(crate::schools::staffroom(&mut *conn, scope.tenant()).await?)
    } else {
        let chosen = form.class_id.parse::<ClassId>().ok();
        // Only the classes offered: the administrator's all, a class teacher's own.
        let found = chosen.filter(|c| classes.iter().any(|(id, _)| id == c));
        if found.is_none() {
            errors.add("class_id", "Выберите класс из списка.");
        }
        found
    };
    let p = policy(role);
    let approval = match form.approval.as_str() {
        "yes" => true,
        "no" => false,
        _ => p.default_approval,
    };
    if role == "parent" && !approval {
        errors.add(
            "approval",
            "Родители по ссылке класса вступают только через заявку: при одобрении их связывают с ребёнком. Для вступления без заявки распечатайте приглашения для родителей.",
        );
    }
    let days = if form.days.trim().is_empty() {
        Some(p.default_days)
    } else {
        form.days.trim().parse::<i64>().ok()
    };
    let max_days = if is_staff_role(role) && !approval {
        STAFF_DIRECT_MAX_DAYS
    } else {
        p.max_days
    };
    let days = match days {
        Some(d) if (1..=max_days).contains(&d) => d,
        _ => {
            errors.add(
                "days",
                if max_days == STAFF_DIRECT_MAX_DAYS {
                    "Ссылка для сотрудников без заявки действует от 1 до 3 дней."
                } else if max_days == 30 {
                    "Срок — от 1 до 30 дней."
                } else {
                    "Срок — от 1 до 90 дней."
                },
            );
            1
        }
    };
    let uses = if form.max_uses.trim().is_empty() {
        Some(if is_staff_role(role) && !approval {
            1
        } else {
            p.default_uses
        })
    } else {
        form.max_uses.trim().parse::<i32>().ok()
    };
    let max_uses = match uses {
        Some(1) => 1,
        Some(_) if is_staff_role(role) && !approval => {
            errors.add(
                "max_uses",
                "Ссылка для сотрудников без заявки — одноразовая. Включите одобрение заявок, чтобы пригласить нескольких.",
            );
            1
        }
        Some(n) if (1..=1000).contains(&n) => n,
        _ => {
            errors.add("max_uses", "Число использований — от 1 до 1000.");
            1
        }
    };
    let purpose = form.purpose.trim().to_owned();
    if purpose.chars().count() > 200 {
        errors.add("purpose", "Не длиннее 200 символов.");
    }
    let id = form
        .form_id
        .parse::<InviteId>()
        .unwrap_or_else(|_| InviteId::new());
    match class {
        Some(class) if errors.is_empty() => Ok(Ok(Checked {
            id,
            role: role.to_owned(),
            class,
            purpose,
            days,
            max_uses,
            approval,
        })),
        _ => Ok(Err(errors)),
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "invites/created.html")]
pub(super) struct CreatedPage {
    layout: Layout,
    school_id: SchoolId,
    token: String,
    link: String,
    /// Server-built SVG markup (shown unescaped in the template).
    qr: String,
    view: View,
    uses_left: String,
    pub(super) email: String,
    /// The «send by e-mail» form's errors (under `email`).
    pub(super) email_errors: FormErrors,
    notice: Option<String>,
    /// The key of the «send by e-mail» form (sent twice, one letter).
    email_key: crate::web::once::FormKey,
}

pub(super) fn created_page(
    state: &AppState,
    scope: &SchoolScope,
    token: &str,
    view: View,
    notice: Option<String>,
) -> CreatedPage {
    let link = join_url(&state.public_url, token);
    CreatedPage {
        layout: Layout::for_scope(scope),
        school_id: scope.school_id(),
        token: token.to_owned(),
        qr: qr_svg(&link),
        link,
        uses_left: count(
            i64::from(view.uses_left),
            "использование",
            "использования",
            "использований",
        ),
        view,
        email: String::new(),
        email_errors: FormErrors::none(),
        notice,
        email_key: crate::web::once::FormKey::default(),
    }
}

pub(super) async fn create(
    State(state): State<AppState>,
    scope: SchoolScope,
    meta: RequestMeta,
    Form(form): Form<NewForm>,
) -> AppResult<Response> {
    scope.require(Action::CreateInvites)?;
    let mut conn = state.db.acquire().await?;
    let limit = class_limit(&scope);
    let classes = class_choices(&mut conn, &scope, &limit).await?;
    let checked = match check(&mut conn, &scope, &classes, &form).await? {
        Ok(c) => c,
        Err(errors) => {
            return Ok(NewPage {
                layout: Layout::for_scope(&scope),
                school_id: scope.school_id(),
                form,
                errors,
                roles: allowed_roles(&scope),
                classes,
            }
            .into_response());
        }
    };
    drop(conn);
    let request = issue::Request {
        id: checked.id,
        role: checked.role,
        class: checked.class,
        chat: None,
        children: None,
        purpose: checked.purpose,
        max_uses: checked.max_uses,
        needs_approval: checked.approval,
        days: checked.days,
    };
    let token = match issue::issue(&state, &scope, &meta, request, "invite.created").await? {
        issue::Outcome::Issued { mut links, .. } => {
            links.pop().map(|l| l.token).unwrap_or_default()
        }
        issue::Outcome::AlreadyIssued => {
            return Ok(MessagePage {
                layout: Layout::for_scope(&scope),
                title: "Приглашение уже создано",
                message: "Эта форма уже была отправлена, и приглашение по ней создано. Ссылку показывают только один раз: если она потерялась, отзовите приглашение в реестре и создайте новое.",
                back: format!("/s/{}/invites", scope.school_id()),
                back_label: "К реестру приглашений",
            }
            .into_response());
        }
    };
    let mut conn = state.db.acquire().await?;
    let view = view_by_token(&mut conn, &scope, &token)
        .await?
        .ok_or(AppError::NotFound)?;
    let page = created_page(&state, &scope, &token, view, None);
    Ok(page.into_response())
}
