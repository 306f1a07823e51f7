//! The people of the school (R2.1.k, R2.1.o): search by name across the school, filter by
//! role and status, a person's card with everything the administrator needs to help them,
//! and adding a staff member by hand.

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use crate::AppState;
use crate::auth::extract::{RequestMeta, SchoolScope};
use crate::auth::permissions::Role;
use crate::auth::permissions::{Access, Action};
use crate::classes::verification_title;
use crate::error::{AppError, AppResult};
use crate::ids::{AccountId, ClassId, SchoolId};
use crate::web::Routes;
use crate::web::form::FormErrors;
use crate::web::form::{normalize_email, normalize_phone};
use crate::web::format::{self, count};
use crate::web::htmx::Htmx;
use crate::web::layout::Layout;
use crate::web::once::{self, FormKey};

pub fn routes(r: Routes) -> Routes {
    r.get(
        "/s/{school_id}/people",
        Access::School(Action::ViewPeople),
        list,
    )
    .get(
        "/s/{school_id}/people/new-staff",
        Access::School(Action::ManagePeople),
        new_staff_page,
    )
    .post(
        "/s/{school_id}/people/new-staff",
        Access::School(Action::ManagePeople),
        new_staff,
    )
    .get(
        "/s/{school_id}/people/{account_id}",
        Access::School(Action::ViewPeople),
        card,
    )
}

const PAGE_SIZE: i64 = 50;

pub const ROLES: &[(&str, &str)] = &[
    ("student", "ученики"),
    ("parent", "родители"),
    ("teacher", "учителя"),
    ("staff", "сотрудники"),
    ("deputy", "заместители директора"),
    ("director", "директор"),
];

struct PersonRow {
    id: AccountId,
    name: String,
    roles: String,
    classes: String,
    status: &'static str,
    verification: &'static str,
}

#[derive(Template, WebTemplate)]
/// The search form asks htmx for the results only (`as_results`) while one types.
#[template(path = "people/list.html", blocks = ["results"])]
struct ListPage {
    layout: Layout,
    school_id: SchoolId,
    q: String,
    role: String,
    status: String,
    roles: &'static [(&'static str, &'static str)],
    people: Vec<PersonRow>,
    total: String,
    page: i64,
    has_next: bool,
    query_base: String,
    can_manage: bool,
}

#[derive(Deserialize, Default)]
struct ListQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    status: String,
    page: crate::web::query::Page,
}

fn status_title(s: &str) -> &'static str {
    match s {
        "active" => "участник",
        "invited" => "приглашён",
        "left" => "выбыл",
        _ => "—",
    }
}

