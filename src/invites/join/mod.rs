//! Joining by a link (R2.4.a, R2.5.a, R2.6.a, R2.7.a, R2.8.a; SECURITY.md 21–25). `GET
//! /join/{token}` only shows what the link is for (school, class, role) and never consumes
//! it; a newcomer creates an account there, an existing person logs in first, and a person
//! already logged in is asked whose account to use. Joining is one POST and one
//! transaction. Unknown, expired, revoked, used-up links and links whose creator lost the
//! right to make them all answer the same page with the same status.
//!
//! Registering by a link answers the same page whether or not the e-mail or phone is
//! registered (SECURITY.md 35): a new contact gets an account (with the consent recorded,
//! SECURITY.md 36) and logs in with it; a registered one changes nothing and its owner is
//! asked by e-mail to log in and open the link again. Neither is logged in by the answer.
//! Known limit: someone who registers a contact they do not own can still tell the two
//! cases apart afterwards (the password they chose works only for a new account; a new
//! member appears in the school), because contacts are not confirmed before an account is
//! made. Closing that needs a confirmation letter (or SMS) before the account exists.

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use sqlx::PgConnection;
use time::OffsetDateTime;

use super::{InviteId, JoinRequestId, creator_still_may, is_staff_role, target_title};
use crate::AppState;
use crate::audit::{self, Entry};
use crate::auth::extract::{MaybeActor, RequestMeta};
use crate::auth::permissions::Access;
use crate::auth::permissions::Role;
use crate::auth::tenant::Tenant;
use crate::auth::{session, throttle};
use crate::error::{AppError, AppResult, urlencode};
use crate::ids::{AccountId, ClassId, MembershipId, SchoolId};
use crate::web::Routes;
use crate::web::form::FormErrors;
use crate::web::format;
use crate::web::layout::Layout;

mod validate;

use validate::{asks_child, validate, validate_child};

pub fn routes(r: Routes) -> Routes {
    r.get("/join/{token}", Access::Public, landing)
        .post("/join/{token}", Access::Public, join)
        .get("/j/{token}", Access::Public, short)
}

/// The short form of a link printed on paper ([`super::short_link`]): on to the landing
/// page. Only a token's characters pass; anything else is no link (404).
async fn short(Path(token): Path<String>) -> AppResult<Response> {
    let plain = !token.is_empty()
        && token.len() <= 64
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !plain {
        return Err(AppError::NotFound);
    }
    Ok(Redirect::to(&format!("/join/{token}")).into_response())
}

/// A live link, as the landing page and joining need it.
struct Live {
    school: SchoolId,
    school_name: String,
    timezone: String,
    role: String,
    class: ClassId,
    target: String,
    child: Option<MembershipId>,
    child_name: Option<String>,
    needs_approval: bool,
    expires_at: OffsetDateTime,
}

/// The link behind a token, if it can be used now (its creator's authority included).
async fn live(conn: &mut PgConnection, token: &str) -> sqlx::Result<Option<Live>> {
    if token.len() > 64 {
        return Ok(None);
    }
    let row = sqlx::query!(
        r#"select i.school_id as "school: SchoolId", s.name as school_name,
                  s.timezone, i.role, i.class_id as "class: ClassId", c.kind, c.title,
                  i.child_id as "child: MembershipId", i.needs_approval, i.expires_at,
                  i.created_by as "created_by: AccountId",
                  (select ka.surname || ' ' || ka.given_name from memberships k
                   join accounts ka on ka.id = k.account_id
                   where k.school_id = i.school_id and k.id = i.child_id) as child_name
           from invites i
           join schools s on s.id = i.school_id
           join classes c on c.school_id = i.school_id and c.id = i.class_id
           where i.token_hash = $1 and i.revoked_at is null and i.expires_at > now()
             and i.uses < i.max_uses"#,
        session::token_hash(token)
    )
    .fetch_optional(&mut *conn)
    .await?;
    let Some(r) = row else { return Ok(None) };
    if !creator_still_may(
        &mut *conn,
        Tenant::of_invite(r.school),
        r.created_by,
        &r.role,
        r.class,
    )
    .await?
    {
        return Ok(None);
    }
    Ok(Some(Live {
        school: r.school,
        school_name: r.school_name,
        timezone: r.timezone,
        role: r.role,
        class: r.class,
        target: target_title(&r.kind, &r.title),
        child: r.child,
        child_name: r.child_name,
        needs_approval: r.needs_approval,
        expires_at: r.expires_at,
    }))
}

