//! Admin rights (R2.1.g, R2.1.q, R2.2): the administrator proposes granting platform
//! administrator rights to a verified staff member, with the director's order; the grant
//! takes effect only when the director or the IT deputy approves it. Nobody approves their
//! own grant (also a database check). Rights can be revoked and can expire. A change of
//! someone's rights ends their sessions (SECURITY.md 2, 5).

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use time::OffsetDateTime;

use crate::AppState;
use crate::audit;
use crate::auth::extract::{RequestMeta, SchoolScope};
use crate::auth::objects::Target;
use crate::auth::permissions::{Access, Action};
use crate::auth::tenant::Tenant;
use crate::error::{AppError, AppResult};
use crate::ids::{AccountId, GrantId, MembershipId, SchoolId};
use crate::web::Routes;
use crate::web::clock::SchoolClock;
use crate::web::form::FormErrors;
use crate::web::form::parse_date;
use crate::web::format;
use crate::web::layout::Layout;
use crate::web::once::{self, FormKey};

pub fn routes(r: Routes) -> Routes {
    r.get(
        "/s/{school_id}/admin-rights",
        Access::School(Action::ViewAdminRights),
        list,
    )
    .post(
        "/s/{school_id}/admin-rights",
        Access::School(Action::ProposeAdminRights),
        propose,
    )
    .post(
        "/s/{school_id}/admin-rights/{grant_id}/approve",
        Access::School(Action::ApproveAdminRights),
        approve,
    )
    .post(
        "/s/{school_id}/admin-rights/{grant_id}/reject",
        Access::School(Action::ApproveAdminRights),
        reject,
    )
    .post(
        "/s/{school_id}/admin-rights/{grant_id}/revoke",
        Access::School(Action::RevokeAdminRights),
        revoke,
    )
}

/// The state of a grant in words.
pub fn grant_state(
    approved: Option<OffsetDateTime>,
    revoked: Option<OffsetDateTime>,
    rejected: Option<OffsetDateTime>,
    expires: Option<OffsetDateTime>,
) -> &'static str {
    let now = OffsetDateTime::now_utc();
    if revoked.is_some() {
        "отозваны"
    } else if rejected.is_some() {
        "не согласованы"
    } else if approved.is_none() {
        "ждут согласования директора"
    } else if expires.is_some_and(|e| e <= now) {
        "срок истёк"
    } else {
        "действуют"
    }
}

struct GrantRow {
    id: GrantId,
    account: AccountId,
    name: String,
    order: String,
    state: &'static str,
    trail: String,
    pending: bool,
    active: bool,
    own: bool,
}

struct Candidate {
    id: MembershipId,
    name: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "admin_rights/list.html")]
struct ListPage {
    layout: Layout,
    school_id: SchoolId,
    grants: Vec<GrantRow>,
    candidates: Vec<Candidate>,
    form: ProposeForm,
    errors: FormErrors,
    can_propose: bool,
    can_approve: bool,
    can_revoke: bool,
    message: Option<&'static str>,
}

#[derive(Deserialize, Default)]
struct ProposeForm {
    #[serde(default)]
    form_key: FormKey,
    #[serde(default)]
    member: String,
    #[serde(default)]
    order_number: String,
    #[serde(default)]
    order_date: String,
    #[serde(default)]
    expires_on: String,
}

