//! What the administrator does from a person's card (issue 13, item 1; R2.1.o): send a
//! one-time login link (by e-mail through the outbox, or shown once to print for a person
//! without e-mail), end the person's sessions in this school's name (only for a person of
//! this school alone: the sessions are the person's), and the card's extra facts: the chats the person is in and should be in, and links to transfer, leaving and
//! join requests.
//!
//! An account belongs to its person (SECURITY.md 35, `crate::offers`): a link shown to the
//! school is a takeover of the account, so it is offered only when the person belongs to
//! this school alone; a link by e-mail goes to the person's own address and is always
//! allowed.

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use sqlx::PgConnection;

use crate::AppState;
use crate::audit;
use crate::auth::extract::{RequestMeta, SchoolScope};
use crate::auth::permissions::{Access, Action};
use crate::error::{AppError, AppResult};
use crate::ids::{AccountId, MembershipId, SchoolId};
use crate::web::Routes;
use crate::web::format::full_name;
use crate::web::layout::Layout;
use crate::web::once::{self, FormKey};

/// How long a login link from the card lives.
const LINK_DAYS: i64 = 3;

pub fn routes(r: Routes) -> Routes {
    r.post(
        "/s/{school_id}/people/{account_id}/login-link",
        Access::School(Action::ManagePeople),
        login_link,
    )
    .post(
        "/s/{school_id}/people/{account_id}/end-sessions",
        Access::School(Action::ManagePeople),
        end_sessions,
    )
}

/// One chat on the card.
pub struct ChatRow {
    pub id: crate::ids::ChatId,
    pub title: String,
    pub platform_url: Option<String>,
    /// The person is a member of it.
    pub member: bool,
    /// The person's role (their class, their child's class) puts them in it.
    pub expected: bool,
}

/// What the card shows beside the person's data, for the administrator's actions.
pub struct CardExtras {
    pub chats: Vec<ChatRow>,
    /// The active student membership (transfer, leaving).
    pub student: Option<MembershipId>,
    pub has_email: bool,
    /// The person belongs to this school alone: a login link may be shown here.
    pub only_here: bool,
    pub pending_requests: i64,
    /// A pupil's consent to the class chats (issue 13, item 7); `None` for others.
    pub consent: Option<crate::child_consent::State>,
    pub form_key: FormKey,
}

/// The card's extras for `account` in the scope's school.
pub async fn card_extras(
    conn: &mut PgConnection,
    scope: &SchoolScope,
    account: AccountId,
) -> sqlx::Result<CardExtras> {
    let school = scope.school_id();
    let chats = sqlx::query!(
        r#"with mine as (
             select id from memberships where school_id = $1 and account_id = $2 and status = 'active'
           ), classes_of as (
             select m.class_id, 'class_students'::text as kind from memberships m
               where m.school_id = $1 and m.account_id = $2 and m.role = 'student'
                 and m.status = 'active' and m.class_id is not null
             union
             select k.class_id, 'class_parents' from memberships p
               join parent_links l on l.school_id = p.school_id and l.parent_id = p.id
               join memberships k on k.school_id = l.school_id and k.id = l.child_id
               where p.school_id = $1 and p.account_id = $2 and p.role = 'parent'
                 and p.status = 'active' and k.status = 'active' and k.class_id is not null
           )
           select c.id, c.title, c.platform_url,
                  exists(select 1 from chat_members cm where cm.school_id = c.school_id
                         and cm.chat_id = c.id and cm.member_id in (select id from mine)) as "member!",
                  exists(select 1 from classes_of e where e.class_id = c.class_id
                         and e.kind = c.kind) as "expected!"
           from chats c
           where c.school_id = $1 and c.archived_at is null
             and (exists(select 1 from chat_members cm where cm.school_id = c.school_id
                         and cm.chat_id = c.id and cm.member_id in (select id from mine))
                  or exists(select 1 from classes_of e where e.class_id = c.class_id
                            and e.kind = c.kind))
           order by c.title"#,
        school as SchoolId,
        account as AccountId
    )
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .map(|r| ChatRow {
        id: crate::ids::ChatId(r.id),
        title: r.title,
        platform_url: r.platform_url,
        member: r.member,
        expected: r.expected,
    })
    .collect();
    let facts = sqlx::query!(
        r#"select a.email is not null as "has_email!",
                  not exists(select 1 from memberships o where o.account_id = a.id
                             and o.school_id <> $2) as "only_here!",
                  (select m.id from memberships m where m.school_id = $2 and m.account_id = a.id
                     and m.role = 'student' and m.status = 'active') as "student?: MembershipId",
                  (select count(*) from join_requests r where r.school_id = $2
                     and r.account_id = a.id and r.status = 'pending') as "pending!"
           from accounts a where a.id = $1"#,
        account as AccountId,
        school as SchoolId
    )
    .fetch_one(&mut *conn)
    .await?;
    Ok(CardExtras {
        chats,
        student: facts.student,
        has_email: facts.has_email,
        only_here: facts.only_here,
        pending_requests: facts.pending,
        consent: crate::child_consent::of_pupil(conn, scope, account).await?,
        form_key: FormKey::default(),
    })
}

