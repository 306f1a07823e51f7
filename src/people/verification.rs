//! Status confirmation (R2.1.j; R2.3.b, R2.4.b, R2.5.b, R2.8.b): teachers, deputies and
//! staff join «не подтверждён»; the administrator confirms («подтверждён») or rejects
//! («отклонён», with a reason). The queue shows the oldest first with how long each waited.

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
use crate::auth::permissions::Role;
use crate::auth::permissions::{Access, Action};
use crate::error::{AppError, AppResult};
use crate::ids::{AccountId, MembershipId, SchoolId};
use crate::web::Routes;
use crate::web::format::{self, count};
use crate::web::htmx::{self, Htmx};
use crate::web::layout::Layout;

pub fn routes(r: Routes) -> Routes {
    r.get(
        "/s/{school_id}/verification",
        Access::School(Action::VerifyStatus),
        queue,
    )
    .post(
        "/s/{school_id}/verification/{membership_id}",
        Access::School(Action::VerifyStatus),
        decide,
    )
}

struct Pending {
    membership: MembershipId,
    account: AccountId,
    name: String,
    role: &'static str,
    position: String,
    waiting: String,
    since: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "people/verification.html")]
struct QueuePage {
    layout: Layout,
    school_id: SchoolId,
    pending: Vec<Pending>,
    error: Option<&'static str>,
    done: Option<String>,
}

/// «3 дня», «5 часов»: how long someone has waited.
pub fn waited(since: OffsetDateTime) -> String {
    let d = OffsetDateTime::now_utc() - since;
    if d.whole_days() >= 1 {
        count(d.whole_days(), "день", "дня", "дней")
    } else if d.whole_hours() >= 1 {
        count(d.whole_hours(), "час", "часа", "часов")
    } else {
        count(d.whole_minutes().max(1), "минуту", "минуты", "минут")
    }
}

async fn page(
    state: &AppState,
    scope: &SchoolScope,
    error: Option<&'static str>,
    done: Option<String>,
) -> AppResult<Response> {
    let mut conn = state.db.acquire().await?;
    let pending = sqlx::query!(
        r#"select m.id as "membership: MembershipId", a.id as "account: AccountId", a.surname,
                  a.given_name, a.patronymic, m.role, m.position, m.joined_at
           from memberships m join accounts a on a.id = m.account_id
           where m.school_id = $1 and m.status = 'active' and m.verification = 'unverified'
             and m.role in ('teacher', 'deputy', 'staff')
           order by m.joined_at, m.id"#,
        scope.school_id() as SchoolId
    )
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .map(|r| Pending {
        membership: r.membership,
        account: r.account,
        name: format::full_name(&r.surname, &r.given_name, r.patronymic.as_deref()),
        role: Role::membership_title(&r.role),
        position: r.position.unwrap_or_default(),
        waiting: waited(r.joined_at),
        since: format::datetime(r.joined_at, scope.timezone()),
    })
    .collect();
    Ok(QueuePage {
        layout: Layout::for_scope(scope),
        school_id: scope.school_id(),
        pending,
        error,
        done,
    }
    .into_response())
}

async fn queue(State(state): State<AppState>, scope: SchoolScope) -> AppResult<Response> {
    scope.require(Action::VerifyStatus)?;
    page(&state, &scope, None, None).await
}

#[derive(Deserialize)]
struct Decision {
    decision: String,
    #[serde(default)]
    reason: String,
}

/// One decision. Asked by htmx (the queue's inline buttons), a decision made answers with
/// the person's row saying so, and the page with an error replaces the page's `<main>`;
/// otherwise the redirect and the page as without script.
async fn decide(
    State(state): State<AppState>,
    scope: SchoolScope,
    meta: RequestMeta,
    htmx: Htmx,
    Path((_, membership)): Path<(SchoolId, MembershipId)>,
    Form(form): Form<Decision>,
) -> AppResult<Response> {
    scope.require(Action::VerifyStatus)?;
    let reason = form.reason.trim().to_owned();
    let (verification, action) = match form.decision.as_str() {
        "verify" => ("verified", "verification.confirmed"),
        "reject" if reason.is_empty() => {
            let res = page(
                &state,
                &scope,
                Some("Укажите причину отказа: её увидит сотрудник."),
                None,
            )
            .await?;
            return Ok(htmx::whole_main(htmx, res));
        }
        "reject" => ("rejected", "verification.rejected"),
        _ => return Err(AppError::BadRequest(crate::ru!("Неизвестное решение."))),
    };
    let mut tx = state.db.begin().await?;
    // The object rule NotOwn: nobody confirms their own status (SECURITY.md 38).
    let subject = sqlx::query_scalar!(
        r#"select account_id as "a: AccountId" from memberships where school_id = $1 and id = $2"#,
        scope.school_id() as SchoolId,
        membership as MembershipId
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(AppError::NotFound)?;
    scope.require_on(
        Action::VerifyStatus,
        &Target::Membership {
            account: subject,
            class: None,
        },
    )?;
    let row = sqlx::query!(
        r#"update memberships set verification = $3, verification_reason = $4, verified_at = now(),
                  verified_by = $5
           where school_id = $1 and id = $2 and verification = 'unverified'
             and role in ('teacher', 'deputy', 'staff')
           returning account_id as "account: AccountId""#,
        scope.school_id() as SchoolId,
        membership as MembershipId,
        verification,
        Some(reason.as_str()).filter(|r| !r.is_empty()),
        scope.actor().id() as AccountId
    )
    .fetch_optional(&mut *tx)
    .await?;
    let back = format!("/s/{}/verification", scope.school_id());
    let said = if verification == "verified" {
        "confirmed"
    } else {
        "declined"
    };
    let decided = || -> AppResult<Response> {
        if htmx.asked() {
            let message = crate::web::here::message(said).unwrap_or_default();
            htmx::decided_row(&format!("verification-{membership}"), 4, message)
        } else {
            Ok(crate::web::here::redirect_done(&back, said).into_response())
        }
    };
    // Already decided (the same form sent twice at once, or again after Back): nothing
    // changes; the same decision leads where the first did, another one to the queue.
    let Some(row) = row else {
        let now = sqlx::query_scalar!(
            "select verification from memberships where school_id = $1 and id = $2",
            scope.school_id() as SchoolId,
            membership as MembershipId
        )
        .fetch_optional(&mut *tx)
        .await?;
        return if now.flatten().as_deref() == Some(verification) {
            decided()
        } else {
            Ok(Redirect::to(&back).into_response())
        };
    };
    audit::in_school(
        &mut tx,
        &meta,
        &scope,
        action,
        Some(format!("account:{}", row.account)),
        Some(reason).filter(|r| !r.is_empty()),
    )
    .await?;
    tx.commit().await?;
    decided()
}
