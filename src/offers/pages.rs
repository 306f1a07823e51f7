//! The pages of offers: the school's «Приглашения» list (only what it typed), the person's
//! answer page `/offers/{token}` (accept, decline, or register and accept), and the
//! personal-data notice people consent to (`/consent`). See the module doc for the rules.

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use sqlx::PgConnection;
use time::OffsetDateTime;

use super::{NOTICE_VERSION, consent_given, record_consent};
use crate::AppState;
use crate::audit::{self, Entry};
use crate::auth::extract::{MaybeActor, RequestMeta, SchoolScope};
use crate::auth::permissions::Role;
use crate::auth::permissions::{Access, Action};
use crate::auth::tenant::Tenant;
use crate::auth::{password, session, throttle};
use crate::error::{AppError, AppResult};
use crate::ids::{AccountId, ClassId, MembershipId, OfferId, SchoolId};
use crate::web::Routes;
use crate::web::form::FormErrors;
use crate::web::format;
use crate::web::layout::Layout;

pub fn routes(r: Routes) -> Routes {
    r.get("/consent", Access::Public, notice)
        .get(
            "/s/{school_id}/offers",
            Access::School(Action::ManagePeople),
            list,
        )
        .get("/offers/{token}", Access::Public, show)
        .post("/offers/{token}", Access::Public, answer)
}

// ---- the notice ---------------------------------------------------------------------------

#[derive(Template, WebTemplate)]
#[template(path = "offers/consent.html")]
struct NoticePage {
    layout: Layout,
    version: &'static str,
}

async fn notice(actor: MaybeActor) -> AppResult<Response> {
    Ok(NoticePage {
        layout: layout_for(&actor),
        version: NOTICE_VERSION,
    }
    .into_response())
}

pub(super) fn layout_for(actor: &MaybeActor) -> Layout {
    match &actor.0 {
        Some(a) => Layout::for_actor(a),
        None => Layout::anonymous(),
    }
}

// ---- the school's list --------------------------------------------------------------------

struct OfferRow {
    name: String,
    contact: String,
    role: &'static str,
    status: &'static str,
    created: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "offers/list.html")]
struct ListPage {
    layout: Layout,
    school_id: SchoolId,
    offers: Vec<OfferRow>,
}

/// «ожидает согласия», «принято», «отклонено», «срок истёк».
fn status_title(status: &str, expired: bool) -> &'static str {
    match status {
        "accepted" => "принято",
        "declined" => "отклонено",
        _ if expired => "срок истёк",
        _ => "ожидает согласия",
    }
}

async fn list(State(state): State<AppState>, scope: SchoolScope) -> AppResult<Response> {
    scope.require(Action::ManagePeople)?;
    let mut conn = state.db.acquire().await?;
    // Only what the school typed: never the answering account's data.
    let offers = sqlx::query!(
        r#"select surname, given_name, patronymic, email, phone, role, status, created_at,
                  expires_at < now() as "expired!"
           from offers where school_id = $1 order by created_at desc, id limit 500"#,
        scope.school_id() as SchoolId
    )
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .map(|o| OfferRow {
        name: format::full_name(&o.surname, &o.given_name, o.patronymic.as_deref()),
        contact: [o.email, o.phone.as_deref().map(format::phone)]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(", "),
        role: Role::membership_title(&o.role),
        status: status_title(&o.status, o.expired),
        created: format::datetime(o.created_at, scope.timezone()),
    })
    .collect();
    Ok(ListPage {
        layout: Layout::for_scope(&scope),
        school_id: scope.school_id(),
        offers,
    }
    .into_response())
}

// ---- the person's answer ------------------------------------------------------------------

/// A pending offer behind a token.
pub(super) struct Live {
    pub(super) id: OfferId,
    pub(super) school: SchoolId,
    pub(super) school_name: String,
    surname: String,
    given_name: String,
    patronymic: Option<String>,
    email: Option<String>,
    phone: Option<String>,
    pub(super) role: String,
    class: Option<ClassId>,
    pub(super) class_title: Option<String>,
    child: Option<MembershipId>,
    pub(super) child_name: Option<String>,
    pub(super) position: Option<String>,
    pub(super) expires_at: OffsetDateTime,
    pub(super) timezone: String,
}