async fn page(
    state: &AppState,
    scope: &SchoolScope,
    form: ProposeForm,
    errors: FormErrors,
    message: Option<&'static str>,
) -> AppResult<Response> {
    let tz = scope.timezone().to_owned();
    let mut conn = state.db.acquire().await?;
    let grants = sqlx::query!(
        r#"select g.id as "id: GrantId", a.id as "account: AccountId", a.surname, a.given_name,
                  a.patronymic, g.order_number, g.order_date, g.created_at, g.approved_at,
                  g.revoked_at, g.rejected_at, g.rejection_reason, g.expires_at,
                  gb.surname || ' ' || gb.given_name as "granted_by!",
                  ab.surname || ' ' || ab.given_name as approved_by,
                  rb.surname || ' ' || rb.given_name as revoked_by,
                  jb.surname || ' ' || jb.given_name as rejected_by
           from admin_grants g
           join accounts a on a.id = g.account_id
           join accounts gb on gb.id = g.granted_by
           left join accounts ab on ab.id = g.approved_by
           left join accounts rb on rb.id = g.revoked_by
           left join accounts jb on jb.id = g.rejected_by
           where g.school_id = $1
           order by (g.approved_at is null and g.rejected_at is null and g.revoked_at is null) desc,
                    g.created_at desc"#,
        scope.school_id() as SchoolId
    )
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .map(|g| {
        let state_ = grant_state(g.approved_at, g.revoked_at, g.rejected_at, g.expires_at);
        let mut trail = vec![format!(
            "предложил(а) {} {}",
            g.granted_by,
            format::datetime(g.created_at, &tz)
        )];
        if let (Some(by), Some(at)) = (&g.approved_by, g.approved_at) {
            trail.push(format!("согласовал(а) {by} {}", format::datetime(at, &tz)));
        }
        if let (Some(by), Some(at)) = (&g.rejected_by, g.rejected_at) {
            trail.push(format!(
                "отклонил(а) {by} {}: {}",
                format::datetime(at, &tz),
                g.rejection_reason.clone().unwrap_or_default()
            ));
        }
        if let (Some(by), Some(at)) = (&g.revoked_by, g.revoked_at) {
            trail.push(format!("отозвал(а) {by} {}", format::datetime(at, &tz)));
        }
        if let Some(e) = g.expires_at {
            trail.push(format!("срок до {}", format::datetime(e, &tz)));
        }
        GrantRow {
            id: g.id,
            own: g.account == scope.actor().id(),
            account: g.account,
            name: format::full_name(&g.surname, &g.given_name, g.patronymic.as_deref()),
            order: format::order(&g.order_number, g.order_date),
            pending: state_ == "ждут согласования директора",
            active: state_ == "действуют",
            state: state_,
            trail: trail.join("; "),
        }
    })
    .collect();
    // Verified staff who hold no live or pending grant.
    let candidates = sqlx::query!(
        r#"select distinct on (a.surname, a.given_name, a.id) m.id as "id: MembershipId",
                  a.surname, a.given_name, a.patronymic
           from memberships m join accounts a on a.id = m.account_id
           where m.school_id = $1 and m.status = 'active' and m.verification = 'verified'
             and m.role in ('teacher', 'staff', 'deputy', 'director')
             and not exists(select 1 from admin_grants g where g.school_id = m.school_id
                              and g.account_id = m.account_id and g.revoked_at is null
                              and g.rejected_at is null
                              and (g.expires_at is null or g.expires_at > now()))
           order by a.surname, a.given_name, a.id"#,
        scope.school_id() as SchoolId
    )
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .map(|r| Candidate {
        id: r.id,
        name: format::full_name(&r.surname, &r.given_name, r.patronymic.as_deref()),
    })
    .collect();
    Ok(ListPage {
        layout: Layout::for_scope(scope),
        school_id: scope.school_id(),
        grants,
        candidates,
        form,
        errors,
        can_propose: scope.can(Action::ProposeAdminRights),
        can_approve: scope.can(Action::ApproveAdminRights),
        can_revoke: scope.can(Action::RevokeAdminRights),
        message,
    }
    .into_response())
}

async fn list(State(state): State<AppState>, scope: SchoolScope) -> AppResult<Response> {
    scope.require(Action::ViewAdminRights)?;
    page(
        &state,
        &scope,
        ProposeForm::default(),
        FormErrors::default(),
        None,
    )
    .await
}

