//! Class leadership (R2.1.h): the director approves the distribution of class leadership
//! by an order («приказ о распределении классного руководства»); the administrator records
//! the order and assigns a verified teacher to each class under it, from one table. A
//! class without a class teacher stands out; a re-assignment ends the old one and keeps it
//! in the history.

use std::collections::HashMap;

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::current_year;
use crate::AppState;
use crate::audit;
use crate::auth::extract::{RequestMeta, SchoolScope};
use crate::auth::permissions::{Access, Action};
use crate::error::AppResult;
use crate::ids::{AcademicYearId, AccountId, ClassId, LeadershipOrderId, MembershipId, SchoolId};
use crate::web::Routes;
use crate::web::form::FormErrors;
use crate::web::form::parse_date;
use crate::web::format;
use crate::web::layout::Layout;
use crate::web::once::{self, FormKey};

pub fn routes(r: Routes) -> Routes {
    r.get(
        "/s/{school_id}/class-teachers",
        Access::School(Action::ViewClassTeachers),
        page,
    )
    .post(
        "/s/{school_id}/class-teachers/orders",
        Access::School(Action::AssignClassTeachers),
        add_order,
    )
    .post(
        "/s/{school_id}/class-teachers",
        Access::School(Action::AssignClassTeachers),
        assign,
    )
}

struct OrderRow {
    id: LeadershipOrderId,
    label: String,
}

struct ClassRow {
    id: ClassId,
    title: String,
    teacher: Option<MembershipId>,
    teacher_name: Option<String>,
    order: String,
}

impl ClassRow {
    fn led_by(&self, teacher: &MembershipId) -> bool {
        self.teacher.as_ref() == Some(teacher)
    }
}

struct TeacherOption {
    id: MembershipId,
    name: String,
}

struct HistoryRow {
    class: String,
    teacher: String,
    order: String,
    from: String,
    until: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "classes/leadership.html")]
struct Page {
    layout: Layout,
    school_id: SchoolId,
    year: String,
    orders: Vec<OrderRow>,
    classes: Vec<ClassRow>,
    teachers: Vec<TeacherOption>,
    history: Vec<HistoryRow>,
    can_assign: bool,
    without: String,
    order_form: OrderForm,
    errors: FormErrors,
    message: Option<String>,
}

#[derive(Deserialize, Default)]
struct OrderForm {
    #[serde(default)]
    form_key: FormKey,
    #[serde(default)]
    order_number: String,
    #[serde(default)]
    order_date: String,
}

fn order_label(number: Option<String>, date: Option<time::Date>) -> String {
    match (number, date) {
        (Some(n), Some(d)) => format::order(&n, d),
        _ => "—".to_owned(),
    }
}

async fn render_page(
    state: &AppState,
    scope: &SchoolScope,
    order_form: OrderForm,
    errors: FormErrors,
    message: Option<String>,
) -> AppResult<Response> {
    let school = scope.school_id();
    let tz = scope.timezone().to_owned();
    let mut conn = state.db.acquire().await?;
    let (year_id, year) = current_year(&mut conn, scope.tenant()).await?;
    let orders = sqlx::query!(
        r#"select id, order_number, order_date from class_leadership_orders
           where school_id = $1 and academic_year_id = $2 order by order_date desc, created_at desc"#,
        school as SchoolId,
        year_id as AcademicYearId
    )
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .map(|o| OrderRow {
        id: LeadershipOrderId(o.id),
        label: format::order(&o.order_number, o.order_date),
    })
    .collect();
    let classes: Vec<ClassRow> = sqlx::query!(
        r#"select c.id as "id: ClassId", c.title, t.teacher_id as "teacher?: MembershipId",
                  a.surname || ' ' || a.given_name || coalesce(' ' || a.patronymic, '') as teacher_name,
                  coalesce(o.order_number, t.order_number) as order_number,
                  coalesce(o.order_date, t.order_date) as order_date
           from classes c
           left join class_teacher_assignments t
             on t.school_id = c.school_id and t.class_id = c.id and t.ended_at is null
           left join class_leadership_orders o on o.school_id = t.school_id and o.id = t.order_id
           left join memberships m on m.school_id = t.school_id and m.id = t.teacher_id
           left join accounts a on a.id = m.account_id
           where c.school_id = $1 and c.kind = 'class' and c.academic_year_id = $2
             and c.archived_at is null
           order by c.grade, c.letter"#,
        school as SchoolId,
        year_id as AcademicYearId
    )
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .map(|r| ClassRow {
        id: r.id,
        title: r.title,
        teacher: r.teacher,
        teacher_name: r.teacher_name,
        order: order_label(r.order_number, r.order_date),
    })
    .collect();
    let teachers = sqlx::query!(
        r#"select m.id as "id: MembershipId", a.surname, a.given_name, a.patronymic
           from memberships m join accounts a on a.id = m.account_id
           where m.school_id = $1 and m.role = 'teacher' and m.status = 'active'
             and m.verification = 'verified'
           order by a.surname collate "ru-RU-x-icu", a.given_name collate "ru-RU-x-icu""#,
        school as SchoolId
    )
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .map(|r| TeacherOption {
        id: r.id,
        name: format::full_name(&r.surname, &r.given_name, r.patronymic.as_deref()),
    })
    .collect();
    let history = sqlx::query!(
        r#"select c.title, a.surname || ' ' || a.given_name || coalesce(' ' || a.patronymic, '') as "teacher!",
                  coalesce(o.order_number, t.order_number) as order_number,
                  coalesce(o.order_date, t.order_date) as order_date, t.assigned_at, t.ended_at
           from class_teacher_assignments t
           join classes c on c.school_id = t.school_id and c.id = t.class_id
           join memberships m on m.school_id = t.school_id and m.id = t.teacher_id
           join accounts a on a.id = m.account_id
           left join class_leadership_orders o on o.school_id = t.school_id and o.id = t.order_id
           where t.school_id = $1 and t.ended_at is not null
           order by t.ended_at desc limit 30"#,
        school as SchoolId
    )
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .map(|r| HistoryRow {
        class: r.title,
        teacher: r.teacher,
        order: order_label(r.order_number, r.order_date),
        from: format::datetime(r.assigned_at, &tz),
        until: r.ended_at.map(|t| format::datetime(t, &tz)).unwrap_or_default(),
    })
    .collect();
    let without = classes.iter().filter(|c| c.teacher.is_none()).count() as i64;
    let without = if without > 0 {
        format::count(without, "класс", "класса", "классов")
    } else {
        String::new()
    };
    Ok(Page {
        layout: Layout::for_scope(scope),
        school_id: school,
        year,
        orders,
        classes,
        teachers,
        history,
        can_assign: scope.can(Action::AssignClassTeachers),
        without,
        order_form,
        errors,
        message,
    }
    .into_response())
}