async fn list(
    State(state): State<AppState>,
    scope: SchoolScope,
    htmx: Htmx,
    Query(q): Query<ListQuery>,
) -> AppResult<Response> {
    scope.require(Action::ViewPeople)?;
    let page = q.page.number();
    let search = q.q.trim().to_owned();
    let role = if ROLES.iter().any(|(r, _)| *r == q.role) {
        q.role.clone()
    } else {
        String::new()
    };
    let status = if ["active", "invited", "left"].contains(&q.status.as_str()) {
        q.status.clone()
    } else {
        String::new()
    };
    let mut tx = state.db.begin().await?;
    if !search.is_empty() {
        // The one statement whose plan should follow its values: a name the trigram
        // index finds in a few rows, or one letter that matches half the school. The
        // pool's connections plan once (`db_plan_cache_mode`); here PostgreSQL plans
        // for the name typed (measured at 2,000 schools: 1.7 ms against 2.5 ms).
        sqlx::query!("set local plan_cache_mode = auto")
            .execute(&mut *tx)
            .await?;
    }
    // Name search ignores case and ё/е: the membership's normalised name
    // (`portal_search_name`, migrations/0013). The page is read first, in the order of
    // the index on (school, normalised name, account) (migrations/0032): a person's
    // memberships in a school share their name, so `distinct on` walks the index and
    // stops after the page, and only the page's people are aggregated; the total counts
    // the school's index entries. No part grows with the region, and none sorts the
    // school (issue 10: the list sorted and aggregated every member on every request).
    let rows = sqlx::query!(
        r#"with page as (
             select distinct on (m.search_name collate "C", m.account_id) m.account_id, m.search_name
             from memberships m
             where m.school_id = $1
               and ($2::text is null or m.search_name like name_key($2))
               and ($3 = '' or m.role = $3)
               and ($4 = '' or m.status = $4)
             order by m.search_name collate "C", m.account_id
             limit $5 offset $6
           )
           select a.id as "id!: AccountId", a.surname as "surname!", a.given_name as "given_name!",
                  a.patronymic,
                  array_agg(distinct m.role) as "roles!: Vec<String>",
                  string_agg(distinct c.title, ', ') as classes,
                  case when bool_or(m.status = 'active') then 'active'
                       when bool_or(m.status = 'invited') then 'invited' else 'left' end as "status!",
                  max(m.verification) filter (where m.verification is not null) as verification,
                  (select count(distinct x.account_id) from memberships x
                   where x.school_id = $1
                     and ($2::text is null or x.search_name like name_key($2))
                     and ($3 = '' or x.role = $3)
                     and ($4 = '' or x.status = $4)) as "total!"
           from page p
           join accounts a on a.id = p.account_id
           join memberships m on m.school_id = $1 and m.account_id = p.account_id
                              and ($3 = '' or m.role = $3) and ($4 = '' or m.status = $4)
           left join classes c on c.school_id = $1 and c.id = m.class_id and c.kind = 'class'
           group by a.id, p.search_name
           order by p.search_name collate "C", a.id"#,
        scope.school_id() as SchoolId,
        (!search.is_empty()).then(|| crate::web::query::like_contains(&search)),
        role,
        status,
        PAGE_SIZE + 1,
        q.page.offset(PAGE_SIZE)
    )
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    let total = rows.first().map(|r| r.total).unwrap_or(0);
    let has_next = rows.len() as i64 > PAGE_SIZE;
    let people = rows
        .into_iter()
        .take(PAGE_SIZE as usize)
        .map(|r| PersonRow {
            id: r.id,
            name: format::full_name(&r.surname, &r.given_name, r.patronymic.as_deref()),
            roles: r
                .roles
                .iter()
                .map(|x| Role::membership_title(x))
                .collect::<Vec<_>>()
                .join(", "),
            classes: r.classes.unwrap_or_default(),
            status: status_title(&r.status),
            verification: verification_title(r.verification.as_deref()),
        })
        .collect();
    let query_base = format!(
        "q={}&role={}&status={}",
        crate::error::urlencode(&search),
        role,
        status
    );
    let view = ListPage {
        layout: Layout::for_scope(&scope),
        school_id: scope.school_id(),
        q: search,
        role,
        status,
        roles: ROLES,
        people,
        total: count(total, "человек", "человека", "человек"),
        page,
        has_next,
        query_base,
        can_manage: scope.can(Action::ManagePeople),
    };
    Ok(if htmx.asked() {
        WebTemplate(view.as_results()).into_response()
    } else {
        view.into_response()
    })
}

struct MembershipRow {
    role: &'static str,
    class_id: Option<ClassId>,
    class: Option<String>,
    status: &'static str,
    verification: &'static str,
    verification_reason: Option<String>,
    position: Option<String>,
    joined: String,
    left: Option<String>,
}

struct RelativeRow {
    id: AccountId,
    name: String,
    class: Option<String>,
    contact: String,
}

/// A relative as the queries return it: id, surname, given name, patronymic, class,
/// e-mail, phone.
type Relative = (
    AccountId,
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
);

struct HistoryRow {
    at: String,
    action: String,
    details: String,
    actor: String,
    /// The address the change came from.
    ip: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "people/card.html")]
