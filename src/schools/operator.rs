//! The deployment operator's pages: the list of schools, creating a school, and appointing
//! its first platform administrator with the director's order (R2.2). The appointed
//! person gets a one-time link to set their password (R2.1.b).

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use sqlx::PgConnection;

use crate::AppState;
use crate::audit::{self, Entry};
use crate::auth::extract::{Operator, RequestMeta};
use crate::auth::issue_one_time_token;
use crate::auth::permissions::Access;
use crate::auth::tenant::Tenant;
use crate::error::{AppError, AppResult};
use crate::ids::{AccountId, SchoolId};
use crate::web::Routes;
use crate::web::form::FormErrors;
use crate::web::form::{normalize_email, normalize_phone};
use crate::web::format::{self, TIMEZONES};
use crate::web::layout::Layout;
use crate::web::once::FormKey;
use crate::web::unique::{self, OnConstraint};

pub fn routes(r: Routes) -> Routes {
    r.get("/operator/schools", Access::Operator, list)
        .get("/operator/schools/new", Access::Operator, new_page)
        .post("/operator/schools", Access::Operator, create)
        .get("/operator/schools/{school_id}", Access::Operator, show)
        .post(
            "/operator/schools/{school_id}/admins",
            Access::Operator,
            appoint,
        )
}

const PAGE_SIZE: i64 = 50;

/// A school of the list as the database gives it.
struct Listed {
    id: SchoolId,
    name: String,
    members: i64,
    admins: Option<String>,
}

/// The unfiltered list (issue 10): the page in the index's order with no pattern matched,
/// and the number of schools (an index-only count) in the same query; the members and the
/// administrators are looked up for the page's rows only, after the offset (in the same
/// select as the page they were computed for every skipped row too: 67 ms at page 20). (A total kept by
/// triggers in one row was tried: it serialises the creation of schools, whose
/// transactions are long in the region generator, and was dropped.)
async fn unfiltered(conn: &mut PgConnection, offset: i64) -> sqlx::Result<(i64, Vec<Listed>)> {
    let rows = sqlx::query!(
        r#"select t.schools as "total!", p.id as "id?: SchoolId", p.name as "name?",
             coalesce((select n.active_members from school_counts n where n.school_id = p.id), 0) as "members?",
             (select string_agg(a.surname || ' ' || a.given_name, ', ' order by a.surname)
              from active_admin_grants g join accounts a on a.id = g.account_id
              where g.school_id = p.id) as admins
           from (select count(*) as schools from schools) t
           left join lateral (
             select s.id, s.name from schools s
             order by s.name collate "C", s.id
             limit $1 offset $2
           ) p on true
           order by p.name collate "C", p.id"#,
        PAGE_SIZE + 1,
        offset
    )
    .fetch_all(conn)
    .await?;
    let total = rows.first().map_or(0, |r| r.total);
    let listed = rows
        .into_iter()
        .filter_map(|r| {
            Some(Listed {
                id: r.id?,
                name: r.name?,
                members: r.members.unwrap_or(0),
                admins: r.admins,
            })
        })
        .collect();
    Ok((total, listed))
}

/// The list filtered by a name pattern: the matches counted and the page of them.
async fn filtered(
    conn: &mut PgConnection,
    pattern: &str,
    offset: i64,
) -> sqlx::Result<(i64, Vec<Listed>)> {
    let total = sqlx::query_scalar!(
        r#"select count(*) as "n!" from schools where name ilike $1 or short_name ilike $1"#,
        pattern
    )
    .fetch_one(&mut *conn)
    .await?;
    let rows = sqlx::query!(
        r#"select p.id as "id!: SchoolId", p.name as "name!",
             coalesce((select n.active_members from school_counts n where n.school_id = p.id), 0) as "members!",
             (select string_agg(a.surname || ' ' || a.given_name, ', ' order by a.surname)
              from active_admin_grants g join accounts a on a.id = g.account_id
              where g.school_id = p.id) as admins
           from (select s.id, s.name from schools s
                 where s.name ilike $1 or s.short_name ilike $1
                 order by s.name collate "C", s.id
                 limit $2 offset $3) p
           order by p.name collate "C", p.id"#,
        pattern,
        PAGE_SIZE + 1,
        offset
    )
    .fetch_all(conn)
    .await?;
    let listed = rows
        .into_iter()
        .map(|r| Listed {
            id: r.id,
            name: r.name,
            members: r.members,
            admins: r.admins,
        })
        .collect();
    Ok((total, listed))
}

