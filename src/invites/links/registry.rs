//! The registry of the school's invite links (R2.1.l): filtered by role, class and state,
//! with how often each was used, paginated.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use time::OffsetDateTime;

use super::class_choices;
use crate::AppState;
use crate::auth::extract::SchoolScope;
use crate::auth::permissions::Action;
use crate::auth::permissions::Role;
use crate::error::AppResult;
use crate::ids::{ClassId, SchoolId};
use crate::invites::{InviteId, class_limit, target_title};
use crate::web::format::{self, count};
use crate::web::layout::Layout;

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

#[derive(Template, WebTemplate)]
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
pub(super) struct ListQuery {
    state: Option<String>,
    class: Option<String>,
    page: crate::web::query::Page,
    done: Option<String>,
}

const PAGE: i64 = 50;

pub(super) async fn registry(
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
    let class: Option<ClassId> = q.class.as_deref().and_then(|c| c.parse::<ClassId>().ok());
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
        limit.as_deref() as Option<&[ClassId]>,
        class as Option<ClassId>,
        filter,
        stale_days,
        PAGE + 1,
        q.page.offset(PAGE)
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
                role: Role::membership_title(&r.role),
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
    let stale = crate::invites::home_notes(&mut conn, &scope, stale_days)
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
    Ok(ListPage {
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
    }
    .into_response())
}