#[derive(Template, WebTemplate)]
#[template(path = "invites/bad_link.html")]
struct BadLinkPage {
    layout: Layout,
}

/// The one answer for every link that cannot be used (SECURITY.md 22): same page, same
/// status, whatever the reason and whoever asks.
fn bad_link() -> AppResult<Response> {
    let page = BadLinkPage {
        layout: Layout::anonymous(),
    };
    Ok((StatusCode::NOT_FOUND, page).into_response())
}

/// `/join` is rate-limited per address (SECURITY.md 25).
async fn limit(conn: &mut PgConnection, state: &AppState, meta: &RequestMeta) -> AppResult<()> {
    let key = format!("join-ip:{}", meta.ip.as_deref().unwrap_or("unknown"));
    throttle::limit(conn, &key, state.config.join_per_ip_per_minute).await
}

#[derive(Deserialize, Default, Debug)]
struct JoinForm {
    #[serde(default)]
    mode: String,
    #[serde(default)]
    surname: String,
    #[serde(default)]
    given_name: String,
    #[serde(default)]
    patronymic: String,
    #[serde(default)]
    contact: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    password2: String,
    #[serde(default)]
    child_name: String,
    #[serde(default)]
    consent: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "invites/join.html")]
struct JoinPage {
    layout: Layout,
    token: String,
    school_name: String,
    target: String,
    role: &'static str,
    child_name: Option<String>,
    needs_approval: bool,
    /// A parent by a class link names their child for the approver.
    ask_child: bool,
    expires: String,
    /// «Фамилия Имя Отчество» of the person logged in, if someone is.
    who: Option<String>,
    /// Why joining did not happen (already a member, and so on).
    message: Option<String>,
    form: JoinForm,
    errors: FormErrors,
    notice_version: &'static str,
}

impl JoinPage {
    fn new(live: &Live, token: &str, who: Option<String>, layout: Layout) -> Self {
        JoinPage {
            layout,
            token: token.to_owned(),
            school_name: live.school_name.clone(),
            target: live.target.clone(),
            role: Role::membership_title(&live.role),
            child_name: live.child_name.clone(),
            needs_approval: live.needs_approval,
            ask_child: asks_child(live),
            expires: format::datetime(live.expires_at, &live.timezone),
            who,
            message: None,
            form: JoinForm::default(),
            errors: FormErrors::default(),
            notice_version: crate::offers::NOTICE_VERSION,
        }
    }
}

fn layout_for(actor: &MaybeActor) -> Layout {
    match &actor.0 {
        Some(a) => Layout::for_actor(a),
        None => Layout::anonymous(),
    }
}

async fn landing(
    State(state): State<AppState>,
    actor: MaybeActor,
    meta: RequestMeta,
    Path(token): Path<String>,
) -> AppResult<Response> {
    let mut conn = state.db.acquire().await?;
    limit(&mut conn, &state, &meta).await?;
    let Some(live) = live(&mut conn, &token).await? else {
        return bad_link();
    };
    let who = actor.0.as_ref().map(|a| a.full_name());
    let mut page = JoinPage::new(&live, &token, who, layout_for(&actor));
    if let Some(a) = &actor.0 {
        page.message = precheck(&mut conn, &live, a.id())
            .await?
            .map(|r| r.message());
    }
    Ok(page.into_response())
}

/// Why someone cannot join by a link they hold.
#[derive(Debug)]
pub(crate) enum Refusal {
    AlreadyMember,
    AlreadyRequested,
    StudentElsewhere(String),
}