struct CardPage {
    layout: Layout,
    school_id: SchoolId,
    name: String,
    email: Option<String>,
    phone: Option<String>,
    birth_date: Option<String>,
    /// Whether a password is set; `None` when the person is in another school too.
    login_state: Option<bool>,
    memberships: Vec<MembershipRow>,
    children: Vec<RelativeRow>,
    parents: Vec<RelativeRow>,
    leads: Vec<String>,
    admin_rights: Vec<String>,
    sessions: String,
    history: Vec<HistoryRow>,
    account_id: AccountId,
    /// When the janitor removes the person (everyone here left): R4.3 retention.
    removal: Option<String>,
    extras: super::actions::CardExtras,
    can_manage: bool,
    /// What was just done (`?done=`), said once on the page.
    done: Option<&'static str>,
}

#[derive(Deserialize, Default)]
struct CardQuery {
    #[serde(default)]
    done: String,
}

async fn card(
    State(state): State<AppState>,
    scope: SchoolScope,
    Path((_, account_id)): Path<(SchoolId, AccountId)>,
    Query(q): Query<CardQuery>,
) -> AppResult<Response> {
    scope.require(Action::ViewPeople)?;
    let school = scope.school_id();
    let tz = scope.timezone().to_owned();
    let mut conn = state.db.acquire().await?;
    let memberships: Vec<MembershipRow> = sqlx::query!(
        r#"select m.role, m.status, m.verification, m.verification_reason, m.position, m.joined_at,
                  m.left_at, c.id as "class_id?: ClassId", c.title as "class?", c.kind as "kind?"
           from memberships m
           left join classes c on c.school_id = m.school_id and c.id = m.class_id
           where m.school_id = $1 and m.account_id = $2 order by m.joined_at"#,
        school as SchoolId,
        account_id as AccountId
    )
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .map(|r| MembershipRow {
        role: Role::membership_title(&r.role),
        class_id: r.class_id,
        class: r.class,
        status: status_title(&r.status),
        verification: verification_title(r.verification.as_deref()),
        verification_reason: r.verification_reason,
        position: r.position,
        joined: format::datetime(r.joined_at, &tz),
        left: r.left_at.map(|t| format::datetime(t, &tz)),
    })
    .collect();
    // Someone with no membership here is not this school's person: 404.
    if memberships.is_empty() {
        return Err(AppError::NotFound);
    }
    let a = sqlx::query!(
        r#"select surname, given_name, patronymic, email, phone, birth_date,
                  password_hash is not null as "has_password!",
                  (select count(*) from sessions s where s.account_id = a.id and s.expires_at > now()
                     and s.security_stamp = a.security_stamp) as "sessions!",
                  not exists(select 1 from memberships o where o.account_id = a.id
                             and o.school_id <> $2) as "only_here!"
           from accounts a where id = $1"#,
        account_id as AccountId,
        school as SchoolId
    )
    .fetch_one(&mut *conn)
    .await?;
    let relatives = |rows: Vec<Relative>| {
        rows.into_iter()
            .map(|(id, s, g, p, class, email, phone)| RelativeRow {
                id,
                name: format::full_name(&s, &g, p.as_deref()),
                class,
                contact: [phone.as_deref().map(format::phone), email]
                    .into_iter()
                    .flatten()
                    .collect::<Vec<_>>()
                    .join(", "),
            })
            .collect::<Vec<_>>()
    };
    let children = relatives(
        sqlx::query!(
            r#"select ka.id as "id: AccountId", ka.surname, ka.given_name, ka.patronymic, c.title as "class?",
                      ka.email, ka.phone
               from memberships p
               join parent_links l on l.school_id = p.school_id and l.parent_id = p.id
               join memberships k on k.school_id = l.school_id and k.id = l.child_id
               join accounts ka on ka.id = k.account_id
               left join classes c on c.school_id = k.school_id and c.id = k.class_id
               where p.school_id = $1 and p.account_id = $2 and p.role = 'parent'
               order by ka.surname collate "ru-RU-x-icu""#,
            school as SchoolId,
            account_id as AccountId
        )
        .fetch_all(&mut *conn)
        .await?
        .into_iter()
        .map(|r| (r.id, r.surname, r.given_name, r.patronymic, r.class, r.email, r.phone))
        .collect(),
    );
    let parents = relatives(
        sqlx::query!(
            r#"select pa.id as "id: AccountId", pa.surname, pa.given_name, pa.patronymic,
                      null::text as "class?", pa.email, pa.phone
               from memberships k
               join parent_links l on l.school_id = k.school_id and l.child_id = k.id
               join memberships p on p.school_id = l.school_id and p.id = l.parent_id
               join accounts pa on pa.id = p.account_id
               where k.school_id = $1 and k.account_id = $2 and k.role = 'student'
               order by pa.surname collate "ru-RU-x-icu""#,
            school as SchoolId,
            account_id as AccountId
        )
        .fetch_all(&mut *conn)
        .await?
        .into_iter()
        .map(|r| {
            (
                r.id,
                r.surname,
                r.given_name,
                r.patronymic,
                r.class,
                r.email,
                r.phone,
            )
        })
        .collect(),
    );
    let leads = sqlx::query!(
        r#"select c.title, t.order_number, t.order_date, o.order_number as "o_number?", o.order_date as "o_date?"
           from class_teacher_assignments t
           join memberships m on m.school_id = t.school_id and m.id = t.teacher_id
           join classes c on c.school_id = t.school_id and c.id = t.class_id
           left join class_leadership_orders o on o.school_id = t.school_id and o.id = t.order_id
           where t.school_id = $1 and m.account_id = $2 and t.ended_at is null
           order by c.grade, c.letter"#,
        school as SchoolId,
        account_id as AccountId
    )
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .map(|r| {
        let order = match (r.o_number.or(r.order_number), r.o_date.or(r.order_date)) {
            (Some(n), Some(d)) => format!(" ({})", format::order(&n, d)),
            _ => String::new(),
        };
        format!("{}{order}", r.title)
    })
    .collect();
    let admin_rights = sqlx::query!(
        r#"select order_number, order_date, approved_at, revoked_at, rejected_at, expires_at
           from admin_grants where school_id = $1 and account_id = $2 order by created_at desc"#,
        school as SchoolId,
        account_id as AccountId
    )
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .map(|g| {
        let state = crate::admin_rights::grant_state(
            g.approved_at,
            g.revoked_at,
            g.rejected_at,
            g.expires_at,
        );
        format!(
            "{}: {}",
            format::order(&g.order_number, g.order_date),
            state
        )
    })
    .collect();
    let target = format!("account:{account_id}");
    let history = sqlx::query!(
        r#"select l.at, l.action, l.details, l.ip,
                  coalesce(a.surname || ' ' || a.given_name, '—') as "actor!"
           from audit_log l left join accounts a on a.id = l.actor_id
           where l.school_id = $1 and l.target = $2
           order by l.id desc limit 50"#,
        school as SchoolId,
        target
    )
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .map(|r| HistoryRow {
        at: format::datetime(r.at, &tz),
        action: crate::audit_page::action_title(&r.action),
        details: r.details.unwrap_or_default(),
        actor: r.actor,
        ip: r.ip.unwrap_or_default(),
    })
    .collect();
    Ok(CardPage {
        layout: Layout::for_scope(&scope),
        school_id: school,
        name: format::full_name(&a.surname, &a.given_name, a.patronymic.as_deref()),
        email: a.email,
        phone: a.phone.as_deref().map(format::phone),
        birth_date: a.birth_date.map(format::date),
        // The account's login state is the person's, not the school's: shown only when
        // the person belongs to this school alone (see `crate::offers`, object rules).
        login_state: a.only_here.then_some(a.has_password),
        memberships,
        children,
        parents,
        leads,
        admin_rights,
        sessions: count(
            a.sessions,
            "активный сеанс",
            "активных сеанса",
            "активных сеансов",
        ),
        history,
        account_id,
        removal: super::actions::removal_date(
            &mut conn,
            &scope,
            account_id,
            state.config.left_retention_days,
        )
        .await?
        .map(format::date),
        extras: super::actions::card_extras(&mut conn, &scope, account_id).await?,
        can_manage: scope.can(Action::ManagePeople),
        done: match q.done.as_str() {
            "sessions" => Some("Все сеансы входа этого человека завершены."),
            "corrected" => Some("Исправления сохранены и записаны в историю изменений."),
            _ => None,
        },
    }
    .into_response())
}

