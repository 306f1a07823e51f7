//! Join requests (R2.1.i): where a link needs approval, joining files a request. The
//! administrator, and for their own class's students and parents the class teacher,
//! approves or rejects it with a reason; the queue shows the oldest first with how long
//! each waited, and approves several at once. The requester sees the outcome on their
//! start page and by e-mail.

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use sqlx::PgConnection;

use super::join::{admit, member_refusal};
use super::{Child, JoinRequestId, class_limit, class_students, target_title};
use crate::AppState;
use crate::audit::{self, Entry};
use crate::auth::extract::{RequestMeta, SchoolScope};
use crate::auth::objects::{Facts, Target};
use crate::auth::permissions::Role;
use crate::auth::permissions::{Access, Action};
use crate::error::{AppError, AppResult};
use crate::ids::{AccountId, ClassId, MembershipId, SchoolId};
use crate::people::verification::waited;
use crate::web::Routes;
use crate::web::format::{self, count};
use crate::web::htmx::{self, Htmx};
use crate::web::layout::Layout;
use crate::web::once::{self, FormKey};

pub fn routes(r: Routes) -> Routes {
    r.get(
        "/s/{school_id}/join-requests",
        Access::School(Action::ReviewJoinRequests),
        queue,
    )
    .post(
        "/s/{school_id}/join-requests/bulk",
        Access::School(Action::ReviewJoinRequests),
        bulk,
    )
    .post(
        "/s/{school_id}/join-requests/{request_id}",
        Access::School(Action::ReviewJoinRequests),
        decide,
    )
}

struct ChildOption {
    id: MembershipId,
    name: String,
    selected: bool,
}

struct Pending {
    id: JoinRequestId,
    name: String,
    contact: String,
    role: &'static str,
    target: String,
    note: String,
    purpose: String,
    waiting: String,
    since: String,
    /// For a parent not yet tied to a child: the class's students, the one the note
    /// names (when exactly one does) preselected.
    children: Vec<ChildOption>,
    child: Option<String>,
    needs_child: bool,
}

#[derive(Template, WebTemplate)]
#[template(path = "invites/requests.html")]
struct QueuePage {
    layout: Layout,
    school_id: SchoolId,
    pending: Vec<Pending>,
    /// «Ждут решения: N заявок.», the counter an inline decision updates.
    waiting: String,
    page: i64,
    has_next: bool,
    error: Option<String>,
    notice: Option<String>,
    /// The key of the bulk approval form.
    form_key: FormKey,
}

const PAGE: i64 = 50;

use crate::web::form::name_key as norm;

/// The one student whose «Фамилия Имя» (or «Имя Фамилия») the parent wrote, if exactly one.
fn guess_child(children: &[Child], note: &str) -> Option<MembershipId> {
    let note = norm(note);
    if note.is_empty() {
        return None;
    }
    let hits: Vec<&Child> = children
        .iter()
        .filter(|c| {
            let words: Vec<String> = norm(&c.name).split(' ').map(str::to_owned).collect();
            let (surname, given) = match words.as_slice() {
                [s, g, ..] => (s.clone(), g.clone()),
                _ => return false,
            };
            note.starts_with(&format!("{surname} {given}"))
                || note.starts_with(&format!("{given} {surname}"))
        })
        .collect();
    match hits.as_slice() {
        [one] => Some(one.id),
        _ => None,
    }
}

/// How many requests wait for this reviewer: the ones the queue lists (their class's
/// pupils for a class teacher, never their own).
async fn waiting_count(conn: &mut PgConnection, scope: &SchoolScope) -> sqlx::Result<i64> {
    let limit = class_limit(scope);
    sqlx::query_scalar!(
        r#"select count(*) as "n!" from join_requests
           where school_id = $1 and status = 'pending' and account_id <> $3
             and ($2::uuid[] is null or (role in ('student', 'parent') and class_id = any($2)))"#,
        scope.school_id() as SchoolId,
        limit.as_deref() as Option<&[ClassId]>,
        scope.actor().id() as AccountId
    )
    .fetch_one(conn)
    .await
}

/// The queue's counter (`#requests-waiting`), on the page and after an inline decision.
fn waiting_text(n: i64) -> String {
    format!("Ждут решения: {}.", count(n, "заявка", "заявки", "заявок"))
}