/// The day the janitor removes the person's memberships here (R4.3): the retention
/// period after the last leaving, when every membership here has ended.
pub async fn removal_date(
    conn: &mut PgConnection,
    scope: &SchoolScope,
    account: AccountId,
    retention_days: i32,
) -> sqlx::Result<Option<time::Date>> {
    let at = sqlx::query_scalar!(
        r#"select max(coalesce(left_at, joined_at)) + make_interval(days => $3) as "at"
           from memberships where school_id = $1 and account_id = $2
           having bool_and(status = 'left')"#,
        scope.school_id() as SchoolId,
        account as AccountId,
        retention_days
    )
    .fetch_optional(conn)
    .await?
    .flatten();
    Ok(at.map(|t| t.date()))
}

#[derive(Deserialize)]
struct LinkForm {
    #[serde(default)]
    form_key: FormKey,
    /// «email» or «show».
    #[serde(default)]
    delivery: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "people/login_link.html")]
struct LinkPage {
    layout: Layout,
    school_id: SchoolId,
    account_id: AccountId,
    name: String,
    /// The link, shown once (`None`: it went by e-mail to `email`).
    link: Option<String>,
    email: Option<String>,
    days: i64,
}

struct Person {
    name: String,
    email: Option<String>,
    only_here: bool,
}

/// The school's person, or 404 (another school's person is never found).
async fn person(
    conn: &mut PgConnection,
    scope: &SchoolScope,
    account: AccountId,
) -> AppResult<Person> {
    let row = sqlx::query!(
        r#"select a.surname, a.given_name, a.patronymic, a.email,
                  not exists(select 1 from memberships o where o.account_id = a.id
                             and o.school_id <> $2) as "only_here!"
           from accounts a
           where a.id = $1 and a.deactivated_at is null
             and exists(select 1 from memberships m where m.school_id = $2 and m.account_id = a.id)"#,
        account as AccountId,
        scope.school_id() as SchoolId
    )
    .fetch_optional(conn)
    .await?
    .ok_or(AppError::NotFound)?;
    Ok(Person {
        name: full_name(&row.surname, &row.given_name, row.patronymic.as_deref()),
        email: row.email,
        only_here: row.only_here,
    })
}