#[derive(Deserialize, Default)]
struct StaffForm {
    #[serde(default)]
    form_key: FormKey,
    #[serde(default)]
    surname: String,
    #[serde(default)]
    given_name: String,
    #[serde(default)]
    patronymic: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    phone: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    position: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "people/new_staff.html")]
struct NewStaffPage {
    layout: Layout,
    school_id: SchoolId,
    form: StaffForm,
    errors: FormErrors,
}

pub const STAFF_ROLES: &[(&str, &str)] = &[
    ("teacher", "учитель"),
    ("staff", "сотрудник"),
    ("deputy", "заместитель директора"),
    ("director", "директор"),
];

async fn new_staff_page(scope: SchoolScope) -> AppResult<Response> {
    scope.require(Action::ManagePeople)?;
    Ok(NewStaffPage {
        layout: Layout::for_scope(&scope),
        school_id: scope.school_id(),
        form: StaffForm {
            role: "teacher".into(),
            ..Default::default()
        },
        errors: FormErrors::default(),
    }
    .into_response())
}

async fn new_staff(
    State(state): State<AppState>,
    scope: SchoolScope,
    meta: RequestMeta,
    Form(form): Form<StaffForm>,
) -> AppResult<Response> {
    scope.require(Action::ManagePeople)?;
    let mut errors = FormErrors::default();
    if form.surname.trim().is_empty() {
        errors.add("surname", "Укажите фамилию.");
    }
    if form.given_name.trim().is_empty() {
        errors.add("given_name", "Укажите имя.");
    }
    for (field, value, max) in [
        ("surname", &form.surname, 100),
        ("given_name", &form.given_name, 100),
        ("patronymic", &form.patronymic, 100),
        ("position", &form.position, 200),
    ] {
        if value.trim().chars().count() > max {
            errors.add(field, "Слишком длинно.");
        }
    }
    let email = if form.email.trim().is_empty() {
        errors.add(
            "email",
            "Укажите электронную почту: на неё придёт приглашение.",
        );
        None
    } else {
        let e = normalize_email(&form.email);
        if e.is_none() {
            errors.add(
                "email",
                "Адрес электронной почты, например ivanova@school.ru.",
            );
        }
        e
    };
    let phone = if form.phone.trim().is_empty() {
        None
    } else {
        let p = normalize_phone(&form.phone);
        if p.is_none() {
            errors.add("phone", "Телефон в формате +7 (912) 345-67-89.");
        }
        p
    };
    if !STAFF_ROLES.iter().any(|(r, _)| *r == form.role) {
        errors.add("role", "Выберите роль из списка.");
    }
    let page = |form: StaffForm, errors: FormErrors| -> AppResult<Response> {
        Ok(NewStaffPage {
            layout: Layout::for_scope(&scope),
            school_id: scope.school_id(),
            form,
            errors,
        }
        .into_response())
    };
    if !errors.is_empty() {
        return page(form, errors);
    }
    // Never looked up: whoever the contact belongs to, the school makes an offer and sees
    // only what it typed (SECURITY.md 35; rules in `crate::offers`).
    let mut tx = state.db.begin().await?;
    if let Some(url) = form.form_key.seen(&mut tx, scope.actor().id()).await? {
        return Ok(once::again(&url));
    }
    let offer = crate::offers::NewOffer {
        surname: form.surname.trim().to_owned(),
        given_name: form.given_name.trim().to_owned(),
        patronymic: Some(form.patronymic.trim().to_owned()).filter(|p| !p.is_empty()),
        email,
        phone,
        role: form.role.clone(),
        position: Some(form.position.trim().to_owned()).filter(|p| !p.is_empty()),
        ..Default::default()
    };
    crate::offers::create_many(
        &mut tx,
        &meta,
        &crate::offers::Maker::new(&scope, &state.public_url, "staff_form"),
        &[offer],
    )
    .await?;
    let url = format!("/s/{}/offers", scope.school_id());
    form.form_key
        .done(&mut tx, scope.actor().id(), &url)
        .await?;
    tx.commit().await?;
    Ok(Redirect::to(&url).into_response())
}