/// `?changes=N`: where a saved table leads (its form key remembers this address).
#[derive(Deserialize, Default)]
struct Saved {
    changes: Option<u32>,
}

async fn page(
    State(state): State<AppState>,
    scope: SchoolScope,
    Query(saved): Query<Saved>,
) -> AppResult<Response> {
    scope.require(Action::ViewClassTeachers)?;
    render_page(
        &state,
        &scope,
        OrderForm::default(),
        FormErrors::default(),
        saved.changes.map(|n| format!("Записано изменений: {n}.")),
    )
    .await
}

async fn add_order(
    State(state): State<AppState>,
    scope: SchoolScope,
    meta: RequestMeta,
    Form(form): Form<OrderForm>,
) -> AppResult<Response> {
    scope.require(Action::AssignClassTeachers)?;
    let mut errors = FormErrors::default();
    let number = form.order_number.trim().to_owned();
    if number.is_empty() {
        errors.add("order_number", "Укажите номер приказа.");
    }
    let date = parse_date(&form.order_date);
    if date.is_none() {
        errors.add("order_date", "Укажите дату приказа, например 30.08.2025.");
    }
    let (Some(date), true) = (date, errors.is_empty()) else {
        return render_page(&state, &scope, form, errors, None).await;
    };
    let mut tx = state.db.begin().await?;
    if let Some(url) = form.form_key.seen(&mut tx, scope.actor().id()).await? {
        return Ok(once::again(&url));
    }
    let (year_id, _) = current_year(&mut tx, scope.tenant()).await?;
    sqlx::query!(
        r#"insert into class_leadership_orders (school_id, id, academic_year_id, order_number, order_date, created_by)
           values ($1, $2, $3, $4, $5, $6)"#,
        scope.school_id() as SchoolId,
        LeadershipOrderId::new() as LeadershipOrderId,
        year_id as AcademicYearId,
        number,
        date,
        scope.actor().id() as AccountId
    )
    .execute(&mut *tx)
    .await?;
    audit::in_school(
        &mut tx,
        &meta,
        &scope,
        "class_teacher.order",
        None,
        Some(format::order(&number, date)),
    )
    .await?;
    let url = format!("/s/{}/class-teachers", scope.school_id());
    form.form_key
        .done(&mut tx, scope.actor().id(), &url)
        .await?;
    tx.commit().await?;
    Ok(Redirect::to(&url).into_response())
}