async fn page(
    state: &AppState,
    scope: &SchoolScope,
    page_no: i64,
    error: Option<String>,
    notice: Option<String>,
) -> AppResult<Response> {
    let mut conn = state.db.acquire().await?;
    let limit = class_limit(scope);
    let total = waiting_count(&mut conn, scope).await?;
    let rows = sqlx::query!(
        r#"select r.id as "id: JoinRequestId", r.role, r.class_id as "class: ClassId", c.kind,
                  c.title, r.note, r.created_at, r.child_id is not null as "has_child!",
                  a.surname, a.given_name, a.patronymic, a.email, a.phone, i.purpose,
                  (select ka.surname || ' ' || ka.given_name from memberships k
                   join accounts ka on ka.id = k.account_id
                   where k.school_id = r.school_id and k.id = r.child_id) as child
           from join_requests r
           join accounts a on a.id = r.account_id
           join classes c on c.school_id = r.school_id and c.id = r.class_id
           join invites i on i.school_id = r.school_id and i.id = r.invite_id
           where r.school_id = $1 and r.status = 'pending' and r.account_id <> $5
             and ($2::uuid[] is null or (r.role in ('student', 'parent') and r.class_id = any($2)))
           order by r.created_at, r.id
           limit $3 offset $4"#,
        scope.school_id() as SchoolId,
        limit.as_deref() as Option<&[ClassId]>,
        PAGE + 1,
        crate::web::query::page_offset(page_no, PAGE),
        scope.actor().id() as AccountId
    )
    .fetch_all(&mut *conn)
    .await?;
    let has_next = rows.len() as i64 > PAGE;
    // The students of every class a parent's request needs a child from, in one query.
    let mut wanted: Vec<ClassId> = rows
        .iter()
        .take(PAGE as usize)
        .filter(|r| r.role == "parent" && !r.has_child)
        .map(|r| r.class)
        .collect();
    wanted.sort_by_key(|c| c.0);
    wanted.dedup();
    let students = super::students_of_classes(&mut conn, scope.tenant(), &wanted).await?;
    let mut pending = Vec::new();
    for r in rows.into_iter().take(PAGE as usize) {
        let needs_child = r.role == "parent" && !r.has_child;
        let children = if needs_child {
            students.get(&r.class).cloned().unwrap_or_default()
        } else {
            Vec::new()
        };
        let note = r.note.unwrap_or_default();
        pending.push(Pending {
            id: r.id,
            name: format::full_name(&r.surname, &r.given_name, r.patronymic.as_deref()),
            contact: r
                .email
                .or(r.phone.as_deref().map(format::phone))
                .unwrap_or_default(),
            role: Role::membership_title(&r.role),
            target: target_title(&r.kind, &r.title),
            children: {
                let guess = guess_child(&children, &note);
                children
                    .into_iter()
                    .map(|c| ChildOption {
                        selected: Some(c.id) == guess,
                        id: c.id,
                        name: c.name,
                    })
                    .collect()
            },
            note,
            purpose: r.purpose,
            waiting: waited(r.created_at),
            since: format::datetime(r.created_at, scope.timezone()),
            child: r.child,
            needs_child,
        });
    }
    Ok(QueuePage {
        layout: Layout::for_scope(scope),
        school_id: scope.school_id(),
        pending,
        waiting: waiting_text(total),
        page: page_no,
        has_next,
        error,
        notice,
        form_key: FormKey::default(),
    }
    .into_response())
}

#[derive(Deserialize, Default)]
struct QueueQuery {
    page: crate::web::query::Page,
    done: Option<String>,
}

async fn queue(
    State(state): State<AppState>,
    scope: SchoolScope,
    Query(q): Query<QueueQuery>,
) -> AppResult<Response> {
    scope.require(Action::ReviewJoinRequests)?;
    // «approved» and «rejected» are said by the page frame (`web::here`).
    let notice = match q.done.as_deref() {
        Some(n) if n.starts_with("bulk-") => n[5..]
            .parse::<i64>()
            .ok()
            .map(|n| format!("Одобрено: {}.", count(n, "заявка", "заявки", "заявок"))),
        _ => None,
    };
    page(&state, &scope, q.page.number(), None, notice).await
}

/// Why a request could not be approved.
enum Blocked {
    /// Another school's, or already decided.
    NotFound,
    /// The object rules refuse it: another class's, or the approver's own (SECURITY.md 38).
    Forbidden,
    Message(String),
}