async fn live(conn: &mut PgConnection, token: &str) -> sqlx::Result<Option<Live>> {
    if token.len() > 64 {
        return Ok(None);
    }
    live_by(conn, Some(session::token_hash(token)), None).await
}

/// A pending offer by its token's hash or by its id.
pub(super) async fn live_by(
    conn: &mut PgConnection,
    hash: Option<Vec<u8>>,
    id: Option<OfferId>,
) -> sqlx::Result<Option<Live>> {
    let row = sqlx::query!(
        r#"select o.id, o.school_id as "school: SchoolId", s.name as school_name, s.timezone,
                  o.surname, o.given_name, o.patronymic, o.email, o.phone, o.role,
                  o.class_id as "class: ClassId", c.title as "class_title?",
                  o.child_id as "child: MembershipId", o.position, o.expires_at,
                  (select ka.surname || ' ' || ka.given_name from memberships k
                   join accounts ka on ka.id = k.account_id
                   where k.school_id = o.school_id and k.id = o.child_id) as child_name
           from offers o
           join schools s on s.id = o.school_id
           left join classes c on c.school_id = o.school_id and c.id = o.class_id
           where (o.token_hash = $1 or o.id = $2) and o.status = 'pending'
             and o.expires_at > now()"#,
        hash,
        id as Option<OfferId>
    )
    .fetch_optional(&mut *conn)
    .await?;
    Ok(row.map(|r| Live {
        id: OfferId(r.id),
        school: r.school,
        school_name: r.school_name,
        surname: r.surname,
        given_name: r.given_name,
        patronymic: r.patronymic,
        email: r.email,
        phone: r.phone,
        role: r.role,
        class: r.class,
        class_title: r.class_title,
        child: r.child,
        child_name: r.child_name,
        position: r.position,
        expires_at: r.expires_at,
        timezone: r.timezone,
    }))
}

#[derive(Deserialize, Default, Debug)]
struct AnswerForm {
    #[serde(default)]
    mode: String,
    #[serde(default)]
    consent: String,
    #[serde(default)]
    surname: String,
    #[serde(default)]
    given_name: String,
    #[serde(default)]
    patronymic: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    password2: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "offers/show.html")]
struct ShowPage {
    layout: Layout,
    token: String,
    school_name: String,
    role: &'static str,
    class_title: Option<String>,
    child_name: Option<String>,
    position: Option<String>,
    expires: String,
    /// The name of the person logged in, if someone is.
    who: Option<String>,
    /// Whether the logged-in account is the one the offer is addressed to.
    addressed: bool,
    /// The login a newcomer registers with (the offer's e-mail, else its phone).
    login: String,
    notice_version: &'static str,
    form: AnswerForm,
    errors: FormErrors,
}

#[derive(Template, WebTemplate)]
#[template(path = "offers/message.html")]
pub(crate) struct MessagePage {
    pub(crate) layout: Layout,
    pub(crate) title: &'static str,
    pub(crate) message: &'static str,
    pub(crate) login_link: bool,
}

pub(super) fn gone(actor: &MaybeActor) -> AppResult<Response> {
    let page = MessagePage {
        layout: layout_for(actor),
        title: "Приглашение недействительно",
        message: "Срок приглашения истёк, на него уже ответили или ссылка набрана с ошибкой.",
        login_link: false,
    };
    Ok((StatusCode::NOT_FOUND, page).into_response())
}

/// The page after a newcomer's registration, whether or not their contact was registered
/// already (SECURITY.md 35): the same words, the same status.
pub(crate) fn registered(actor: &MaybeActor) -> AppResult<Response> {
    Ok(MessagePage {
        layout: layout_for(actor),
        title: "Регистрация принята",
        message: "Войдите на портал с логином и паролем, которые вы указали. Если этот адрес \
                  или телефон уже был зарегистрирован, мы отправили письмо на почту учётной \
                  записи: войдите в неё своим прежним паролем и откройте ссылку ещё раз.",
        login_link: true,
    }
    .into_response())
}

fn login_of(live: &Live) -> String {
    live.email
        .clone()
        .or_else(|| live.phone.clone())
        .unwrap_or_default()
}

