//! The administrator's forms for single movements (R2.1.k): enrolment of a new student,
//! transfer between classes, a student leaving, a staff member leaving. Each form carries
//! its movement's id, so sending it twice records one movement; each success goes back to
//! the register with a note of what was recorded.

use askama::Template;
use axum::Form;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use sqlx::PgConnection;

use super::domain::{self, Enrolment, Handover, MovementError, MovementId};
use super::{
    ClassOption, LEAVING_REASONS, STAFF_REASONS, current_classes, opt, reason, required_date,
    required_order,
};
use crate::AppState;
use crate::auth::FormErrors;
use crate::auth::extract::{RequestMeta, SchoolScope};
use crate::auth::permissions::Action;
use crate::auth::tenant::Tenant;
use crate::error::{AppError, AppResult};
use crate::ids::{ClassId, MembershipId, SchoolId};
use crate::people::NewPerson;
use crate::web::format;
use crate::web::layout::Layout;
use crate::web::render;

const STALE_FORM: &str = "Форма устарела. Откройте её заново и заполните ещё раз.";

fn iso(d: time::Date) -> String {
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

fn recorded(tenant: Tenant, id: MovementId) -> Response {
    let school = tenant.id();
    Redirect::to(&format!("/s/{school}/movements?recorded={id}")).into_response()
}

/// A movement error no form field explains.
fn movement_failure(e: MovementError) -> AppError {
    match e {
        MovementError::Db(e) => e.into(),
        _ => AppError::NotFound,
    }
}

fn parse_key(key: &str) -> AppResult<MovementId> {
    key.parse().map_err(|_| AppError::BadRequest(STALE_FORM))
}

/// The class chosen in a select, if it is one of the current classes.
fn chosen_class(value: &str, classes: &[ClassOption]) -> Option<ClassId> {
    let id: ClassId = value.trim().parse().ok()?;
    classes.iter().any(|c| c.id == id).then_some(id)
}

// ---- enrolment ------------------------------------------------------------------------

#[derive(Debug, Default, Deserialize)]
pub(super) struct EnrolForm {
    #[serde(default)]
    key: String,
    #[serde(default)]
    surname: String,
    #[serde(default)]
    given_name: String,
    #[serde(default)]
    patronymic: String,
    #[serde(default)]
    birth_date: String,
    #[serde(default)]
    class: String,
    #[serde(default)]
    order_number: String,
    #[serde(default)]
    order_date: String,
    #[serde(default)]
    date: String,
    #[serde(default)]
    not_duplicate: Option<String>,
}

#[derive(Template)]
#[template(path = "movements/enrol.html")]
struct EnrolPage {
    layout: Layout,
    school_id: SchoolId,
    form: EnrolForm,
    errors: FormErrors,
    classes: Vec<ClassOption>,
    duplicates: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct ClassQuery {
    #[serde(default)]
    class: String,
}

pub(super) async fn enrol_page(
    State(state): State<AppState>,
    scope: SchoolScope,
    Query(q): Query<ClassQuery>,
) -> AppResult<Response> {
    scope.require(Action::RecordMovements)?;
    let mut conn = state.db.acquire().await?;
    let classes = current_classes(&mut conn, scope.tenant()).await?;
    let today = domain::school_today(&mut conn, scope.tenant()).await?;
    let class = chosen_class(&q.class, &classes)
        .map(|c| c.to_string())
        .unwrap_or_default();
    Ok(render(&EnrolPage {
        layout: Layout::for_scope(&scope),
        school_id: scope.school_id(),
        form: EnrolForm {
            key: MovementId::new().to_string(),
            date: iso(today),
            class,
            ..Default::default()
        },
        errors: FormErrors::default(),
        classes,
        duplicates: Vec::new(),
    })?
    .into_response())
}

fn name_field(value: &str, field: &'static str, missing: &'static str, errors: &mut FormErrors) {
    let v = value.trim();
    if v.is_empty() {
        errors.add(field, missing);
    } else if v.chars().count() > 100 {
        errors.add(field, "Не длиннее 100 символов.");
    }
}

pub(super) async fn enrol(
    State(state): State<AppState>,
    scope: SchoolScope,
    meta: RequestMeta,
    Form(form): Form<EnrolForm>,
) -> AppResult<Response> {
    scope.require(Action::RecordMovements)?;
    let school = scope.school_id();
    let key = parse_key(&form.key)?;
    let mut conn = state.db.acquire().await?;
    let classes = current_classes(&mut conn, scope.tenant()).await?;
    let today = domain::school_today(&mut conn, scope.tenant()).await?;
    drop(conn);

    let mut errors = FormErrors::default();
    name_field(&form.surname, "surname", "Укажите фамилию.", &mut errors);
    name_field(&form.given_name, "given_name", "Укажите имя.", &mut errors);
    if form.patronymic.trim().chars().count() > 100 {
        errors.add("patronymic", "Не длиннее 100 символов.");
    }
    let birth_date = match opt(&form.birth_date) {
        None => None,
        Some(v) => match format::parse_date(v) {
            Some(d) if d < today && d.year() >= 1990 => Some(d),
            Some(_) => {
                errors.add("birth_date", "Проверьте дату рождения.");
                None
            }
            None => {
                errors.add(
                    "birth_date",
                    "Дата в формате ДД.ММ.ГГГГ, например 14.03.2015.",
                );
                None
            }
        },
    };
    let class = chosen_class(&form.class, &classes);
    if class.is_none() {
        errors.add("class", "Выберите класс из списка.");
    }
    let order = required_order(&form.order_number, &form.order_date, &mut errors);
    let on = required_date(&form.date, "date", "Укажите дату зачисления.", &mut errors);
    let person = NewPerson {
        surname: form.surname.trim().to_owned(),
        given_name: form.given_name.trim().to_owned(),
        patronymic: opt(&form.patronymic).map(str::to_owned),
        birth_date,
        ..Default::default()
    };
    let page =
        |form: EnrolForm, errors: FormErrors, duplicates: Vec<String>| -> AppResult<Response> {
            Ok(render(&EnrolPage {
                layout: Layout::for_scope(&scope),
                school_id: school,
                form,
                errors,
                classes: classes.clone(),
                duplicates,
            })?
            .into_response())
        };
    let (Some(class), Some(order), Some(on), true) = (class, order, on, errors.is_empty()) else {
        return page(form, errors, Vec::new());
    };

    let mut tx = state.db.begin().await?;
    // A form sent twice is recognised before anything else is checked.
    match domain::claim(&mut tx, key).await {
        Ok(()) => {}
        Err(MovementError::AlreadyRecorded) => return Ok(recorded(scope.tenant(), key)),
        Err(e) => return Err(movement_failure(e)),
    }
    if form.not_duplicate.is_none() {
        let duplicates = domain::possible_duplicates(&mut tx, scope.tenant(), &person).await?;
        if !duplicates.is_empty() {
            drop(tx);
            errors.add(
                "duplicate",
                "В школе уже есть ученик с такими ФИО. Если это другой человек, отметьте «Это другой ученик».",
            );
            return page(form, errors, duplicates);
        }
    }
    let by = scope.by(&meta);
    let e = Enrolment {
        person,
        class,
        order,
        on,
    };
    match domain::enrol(&mut tx, &by, key, &e).await {
        Ok(_) => {
            tx.commit().await?;
            Ok(recorded(scope.tenant(), key))
        }
        Err(MovementError::AlreadyRecorded) => Ok(recorded(scope.tenant(), key)),
        Err(MovementError::ClassNotFound) => {
            drop(tx);
            errors.add("class", "Выберите класс из списка.");
            page(form, errors, Vec::new())
        }
        Err(e) => Err(movement_failure(e)),
    }
}

// ---- choosing a student ---------------------------------------------------------------

/// The student a form is about.
pub(super) struct StudentCard {
    pub id: MembershipId,
    pub name: String,
    pub class_id: Option<ClassId>,
    pub class: String,
    pub birth_date: String,
    pub active: bool,
}

impl StudentCard {
    /// Whether the student is in this class (the transfer's list leaves it out).
    pub fn is_in(&self, class: &ClassId) -> bool {
        self.class_id.as_ref() == Some(class)
    }
}

/// A student of this school (any status), or `None` — also for another school's student.
async fn student_card(
    conn: &mut PgConnection,
    tenant: Tenant,
    id: MembershipId,
) -> sqlx::Result<Option<StudentCard>> {
    let school = tenant.id();
    let row = sqlx::query!(
        r#"select m.id as "id: MembershipId", m.status, m.class_id as "class_id?: ClassId",
                  c.title as "class?", a.surname, a.given_name, a.patronymic, a.birth_date
           from memberships m join accounts a on a.id = m.account_id
           left join classes c on c.school_id = m.school_id and c.id = m.class_id
           where m.school_id = $1 and m.id = $2 and m.role = 'student'"#,
        school as SchoolId,
        id as MembershipId
    )
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|r| StudentCard {
        id: r.id,
        name: format::full_name(&r.surname, &r.given_name, r.patronymic.as_deref()),
        class_id: r.class_id,
        class: r.class.unwrap_or_else(|| "—".to_owned()),
        birth_date: r.birth_date.map(format::date).unwrap_or_default(),
        active: r.status != "left",
    }))
}