impl Refusal {
    pub(crate) fn message(&self) -> String {
        match self {
            Refusal::AlreadyMember => {
                "Вы уже состоите в школе в этой роли: присоединяться ещё раз не нужно.".to_owned()
            }
            Refusal::AlreadyRequested => {
                "Ваша заявка на вступление уже отправлена и ждёт решения.".to_owned()
            }
            Refusal::StudentElsewhere(class) => format!(
                "Вы уже ученик класса {class} этой школы. Перевод в другой класс оформляет администратор."
            ),
        }
    }
}

/// Whether the account already waits for a decision on this role in this class.
async fn already_requested(
    conn: &mut PgConnection,
    tenant: Tenant,
    account: AccountId,
    role: &str,
    class: ClassId,
) -> sqlx::Result<bool> {
    sqlx::query_scalar!(
        r#"select exists(select 1 from join_requests where school_id = $1 and account_id = $2
                  and role = $3 and class_id = $4 and status = 'pending') as "e!""#,
        tenant.id() as SchoolId,
        account as AccountId,
        role,
        class as ClassId
    )
    .fetch_one(conn)
    .await
}

/// Whether the account already holds what the link gives (or waits for it).
async fn precheck(
    conn: &mut PgConnection,
    live: &Live,
    account: AccountId,
) -> sqlx::Result<Option<Refusal>> {
    if already_requested(
        conn,
        Tenant::of_invite(live.school),
        account,
        &live.role,
        live.class,
    )
    .await?
    {
        return Ok(Some(Refusal::AlreadyRequested));
    }
    member_refusal(
        conn,
        Tenant::of_invite(live.school),
        account,
        &live.role,
        live.class,
        live.child,
    )
    .await
}

/// Whether admitting the account would duplicate a membership or move a student.
pub(crate) async fn member_refusal(
    conn: &mut PgConnection,
    tenant: Tenant,
    account: AccountId,
    role: &str,
    class: ClassId,
    child: Option<MembershipId>,
) -> sqlx::Result<Option<Refusal>> {
    let school = tenant.id();
    let row = sqlx::query!(
        r#"select m.id as "id: MembershipId", m.class_id as "class: ClassId", c.title as "title?"
           from memberships m left join classes c on c.school_id = m.school_id and c.id = m.class_id
           where m.school_id = $1 and m.account_id = $2 and m.role = $3 and m.status = 'active'"#,
        school as SchoolId,
        account as AccountId,
        role
    )
    .fetch_optional(&mut *conn)
    .await?;
    let Some(m) = row else { return Ok(None) };
    Ok(match role {
        "student" if m.class == Some(class) => Some(Refusal::AlreadyMember),
        "student" => Some(Refusal::StudentElsewhere(m.title.unwrap_or_default())),
        "parent" => match child {
            Some(child) => {
                let linked = sqlx::query_scalar!(
                    r#"select exists(select 1 from parent_links where school_id = $1
                              and parent_id = $2 and child_id = $3) as "e!""#,
                    school as SchoolId,
                    m.id as MembershipId,
                    child as MembershipId
                )
                .fetch_one(&mut *conn)
                .await?;
                linked.then_some(Refusal::AlreadyMember)
            }
            // A parent of another child may ask to be linked to one more.
            None => None,
        },
        _ => Some(Refusal::AlreadyMember),
    })
}

/// Gives an account the membership a link or an approved request grants: staff roles join
/// the «Учительская» «не подтверждён»; a student their class; a parent is linked to the
/// child when one is known.
pub(crate) async fn admit(
    conn: &mut PgConnection,
    tenant: Tenant,
    account: AccountId,
    role: &str,
    class: ClassId,
    child: Option<MembershipId>,
) -> sqlx::Result<MembershipId> {
    if is_staff_role(role) {
        crate::schools::ensure_staff_membership(conn, tenant, account, role).await
    } else if role == "student" {
        crate::people::enrol_student(conn, tenant, account, class).await
    } else {
        let parent = crate::people::ensure_parent(&mut *conn, tenant, account).await?;
        if let Some(child) = child {
            crate::people::link_parent(conn, tenant, parent, child).await?;
        }
        Ok(parent)
    }
}