impl ShowPage {
    fn new(live: &Live, token: &str, actor: &MaybeActor, addressed: bool) -> Self {
        ShowPage {
            layout: layout_for(actor),
            token: token.to_owned(),
            school_name: live.school_name.clone(),
            role: Role::membership_title(&live.role),
            class_title: live.class_title.clone(),
            child_name: live.child_name.clone(),
            position: live.position.clone(),
            expires: format::datetime(live.expires_at, &live.timezone),
            who: actor.0.as_ref().map(|a| a.full_name()),
            addressed,
            login: login_of(live),
            notice_version: NOTICE_VERSION,
            form: AnswerForm {
                surname: live.surname.clone(),
                given_name: live.given_name.clone(),
                patronymic: live.patronymic.clone().unwrap_or_default(),
                ..Default::default()
            },
            errors: FormErrors::default(),
        }
    }
}

/// Whether the account's own login is the offer's contact.
pub(super) async fn addressed_to(
    conn: &mut PgConnection,
    live: &Live,
    account: AccountId,
) -> sqlx::Result<bool> {
    sqlx::query_scalar!(
        r#"select exists(select 1 from accounts where id = $1 and deactivated_at is null
                  and ((email = $2 and $2 is not null) or (phone = $3 and $3 is not null))) as "e!""#,
        account as AccountId,
        live.email,
        live.phone
    )
    .fetch_one(conn)
    .await
}

async fn show(
    State(state): State<AppState>,
    actor: MaybeActor,
    Path(token): Path<String>,
) -> AppResult<Response> {
    let mut conn = state.db.acquire().await?;
    let Some(live) = live(&mut conn, &token).await? else {
        return gone(&actor);
    };
    let addressed = match &actor.0 {
        Some(a) => addressed_to(&mut conn, &live, a.id()).await?,
        None => false,
    };
    Ok(ShowPage::new(&live, &token, &actor, addressed).into_response())
}

/// Gives the account what the offer says, inside the caller's transaction.
pub(super) async fn admit(
    conn: &mut PgConnection,
    meta: &RequestMeta,
    live: &Live,
    account: AccountId,
) -> sqlx::Result<MembershipId> {
    let member = match live.role.as_str() {
        "student" => {
            let Some(class) = live.class else {
                return Err(sqlx::Error::RowNotFound);
            };
            crate::people::enrol_student(conn, Tenant::of_offer(live.school), account, class)
                .await?
        }
        "parent" => {
            let parent =
                crate::people::ensure_parent(conn, Tenant::of_offer(live.school), account).await?;
            if let Some(child) = live.child {
                crate::people::link_parent(conn, Tenant::of_offer(live.school), parent, child)
                    .await?;
            }
            parent
        }
        role => {
            let m = crate::schools::ensure_staff_membership(
                conn,
                Tenant::of_offer(live.school),
                account,
                role,
            )
            .await?;
            if let Some(position) = &live.position {
                sqlx::query!(
                    "update memberships set position = $3 where school_id = $1 and id = $2",
                    live.school as SchoolId,
                    m as MembershipId,
                    position
                )
                .execute(&mut *conn)
                .await?;
            }
            m
        }
    };
    record_consent(
        conn,
        account,
        Some(Tenant::of_offer(live.school)),
        "offer",
        Some(live.id),
    )
    .await?;
    sqlx::query!(
        r#"update offers set status = 'accepted', decided_at = now(), decided_by = $2
           where id = $1 and status = 'pending'"#,
        live.id as OfferId,
        account as AccountId
    )
    .execute(&mut *conn)
    .await?;
    crate::chats::sync::sync_people(
        conn,
        meta,
        Tenant::of_offer(live.school),
        account,
        &[member],
    )
    .await?;
    audit::record(
        conn,
        meta,
        Entry {
            actor: Some(account),
            school: Some(live.school),
            action: "offer.accepted",
            target: Some(format!("offer:{}", live.id)),
            details: Some(format!(
                "{}; согласие на обработку ПД, версия {NOTICE_VERSION}",
                Role::membership_title(&live.role)
            )),
        },
    )
    .await?;
    Ok(member)
}