struct SchoolRow {
    id: SchoolId,
    name: String,
    members: String,
    admins: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "operator/schools.html")]
struct ListPage {
    layout: Layout,
    schools: Vec<SchoolRow>,
    q: String,
    page: i64,
    has_next: bool,
    total: String,
}

#[derive(Deserialize)]
struct ListQuery {
    q: Option<String>,
    page: crate::web::query::Page,
}

async fn list(
    State(state): State<AppState>,
    op: Operator,
    Query(query): Query<ListQuery>,
) -> AppResult<Response> {
    let actor = op.actor();
    let q = query.q.unwrap_or_default().trim().to_owned();
    let page = query.page.number();
    let pattern = crate::web::query::like_contains(&q);
    let mut conn = state.db.acquire().await?;
    let (total, rows) = if q.is_empty() {
        unfiltered(&mut conn, query.page.offset(PAGE_SIZE)).await?
    } else {
        filtered(&mut conn, &pattern, query.page.offset(PAGE_SIZE)).await?
    };
    let has_next = rows.len() as i64 > PAGE_SIZE;
    let schools = rows
        .into_iter()
        .take(PAGE_SIZE as usize)
        .map(|r| SchoolRow {
            id: r.id,
            name: r.name,
            members: format::count(r.members, "участник", "участника", "участников"),
            admins: r.admins.unwrap_or_else(|| "не назначен".to_owned()),
        })
        .collect();
    Ok(ListPage {
        layout: Layout::for_actor(actor),
        schools,
        q,
        page,
        has_next,
        total: format::count(total, "школа", "школы", "школ"),
    }
    .into_response())
}

#[derive(Deserialize, Default)]
struct SchoolForm {
    #[serde(default)]
    id: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    short_name: String,
    #[serde(default)]
    timezone: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "operator/school_new.html")]
struct NewPage {
    layout: Layout,
    form: SchoolForm,
    errors: FormErrors,
    timezones: &'static [(&'static str, i8, &'static str)],
}

async fn new_page(op: Operator) -> AppResult<Response> {
    let actor = op.actor();
    Ok(NewPage {
        layout: Layout::for_actor(actor),
        form: SchoolForm {
            // The new school's id travels with the form: submitting it twice creates one.
            id: SchoolId::new().to_string(),
            timezone: "Europe/Moscow".into(),
            ..Default::default()
        },
        errors: FormErrors::default(),
        timezones: TIMEZONES,
    }
    .into_response())
}

async fn create(
    State(state): State<AppState>,
    op: Operator,
    meta: RequestMeta,
    Form(form): Form<SchoolForm>,
) -> AppResult<Response> {
    let actor = op.actor();
    let mut errors = FormErrors::default();
    let id: Option<SchoolId> = form.id.parse().ok();
    if id.is_none() {
        return Err(AppError::BadRequest(crate::ru!(
            "Форма устарела. Откройте её заново и заполните ещё раз."
        )));
    }
    let name = form.name.trim();
    if name.is_empty() {
        errors.add("name", "Укажите полное название школы.");
    } else if name.chars().count() > 300 {
        errors.add("name", "Название не длиннее 300 символов.");
    }
    if !TIMEZONES.iter().any(|(tz, _, _)| *tz == form.timezone) {
        errors.add("timezone", "Выберите часовой пояс из списка.");
    }
    let (Some(id), true) = (id, errors.is_empty()) else {
        return Ok(NewPage {
            layout: Layout::for_actor(actor),
            form,
            errors,
            timezones: TIMEZONES,
        }
        .into_response());
    };
    let short = Some(form.short_name.trim()).filter(|s| !s.is_empty());
    let mut tx = state.db.begin().await?;
    if super::create_school(&mut tx, op.tenant(id), name, short, &form.timezone).await? {
        audit::record(
            &mut tx,
            &meta,
            Entry {
                actor: Some(actor.id()),
                school: Some(id),
                action: "school.created",
                target: Some(format!("school:{id}")),
                details: Some(name.to_owned()),
            },
        )
        .await?;
    }
    tx.commit().await?;
    Ok(Redirect::to(&format!("/operator/schools/{id}")).into_response())
}

struct AdminRow {
    name: String,
    contact: String,
    order: String,
    since: String,
    active: bool,
}

#[derive(Deserialize, Default)]
struct AppointForm {
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
    position: String,
    #[serde(default)]
    order_number: String,
    #[serde(default)]
    order_date: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "operator/school.html")]