/// What a successful POST did.
enum Joined {
    Member(SchoolId),
    Requested,
}

/// Consumes one use of the link and admits the account (or files its request), inside the
/// caller's transaction. `Ok(Err(None))`: the link is not usable (the caller answers the
/// one bad-link page); `Ok(Err(Some(refusal)))`: the account cannot join by it. Either
/// way the caller rolls back, so nothing is consumed.
async fn redeem(
    conn: &mut PgConnection,
    meta: &RequestMeta,
    token: &str,
    account: AccountId,
    note: Option<String>,
) -> sqlx::Result<Result<Joined, Option<Refusal>>> {
    let used = sqlx::query!(
        r#"update invites set uses = uses + 1, last_used_at = now()
           where token_hash = $1 and uses < max_uses and revoked_at is null and expires_at > now()
           returning id as "id: InviteId", school_id as "school: SchoolId", role,
                     class_id as "class: ClassId", child_id as "child: MembershipId",
                     needs_approval, created_by as "created_by: AccountId", chat_id"#,
        session::token_hash(token)
    )
    .fetch_optional(&mut *conn)
    .await?;
    let Some(inv) = used else {
        return Ok(Err(None));
    };
    if !creator_still_may(
        &mut *conn,
        Tenant::of_invite(inv.school),
        inv.created_by,
        &inv.role,
        inv.class,
    )
    .await?
    {
        return Ok(Err(None));
    }
    if already_requested(
        conn,
        Tenant::of_invite(inv.school),
        account,
        &inv.role,
        inv.class,
    )
    .await?
    {
        return Ok(Err(Some(Refusal::AlreadyRequested)));
    }
    if let Some(refusal) = member_refusal(
        &mut *conn,
        Tenant::of_invite(inv.school),
        account,
        &inv.role,
        inv.class,
        inv.child,
    )
    .await?
    {
        // A chat link: someone already in the class joins the chat by it (R2.6.a, R2.7.a).
        if inv.chat_id.is_some()
            && matches!(refusal, Refusal::AlreadyMember)
            && crate::chats::join_chat_by_invite(
                &mut *conn,
                Tenant::of_invite(inv.school),
                inv.id,
                account,
            )
            .await?
        {
            audit::record(
                conn,
                meta,
                Entry {
                    actor: Some(account),
                    school: Some(inv.school),
                    action: "invite.redeemed",
                    target: Some(format!("invite:{}", inv.id)),
                    details: Some("в чат".to_owned()),
                },
            )
            .await?;
            return Ok(Ok(Joined::Member(inv.school)));
        }
        return Ok(Err(Some(refusal)));
    }
    let details = format!("{} → {}", inv.role, inv.class);
    if inv.needs_approval {
        let request = JoinRequestId::new();
        sqlx::query!(
            r#"insert into join_requests (school_id, id, invite_id, account_id, role, class_id,
                                          child_id, note)
               values ($1, $2, $3, $4, $5, $6, $7, $8)"#,
            inv.school as SchoolId,
            request as JoinRequestId,
            inv.id as InviteId,
            account as AccountId,
            inv.role,
            inv.class as ClassId,
            inv.child as Option<MembershipId>,
            note
        )
        .execute(&mut *conn)
        .await?;
        audit::record(
            conn,
            meta,
            Entry {
                actor: Some(account),
                school: Some(inv.school),
                action: "join_request.created",
                target: Some(format!("invite:{}", inv.id)),
                details: Some(details.to_string()),
            },
        )
        .await?;
        Ok(Ok(Joined::Requested))
    } else {
        let member = admit(
            &mut *conn,
            Tenant::of_invite(inv.school),
            account,
            &inv.role,
            inv.class,
            inv.child,
        )
        .await?;
        // Into the class's chats at once (R2.6.a, R2.7.a).
        crate::chats::sync::sync_people(
            &mut *conn,
            meta,
            Tenant::of_invite(inv.school),
            account,
            &[member],
        )
        .await?;
        crate::chats::join_chat_by_invite(
            &mut *conn,
            Tenant::of_invite(inv.school),
            inv.id,
            account,
        )
        .await?;
        audit::record(
            conn,
            meta,
            Entry {
                actor: Some(account),
                school: Some(inv.school),
                action: "invite.redeemed",
                target: Some(format!("invite:{}", inv.id)),
                details: Some(details),
            },
        )
        .await?;
        Ok(Ok(Joined::Member(inv.school)))
    }
}