/// Takes the offer for update: `None` when it was answered meanwhile.
/// Accepts an offer for `account` in one transaction: the membership, the consent, a new
/// session (a new role, SECURITY.md 2); then the school's start page.
pub(super) async fn accept(
    state: &AppState,
    meta: &RequestMeta,
    headers: &HeaderMap,
    live: &Live,
    account: AccountId,
    actor: &MaybeActor,
) -> AppResult<Response> {
    let mut tx = state.db.begin().await?;
    if !lock(&mut tx, live).await? {
        // Accepted by this person a moment ago (sent twice): where the first led.
        if let Some(school) = accepted_by(&mut tx, live.id, account).await? {
            return Ok(Redirect::to(&format!("/s/{school}")).into_response());
        }
        return gone(actor);
    }
    admit(&mut tx, meta, live, account).await?;
    let to = format!("/s/{}", live.school);
    let fresh = session::renew(&mut tx, &state.config, headers, account, meta, &to).await?;
    tx.commit().await?;
    let mut res = Redirect::to(&to).into_response();
    res.headers_mut().append(
        header::SET_COOKIE,
        session::set_cookie(&state.config, &fresh),
    );
    Ok(res)
}

/// The school of an offer `account` has accepted, if they have.
pub(super) async fn accepted_by(
    conn: &mut PgConnection,
    offer: OfferId,
    account: AccountId,
) -> sqlx::Result<Option<SchoolId>> {
    sqlx::query_scalar(
        "select school_id from offers where id = $1 and status = 'accepted' and decided_by = $2",
    )
    .bind(offer)
    .bind(account)
    .fetch_optional(conn)
    .await
}

pub(super) async fn lock(conn: &mut PgConnection, live: &Live) -> sqlx::Result<bool> {
    Ok(sqlx::query_scalar!(
        r#"select id from offers where id = $1 and status = 'pending' and expires_at > now()
           for update"#,
        live.id as OfferId
    )
    .fetch_optional(conn)
    .await?
    .is_some())
}

async fn answer(
    State(state): State<AppState>,
    actor: MaybeActor,
    meta: RequestMeta,
    headers: HeaderMap,
    Path(token): Path<String>,
    Form(mut form): Form<AnswerForm>,
) -> AppResult<Response> {
    let mut conn = state.db.acquire().await?;
    // Answering is rate-limited per address, like `/join` (a registration hashes a password).
    let key = format!("offer-ip:{}", meta.ip.as_deref().unwrap_or("unknown"));
    throttle::limit(&mut conn, &key, state.config.join_per_ip_per_minute).await?;
    let Some(live) = live(&mut conn, &token).await? else {
        return gone(&actor);
    };
    let addressed = match &actor.0 {
        Some(a) => addressed_to(&mut conn, &live, a.id()).await?,
        None => false,
    };
    drop(conn);
    match (form.mode.as_str(), &actor.0) {
        // Declining needs only the letter's link.
        ("decline", _) => {
            let mut tx = state.db.begin().await?;
            if !lock(&mut tx, &live).await? {
                return gone(&actor);
            }
            let by = actor.0.as_ref().filter(|_| addressed).map(|a| a.id());
            sqlx::query!(
                r#"update offers set status = 'declined', decided_at = now(), decided_by = $2
                   where id = $1"#,
                live.id as OfferId,
                by as Option<AccountId>
            )
            .execute(&mut *tx)
            .await?;
            audit::record(
                &mut tx,
                &meta,
                Entry {
                    actor: by,
                    school: Some(live.school),
                    action: "offer.declined",
                    target: Some(format!("offer:{}", live.id)),
                    details: None,
                },
            )
            .await?;
            tx.commit().await?;
            Ok(MessagePage {
                layout: layout_for(&actor),
                title: "Приглашение отклонено",
                message: "Вы отказались от приглашения. Школа увидит только, что оно отклонено.",
                login_link: false,
            }
            .into_response())
        }
        ("accept", None) => Err(AppError::LoginRequired {
            next: format!("/offers/{token}"),
        }),
        ("accept", Some(a)) if addressed => {
            if let Err(m) = consent_given(&form.consent) {
                let mut page = ShowPage::new(&live, &token, &actor, true);
                page.errors.add("consent", m);
                return Ok(page.into_response());
            }
            accept(&state, &meta, &headers, &live, a.id(), &actor).await
        }
        ("register", None) => register(&state, &actor, &meta, &live, &token, &mut form).await,
        // Anything else: the page again, nothing changes.
        _ => Ok(ShowPage::new(&live, &token, &actor, addressed).into_response()),
    }
}

