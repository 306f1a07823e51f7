//! Invite links (R2.1.f) and their hygiene (R2.1.l): the creation form, the page that shows
//! a new link once (with its QR code, a printable poster and sending by e-mail), the
//! registry, revoking one link, all of a class's, or every link unused for N days.

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use sqlx::PgConnection;
use time::OffsetDateTime;
use uuid::Uuid;

use super::{
    InviteId, ROLES, STAFF_DIRECT_MAX_DAYS, class_limit, is_staff_role, issue, join_url,
    limit_param, may_create, policy, qr_svg, qr_svg_file, role_title, target_title,
};
use crate::AppState;
use crate::audit::{self, Entry};
use crate::auth::FormErrors;
use crate::auth::extract::{RequestMeta, SchoolScope};
use crate::auth::permissions::{Access, Action};
use crate::auth::session;
use crate::error::{AppError, AppResult};
use crate::ids::{AccountId, ClassId, SchoolId};
use crate::web::format::{self, count, normalize_email};
use crate::web::layout::Layout;
use crate::web::{Routes, render};

pub fn routes(r: Routes) -> Routes {
    r.get(
        "/s/{school_id}/invites",
        Access::School(Action::ViewInvites),
        registry,
    )
    .get(
        "/s/{school_id}/invites/new",
        Access::School(Action::CreateInvites),
        new_page,
    )
    .post(
        "/s/{school_id}/invites",
        Access::School(Action::CreateInvites),
        create,
    )
    .post(
        "/s/{school_id}/invites/share/poster",
        Access::School(Action::CreateInvites),
        poster,
    )
    .post(
        "/s/{school_id}/invites/share/qr",
        Access::School(Action::CreateInvites),
        qr_file,
    )
    .post(
        "/s/{school_id}/invites/share/email",
        Access::School(Action::CreateInvites),
        email,
    )
    .post(
        "/s/{school_id}/invites/{invite_id}/revoke",
        Access::School(Action::RevokeInvites),
        revoke,
    )
    .post(
        "/s/{school_id}/invites/revoke-class",
        Access::School(Action::CleanupInvites),
        revoke_class,
    )
    .post(
        "/s/{school_id}/invites/deactivate-unused",
        Access::School(Action::CleanupInvites),
        deactivate_unused,
    )
}

/// The current year's classes the actor may invite into (all for the administrator,
/// their own for a class teacher).
pub(crate) async fn class_choices(
    conn: &mut PgConnection,
    scope: &SchoolScope,
    limit: &Option<Vec<ClassId>>,
) -> sqlx::Result<Vec<(ClassId, String)>> {
    Ok(sqlx::query!(
        r#"select c.id as "id: ClassId", c.title from classes c
           join academic_years y on y.school_id = c.school_id and y.id = c.academic_year_id
             and y.is_current
           where c.school_id = $1 and c.kind = 'class' and c.archived_at is null
             and ($2::uuid[] is null or c.id = any($2))
           order by c.grade, c.letter"#,
        scope.school_id() as SchoolId,
        limit_param(limit) as Option<Vec<Uuid>>
    )
    .fetch_all(conn)
    .await?
    .into_iter()
    .map(|r| (r.id, r.title))
    .collect())
}

// ---- the registry ---------------------------------------------------------------------

struct Row {
    id: InviteId,
    role: &'static str,
    target: String,
    child: Option<String>,
    purpose: String,
    creator: String,
    uses: String,
    last_used: String,
    expires: String,
    state: &'static str,
    live: bool,
    approval: bool,
}

#[derive(Template)]
#[template(path = "invites/list.html")]
struct ListPage {
    layout: Layout,
    school_id: SchoolId,
    rows: Vec<Row>,
    state: String,
    class: String,
    classes: Vec<(ClassId, String)>,
    can_create: bool,
    can_revoke: bool,
    can_cleanup: bool,
    can_review: bool,
    stale_days: i32,
    stale: Option<String>,
    page: i64,
    has_next: bool,
    notice: Option<String>,
}