/// A pending request of the scope's school, as the object rules see it (`None`: another
/// school's, missing, or already decided).
async fn pending_target(
    conn: &mut PgConnection,
    scope: &SchoolScope,
    request: JoinRequestId,
) -> sqlx::Result<Option<Target>> {
    let row = sqlx::query!(
        r#"select account_id as "account: AccountId", role, class_id as "class: ClassId"
           from join_requests where school_id = $1 and id = $2 and status = 'pending'"#,
        scope.school_id() as SchoolId,
        request as JoinRequestId
    )
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|r| Target::JoinRequest {
        requester: r.account,
        class: r.class,
        pupil: matches!(r.role.as_str(), "student" | "parent"),
    }))
}

/// Approves one pending request inside the caller's transaction: the membership, the
/// parent–child link, the audit row and the e-mail to the requester.
async fn approve(
    conn: &mut PgConnection,
    scope: &SchoolScope,
    meta: &RequestMeta,
    facts: &Facts,
    request: JoinRequestId,
    chosen_child: Option<MembershipId>,
) -> AppResult<Result<(), Blocked>> {
    let row = sqlx::query!(
        r#"select r.account_id as "account: AccountId", r.role, r.class_id as "class: ClassId",
                  r.child_id as "child: MembershipId", a.email, c.kind, c.title
           from join_requests r join accounts a on a.id = r.account_id
           join classes c on c.school_id = r.school_id and c.id = r.class_id
           where r.school_id = $1 and r.id = $2 and r.status = 'pending'
           for update of r"#,
        scope.school_id() as SchoolId,
        request as JoinRequestId
    )
    .fetch_optional(&mut *conn)
    .await?;
    let Some(r) = row else {
        return Ok(Err(Blocked::NotFound));
    };
    let target = Target::JoinRequest {
        requester: r.account,
        class: r.class,
        pupil: matches!(r.role.as_str(), "student" | "parent"),
    };
    if !facts.can_on(Action::ReviewJoinRequests, &target) {
        return Ok(Err(Blocked::Forbidden));
    }
    let child = match (r.child, chosen_child) {
        (Some(c), _) => Some(c),
        (None, Some(c)) if r.role == "parent" => {
            // Only a student of the request's class.
            let ok = class_students(&mut *conn, scope.tenant(), r.class)
                .await?
                .iter()
                .any(|s| s.id == c);
            if !ok {
                return Ok(Err(Blocked::Message(
                    "Выберите ребёнка из списка учеников класса.".to_owned(),
                )));
            }
            Some(c)
        }
        _ => None,
    };
    if let Some(refusal) = member_refusal(
        &mut *conn,
        scope.tenant(),
        r.account,
        &r.role,
        r.class,
        child,
    )
    .await?
    {
        return Ok(Err(Blocked::Message(refusal.message())));
    }
    let member = admit(
        &mut *conn,
        scope.tenant(),
        r.account,
        &r.role,
        r.class,
        child,
    )
    .await?;
    // Into the class's chats at once (R2.6.a, R2.7.a).
    crate::chats::sync::sync_people(
        &mut *conn,
        meta,
        scope.tenant(),
        scope.actor().id(),
        &[member],
    )
    .await?;
    sqlx::query!(
        r#"update join_requests set status = 'approved', decided_at = now(), decided_by = $3,
                  child_id = $4
           where school_id = $1 and id = $2"#,
        scope.school_id() as SchoolId,
        request as JoinRequestId,
        scope.actor().id() as AccountId,
        child as Option<MembershipId>
    )
    .execute(&mut *conn)
    .await?;
    audit::record(
        &mut *conn,
        meta,
        Entry {
            actor: Some(scope.actor().id()),
            school: Some(scope.school_id()),
            action: "join_request.approved",
            target: Some(format!("account:{}", r.account)),
            details: Some(format!(
                "{} — {}",
                crate::auth::permissions::Role::membership_title(&r.role),
                target_title(&r.kind, &r.title)
            )),
        },
    )
    .await?;
    if let Some(email) = r.email {
        let body = format!(
            "Здравствуйте!\r\n\r\nВаша заявка на вступление одобрена: {}, {} — {}.\r\n\
             Войдите на школьный портал, чтобы увидеть свой класс.\r\n",
            scope.school_name(),
            Role::membership_title(&r.role),
            target_title(&r.kind, &r.title)
        );
        crate::mail::enqueue(
            conn,
            Some(scope.tenant()),
            &email,
            &format!("Заявка одобрена: {}", scope.school_name()),
            &body,
        )
        .await?;
    }
    Ok(Ok(()))
}

#[derive(Deserialize, Default)]
struct Decision {
    #[serde(default)]
    decision: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    child_id: String,
}

/// The answer to a decision sent again.
const ALREADY_DECIDED: &str = "Эта заявка уже рассмотрена.";