struct ShowPage {
    layout: Layout,
    id: SchoolId,
    name: String,
    created: String,
    admins: Vec<AdminRow>,
    form: AppointForm,
    errors: FormErrors,
    /// The one-time link for the person just appointed: shown once, never stored.
    new_link: Option<String>,
    appointed: Option<String>,
}

async fn show_page(
    state: &AppState,
    actor: &crate::auth::extract::Actor,
    tenant: Tenant,
    form: AppointForm,
    errors: FormErrors,
    new_link: Option<String>,
    appointed: Option<String>,
) -> AppResult<Response> {
    let id = tenant.id();
    let mut conn = state.db.acquire().await?;
    let school = sqlx::query!(
        "select name, timezone, created_at from schools where id = $1",
        id as SchoolId
    )
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(AppError::NotFound)?;
    let admins = sqlx::query!(
        r#"select a.surname, a.given_name, a.patronymic, a.email, a.phone, g.order_number,
                  g.order_date, g.created_at,
                  exists(select 1 from active_admin_grants v where v.id = g.id) as "active!"
           from admin_grants g join accounts a on a.id = g.account_id
           where g.school_id = $1 order by g.created_at desc"#,
        id as SchoolId
    )
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .map(|r| AdminRow {
        name: format::full_name(&r.surname, &r.given_name, r.patronymic.as_deref()),
        contact: r
            .email
            .or(r.phone.as_deref().map(format::phone))
            .unwrap_or_default(),
        order: format::order(&r.order_number, r.order_date),
        since: format::datetime(r.created_at, &school.timezone),
        active: r.active,
    })
    .collect();
    Ok(ShowPage {
        layout: Layout::for_actor(actor),
        id,
        name: school.name,
        created: format::datetime(school.created_at, &school.timezone),
        admins,
        form,
        errors,
        new_link,
        appointed,
    }
    .into_response())
}

async fn show(
    State(state): State<AppState>,
    op: Operator,
    Path(id): Path<SchoolId>,
) -> AppResult<Response> {
    let actor = op.actor();
    let form = AppointForm {
        position: "staff".into(),
        ..Default::default()
    };
    show_page(
        &state,
        actor,
        op.tenant(id),
        form,
        FormErrors::default(),
        None,
        None,
    )
    .await
}