async fn login_link(
    State(state): State<AppState>,
    scope: SchoolScope,
    meta: RequestMeta,
    Path((_, account)): Path<(SchoolId, AccountId)>,
    Form(form): Form<LinkForm>,
) -> AppResult<Response> {
    scope.require(Action::ManagePeople)?;
    let card = format!("/s/{}/people/{account}", scope.school_id());
    let mut tx = state.db.begin().await?;
    if let Some(url) = form.form_key.seen(&mut tx, scope.actor().id()).await? {
        return Ok(once::again(&url));
    }
    let p = person(&mut tx, &scope, account).await?;
    let by_mail = form.delivery != "show";
    if by_mail && p.email.is_none() {
        return Err(AppError::BadRequest(crate::ru!(
            "У этого человека нет электронной почты: ссылку можно только показать и распечатать."
        )));
    }
    if !by_mail && !p.only_here {
        return Err(AppError::BadRequest(crate::ru!(
            "Этот человек состоит и в другой школе: ссылку для входа можно только отправить ему на почту."
        )));
    }
    // Earlier unused links stop working.
    sqlx::query!(
        "update one_time_tokens set used_at = now() where account_id = $1 and purpose = 'set_password' and used_at is null",
        account as AccountId
    )
    .execute(&mut *tx)
    .await?;
    let token = crate::auth::issue_one_time_token(
        &mut tx,
        "set_password",
        Some(account),
        time::Duration::days(LINK_DAYS),
    )
    .await?;
    let link = format!("{}/password/{token}", state.public_url);
    let email = if by_mail { p.email.clone() } else { None };
    if let Some(to) = &email {
        let body = format!(
            "Здравствуйте, {}!\n\n\
             Администратор школы «{}» прислал вам ссылку для входа на Школьный портал.\n\
             Откройте её, придумайте пароль — и вы на портале. Ссылка действует {LINK_DAYS} дня и \
             открывается один раз:\n\n{link}\n\n\
             Если вы не просили ссылку, ничего не делайте.\n",
            p.name,
            scope.school_name()
        );
        crate::mail::enqueue(
            &mut tx,
            Some(scope.tenant()),
            to,
            "Ссылка для входа на Школьный портал",
            &body,
        )
        .await?;
    }
    audit::in_school(
        &mut tx,
        &meta,
        &scope,
        "people.login_link",
        Some(format!("account:{account}")),
        Some(
            if by_mail {
                "по почте"
            } else {
                "показана для печати"
            }
            .to_owned(),
        ),
    )
    .await?;
    form.form_key
        .done(&mut tx, scope.actor().id(), &card)
        .await?;
    tx.commit().await?;
    Ok(LinkPage {
        layout: Layout::for_scope(&scope),
        school_id: scope.school_id(),
        account_id: account,
        name: p.name,
        link: (!by_mail).then_some(link),
        email,
        days: LINK_DAYS,
    }
    .into_response())
}

#[derive(Deserialize)]
struct KeyForm {
    #[serde(default)]
    form_key: FormKey,
}

async fn end_sessions(
    State(state): State<AppState>,
    scope: SchoolScope,
    meta: RequestMeta,
    Path((_, account)): Path<(SchoolId, AccountId)>,
    Form(form): Form<KeyForm>,
) -> AppResult<Response> {
    scope.require(Action::ManagePeople)?;
    let card = format!("/s/{}/people/{account}?done=sessions", scope.school_id());
    let mut tx = state.db.begin().await?;
    if let Some(url) = form.form_key.seen(&mut tx, scope.actor().id()).await? {
        return Ok(once::again(&url));
    }
    // The account's sessions are the person's: only a person of this school alone.
    if !person(&mut tx, &scope, account).await?.only_here {
        return Err(AppError::BadRequest(crate::ru!(
            "Этот человек состоит и в другой школе: свои сеансы он завершает сам."
        )));
    }
    if account == scope.actor().id() {
        return Err(AppError::BadRequest(crate::ru!(
            "Свои сеансы завершайте в «Моём профиле»."
        )));
    }
    crate::auth::session::end_all(&mut tx, account).await?;
    audit::in_school(
        &mut tx,
        &meta,
        &scope,
        "people.sessions_ended",
        Some(format!("account:{account}")),
        None,
    )
    .await?;
    form.form_key
        .done(&mut tx, scope.actor().id(), &card)
        .await?;
    tx.commit().await?;
    Ok(Redirect::to(&card).into_response())
}