fn with_cookie(mut res: Response, value: axum::http::HeaderValue) -> Response {
    res.headers_mut().append(header::SET_COOKIE, value);
    res
}

fn after_join(joined: &Joined) -> String {
    match joined {
        Joined::Member(school) => format!("/s/{school}"),
        Joined::Requested => "/".to_owned(),
    }
}

async fn join(
    State(state): State<AppState>,
    actor: MaybeActor,
    meta: RequestMeta,
    headers: HeaderMap,
    Path(token): Path<String>,
    Form(mut form): Form<JoinForm>,
) -> AppResult<Response> {
    let mut conn = state.db.acquire().await?;
    limit(&mut conn, &state, &meta).await?;
    let Some(live) = live(&mut conn, &token).await? else {
        return bad_link();
    };
    let back = format!("/join/{token}");
    match (form.mode.as_str(), &actor.0) {
        // «Выйти и войти другой учётной записью»: the session ends, login comes back here.
        ("logout", _) => {
            if let Some(old) = session::token_from_headers(&headers, &state.config) {
                session::delete_by_token(&mut conn, &old).await?;
            }
            let res = Redirect::to(&format!("/login?next={}", urlencode(&back))).into_response();
            Ok(with_cookie(res, session::clear_cookie(&state.config)))
        }
        ("current", None) => Err(AppError::LoginRequired { next: back }),
        ("current", Some(a)) => {
            if let Err(errors) = validate_child(&live, &form) {
                let mut page =
                    JoinPage::new(&live, &token, Some(a.full_name()), layout_for(&actor));
                page.form = form;
                page.errors = errors;
                return Ok(page.into_response());
            }
            let note = child_note(&live, &form);
            drop(conn);
            let mut tx = state.db.begin().await?;
            match redeem(&mut tx, &meta, &token, a.id(), note).await? {
                Err(None) => bad_link(),
                // Sent twice (at once, or after Back): the request the first submit filed
                // stands; go where it led.
                Err(Some(Refusal::AlreadyRequested)) => {
                    drop(tx);
                    Ok(Redirect::to(&after_join(&Joined::Requested)).into_response())
                }
                Err(Some(refusal)) => {
                    drop(tx);
                    let mut page =
                        JoinPage::new(&live, &token, Some(a.full_name()), layout_for(&actor));
                    page.message = Some(refusal.message());
                    Ok(page.into_response())
                }
                Ok(joined) => {
                    // A new role: a new session id, the old one dies (SECURITY.md 2).
                    let to = after_join(&joined);
                    let fresh =
                        session::renew(&mut tx, &state.config, &headers, a.id(), &meta, &to)
                            .await?;
                    tx.commit().await?;
                    let res = Redirect::to(&to).into_response();
                    Ok(with_cookie(res, session::set_cookie(&state.config, &fresh)))
                }
            }
        }
        ("register", None) => {
            let person = match validate(&live, &form) {
                Ok(p) => p,
                Err(errors) => {
                    form.password.clear();
                    form.password2.clear();
                    let mut page = JoinPage::new(&live, &token, None, Layout::anonymous());
                    page.form = form;
                    page.errors = errors;
                    return Ok(page.into_response());
                }
            };
            drop(conn);
            // Hashed whether or not the contact is registered: the answer takes as long.
            let hash = state.hasher.hash(form.password.clone()).await?;
            let note = child_note(&live, &form);
            let mut tx = state.db.begin().await?;
            let existing = sqlx::query!(
                r#"select id as "id: AccountId", email from accounts
                   where (email = $1 and $1 is not null) or (phone = $2 and $2 is not null)
                   limit 1"#,
                person.email,
                person.phone
            )
            .fetch_optional(&mut *tx)
            .await?;
            if let Some(owner) = existing {
                // Registered already: nothing of the account changes, the link is not
                // used, and the owner is asked by e-mail to log in (SECURITY.md 35).
                ask_to_log_in(&mut tx, &state, &meta, &live, &token, owner.email).await?;
                tx.commit().await?;
                return crate::offers::pages::registered(&actor);
            }
            let account = match crate::people::create_account(&mut tx, &person).await {
                Ok(id) => id,
                // Registered by someone else a moment ago: the same answer as above.
                Err(e) if is_unique_violation(&e) => {
                    drop(tx);
                    return crate::offers::pages::registered(&actor);
                }
                Err(e) => return Err(e.into()),
            };
            sqlx::query!(
                "update accounts set password_hash = $2 where id = $1",
                account as AccountId,
                hash
            )
            .execute(&mut *tx)
            .await?;
            if redeem(&mut tx, &meta, &token, account, note)
                .await?
                .is_err()
            {
                // A new account holds nothing yet: only the link itself can fail here.
                return bad_link();
            }
            crate::offers::record_consent(
                &mut tx,
                account,
                Some(Tenant::of_invite(live.school)),
                "join",
                None,
            )
            .await?;
            audit::record(
                &mut tx,
                &meta,
                Entry {
                    actor: Some(account),
                    school: Some(live.school),
                    action: "account.created_by_invite",
                    target: Some(format!("account:{account}")),
                    details: Some(format!(
                        "согласие на обработку ПД, версия {}",
                        crate::offers::NOTICE_VERSION
                    )),
                },
            )
            .await?;
            tx.commit().await?;
            // Not logged in here: an existing contact cannot be, and the two answers must
            // not differ. The newcomer logs in with the password just set.
            crate::offers::pages::registered(&actor)
        }
        // Anything else (a logged-in person posting the newcomer form, a stale page):
        // show the landing page again; nothing is consumed.
        _ => {
            let who = actor.0.as_ref().map(|a| a.full_name());
            let page = JoinPage::new(&live, &token, who, layout_for(&actor));
            Ok(page.into_response())
        }
    }
}