#[derive(Deserialize, Default)]
struct ListQuery {
    state: Option<String>,
    class: Option<String>,
    page: crate::web::query::Page,
    done: Option<String>,
}

const PAGE: i64 = 50;

async fn registry(
    State(state): State<AppState>,
    scope: SchoolScope,
    Query(q): Query<ListQuery>,
) -> AppResult<Response> {
    scope.require(Action::ViewInvites)?;
    let mut conn = state.db.acquire().await?;
    let limit = class_limit(&scope);
    let classes = class_choices(&mut conn, &scope, &limit).await?;
    let filter = match q.state.as_deref() {
        Some("all") => "all",
        Some("stale") => "stale",
        _ => "live",
    };
    let class: Option<ClassId> = q
        .class
        .as_deref()
        .and_then(|c| c.parse::<Uuid>().ok())
        .map(ClassId);
    let page = q.page.number();
    let stale_days = state.config.stale_invite_days;
    let rows = sqlx::query!(
        r#"select i.id as "id: InviteId", i.role, c.kind, c.title, i.purpose, i.max_uses, i.uses,
                  i.needs_approval, i.expires_at, i.last_used_at, i.revoked_at,
                  a.surname, a.given_name, a.patronymic,
                  (select ka.surname || ' ' || ka.given_name from memberships k
                   join accounts ka on ka.id = k.account_id
                   where k.school_id = i.school_id and k.id = i.child_id) as child
           from invites i
           join classes c on c.school_id = i.school_id and c.id = i.class_id
           join accounts a on a.id = i.created_by
           where i.school_id = $1
             and ($2::uuid[] is null or i.class_id = any($2))
             and ($3::uuid is null or i.class_id = $3)
             and case $4
                   when 'live' then i.revoked_at is null and i.expires_at > now()
                                    and i.uses < i.max_uses
                   when 'stale' then i.revoked_at is null and i.expires_at > now()
                                    and i.uses < i.max_uses
                                    and coalesce(i.last_used_at, i.created_at)
                                        < now() - make_interval(days => $5)
                   else true end
           order by i.created_at desc, i.id desc
           limit $6 offset $7"#,
        scope.school_id() as SchoolId,
        limit_param(&limit) as Option<Vec<Uuid>>,
        class.map(|c| c.0),
        filter,
        stale_days,
        PAGE + 1,
        crate::web::query::page_offset(page, PAGE)
    )
    .fetch_all(&mut *conn)
    .await?;
    let has_next = rows.len() as i64 > PAGE;
    let now = OffsetDateTime::now_utc();
    let tz = scope.timezone().to_owned();
    let rows = rows
        .into_iter()
        .take(PAGE as usize)
        .map(|r| {
            let state = if r.revoked_at.is_some() {
                "отозвано"
            } else if r.expires_at <= now {
                "истёк срок"
            } else if r.uses >= r.max_uses {
                "использовано"
            } else {
                "действует"
            };
            Row {
                id: r.id,
                role: role_title(&r.role),
                target: target_title(&r.kind, &r.title),
                child: r.child,
                purpose: r.purpose,
                creator: format::full_name(&r.surname, &r.given_name, r.patronymic.as_deref()),
                uses: format!(
                    "осталось {} из {}",
                    (r.max_uses - r.uses).max(0),
                    r.max_uses
                ),
                last_used: r
                    .last_used_at
                    .map(|t| format::datetime(t, &tz))
                    .unwrap_or_else(|| "не использовалось".to_owned()),
                expires: format::datetime(r.expires_at, &tz),
                live: state == "действует",
                state,
                approval: r.needs_approval,
            }
        })
        .collect();
    let stale = super::home_notes(&mut conn, &scope, stale_days)
        .await?
        .stale;
    let notice = match q.done.as_deref() {
        Some("revoked") => {
            Some("Приглашение отозвано: по нему больше нельзя присоединиться.".to_owned())
        }
        Some(n) if n.starts_with("bulk-") => n[5..].parse::<i64>().ok().map(|n| {
            format!(
                "Отозвано: {}.",
                count(n, "приглашение", "приглашения", "приглашений")
            )
        }),
        _ => None,
    };
    Ok(render(&ListPage {
        layout: Layout::for_scope(&scope),
        school_id: scope.school_id(),
        rows,
        state: filter.to_owned(),
        class: class.map(|c| c.to_string()).unwrap_or_default(),
        classes,
        can_create: scope.can(Action::CreateInvites),
        can_revoke: scope.can(Action::RevokeInvites),
        can_cleanup: scope.can(Action::CleanupInvites),
        can_review: scope.can(Action::ReviewJoinRequests),
        stale_days,
        stale,
        page,
        has_next,
        notice,
    })?
    .into_response())
}