async fn propose(
    State(state): State<AppState>,
    scope: SchoolScope,
    meta: RequestMeta,
    Form(form): Form<ProposeForm>,
) -> AppResult<Response> {
    scope.require(Action::ProposeAdminRights)?;
    let mut errors = FormErrors::default();
    let member: Option<MembershipId> = form.member.parse().ok();
    if member.is_none() {
        errors.add("member", "Выберите сотрудника.");
    }
    let number = form.order_number.trim().to_owned();
    if number.is_empty() {
        errors.add("order_number", "Укажите номер приказа директора.");
    }
    let date = parse_date(&form.order_date);
    if date.is_none() {
        errors.add("order_date", "Укажите дату приказа, например 01.09.2025.");
    }
    let clock = SchoolClock::of(&scope);
    let expires = if form.expires_on.trim().is_empty() {
        None
    } else {
        match parse_date(&form.expires_on) {
            Some(d) if d > clock.today() => Some(d),
            _ => {
                errors.add("expires_on", "Срок действия — дата в будущем.");
                None
            }
        }
    };
    let (Some(member), Some(date), true) = (member, date, errors.is_empty()) else {
        return page(&state, &scope, form, errors, None).await;
    };
    let mut tx = state.db.begin().await?;
    if let Some(url) = form.form_key.seen(&mut tx, scope.actor().id()).await? {
        return Ok(once::again(&url));
    }
    // Only a verified staff member of this school.
    let account = sqlx::query_scalar!(
        r#"select account_id as "a: AccountId" from memberships
           where school_id = $1 and id = $2 and status = 'active' and verification = 'verified'
             and role in ('teacher', 'staff', 'deputy', 'director')"#,
        scope.school_id() as SchoolId,
        member as MembershipId
    )
    .fetch_optional(&mut *tx)
    .await?;
    let Some(account) = account else {
        let mut errors = FormErrors::default();
        errors.add(
            "member",
            "Права выдаются только сотруднику школы с подтверждённым статусом.",
        );
        drop(tx);
        return page(&state, &scope, form, errors, None).await;
    };
    let id = GrantId::new();
    let expires_at = expires.map(|d| clock.start_of(d));
    sqlx::query!(
        r#"insert into admin_grants (school_id, id, account_id, granted_by, order_number, order_date, expires_at)
           values ($1, $2, $3, $4, $5, $6, $7)"#,
        scope.school_id() as SchoolId,
        id as GrantId,
        account as AccountId,
        scope.actor().id() as AccountId,
        number,
        date,
        expires_at
    )
    .execute(&mut *tx)
    .await?;
    audit::in_school(
        &mut tx,
        &meta,
        &scope,
        "admin_rights.proposed",
        Some(format!("account:{account}")),
        Some(format::order(&number, date)),
    )
    .await?;
    let url = format!("/s/{}/admin-rights", scope.school_id());
    form.form_key
        .done(&mut tx, scope.actor().id(), &url)
        .await?;
    tx.commit().await?;
    Ok(Redirect::to(&url).into_response())
}

/// The answer to a decision sent again.
const DECIDED: &str = "Решение по этим правам уже принято.";

/// A grant of this school, locked for the decision.
async fn find(
    tx: &mut sqlx::PgConnection,
    tenant: Tenant,
    grant: GrantId,
) -> AppResult<(AccountId, bool, bool)> {
    let school = tenant.id();
    let g = sqlx::query!(
        r#"select account_id as "a: AccountId",
                  (approved_at is null and rejected_at is null and revoked_at is null) as "pending!",
                  exists(select 1 from active_admin_grants v where v.id = g.id) as "active!"
           from admin_grants g where school_id = $1 and id = $2 for update"#,
        school as SchoolId,
        grant as GrantId
    )
    .fetch_optional(tx)
    .await?
    .ok_or(AppError::NotFound)?;
    Ok((g.a, g.pending, g.active))
}

/// The list again with a message at the top (a refused or repeated decision).
async fn notice(
    state: &AppState,
    scope: &SchoolScope,
    message: &'static str,
) -> AppResult<Response> {
    page(
        state,
        scope,
        ProposeForm::default(),
        FormErrors::default(),
        Some(message),
    )
    .await
}

async fn approve(
    State(state): State<AppState>,
    scope: SchoolScope,
    meta: RequestMeta,
    Path((_, grant)): Path<(SchoolId, GrantId)>,
) -> AppResult<Response> {
    scope.require(Action::ApproveAdminRights)?;
    let mut tx = state.db.begin().await?;
    let (account, pending, _) = find(&mut tx, scope.tenant(), grant).await?;
    // The object rule NotOwn (SECURITY.md 38), said in words on the page.
    if !scope.can_on(Action::ApproveAdminRights, &Target::Grant { account }) {
        drop(tx);
        return notice(
            &state,
            &scope,
            "Нельзя согласовать права администратора самому себе.",
        )
        .await;
    }
    if !pending {
        // Sent twice: the first decision stands.
        drop(tx);
        return notice(&state, &scope, DECIDED).await;
    }
    sqlx::query!(
        "update admin_grants set approved_by = $3, approved_at = now() where school_id = $1 and id = $2",
        scope.school_id() as SchoolId,
        grant as GrantId,
        scope.actor().id() as AccountId
    )
    .execute(&mut *tx)
    .await?;
    // Roles are read per request: the rights hold from the person's next request, and
    // their sessions (in this school and any other) go on (SECURITY.md 5, 35).
    audit::in_school(
        &mut tx,
        &meta,
        &scope,
        "admin_rights.approved",
        Some(format!("account:{account}")),
        None,
    )
    .await?;
    tx.commit().await?;
    Ok(Redirect::to(&format!("/s/{}/admin-rights", scope.school_id())).into_response())
}