/// The student named by a form field or `?student=`: 404 unless it is this school's.
async fn require_student(
    conn: &mut PgConnection,
    tenant: Tenant,
    value: &str,
) -> AppResult<StudentCard> {
    let id: MembershipId = value.trim().parse().map_err(|_| AppError::NotFound)?;
    student_card(conn, tenant, id)
        .await?
        .ok_or(AppError::NotFound)
}

pub(super) struct Found {
    pub id: MembershipId,
    pub name: String,
    pub class: String,
}

/// Search for a student by name and/or class: the list to pick from.
pub(super) struct Picker {
    pub q: String,
    pub class: String,
    pub classes: Vec<ClassOption>,
    pub results: Vec<Found>,
    pub searched: bool,
    pub more: bool,
}

const PICK_LIMIT: i64 = 50;

async fn picker(
    conn: &mut PgConnection,
    tenant: Tenant,
    q: &str,
    class: &str,
) -> sqlx::Result<Picker> {
    let school = tenant.id();
    let classes = current_classes(&mut *conn, tenant).await?;
    let q = q.trim().to_owned();
    let class_id = chosen_class(class, &classes);
    let searched = !q.is_empty() || class_id.is_some();
    let mut results = Vec::new();
    let mut more = false;
    if searched {
        let pattern = (!q.is_empty()).then(|| crate::web::query::like_contains(&q));
        let rows = sqlx::query!(
            r#"select m.id as "id: MembershipId", a.surname, a.given_name, a.patronymic,
                      c.title as "class?"
               from memberships m join accounts a on a.id = m.account_id
               left join classes c on c.school_id = m.school_id and c.id = m.class_id
               where m.school_id = $1 and m.role = 'student' and m.status <> 'left'
                 and ($2::text is null
                      or translate(lower(a.surname || ' ' || a.given_name || ' '
                                         || coalesce(a.patronymic, '')), 'ё', 'е')
                         like translate(lower($2), 'ё', 'е'))
                 and ($3::uuid is null or m.class_id = $3)
               order by a.surname collate "ru-RU-x-icu", a.given_name collate "ru-RU-x-icu",
                        m.id
               limit $4"#,
            school as SchoolId,
            pattern,
            class_id as Option<ClassId>,
            PICK_LIMIT + 1
        )
        .fetch_all(&mut *conn)
        .await?;
        more = rows.len() as i64 > PICK_LIMIT;
        results = rows
            .into_iter()
            .take(PICK_LIMIT as usize)
            .map(|r| Found {
                id: r.id,
                name: format::full_name(&r.surname, &r.given_name, r.patronymic.as_deref()),
                class: r.class.unwrap_or_else(|| "—".to_owned()),
            })
            .collect();
    }
    Ok(Picker {
        q,
        class: class_id.map(|c| c.to_string()).unwrap_or_default(),
        classes,
        results,
        searched,
        more,
    })
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct PickQuery {
    #[serde(default)]
    student: String,
    #[serde(default)]
    q: String,
    #[serde(default)]
    class: String,
}

// ---- transfer -------------------------------------------------------------------------

#[derive(Debug, Default, Deserialize)]
pub(super) struct TransferForm {
    #[serde(default)]
    key: String,
    #[serde(default)]
    student: String,
    #[serde(default)]
    to_class: String,
    #[serde(default)]
    order_number: String,
    #[serde(default)]
    order_date: String,
    #[serde(default)]
    date: String,
}

#[derive(Template)]
#[template(path = "movements/transfer.html")]
struct TransferPage {
    layout: Layout,
    school_id: SchoolId,
    action: &'static str,
    picker: Option<Picker>,
    student: Option<StudentCard>,
    form: TransferForm,
    errors: FormErrors,
    classes: Vec<ClassOption>,
}

pub(super) async fn transfer_page(
    State(state): State<AppState>,
    scope: SchoolScope,
    Query(q): Query<PickQuery>,
) -> AppResult<Response> {
    scope.require(Action::RecordMovements)?;
    let school = scope.school_id();
    let mut conn = state.db.acquire().await?;
    let (picker, student) = if q.student.trim().is_empty() {
        (
            Some(picker(&mut conn, scope.tenant(), &q.q, &q.class).await?),
            None,
        )
    } else {
        (
            None,
            Some(require_student(&mut conn, scope.tenant(), &q.student).await?),
        )
    };
    let classes = current_classes(&mut conn, scope.tenant()).await?;
    let today = domain::school_today(&mut conn, scope.tenant()).await?;
    Ok(render(&TransferPage {
        layout: Layout::for_scope(&scope),
        school_id: school,
        action: "transfer",
        form: TransferForm {
            key: MovementId::new().to_string(),
            student: student
                .as_ref()
                .map(|s| s.id.to_string())
                .unwrap_or_default(),
            date: iso(today),
            ..Default::default()
        },
        picker,
        student,
        errors: FormErrors::default(),
        classes,
    })?
    .into_response())
}

pub(super) async fn transfer(
    State(state): State<AppState>,
    scope: SchoolScope,
    meta: RequestMeta,
    Form(form): Form<TransferForm>,
) -> AppResult<Response> {
    scope.require(Action::RecordMovements)?;
    let school = scope.school_id();
    let key = parse_key(&form.key)?;
    let mut conn = state.db.acquire().await?;
    let student = require_student(&mut conn, scope.tenant(), &form.student).await?;
    let classes = current_classes(&mut conn, scope.tenant()).await?;
    drop(conn);

    let mut errors = FormErrors::default();
    if !student.active {
        errors.add("student", "Этот ученик уже выбыл из школы.");
    }
    let to = chosen_class(&form.to_class, &classes);
    match to {
        None => errors.add("to_class", "Выберите класс из списка."),
        Some(c) if Some(c) == student.class_id => errors.add(
            "to_class",
            "Ученик уже учится в этом классе. Выберите другой класс.",
        ),
        Some(_) => {}
    }
    let order = required_order(&form.order_number, &form.order_date, &mut errors);
    let on = required_date(&form.date, "date", "Укажите дату перевода.", &mut errors);
    let page =
        |form: TransferForm, student: StudentCard, errors: FormErrors| -> AppResult<Response> {
            Ok(render(&TransferPage {
                layout: Layout::for_scope(&scope),
                school_id: school,
                action: "transfer",
                picker: None,
                student: Some(student),
                form,
                errors,
                classes: classes.clone(),
            })?
            .into_response())
        };
    let (Some(to), Some(order), Some(on), true) = (to, order, on, errors.is_empty()) else {
        return page(form, student, errors);
    };
    let mut tx = state.db.begin().await?;
    let by = scope.by(&meta);
    match domain::transfer(&mut tx, &by, key, student.id, to, &order, on).await {
        Ok(()) => {
            tx.commit().await?;
            Ok(recorded(scope.tenant(), key))
        }
        Err(MovementError::AlreadyRecorded) => Ok(recorded(scope.tenant(), key)),
        Err(MovementError::SameClass) => {
            errors.add(
                "to_class",
                "Ученик уже учится в этом классе. Выберите другой класс.",
            );
            page(form, student, errors)
        }
        Err(MovementError::ClassNotFound) => {
            errors.add("to_class", "Выберите класс из списка.");
            page(form, student, errors)
        }
        Err(MovementError::NotActive) => {
            errors.add("student", "Этот ученик уже выбыл из школы.");
            page(form, student, errors)
        }
        Err(e) => Err(movement_failure(e)),
    }
}

// ---- a student leaves -----------------------------------------------------------------

#[derive(Debug, Default, Deserialize)]
pub(super) struct LeaveForm {
    #[serde(default)]
    key: String,
    #[serde(default)]
    student: String,
    #[serde(default)]
    order_number: String,
    #[serde(default)]
    order_date: String,
    #[serde(default)]
    date: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    confirm: Option<String>,
}

#[derive(Template)]
#[template(path = "movements/leave.html")]
struct LeavePage {
    layout: Layout,
    school_id: SchoolId,
    action: &'static str,
    picker: Option<Picker>,
    student: Option<StudentCard>,
    parents: Vec<String>,
    form: LeaveForm,
    errors: FormErrors,
    reasons: &'static [&'static str],
}