// ---- creating a link ------------------------------------------------------------------

#[derive(Deserialize, Default, Debug, Clone)]
struct NewForm {
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

#[derive(Template)]
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
        .map(|r| (*r, role_title(r)))
        .collect()
}

async fn new_page(State(state): State<AppState>, scope: SchoolScope) -> AppResult<Response> {
    scope.require(Action::CreateInvites)?;
    let mut conn = state.db.acquire().await?;
    let limit = class_limit(&scope);
    let classes = class_choices(&mut conn, &scope, &limit).await?;
    Ok(render(&NewPage {
        layout: Layout::for_scope(&scope),
        school_id: scope.school_id(),
        form: NewForm {
            form_id: Uuid::now_v7().to_string(),
            ..NewForm::default()
        },
        errors: FormErrors::default(),
        roles: allowed_roles(&scope),
        classes,
    })?
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
        let chosen = form.class_id.parse::<Uuid>().ok().map(ClassId);
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
        .parse::<Uuid>()
        .map(InviteId)
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

/// A live link as the creator's pages show it.
pub(crate) struct View {
    pub id: InviteId,
    pub role: String,
    pub role_title: &'static str,
    pub class: ClassId,
    pub target: String,
    pub child: Option<String>,
    pub purpose: String,
    pub uses_left: i32,
    pub approval: bool,
    pub expires: String,
}

/// The live link of this school behind a raw token.
pub(crate) async fn view_by_token(
    conn: &mut PgConnection,
    scope: &SchoolScope,
    token: &str,
) -> sqlx::Result<Option<View>> {
    if token.is_empty() || token.len() > 64 {
        return Ok(None);
    }
    let r = sqlx::query!(
        r#"select i.id as "id: InviteId", i.role, i.class_id as "class: ClassId", c.kind, c.title,
                  i.purpose, i.max_uses, i.uses, i.needs_approval, i.expires_at,
                  (select ka.surname || ' ' || ka.given_name from memberships k
                   join accounts ka on ka.id = k.account_id
                   where k.school_id = i.school_id and k.id = i.child_id) as child
           from invites i join classes c on c.school_id = i.school_id and c.id = i.class_id
           where i.school_id = $1 and i.token_hash = $2 and i.revoked_at is null
             and i.expires_at > now() and i.uses < i.max_uses"#,
        scope.school_id() as SchoolId,
        session::token_hash(token)
    )
    .fetch_optional(conn)
    .await?;
    Ok(r.map(|r| View {
        id: r.id,
        role_title: role_title(&r.role),
        role: r.role,
        class: r.class,
        target: target_title(&r.kind, &r.title),
        child: r.child,
        purpose: r.purpose,
        uses_left: r.max_uses - r.uses,
        approval: r.needs_approval,
        expires: format::datetime(r.expires_at, scope.timezone()),
    }))
}

#[derive(Template)]
#[template(path = "invites/created.html")]
struct CreatedPage {
    layout: Layout,
    school_id: SchoolId,
    token: String,
    link: String,
    /// Server-built SVG markup (shown unescaped in the template).
    qr: String,
    view: View,
    uses_left: String,
    email: String,
    email_error: Option<&'static str>,
    notice: Option<String>,
}

fn created_page(
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
        email_error: None,
        notice,
    }
}

#[derive(Template)]
#[template(path = "invites/message.html")]
pub(crate) struct MessagePage {
    pub layout: Layout,
    pub title: &'static str,
    pub message: &'static str,
    pub back: String,
    pub back_label: &'static str,
}

async fn create(
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
            return Ok(render(&NewPage {
                layout: Layout::for_scope(&scope),
                school_id: scope.school_id(),
                form,
                errors,
                roles: allowed_roles(&scope),
                classes,
            })?
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
            return Ok(render(&MessagePage {
                layout: Layout::for_scope(&scope),
                title: "Приглашение уже создано",
                message: "Эта форма уже была отправлена, и приглашение по ней создано. Ссылку показывают только один раз: если она потерялась, отзовите приглашение в реестре и создайте новое.",
                back: format!("/s/{}/invites", scope.school_id()),
                back_label: "К реестру приглашений",
            })?
            .into_response());
        }
    };
    let mut conn = state.db.acquire().await?;
    let view = view_by_token(&mut conn, &scope, &token)
        .await?
        .ok_or(AppError::NotFound)?;
    let page = created_page(&state, &scope, &token, view, None);
    Ok(render(&page)?.into_response())
}