/// The table's form: `order` and one `class_<id>` field per class (a teacher's membership
/// id or empty for «не назначен»).
async fn assign(
    State(state): State<AppState>,
    scope: SchoolScope,
    meta: RequestMeta,
    Form(fields): Form<Vec<(String, String)>>,
) -> AppResult<Response> {
    scope.require(Action::AssignClassTeachers)?;
    let school = scope.school_id();
    let fields: HashMap<String, String> = fields.into_iter().collect();
    let order: Option<LeadershipOrderId> = fields.get("order").and_then(|o| o.parse().ok());
    // The page renders one key into both of its forms: this one's is derived from it.
    let form_key = FormKey::parse(fields.get("form_key").map_or("", String::as_str))
        .for_action("class-teachers");
    let mut tx = state.db.begin().await?;
    if let Some(url) = form_key.seen(&mut tx, scope.actor().id()).await? {
        return Ok(once::again(&url));
    }
    let (year_id, _) = current_year(&mut tx, scope.tenant()).await?;
    let order = match order {
        Some(o) => {
            sqlx::query!(
                r#"select id, order_number, order_date from class_leadership_orders
               where school_id = $1 and id = $2 and academic_year_id = $3"#,
                school as SchoolId,
                o as LeadershipOrderId,
                year_id as AcademicYearId
            )
            .fetch_optional(&mut *tx)
            .await?
        }
        None => None,
    };
    let Some(order) = order else {
        drop(tx);
        return render_page(
            &state,
            &scope,
            OrderForm::default(),
            FormErrors::default(),
            Some("Выберите приказ о распределении классного руководства: назначения без приказа не записываются.".into()),
        )
        .await;
    };
    let current: Vec<(ClassId, String, Option<MembershipId>)> = sqlx::query!(
        r#"select c.id as "id: ClassId", c.title, t.teacher_id as "teacher?: MembershipId"
           from classes c
           left join class_teacher_assignments t
             on t.school_id = c.school_id and t.class_id = c.id and t.ended_at is null
           where c.school_id = $1 and c.kind = 'class' and c.academic_year_id = $2 and c.archived_at is null
           for update of c"#,
        school as SchoolId,
        year_id as AcademicYearId
    )
    .fetch_all(&mut *tx)
    .await?
    .into_iter()
    .map(|r| (r.id, r.title, r.teacher))
    .collect();
    let verified: HashMap<MembershipId, String> = sqlx::query!(
        r#"select m.id as "id: MembershipId", a.surname || ' ' || a.given_name as "name!"
           from memberships m join accounts a on a.id = m.account_id
           where m.school_id = $1 and m.role = 'teacher' and m.status = 'active' and m.verification = 'verified'"#,
        school as SchoolId
    )
    .fetch_all(&mut *tx)
    .await?
    .into_iter()
    .map(|r| (r.id, r.name))
    .collect();
    let mut changes = 0;
    for (class, title, teacher) in current {
        let Some(value) = fields.get(&format!("class_{class}")) else {
            continue;
        };
        let wanted: Option<MembershipId> = if value.is_empty() {
            None
        } else {
            match value.parse().ok().filter(|m| verified.contains_key(m)) {
                Some(m) => Some(m),
                None => {
                    drop(tx);
                    return render_page(
                        &state,
                        &scope,
                        OrderForm::default(),
                        FormErrors::default(),
                        Some(format!(
                            "Класс {title}: классным руководителем назначается учитель школы с подтверждённым статусом. Ничего не изменено."
                        )),
                    )
                    .await;
                }
            }
        };
        if wanted == teacher {
            continue;
        }
        changes += 1;
        if teacher.is_some() {
            sqlx::query!(
                "update class_teacher_assignments set ended_at = now() where school_id = $1 and class_id = $2 and ended_at is null",
                school as SchoolId,
                class as ClassId
            )
            .execute(&mut *tx)
            .await?;
        }
        if let Some(t) = wanted {
            sqlx::query!(
                r#"insert into class_teacher_assignments
                     (school_id, id, class_id, teacher_id, order_id, order_number, order_date, assigned_by)
                   values ($1, gen_random_uuid(), $2, $3, $4, $5, $6, $7)"#,
                school as SchoolId,
                class as ClassId,
                t as MembershipId,
                order.id,
                order.order_number,
                order.order_date,
                scope.actor().id() as AccountId
            )
            .execute(&mut *tx)
            .await?;
        }
        let who = wanted
            .and_then(|t| verified.get(&t).cloned())
            .unwrap_or_else(|| "не назначен".to_owned());
        audit::in_school(
            &mut tx,
            &meta,
            &scope,
            if wanted.is_some() {
                "class_teacher.assigned"
            } else {
                "class_teacher.removed"
            },
            Some(format!("class:{class}")),
            Some(format!(
                "{title}: {who}; {}",
                format::order(&order.order_number, order.order_date)
            )),
        )
        .await?;
    }
    let url = format!("/s/{school}/class-teachers?changes={changes}");
    form_key.done(&mut tx, scope.actor().id(), &url).await?;
    tx.commit().await?;
    Ok(Redirect::to(&url).into_response())
}