pub(super) async fn leave_page(
    State(state): State<AppState>,
    scope: SchoolScope,
    Query(q): Query<PickQuery>,
) -> AppResult<Response> {
    scope.require(Action::RecordMovements)?;
    let school = scope.school_id();
    let mut conn = state.db.acquire().await?;
    let (picker, student) = if q.student.trim().is_empty() {
        (
            Some(picker(&mut conn, scope.tenant(), &q.q, &q.class).await?),
            None,
        )
    } else {
        (
            None,
            Some(require_student(&mut conn, scope.tenant(), &q.student).await?),
        )
    };
    let parents = match &student {
        Some(s) if s.active => domain::parents_left_alone(&mut conn, scope.tenant(), s.id).await?,
        _ => Vec::new(),
    };
    let today = domain::school_today(&mut conn, scope.tenant()).await?;
    Ok(render(&LeavePage {
        layout: Layout::for_scope(&scope),
        school_id: school,
        action: "leave",
        form: LeaveForm {
            key: MovementId::new().to_string(),
            student: student
                .as_ref()
                .map(|s| s.id.to_string())
                .unwrap_or_default(),
            date: iso(today),
            ..Default::default()
        },
        picker,
        student,
        parents,
        errors: FormErrors::default(),
        reasons: LEAVING_REASONS,
    })?
    .into_response())
}