/// The child's name for the approver, kept only when the link asked for it.
fn child_note(live: &Live, form: &JoinForm) -> Option<String> {
    Some(form.child_name.trim().to_owned()).filter(|s| asks_child(live) && !s.is_empty())
}

fn is_unique_violation(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .is_some_and(|d| d.is_unique_violation())
}

/// Someone registered by a link with a contact that is already an account's login: the
/// account's owner gets a letter asking them to log in and open the link again.
async fn ask_to_log_in(
    conn: &mut PgConnection,
    state: &AppState,
    meta: &RequestMeta,
    live: &Live,
    token: &str,
    to: Option<String>,
) -> sqlx::Result<()> {
    if let Some(to) = to {
        let link = super::join_url(&state.public_url, token);
        let body = format!(
            "Здравствуйте!\n\nКто-то (возможно, вы) начал регистрацию на школьном портале с этим \
             адресом или телефоном по приглашению школы «{}» ({}). У вас уже есть учётная \
             запись: войдите в неё своим паролем и откройте ссылку ещё раз:\n{link}\n\n\
             Если это были не вы, ничего делать не нужно: ваша учётная запись не изменилась.\n",
            live.school_name, live.target
        );
        crate::mail::enqueue(
            &mut *conn,
            Some(Tenant::of_invite(live.school)),
            &to,
            "Вы уже зарегистрированы на школьном портале",
            &body,
        )
        .await?;
    }
    audit::record(
        conn,
        meta,
        Entry {
            actor: None,
            // Portal-level: the school's own log must not tell it the contact exists.
            school: None,
            action: "join.registration_existing",
            target: None,
            details: None,
        },
    )
    .await
}