#[derive(Deserialize)]
struct ReasonForm {
    #[serde(default)]
    reason: String,
}

async fn reject(
    State(state): State<AppState>,
    scope: SchoolScope,
    meta: RequestMeta,
    Path((_, grant)): Path<(SchoolId, GrantId)>,
    Form(form): Form<ReasonForm>,
) -> AppResult<Response> {
    scope.require(Action::ApproveAdminRights)?;
    let reason = form.reason.trim().to_owned();
    if reason.is_empty() {
        return notice(
            &state,
            &scope,
            "Укажите причину, по которой права не согласованы.",
        )
        .await;
    }
    let mut tx = state.db.begin().await?;
    let (account, pending, _) = find(&mut tx, scope.tenant(), grant).await?;
    if !scope.can_on(Action::ApproveAdminRights, &Target::Grant { account }) {
        drop(tx);
        return notice(
            &state,
            &scope,
            "Нельзя решать о правах администратора самому себе.",
        )
        .await;
    }
    if !pending {
        // Sent twice (at once, or after Back): the list, as after the first; a grant
        // decided otherwise meanwhile says so.
        let rejected: bool = sqlx::query_scalar(
            "select rejected_at is not null from admin_grants where school_id = $1 and id = $2",
        )
        .bind(scope.school_id())
        .bind(grant)
        .fetch_one(&mut *tx)
        .await?;
        drop(tx);
        if rejected {
            return Ok(
                Redirect::to(&format!("/s/{}/admin-rights", scope.school_id())).into_response(),
            );
        }
        return notice(&state, &scope, DECIDED).await;
    }
    sqlx::query!(
        "update admin_grants set rejected_by = $3, rejected_at = now(), rejection_reason = $4 where school_id = $1 and id = $2",
        scope.school_id() as SchoolId,
        grant as GrantId,
        scope.actor().id() as AccountId,
        reason
    )
    .execute(&mut *tx)
    .await?;
    audit::in_school(
        &mut tx,
        &meta,
        &scope,
        "admin_rights.rejected",
        Some(format!("account:{account}")),
        Some(reason),
    )
    .await?;
    tx.commit().await?;
    Ok(Redirect::to(&format!("/s/{}/admin-rights", scope.school_id())).into_response())
}

#[derive(Deserialize)]
struct ConfirmForm {
    #[serde(default)]
    confirm: String,
}

async fn revoke(
    State(state): State<AppState>,
    scope: SchoolScope,
    meta: RequestMeta,
    Path((_, grant)): Path<(SchoolId, GrantId)>,
    Form(form): Form<ConfirmForm>,
) -> AppResult<Response> {
    scope.require(Action::RevokeAdminRights)?;
    if form.confirm != "yes" {
        return notice(
            &state,
            &scope,
            "Отметьте «Подтверждаю отзыв прав», чтобы отозвать права.",
        )
        .await;
    }
    let mut tx = state.db.begin().await?;
    let (account, pending, active) = find(&mut tx, scope.tenant(), grant).await?;
    if !(pending || active) {
        // Sent twice, or the rights ended meanwhile: nothing left to revoke.
        drop(tx);
        return notice(
            &state,
            &scope,
            "Эти права уже не действуют: отзывать нечего.",
        )
        .await;
    }
    // A school must keep an administrator: the last active grant is not revoked here.
    let others: i64 = sqlx::query_scalar!(
        r#"select count(*) as "n!" from active_admin_grants where school_id = $1 and id <> $2"#,
        scope.school_id() as SchoolId,
        grant as GrantId
    )
    .fetch_one(&mut *tx)
    .await?;
    if active && others == 0 {
        drop(tx);
        return notice(
            &state,
            &scope,
            "Это единственный администратор платформы школы: сначала назначьте другого.",
        )
        .await;
    }
    sqlx::query!(
        "update admin_grants set revoked_by = $3, revoked_at = now() where school_id = $1 and id = $2",
        scope.school_id() as SchoolId,
        grant as GrantId,
        scope.actor().id() as AccountId
    )
    .execute(&mut *tx)
    .await?;
    audit::in_school(
        &mut tx,
        &meta,
        &scope,
        "admin_rights.revoked",
        Some(format!("account:{account}")),
        None,
    )
    .await?;
    tx.commit().await?;
    Ok(Redirect::to(&format!("/s/{}/admin-rights", scope.school_id())).into_response())
}