pub(super) async fn leave(
    State(state): State<AppState>,
    scope: SchoolScope,
    meta: RequestMeta,
    Form(form): Form<LeaveForm>,
) -> AppResult<Response> {
    scope.require(Action::RecordMovements)?;
    let school = scope.school_id();
    let key = parse_key(&form.key)?;
    let mut conn = state.db.acquire().await?;
    let student = require_student(&mut conn, scope.tenant(), &form.student).await?;
    let parents = if student.active {
        domain::parents_left_alone(&mut conn, scope.tenant(), student.id).await?
    } else {
        Vec::new()
    };
    drop(conn);

    let mut errors = FormErrors::default();
    if !student.active {
        errors.add("student", "Этот ученик уже выбыл из школы.");
    }
    let order = required_order(&form.order_number, &form.order_date, &mut errors);
    let on = required_date(&form.date, "date", "Укажите дату выбытия.", &mut errors);
    let why = reason(&form.reason, &mut errors);
    if form.confirm.is_none() {
        errors.add("confirm", "Подтвердите выбытие: отметьте «Подтверждаю».");
    }
    let student_id = student.id;
    let page = |form: LeaveForm, errors: FormErrors| -> AppResult<Response> {
        Ok(render(&LeavePage {
            layout: Layout::for_scope(&scope),
            school_id: school,
            action: "leave",
            picker: None,
            student: Some(student),
            parents,
            form,
            errors,
            reasons: LEAVING_REASONS,
        })?
        .into_response())
    };
    let (Some(order), Some(on), true) = (order, on, errors.is_empty()) else {
        return page(form, errors);
    };
    let mut tx = state.db.begin().await?;
    let by = scope.by(&meta);
    match domain::leave(&mut tx, &by, key, student_id, &order, on, why.as_deref()).await {
        Ok(_) => {
            tx.commit().await?;
            Ok(recorded(scope.tenant(), key))
        }
        Err(MovementError::AlreadyRecorded) => Ok(recorded(scope.tenant(), key)),
        Err(MovementError::NotActive) => {
            errors.add("student", "Этот ученик уже выбыл из школы.");
            page(form, errors)
        }
        Err(e) => Err(movement_failure(e)),
    }
}