/// One decision. Asked by htmx (the queue's inline buttons), a decision made answers with
/// the request's row saying so, and a page (an error, «already decided») replaces the
/// page's `<main>`; otherwise the redirect and the page as without script.
async fn decide(
    State(state): State<AppState>,
    scope: SchoolScope,
    meta: RequestMeta,
    htmx: Htmx,
    Path((_, request)): Path<(SchoolId, JoinRequestId)>,
    Form(form): Form<Decision>,
) -> AppResult<Response> {
    scope.require(Action::ReviewJoinRequests)?;
    let back = format!("/s/{}/join-requests", scope.school_id());
    // Asked by htmx: the row, and the queue's counter out of band (counted after the commit).
    let decided = async |said: &'static str| -> AppResult<Response> {
        if htmx.asked() {
            let message = crate::web::here::message(said).unwrap_or_default();
            let left = waiting_count(&mut *state.db.acquire().await?, &scope).await?;
            let counter = htmx::Counter {
                id: "requests-waiting",
                text: waiting_text(left),
            };
            htmx::decided_row_with(&format!("request-{request}"), 5, message, Some(counter))
        } else {
            Ok(crate::web::here::redirect_done(&back, said).into_response())
        }
    };
    let whole = |res: AppResult<Response>| res.map(|r| htmx::whole_main(htmx, r));
    let mut tx = state.db.begin().await?;
    // The object first (404 / 403), then the form.
    let facts = scope.facts();
    let Some(target) = pending_target(&mut tx, &scope, request).await? else {
        // Sent twice (SECURITY.md 18): the first decision stands; another school's is 404.
        let decided = sqlx::query_scalar!(
            r#"select exists(select 1 from join_requests
                             where school_id = $1 and id = $2 and status <> 'pending') as "e!""#,
            scope.school_id() as SchoolId,
            request as JoinRequestId
        )
        .fetch_one(&mut *tx)
        .await?;
        drop(tx);
        if !decided {
            return Err(AppError::NotFound);
        }
        return whole(page(&state, &scope, 1, None, Some(ALREADY_DECIDED.into())).await);
    };
    facts.require_on(Action::ReviewJoinRequests, &target)?;
    match form.decision.as_str() {
        "approve" => {
            let child = form.child_id.parse::<MembershipId>().ok();
            match approve(&mut tx, &scope, &meta, &facts, request, child).await? {
                Ok(()) => {
                    tx.commit().await?;
                    decided("approved").await
                }
                // Decided by a submit that ran at the same moment.
                Err(Blocked::NotFound) => {
                    drop(tx);
                    whole(page(&state, &scope, 1, None, Some(ALREADY_DECIDED.into())).await)
                }
                Err(Blocked::Forbidden) => Err(AppError::Forbidden),
                Err(Blocked::Message(m)) => {
                    drop(tx);
                    whole(page(&state, &scope, 1, Some(m), None).await)
                }
            }
        }
        "reject" => {
            let reason = form.reason.trim().to_owned();
            if reason.is_empty() || reason.chars().count() > 500 {
                drop(tx);
                return whole(
                    page(
                        &state,
                        &scope,
                        1,
                        Some(
                            "Укажите причину отказа (до 500 символов): её увидит заявитель."
                                .to_owned(),
                        ),
                        None,
                    )
                    .await,
                );
            }
            let row = sqlx::query!(
                r#"update join_requests r set status = 'rejected', reason = $3,
                          decided_at = now(), decided_by = $4
                   from accounts a
                   where r.school_id = $1 and r.id = $2 and r.status = 'pending'
                     and a.id = r.account_id
                   returning r.account_id as "account: AccountId", a.email"#,
                scope.school_id() as SchoolId,
                request as JoinRequestId,
                reason,
                scope.actor().id() as AccountId
            )
            .fetch_optional(&mut *tx)
            .await?;
            let Some(row) = row else {
                // Decided by a submit that ran at the same moment.
                drop(tx);
                return whole(page(&state, &scope, 1, None, Some(ALREADY_DECIDED.into())).await);
            };
            audit::record(
                &mut tx,
                &meta,
                Entry {
                    actor: Some(scope.actor().id()),
                    school: Some(scope.school_id()),
                    action: "join_request.rejected",
                    target: Some(format!("account:{}", row.account)),
                    details: Some(reason.to_string()),
                },
            )
            .await?;
            if let Some(email) = row.email {
                let body = format!(
                    "Здравствуйте!\r\n\r\nВаша заявка на вступление в {} отклонена.\r\nПричина: {reason}\r\n",
                    scope.school_name()
                );
                crate::mail::enqueue(
                    &mut tx,
                    Some(scope.tenant()),
                    &email,
                    &format!("Заявка отклонена: {}", scope.school_name()),
                    &body,
                )
                .await?;
            }
            tx.commit().await?;
            decided("rejected").await
        }
        _ => Err(AppError::BadRequest(crate::ru!("Неизвестное решение."))),
    }
}