async fn appoint(
    State(state): State<AppState>,
    op: Operator,
    meta: RequestMeta,
    Path(id): Path<SchoolId>,
    Form(form): Form<AppointForm>,
) -> AppResult<Response> {
    let actor = op.actor();
    let mut errors = FormErrors::default();
    let surname = form.surname.trim().to_owned();
    let given = form.given_name.trim().to_owned();
    let patronymic = Some(form.patronymic.trim().to_owned()).filter(|s| !s.is_empty());
    if surname.is_empty() {
        errors.add("surname", "Укажите фамилию.");
    }
    if given.is_empty() {
        errors.add("given_name", "Укажите имя.");
    }
    let email = normalize_email(&form.email);
    if email.is_none() {
        errors.add(
            "email",
            "Укажите адрес электронной почты, например ivanov@school.ru.",
        );
    }
    let phone = if form.phone.trim().is_empty() {
        None
    } else {
        let p = normalize_phone(&form.phone);
        if p.is_none() {
            errors.add("phone", "Телефон в формате +7 (912) 345-67-89.");
        }
        p
    };
    if !["staff", "teacher", "deputy", "director"].contains(&form.position.as_str()) {
        errors.add("position", "Выберите должность из списка.");
    }
    let order_number = form.order_number.trim().to_owned();
    if order_number.is_empty() {
        errors.add("order_number", "Укажите номер приказа о назначении.");
    }
    let order_date = crate::web::form::parse_date(&form.order_date);
    match order_date {
        None => errors.add("order_date", "Укажите дату приказа, например 01.09.2025."),
        Some(d) if d > time::OffsetDateTime::now_utc().date() => {
            errors.add("order_date", "Дата приказа не может быть в будущем.")
        }
        _ => {}
    }
    let (Some(email), Some(order_date), true) = (email, order_date, errors.is_empty()) else {
        return show_page(&state, actor, op.tenant(id), form, errors, None, None).await;
    };

    let mut tx = state.db.begin().await?;
    let exists: bool = sqlx::query_scalar!(
        r#"select exists(select 1 from schools where id = $1) as "e!""#,
        id as SchoolId
    )
    .fetch_one(&mut *tx)
    .await?;
    if !exists {
        return Err(AppError::NotFound);
    }
    if form.form_key.seen(&mut tx, actor.id()).await?.is_some() {
        // Sent twice: the first appointed. Its answer (with the link) may never have been
        // seen, so a person still without a password gets a fresh link.
        let link = match sqlx::query!(
            r#"select id as "id: AccountId", password_hash is not null as "has_password!"
               from accounts where email = $1"#,
            email
        )
        .fetch_optional(&mut *tx)
        .await?
        {
            Some(a) if !a.has_password => {
                let token = issue_one_time_token(
                    &mut tx,
                    "set_password",
                    Some(a.id),
                    time::Duration::days(7),
                )
                .await?;
                Some(format!("{}/password/{token}", state.public_url))
            }
            _ => None,
        };
        tx.commit().await?;
        let name = format::full_name(&surname, &given, patronymic.as_deref());
        return show_page(
            &state,
            actor,
            op.tenant(id),
            AppointForm {
                position: "staff".into(),
                ..Default::default()
            },
            FormErrors::default(),
            link,
            Some(name),
        )
        .await;
    }
    // Two appointments of one e-mail (here or in another school) take turns.
    unique::serialise(&mut tx, &format!("email:{email}")).await?;
    // The person may already have an account (a teacher in two schools): reuse it.
    let existing = sqlx::query!(
        r#"select id as "id: AccountId", password_hash is not null as "has_password!"
           from accounts where email = $1"#,
        email
    )
    .fetch_optional(&mut *tx)
    .await?;
    let (account, has_password) = match existing {
        Some(a) => (a.id, a.has_password),
        None => {
            let new_id = AccountId::new();
            let inserted = sqlx::query!(
                r#"insert into accounts (id, surname, given_name, patronymic, email, phone, security_stamp)
                   values ($1, $2, $3, $4, $5, $6, gen_random_uuid())"#,
                new_id as AccountId,
                surname,
                given,
                patronymic,
                email,
                phone
            )
            .execute(&mut *tx)
            .await
            .on_constraint_field(
                "accounts_phone_key",
                "phone",
                "Этот телефон уже указан у другого человека.",
            )
            // Registered by someone else at this very moment: the form says so.
            .on_constraint_field(
                "accounts_email_key",
                "email",
                "Этот адрес только что зарегистрирован. Отправьте форму ещё раз.",
            )?;
            if let Err(errors) = inserted.and_then(|written| written) {
                drop(tx);
                return show_page(&state, actor, op.tenant(id), form, errors, None, None).await;
            }
            (new_id, false)
        }
    };
    let already: bool = sqlx::query_scalar!(
        r#"select exists(select 1 from active_admin_grants where school_id = $1 and account_id = $2) as "e!""#,
        id as SchoolId,
        account as AccountId
    )
    .fetch_one(&mut *tx)
    .await?;
    if already {
        let mut errors = FormErrors::default();
        errors.add("email", "Этот человек уже администратор этой школы.");
        drop(tx);
        return show_page(&state, actor, op.tenant(id), form, errors, None, None).await;
    }
    super::ensure_staff_membership(&mut tx, op.tenant(id), account, &form.position).await?;
    let grant = super::grant_admin(
        &mut tx,
        op.tenant(id),
        account,
        actor.id(),
        &order_number,
        order_date,
    )
    .await?;
    let link = if has_password {
        None
    } else {
        let token = issue_one_time_token(
            &mut tx,
            "set_password",
            Some(account),
            time::Duration::days(7),
        )
        .await?;
        Some(format!("{}/password/{token}", state.public_url))
    };
    audit::record(
        &mut tx,
        &meta,
        Entry {
            actor: Some(actor.id()),
            school: Some(id),
            action: "admin.appointed",
            target: Some(format!("account:{account}")),
            details: Some(format!(
                "grant {grant}; {}",
                format::order(&order_number, order_date)
            )),
        },
    )
    .await?;
    form.form_key
        .done(&mut tx, actor.id(), &format!("/operator/schools/{id}"))
        .await?;
    tx.commit().await?;
    let name = format::full_name(&surname, &given, patronymic.as_deref());
    show_page(
        &state,
        actor,
        op.tenant(id),
        AppointForm {
            position: "staff".into(),
            ..Default::default()
        },
        FormErrors::default(),
        link,
        Some(name),
    )
    .await
}