// ---- a staff member leaves ------------------------------------------------------------

pub(super) struct StaffOption {
    pub id: MembershipId,
    pub label: String,
}

pub(super) struct StaffCard {
    pub id: MembershipId,
    pub name: String,
    pub role: &'static str,
    pub position: String,
    pub active: bool,
}

fn role_title(role: &str) -> &'static str {
    match role {
        "teacher" => "учитель",
        "deputy" => "заместитель директора",
        _ => "сотрудник",
    }
}

async fn staff_options(conn: &mut PgConnection, tenant: Tenant) -> sqlx::Result<Vec<StaffOption>> {
    let school = tenant.id();
    let rows = sqlx::query!(
        r#"select m.id as "id: MembershipId", m.role, m.position,
                  a.surname, a.given_name, a.patronymic
           from memberships m join accounts a on a.id = m.account_id
           where m.school_id = $1 and m.role in ('teacher', 'staff', 'deputy')
             and m.status <> 'left'
           order by a.surname collate "ru-RU-x-icu", a.given_name collate "ru-RU-x-icu", m.id"#,
        school as SchoolId
    )
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let name = format::full_name(&r.surname, &r.given_name, r.patronymic.as_deref());
            let what = r.position.unwrap_or_else(|| role_title(&r.role).to_owned());
            StaffOption {
                id: r.id,
                label: format!("{name} — {what}"),
            }
        })
        .collect())
}