// ---- sharing a link: poster, QR file, e-mail --------------------------------------------

#[derive(Deserialize, Default)]
struct ShareForm {
    #[serde(default)]
    token: String,
    #[serde(default)]
    email: String,
}

/// The link behind a token the creator holds, if the actor may share it.
async fn shared(conn: &mut PgConnection, scope: &SchoolScope, token: &str) -> AppResult<View> {
    if token.trim().is_empty() {
        return Err(AppError::BadRequest("Не указана ссылка-приглашение."));
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

#[derive(Template)]
#[template(path = "invites/poster.html")]
struct PosterPage {
    school_name: String,
    school_id: SchoolId,
    view: View,
    link: String,
    /// Server-built SVG markup.
    qr: String,
}

async fn poster(
    State(state): State<AppState>,
    scope: SchoolScope,
    Form(form): Form<ShareForm>,
) -> AppResult<Response> {
    scope.require(Action::CreateInvites)?;
    let mut conn = state.db.acquire().await?;
    let view = shared(&mut conn, &scope, &form.token).await?;
    let link = join_url(&state.public_url, &form.token);
    Ok(render(&PosterPage {
        school_name: scope.school_name().to_owned(),
        school_id: scope.school_id(),
        qr: qr_svg(&link),
        link,
        view,
    })?
    .into_response())
}

async fn qr_file(
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

async fn email(
    State(state): State<AppState>,
    scope: SchoolScope,
    meta: RequestMeta,
    Form(form): Form<ShareForm>,
) -> AppResult<Response> {
    scope.require(Action::CreateInvites)?;
    let mut tx = state.db.begin().await?;
    let view = shared(&mut tx, &scope, &form.token).await?;
    let to = normalize_email(&form.email);
    let Some(to) = to else {
        let mut page = created_page(&state, &scope, &form.token, view, None);
        page.email = form.email.trim().to_owned();
        page.email_error = Some("Укажите адрес электронной почты, например ivanova@mail.ru.");
        return Ok(render(&page)?.into_response());
    };
    super::issue::creation_limit(&mut tx, &state, scope.actor().id()).await?;
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
    tx.commit().await?;
    let notice = Some(format!(
        "Письмо с приглашением поставлено в очередь отправки на {to}."
    ));
    let page = created_page(&state, &scope, &form.token, view, notice);
    Ok(render(&page)?.into_response())
}

// ---- revoking --------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "invites/confirm.html")]
pub(crate) struct ConfirmPage {
    pub layout: Layout,
    pub title: String,
    pub question: String,
    pub action: String,
    pub fields: Vec<(&'static str, String)>,
    pub button: &'static str,
    pub back: String,
}

#[derive(Deserialize, Default)]
struct ConfirmForm {
    #[serde(default)]
    confirm: String,
}

async fn revoke(
    State(state): State<AppState>,
    scope: SchoolScope,
    meta: RequestMeta,
    Path((_, invite)): Path<(SchoolId, InviteId)>,
    Form(form): Form<ConfirmForm>,
) -> AppResult<Response> {
    scope.require(Action::RevokeInvites)?;
    let mut tx = state.db.begin().await?;
    let found = sqlx::query!(
        r#"select i.role, c.kind, c.title, i.purpose, i.class_id as "class: ClassId",
                  i.created_by as "creator: AccountId" from invites i
           join classes c on c.school_id = i.school_id and c.id = i.class_id
           where i.school_id = $1 and i.id = $2 and i.revoked_at is null"#,
        scope.school_id() as SchoolId,
        invite as InviteId
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(AppError::NotFound)?;
    // The object rule LeadsClass: another class's link is refused, 403.
    scope.require_on(
        Action::RevokeInvites,
        &crate::auth::objects::Target::Invite {
            class: found.class,
            creator: found.creator,
            pupil: matches!(found.role.as_str(), "student" | "parent"),
        },
    )?;
    let back = format!("/s/{}/invites", scope.school_id());
    if form.confirm != "yes" {
        let purpose = if found.purpose.is_empty() {
            String::new()
        } else {
            format!(" («{}»)", found.purpose)
        };
        return Ok(render(&ConfirmPage {
            layout: Layout::for_scope(&scope),
            title: "Отозвать приглашение?".to_owned(),
            question: format!(
                "Отозвать приглашение: {}, {}{purpose}? По ссылке больше нельзя будет присоединиться; те, кто уже присоединился, останутся.",
                role_title(&found.role),
                target_title(&found.kind, &found.title)
            ),
            action: format!("/s/{}/invites/{invite}/revoke", scope.school_id()),
            fields: Vec::new(),
            button: "Отозвать",
            back,
        })?
        .into_response());
    }
    sqlx::query!(
        r#"update invites set revoked_at = now(), revoked_by = $3
           where school_id = $1 and id = $2 and revoked_at is null"#,
        scope.school_id() as SchoolId,
        invite as InviteId,
        scope.actor().id() as AccountId
    )
    .execute(&mut *tx)
    .await?;
    audit::record(
        &mut tx,
        &meta,
        Entry {
            actor: Some(scope.actor().id()),
            school: Some(scope.school_id()),
            action: "invite.revoked",
            target: Some(format!("invite:{invite}")),
            details: None,
        },
    )
    .await?;
    tx.commit().await?;
    Ok(Redirect::to(&format!("{back}?done=revoked")).into_response())
}

#[derive(Deserialize, Default)]
struct ClassForm {
    #[serde(default)]
    class_id: String,
    #[serde(default)]
    confirm: String,
}

async fn revoke_class(
    State(state): State<AppState>,
    scope: SchoolScope,
    meta: RequestMeta,
    Form(form): Form<ClassForm>,
) -> AppResult<Response> {
    scope.require(Action::CleanupInvites)?;
    let class = form
        .class_id
        .parse::<Uuid>()
        .map(ClassId)
        .map_err(|_| AppError::BadRequest("Выберите класс."))?;
    let mut tx = state.db.begin().await?;
    let title = sqlx::query_scalar!(
        "select title from classes where school_id = $1 and id = $2 and kind = 'class'",
        scope.school_id() as SchoolId,
        class as ClassId
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(AppError::NotFound)?;
    let back = format!("/s/{}/invites", scope.school_id());
    if form.confirm != "yes" {
        let n = sqlx::query_scalar!(
            r#"select count(*) as "n!" from invites where school_id = $1 and class_id = $2
               and revoked_at is null and expires_at > now() and uses < max_uses"#,
            scope.school_id() as SchoolId,
            class as ClassId
        )
        .fetch_one(&mut *tx)
        .await?;
        return Ok(render(&ConfirmPage {
            layout: Layout::for_scope(&scope),
            title: "Отозвать приглашения класса?".to_owned(),
            question: format!(
                "Отозвать {} класса {title}? Приглашения для родителей, ссылки для учеников — все действующие ссылки класса перестанут работать.",
                count(n, "приглашение", "приглашения", "приглашений")
            ),
            action: format!("/s/{}/invites/revoke-class", scope.school_id()),
            fields: vec![("class_id", class.to_string())],
            button: "Отозвать все",
            back,
        })?
        .into_response());
    }
    let done = sqlx::query!(
        r#"update invites set revoked_at = now(), revoked_by = $3
           where school_id = $1 and class_id = $2 and revoked_at is null
             and expires_at > now() and uses < max_uses"#,
        scope.school_id() as SchoolId,
        class as ClassId,
        scope.actor().id() as AccountId
    )
    .execute(&mut *tx)
    .await?
    .rows_affected();
    audit::record(
        &mut tx,
        &meta,
        Entry {
            actor: Some(scope.actor().id()),
            school: Some(scope.school_id()),
            action: "invite.revoked_class",
            target: Some(format!("class:{class}")),
            details: Some(format!("{done} revoked")),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(Redirect::to(&format!("{back}?done=bulk-{done}")).into_response())
}

#[derive(Deserialize, Default)]
struct UnusedForm {
    #[serde(default)]
    days: String,
    #[serde(default)]
    confirm: String,
}

async fn deactivate_unused(
    State(state): State<AppState>,
    scope: SchoolScope,
    meta: RequestMeta,
    Form(form): Form<UnusedForm>,
) -> AppResult<Response> {
    scope.require(Action::CleanupInvites)?;
    let days = form
        .days
        .trim()
        .parse::<i32>()
        .ok()
        .filter(|d| (1..=3650).contains(d))
        .ok_or(AppError::BadRequest("Число дней — от 1 до 3650."))?;
    let mut tx = state.db.begin().await?;
    let back = format!("/s/{}/invites", scope.school_id());
    if form.confirm != "yes" {
        let n = sqlx::query_scalar!(
            r#"select count(*) as "n!" from invites where school_id = $1 and revoked_at is null
               and expires_at > now() and uses < max_uses
               and coalesce(last_used_at, created_at) < now() - make_interval(days => $2)"#,
            scope.school_id() as SchoolId,
            days
        )
        .fetch_one(&mut *tx)
        .await?;
        return Ok(render(&ConfirmPage {
            layout: Layout::for_scope(&scope),
            title: "Отключить неиспользуемые приглашения?".to_owned(),
            question: format!(
                "Отозвать {}, по которым никто не присоединялся больше {}?",
                count(n, "приглашение", "приглашения", "приглашений"),
                count(i64::from(days), "дня", "дней", "дней")
            ),
            action: format!("/s/{}/invites/deactivate-unused", scope.school_id()),
            fields: vec![("days", days.to_string())],
            button: "Отозвать",
            back,
        })?
        .into_response());
    }
    let done = sqlx::query!(
        r#"update invites set revoked_at = now(), revoked_by = $3
           where school_id = $1 and revoked_at is null and expires_at > now()
             and uses < max_uses
             and coalesce(last_used_at, created_at) < now() - make_interval(days => $2)"#,
        scope.school_id() as SchoolId,
        days,
        scope.actor().id() as AccountId
    )
    .execute(&mut *tx)
    .await?
    .rows_affected();
    audit::record(
        &mut tx,
        &meta,
        Entry {
            actor: Some(scope.actor().id()),
            school: Some(scope.school_id()),
            action: "invite.deactivated_unused",
            target: None,
            details: Some(format!("unused for {days} days: {done} revoked")),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(Redirect::to(&format!("{back}?done=bulk-{done}")).into_response())
}