/// A newcomer registers with the offer's contact and accepts it. A contact that is already
/// an account's login changes nothing: its owner is asked by e-mail to log in, and the
/// page is the same.
async fn register(
    state: &AppState,
    actor: &MaybeActor,
    meta: &RequestMeta,
    live: &Live,
    token: &str,
    form: &mut AnswerForm,
) -> AppResult<Response> {
    let mut errors = FormErrors::default();
    let surname = form.surname.trim().to_owned();
    let given = form.given_name.trim().to_owned();
    if surname.is_empty() {
        errors.add("surname", "Укажите фамилию.");
    }
    if given.is_empty() {
        errors.add("given_name", "Укажите имя.");
    }
    for (field, value) in [
        ("surname", &surname),
        ("given_name", &given),
        ("patronymic", &form.patronymic),
    ] {
        if value.trim().chars().count() > 100 {
            errors.add(field, "Не длиннее 100 символов.");
        }
    }
    if let Err(m) = password::check_new_password(&form.password, false) {
        errors.add("password", m);
    }
    if form.password != form.password2 {
        errors.add("password2", "Пароли не совпадают.");
    }
    if let Err(m) = consent_given(&form.consent) {
        errors.add("consent", m);
    }
    if !errors.is_empty() {
        form.password.clear();
        form.password2.clear();
        let mut page = ShowPage::new(live, token, actor, false);
        page.form = std::mem::take(form);
        page.errors = errors;
        return Ok(page.into_response());
    }
    // Hashed in both cases: the answer takes the same time.
    let hash = state.hasher.hash(form.password.clone()).await?;
    let (email, phone) = match &live.email {
        Some(e) => (Some(e.clone()), None),
        None => (None, live.phone.clone()),
    };
    let mut tx = state.db.begin().await?;
    if !lock(&mut tx, live).await? {
        return gone(actor);
    }
    let owner = sqlx::query!(
        r#"select id as "id: AccountId", email from accounts
           where (email = $1 and $1 is not null) or (phone = $2 and $2 is not null) limit 1"#,
        email,
        phone
    )
    .fetch_optional(&mut *tx)
    .await?;
    match owner {
        Some(o) => {
            if let Some(to) = &o.email {
                let link = format!("{}/offers/{token}", state.public_url);
                let body = format!(
                    "Здравствуйте!\n\nКто-то (возможно, вы) начал регистрацию на школьном портале \
                     с этим адресом, чтобы ответить на приглашение школы «{}». У вас уже есть \
                     учётная запись: войдите в неё своим паролем и откройте ссылку ещё раз:\n\
                     {link}\n\nЕсли это были не вы, ничего делать не нужно: ваша учётная запись \
                     не изменилась.\n",
                    live.school_name
                );
                crate::mail::enqueue(
                    &mut tx,
                    Some(Tenant::of_offer(live.school)),
                    to,
                    "Вы уже зарегистрированы на школьном портале",
                    &body,
                )
                .await?;
            }
            audit::record(
                &mut tx,
                meta,
                Entry {
                    actor: None,
                    // Portal-level: the school's own log must not tell it the contact exists.
                    school: None,
                    action: "offer.registration_existing",
                    target: Some(format!("offer:{}", live.id)),
                    details: None,
                },
            )
            .await?;
        }
        None => {
            let account = crate::people::create_account(
                &mut tx,
                &crate::people::NewPerson {
                    surname,
                    given_name: given,
                    patronymic: Some(form.patronymic.clone()),
                    email,
                    phone,
                    birth_date: None,
                },
            )
            .await?;
            sqlx::query!(
                "update accounts set password_hash = $2 where id = $1",
                account as AccountId,
                hash
            )
            .execute(&mut *tx)
            .await?;
            audit::record(
                &mut tx,
                meta,
                Entry {
                    actor: Some(account),
                    school: Some(live.school),
                    action: "account.created_by_offer",
                    target: Some(format!("account:{account}")),
                    details: None,
                },
            )
            .await?;
            admit(&mut tx, meta, live, account).await?;
        }
    }
    tx.commit().await?;
    registered(actor)
}