async fn require_staff(
    conn: &mut PgConnection,
    tenant: Tenant,
    value: &str,
) -> AppResult<StaffCard> {
    let school = tenant.id();
    let id: MembershipId = value.trim().parse().map_err(|_| AppError::NotFound)?;
    let row = sqlx::query!(
        r#"select m.id as "id: MembershipId", m.role, m.position, m.status,
                  a.surname, a.given_name, a.patronymic
           from memberships m join accounts a on a.id = m.account_id
           where m.school_id = $1 and m.id = $2 and m.role in ('teacher', 'staff', 'deputy')"#,
        school as SchoolId,
        id as MembershipId
    )
    .fetch_optional(conn)
    .await?
    .ok_or(AppError::NotFound)?;
    Ok(StaffCard {
        id: row.id,
        name: format::full_name(&row.surname, &row.given_name, row.patronymic.as_deref()),
        role: role_title(&row.role),
        position: row.position.unwrap_or_default(),
        active: row.status != "left",
    })
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct StaffLeaveForm {
    #[serde(default)]
    key: String,
    #[serde(default)]
    member: String,
    #[serde(default)]
    order_number: String,
    #[serde(default)]
    order_date: String,
    #[serde(default)]
    date: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    confirm: Option<String>,
}

/// A hand-over item with the page where it is done.
pub(super) struct HandoverLink {
    pub text: String,
    pub href: String,
}

#[derive(Template)]
#[template(path = "movements/staff_leave.html")]
struct StaffLeavePage {
    layout: Layout,
    school_id: SchoolId,
    staff: Vec<StaffOption>,
    member: Option<StaffCard>,
    handovers: Vec<HandoverLink>,
    handover_message: String,
    form: StaffLeaveForm,
    errors: FormErrors,
    reasons: &'static [&'static str],
}