/// Approves every ticked request (`ids`); a parent's request is approved here only when
/// the child is known (from a slip, or the one student the parent named).
async fn bulk(
    State(state): State<AppState>,
    scope: SchoolScope,
    meta: RequestMeta,
    Form(fields): Form<Vec<(String, String)>>,
) -> AppResult<Response> {
    scope.require(Action::ReviewJoinRequests)?;
    let ids: Vec<JoinRequestId> = fields
        .iter()
        .filter(|(k, _)| k == "ids")
        .filter_map(|(_, v)| v.parse::<JoinRequestId>().ok())
        .take(PAGE as usize)
        .collect();
    if ids.is_empty() {
        return page(
            &state,
            &scope,
            1,
            Some("Отметьте заявки, которые нужно одобрить.".to_owned()),
            None,
        )
        .await;
    }
    let form_key = FormKey::parse(
        fields
            .iter()
            .find(|(k, _)| k == "form_key")
            .map_or("", |(_, v)| v.as_str()),
    );
    let mut tx = state.db.begin().await?;
    if let Some(url) = form_key.seen(&mut tx, scope.actor().id()).await? {
        return Ok(once::again(&url));
    }
    let facts = scope.facts();
    let mut skipped = Vec::new();
    let mut done = 0i64;
    for id in ids {
        // Another class's or one's own request is neither decided nor named here.
        match pending_target(&mut tx, &scope, id).await? {
            Some(target) if facts.can_on(Action::ReviewJoinRequests, &target) => {}
            _ => continue,
        }
        let note = sqlx::query!(
            r#"select r.role, r.class_id as "class: ClassId", r.child_id is not null as "has_child!",
                      r.note, a.surname, a.given_name
               from join_requests r join accounts a on a.id = r.account_id
               where r.school_id = $1 and r.id = $2 and r.status = 'pending'"#,
            scope.school_id() as SchoolId,
            id as JoinRequestId
        )
        .fetch_optional(&mut *tx)
        .await?;
        let Some(n) = note else { continue };
        let child = if n.role == "parent" && !n.has_child {
            let children = class_students(&mut tx, scope.tenant(), n.class).await?;
            match guess_child(&children, n.note.as_deref().unwrap_or("")) {
                Some(c) => Some(c),
                None => {
                    skipped.push(format!("{} {}", n.surname, n.given_name));
                    continue;
                }
            }
        } else {
            None
        };
        match approve(&mut tx, &scope, &meta, &facts, id, child).await? {
            Ok(()) => done += 1,
            Err(Blocked::NotFound | Blocked::Forbidden) => {}
            Err(Blocked::Message(_)) => skipped.push(format!("{} {}", n.surname, n.given_name)),
        }
    }
    if skipped.is_empty() {
        let url = format!("/s/{}/join-requests?done=bulk-{done}", scope.school_id());
        form_key.done(&mut tx, scope.actor().id(), &url).await?;
        tx.commit().await?;
        Ok(Redirect::to(&url).into_response())
    } else {
        tx.commit().await?;
        page(
            &state,
            &scope,
            1,
            Some(format!(
                "Не одобрены (выберите ребёнка или проверьте заявку): {}.",
                skipped.join(", ")
            )),
            Some(format!(
                "Одобрено: {}.",
                count(done, "заявка", "заявки", "заявок")
            )),
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_child_a_parent_names_is_found_ignoring_case_and_yo() {
        let children = vec![
            Child {
                id: MembershipId::new(),
                name: "Морозов Артём Дмитриевич".into(),
            },
            Child {
                id: MembershipId::new(),
                name: "Морозова Анна Игоревна".into(),
            },
        ];
        assert_eq!(
            guess_child(&children, "морозов артем"),
            Some(children[0].id)
        );
        assert_eq!(
            guess_child(&children, "Артём Морозов"),
            Some(children[0].id)
        );
        assert_eq!(guess_child(&children, "Морозов"), None);
        assert_eq!(guess_child(&children, ""), None);
    }
}