fn handover_links(tenant: Tenant, items: &[Handover]) -> (Vec<HandoverLink>, String) {
    let school = tenant.id();
    let links = items
        .iter()
        .map(|h| HandoverLink {
            text: h.text(),
            href: format!("/s/{school}{}", h.page()),
        })
        .collect();
    let message = if items.is_empty() {
        String::new()
    } else {
        domain::handover_message(items)
    };
    (links, message)
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct MemberQuery {
    #[serde(default)]
    member: String,
}

pub(super) async fn staff_leave_page(
    State(state): State<AppState>,
    scope: SchoolScope,
    Query(q): Query<MemberQuery>,
) -> AppResult<Response> {
    scope.require(Action::RecordMovements)?;
    let school = scope.school_id();
    let mut conn = state.db.acquire().await?;
    let member = if q.member.trim().is_empty() {
        None
    } else {
        Some(require_staff(&mut conn, scope.tenant(), &q.member).await?)
    };
    let items = match &member {
        Some(m) if m.active => domain::handovers(&mut conn, scope.tenant(), m.id).await?,
        _ => Vec::new(),
    };
    let (handovers, handover_message) = handover_links(scope.tenant(), &items);
    let staff = if member.is_none() {
        staff_options(&mut conn, scope.tenant()).await?
    } else {
        Vec::new()
    };
    let today = domain::school_today(&mut conn, scope.tenant()).await?;
    Ok(render(&StaffLeavePage {
        layout: Layout::for_scope(&scope),
        school_id: school,
        form: StaffLeaveForm {
            key: MovementId::new().to_string(),
            member: member
                .as_ref()
                .map(|m| m.id.to_string())
                .unwrap_or_default(),
            date: iso(today),
            ..Default::default()
        },
        staff,
        member,
        handovers,
        handover_message,
        errors: FormErrors::default(),
        reasons: STAFF_REASONS,
    })?
    .into_response())
}

pub(super) async fn staff_leave(
    State(state): State<AppState>,
    scope: SchoolScope,
    meta: RequestMeta,
    Form(form): Form<StaffLeaveForm>,
) -> AppResult<Response> {
    scope.require(Action::RecordMovements)?;
    let school = scope.school_id();
    let key = parse_key(&form.key)?;
    let mut conn = state.db.acquire().await?;
    let member = require_staff(&mut conn, scope.tenant(), &form.member).await?;
    drop(conn);

    let mut errors = FormErrors::default();
    if !member.active {
        errors.add("member", "Этот сотрудник уже выбыл из школы.");
    }
    let order = required_order(&form.order_number, &form.order_date, &mut errors);
    let on = required_date(&form.date, "date", "Укажите дату выбытия.", &mut errors);
    let why = reason(&form.reason, &mut errors);
    if form.confirm.is_none() {
        errors.add("confirm", "Подтвердите выбытие: отметьте «Подтверждаю».");
    }
    let page = |form: StaffLeaveForm,
                member: StaffCard,
                errors: FormErrors,
                items: &[Handover]|
     -> AppResult<Response> {
        let (handovers, handover_message) = handover_links(scope.tenant(), items);
        Ok(render(&StaffLeavePage {
            layout: Layout::for_scope(&scope),
            school_id: school,
            staff: Vec::new(),
            member: Some(member),
            handovers,
            handover_message,
            form,
            errors,
            reasons: STAFF_REASONS,
        })?
        .into_response())
    };
    let (Some(order), Some(on), true) = (order, on, errors.is_empty()) else {
        let mut conn = state.db.acquire().await?;
        let items = if member.active {
            domain::handovers(&mut conn, scope.tenant(), member.id).await?
        } else {
            Vec::new()
        };
        return page(form, member, errors, &items);
    };
    let mut tx = state.db.begin().await?;
    let by = scope.by(&meta);
    match domain::staff_leave(&mut tx, &by, key, member.id, &order, on, why.as_deref()).await {
        Ok(()) => {
            tx.commit().await?;
            Ok(recorded(scope.tenant(), key))
        }
        Err(MovementError::AlreadyRecorded) => Ok(recorded(scope.tenant(), key)),
        Err(MovementError::HandOverFirst(items)) => {
            drop(tx);
            page(form, member, errors, &items)
        }
        Err(MovementError::NotActive) => {
            errors.add("member", "Этот сотрудник уже выбыл из школы.");
            page(form, member, errors, &[])
        }
        Err(e) => Err(movement_failure(e)),
    }
}
