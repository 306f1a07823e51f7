//! Classes and the «Учительская» (R2.1.d, R2.1.e): the list grouped by parallel with the
//! counts an administrator needs, a class's page (students, their parents, the class
//! teacher, who teaches what), creating, editing and deleting classes of the current
//! academic year. The staff room is always there and cannot be deleted.

pub mod leadership;
mod links;

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
use crate::auth::objects::Target;
use crate::auth::permissions::Role;
use crate::auth::permissions::{Access, Action};
use crate::auth::tenant::Tenant;
use crate::error::{AppError, AppResult};
use crate::ids::{AcademicYearId, AccountId, ClassId, MembershipId, SchoolId};
use crate::web::Routes;
use crate::web::form::FormErrors;
use crate::web::format;
use crate::web::layout::Layout;
use crate::web::once::{self, FormKey, KeyOnly};
use crate::web::unique::OnConstraint;

pub fn routes(r: Routes) -> Routes {
    let r = leadership::routes(r);
    r.get(
        "/s/{school_id}/classes",
        Access::School(Action::ViewClasses),
        list,
    )
    .get(
        "/s/{school_id}/classes/new",
        Access::School(Action::ManageClasses),
        new_page,
    )
    .post(
        "/s/{school_id}/classes",
        Access::School(Action::ManageClasses),
        create,
    )
    .get(
        "/s/{school_id}/classes/{class_id}",
        Access::School(Action::ViewClasses),
        show,
    )
    .get(
        "/s/{school_id}/classes/{class_id}/edit",
        Access::School(Action::ManageClasses),
        edit_page,
    )
    .post(
        "/s/{school_id}/classes/{class_id}",
        Access::School(Action::ManageClasses),
        update,
    )
    .get(
        "/s/{school_id}/classes/{class_id}/delete",
        Access::School(Action::ManageClasses),
        delete_page,
    )
    .post(
        "/s/{school_id}/classes/{class_id}/delete",
        Access::School(Action::ManageClasses),
        delete,
    )
}

/// The Cyrillic letters a class may carry.
const LETTERS: &str = "АБВГДЕЖЗИКЛМНОПРСТУФХЦЧШЭЮЯ";

/// The school's current academic year: id and label «2025/2026».
pub async fn current_year(
    conn: &mut PgConnection,
    tenant: Tenant,
) -> sqlx::Result<(AcademicYearId, String)> {
    let school = tenant.id();
    let r = sqlx::query!(
        r#"select id as "id: AcademicYearId",
                  extract(year from starts_on)::int as "start!", extract(year from ends_on)::int as "end!"
           from academic_years where school_id = $1 and is_current"#,
        school as SchoolId
    )
    .fetch_one(conn)
    .await?;
    Ok((r.id, format!("{}/{}", r.start, r.end)))
}

pub struct ClassRow {
    pub id: ClassId,
    pub title: String,
    pub students: String,
    pub parents: String,
    pub class_teacher: Option<String>,
    pub profile: Option<String>,
}

pub struct Parallel {
    pub grade: i16,
    pub classes: Vec<ClassRow>,
}

#[derive(Template, WebTemplate)]
#[template(path = "classes/list.html")]
struct ListPage {
    layout: Layout,
    school_id: SchoolId,
    year: String,
    parallels: Vec<Parallel>,
    staffroom: Option<(ClassId, String)>,
    can_manage: bool,
    total_students: String,
}

async fn list(State(state): State<AppState>, scope: SchoolScope) -> AppResult<Response> {
    scope.require(Action::ViewClasses)?;
    let mut conn = state.db.acquire().await?;
    let (year_id, year) = current_year(&mut conn, scope.tenant()).await?;
    let rows = sqlx::query!(
        // The counts are kept by triggers (`class_counts`, migration 0035), so a request
        // reads them by key instead of counting the school's memberships and parent
        // links (issue 10); the class teachers are joined once.
        r#"with leader as (
             select t.class_id, a.surname || ' ' || a.given_name || coalesce(' ' || a.patronymic, '') as name
             from class_teacher_assignments t
             join memberships m on m.school_id = t.school_id and m.id = t.teacher_id
             join accounts a on a.id = m.account_id
             where t.school_id = $1 and t.ended_at is null
           )
           select c.id as "id: ClassId", c.kind, c.grade, c.title, c.profile,
             coalesce(n.students, 0) as "students!",
             coalesce(n.staff, 0) as "staff!",
             coalesce(n.parents, 0) as "parents!",
             leader.name as "class_teacher?"
           from classes c
           left join class_counts n on n.school_id = c.school_id and n.class_id = c.id
           left join leader on leader.class_id = c.id
           where c.school_id = $1 and c.archived_at is null
             and (c.kind = 'staffroom' or c.academic_year_id = $2)
           order by c.kind desc, c.grade, c.letter"#,
        scope.school_id() as SchoolId,
        year_id as AcademicYearId
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut parallels: Vec<Parallel> = Vec::new();
    let mut staffroom = None;
    let mut total = 0;
    for r in rows {
        if r.kind == "staffroom" {
            staffroom = Some((r.id, Role::Staff.count(r.staff)));
            continue;
        }
        total += r.students;
        let grade = r.grade.unwrap_or(0);
        let row = ClassRow {
            id: r.id,
            title: r.title,
            students: Role::Student.count(r.students),
            parents: Role::Parent.count(r.parents),
            class_teacher: r.class_teacher,
            profile: r.profile,
        };
        match parallels.last_mut() {
            Some(p) if p.grade == grade => p.classes.push(row),
            _ => parallels.push(Parallel {
                grade,
                classes: vec![row],
            }),
        }
    }
    Ok(ListPage {
        layout: Layout::for_scope(&scope),
        school_id: scope.school_id(),
        year,
        parallels,
        staffroom,
        can_manage: scope.can(Action::ManageClasses),
        total_students: Role::Student.count(total),
    }
    .into_response())
}

#[derive(Deserialize, Default, Debug)]
struct ClassForm {
    #[serde(default)]
    form_key: FormKey,
    #[serde(default)]
    grade: String,
    #[serde(default)]
    letter: String,
    #[serde(default)]
    profile: String,
    #[serde(default)]
    notes: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "classes/form.html")]
struct FormPage {
    layout: Layout,
    school_id: SchoolId,
    /// Editing this class, or creating a new one.
    class_id: Option<ClassId>,
    title: String,
    form: ClassForm,
    errors: FormErrors,
    year: String,
}

async fn new_page(State(state): State<AppState>, scope: SchoolScope) -> AppResult<Response> {
    scope.require(Action::ManageClasses)?;
    let mut conn = state.db.acquire().await?;
    let (_, year) = current_year(&mut conn, scope.tenant()).await?;
    form_page(
        &scope,
        None,
        String::new(),
        ClassForm::default(),
        FormErrors::default(),
        year,
    )
}

fn form_page(
    scope: &SchoolScope,
    class_id: Option<ClassId>,
    title: String,
    form: ClassForm,
    errors: FormErrors,
    year: String,
) -> AppResult<Response> {
    Ok(FormPage {
        layout: Layout::for_scope(scope),
        school_id: scope.school_id(),
        class_id,
        title,
        form,
        errors,
        year,
    }
    .into_response())
}

/// Grade 1–11 and one Cyrillic capital letter; «5 а» is read as 5А.
fn validate(form: &ClassForm) -> Result<(i16, String), FormErrors> {
    let mut errors = FormErrors::default();
    let grade = form
        .grade
        .trim()
        .parse::<i16>()
        .ok()
        .filter(|g| (1..=11).contains(g));
    if grade.is_none() {
        errors.add("grade", "Выберите параллель от 1 до 11.");
    }
    let letter = form.letter.trim().to_uppercase().replace('Ё', "Е");
    let letter_ok = letter.chars().count() == 1 && LETTERS.contains(letter.as_str());
    if !letter_ok {
        errors.add("letter", "Буква класса — одна русская буква, например А.");
    }
    for (field, value) in [("profile", &form.profile), ("notes", &form.notes)] {
        if value.chars().count() > 500 {
            errors.add(field, "Не длиннее 500 символов.");
        }
    }
    match (grade, errors.is_empty()) {
        (Some(g), true) => Ok((g, letter)),
        _ => Err(errors),
    }
}

fn opt(s: &str) -> Option<&str> {
    Some(s.trim()).filter(|s| !s.is_empty())
}

async fn create(
    State(state): State<AppState>,
    scope: SchoolScope,
    meta: RequestMeta,
    Form(form): Form<ClassForm>,
) -> AppResult<Response> {
    scope.require(Action::ManageClasses)?;
    let mut tx = state.db.begin().await?;
    if let Some(url) = form.form_key.seen(&mut tx, scope.actor().id()).await? {
        return Ok(once::again(&url));
    }
    let (year_id, year) = current_year(&mut tx, scope.tenant()).await?;
    let (grade, letter) = match validate(&form) {
        Ok(v) => v,
        Err(errors) => return form_page(&scope, None, String::new(), form, errors, year),
    };
    let id = ClassId::new();
    let title = format!("{grade}{letter}");
    let inserted = sqlx::query!(
        r#"insert into classes (school_id, id, kind, academic_year_id, grade, letter, title, profile, notes)
           values ($1, $2, 'class', $3, $4, $5, $6, $7, $8)"#,
        scope.school_id() as SchoolId,
        id as ClassId,
        year_id as AcademicYearId,
        grade,
        letter,
        title,
        opt(&form.profile),
        opt(&form.notes)
    )
    .execute(&mut *tx)
    .await
    .on_constraint_field("classes_unique_name", "letter", CLASS_EXISTS)?;
    if let Err(errors) = inserted {
        return form_page(&scope, None, String::new(), form, errors, year);
    }
    audit::in_school(
        &mut tx,
        &meta,
        &scope,
        "class.created",
        Some(format!("class:{id}")),
        Some(title),
    )
    .await?;
    let url = format!("/s/{}/classes/{id}?done=class-created", scope.school_id());
    form.form_key
        .done(&mut tx, scope.actor().id(), &url)
        .await?;
    tx.commit().await?;
    Ok(Redirect::to(&url).into_response())
}

/// A class of this school (any year), or 404.
struct ClassInfo {
    id: ClassId,
    kind: String,
    title: String,
    grade: Option<i16>,
    letter: Option<String>,
    profile: Option<String>,
    notes: Option<String>,
    year: Option<String>,
    archived: bool,
}

async fn find_class(
    conn: &mut PgConnection,
    tenant: Tenant,
    class: ClassId,
) -> AppResult<ClassInfo> {
    let school = tenant.id();
    let r = sqlx::query!(
        r#"select c.id as "id: ClassId", c.kind, c.title, c.grade, c.letter, c.profile, c.notes,
                  c.archived_at is not null as "archived!",
                  (select extract(year from y.starts_on)::text || '/' || extract(year from y.ends_on)::text
                   from academic_years y where y.school_id = c.school_id and y.id = c.academic_year_id) as year
           from classes c where c.school_id = $1 and c.id = $2"#,
        school as SchoolId,
        class as ClassId
    )
    .fetch_optional(conn)
    .await?
    .ok_or(AppError::NotFound)?;
    Ok(ClassInfo {
        id: r.id,
        kind: r.kind,
        title: r.title,
        grade: r.grade,
        letter: r.letter,
        profile: r.profile,
        notes: r.notes,
        year: r.year,
        archived: r.archived,
    })
}

pub struct StudentRow {
    pub membership: MembershipId,
    pub account: AccountId,
    pub name: String,
    pub birth_date: String,
    pub parents: String,
    pub conditional: bool,
}

pub struct StaffRow {
    pub account: AccountId,
    pub name: String,
    pub role: &'static str,
    pub position: String,
    pub verification: &'static str,
}

pub struct TeachingRow {
    pub subject: String,
    pub teacher: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "classes/show.html")]
struct ShowPage {
    layout: Layout,
    school_id: SchoolId,
    class: ClassInfo,
    class_teacher: Option<String>,
    students: Vec<StudentRow>,
    students_count: String,
    staff: Vec<StaffRow>,
    teaching: Vec<TeachingRow>,
    can_manage: bool,
    can_view_people: bool,
    can_move: bool,
    links: links::ClassLinks,
}

/// The class-name rule of the form, said when `classes_unique_name` refuses a write.
const CLASS_EXISTS: &str = "Такой класс в этом учебном году уже есть.";

pub fn verification_title(v: Option<&str>) -> &'static str {
    match v {
        Some("verified") => "подтверждён",
        Some("rejected") => "отклонён",
        Some("unverified") => "не подтверждён",
        _ => "—",
    }
}

async fn show(
    State(state): State<AppState>,
    scope: SchoolScope,
    Path((_, class_id)): Path<(SchoolId, ClassId)>,
) -> AppResult<Response> {
    scope.require(Action::ViewClasses)?;
    let mut conn = state.db.acquire().await?;
    let class = find_class(&mut conn, scope.tenant(), class_id).await?;
    // Parents' phones only to whose duty needs them (SECURITY.md 36).
    let contacts = scope.can_on(Action::ViewClassContacts, &Target::Class(class_id));
    let class_teacher = sqlx::query_scalar!(
        r#"select a.surname || ' ' || a.given_name || coalesce(' ' || a.patronymic, '') as "name!"
           from class_teacher_assignments t
           join memberships m on m.school_id = t.school_id and m.id = t.teacher_id
           join accounts a on a.id = m.account_id
           where t.school_id = $1 and t.class_id = $2 and t.ended_at is null"#,
        scope.school_id() as SchoolId,
        class_id as ClassId
    )
    .fetch_optional(&mut *conn)
    .await?;
    let students: Vec<StudentRow> = sqlx::query!(
        r#"select m.id as "membership: MembershipId", a.id as "account: AccountId",
                  a.surname, a.given_name, a.patronymic, a.birth_date, m.conditional_promotion,
                  (select string_agg(pa.surname || ' ' || pa.given_name || coalesce(' ' || pa.patronymic, '')
                                     || case when $3 then coalesce(', ' || pa.phone, '') else '' end,
                                     '; ' order by pa.surname)
                   from parent_links l
                   join memberships p on p.school_id = l.school_id and p.id = l.parent_id and p.status = 'active'
                   join accounts pa on pa.id = p.account_id
                   where l.school_id = m.school_id and l.child_id = m.id) as parents
           from memberships m join accounts a on a.id = m.account_id
           where m.school_id = $1 and m.class_id = $2 and m.role = 'student' and m.status = 'active'
           order by a.surname collate "ru-RU-x-icu", a.given_name collate "ru-RU-x-icu""#,
        scope.school_id() as SchoolId,
        class_id as ClassId,
        contacts
    )
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .map(|r| StudentRow {
        membership: r.membership,
        account: r.account,
        name: format::full_name(&r.surname, &r.given_name, r.patronymic.as_deref()),
        birth_date: r.birth_date.map(format::date).unwrap_or_default(),
        parents: r.parents.unwrap_or_default(),
        conditional: r.conditional_promotion,
    })
    .collect();
    let staff: Vec<StaffRow> = if class.kind == "staffroom" {
        sqlx::query!(
            r#"select a.id as "account: AccountId", a.surname, a.given_name, a.patronymic, m.role,
                      m.position, m.verification
               from memberships m join accounts a on a.id = m.account_id
               where m.school_id = $1 and m.class_id = $2 and m.status = 'active'
                 and m.role in ('director', 'deputy', 'teacher', 'staff')
               order by a.surname collate "ru-RU-x-icu", a.given_name collate "ru-RU-x-icu", m.role"#,
            scope.school_id() as SchoolId,
            class_id as ClassId
        )
        .fetch_all(&mut *conn)
        .await?
        .into_iter()
        .map(|r| StaffRow {
            account: r.account,
            name: format::full_name(&r.surname, &r.given_name, r.patronymic.as_deref()),
            role: Role::membership_title(&r.role),
            position: r.position.unwrap_or_default(),
            verification: verification_title(r.verification.as_deref()),
        })
        .collect()
    } else {
        Vec::new()
    };
    let teaching = sqlx::query!(
        r#"select s.name, a.surname || ' ' || a.given_name || coalesce(' ' || a.patronymic, '') as "teacher!"
           from teaching_assignments t
           join subjects s on s.school_id = t.school_id and s.id = t.subject_id
           join memberships m on m.school_id = t.school_id and m.id = t.teacher_id
           join accounts a on a.id = m.account_id
           where t.school_id = $1 and t.class_id = $2
           order by s.name collate "ru-RU-x-icu""#,
        scope.school_id() as SchoolId,
        class_id as ClassId
    )
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .map(|r| TeachingRow {
        subject: r.name,
        teacher: r.teacher,
    })
    .collect();
    let students_count = Role::Student.count(students.len() as i64);
    let links = match class.kind.as_str() {
        "staffroom" => links::ClassLinks::default(),
        _ => links::for_class(&mut conn, &scope, class_id).await?,
    };
    Ok(ShowPage {
        links,
        layout: Layout::for_scope(&scope),
        school_id: scope.school_id(),
        class,
        class_teacher,
        students,
        students_count,
        staff,
        teaching,
        can_manage: scope.can(Action::ManageClasses),
        can_view_people: scope.can(Action::ViewPeople),
        can_move: scope.can(Action::RecordMovements),
    }
    .into_response())
}

async fn edit_page(
    State(state): State<AppState>,
    scope: SchoolScope,
    Path((_, class_id)): Path<(SchoolId, ClassId)>,
) -> AppResult<Response> {
    scope.require(Action::ManageClasses)?;
    let mut conn = state.db.acquire().await?;
    let class = find_class(&mut conn, scope.tenant(), class_id).await?;
    if class.kind == "staffroom" || class.archived {
        return Err(AppError::NotFound);
    }
    let form = ClassForm {
        grade: class.grade.map(|g| g.to_string()).unwrap_or_default(),
        letter: class.letter.clone().unwrap_or_default(),
        profile: class.profile.clone().unwrap_or_default(),
        notes: class.notes.clone().unwrap_or_default(),
        form_key: FormKey::default(),
    };
    form_page(
        &scope,
        Some(class_id),
        class.title,
        form,
        FormErrors::default(),
        class.year.unwrap_or_default(),
    )
}

async fn update(
    State(state): State<AppState>,
    scope: SchoolScope,
    meta: RequestMeta,
    Path((_, class_id)): Path<(SchoolId, ClassId)>,
    Form(form): Form<ClassForm>,
) -> AppResult<Response> {
    scope.require(Action::ManageClasses)?;
    let mut tx = state.db.begin().await?;
    if let Some(url) = form.form_key.seen(&mut tx, scope.actor().id()).await? {
        return Ok(once::again(&url));
    }
    let class = find_class(&mut tx, scope.tenant(), class_id).await?;
    if class.kind == "staffroom" || class.archived {
        return Err(AppError::NotFound);
    }
    let year = class.year.clone().unwrap_or_default();
    let (grade, letter) = match validate(&form) {
        Ok(v) => v,
        Err(errors) => return form_page(&scope, Some(class_id), class.title, form, errors, year),
    };
    let title = format!("{grade}{letter}");
    let updated = sqlx::query!(
        r#"update classes set grade = $3, letter = $4, title = $5, profile = $6, notes = $7
           where school_id = $1 and id = $2"#,
        scope.school_id() as SchoolId,
        class_id as ClassId,
        grade,
        letter,
        title,
        opt(&form.profile),
        opt(&form.notes)
    )
    .execute(&mut *tx)
    .await
    .on_constraint_field("classes_unique_name", "letter", CLASS_EXISTS)?;
    if let Err(errors) = updated {
        return form_page(&scope, Some(class_id), class.title, form, errors, year);
    }
    audit::in_school(
        &mut tx,
        &meta,
        &scope,
        "class.updated",
        Some(format!("class:{class_id}")),
        Some(if class.title == title {
            title
        } else {
            format!("{} → {title}", class.title)
        }),
    )
    .await?;
    let url = format!(
        "/s/{}/classes/{class_id}?done=class-saved",
        scope.school_id()
    );
    form.form_key
        .done(&mut tx, scope.actor().id(), &url)
        .await?;
    tx.commit().await?;
    Ok(Redirect::to(&url).into_response())
}

#[derive(Template, WebTemplate)]
#[template(path = "classes/delete.html")]
struct DeletePage {
    layout: Layout,
    school_id: SchoolId,
    class_id: ClassId,
    title: String,
    /// Why it cannot be deleted, if it cannot.
    blocked: Option<String>,
    form_key: FormKey,
}

/// Why a class cannot be deleted: the staff room never; a class while it has students,
/// a class teacher, or history that refers to it.
async fn delete_blocker(
    conn: &mut PgConnection,
    tenant: Tenant,
    class: &ClassInfo,
) -> sqlx::Result<Option<String>> {
    let school = tenant.id();
    if class.kind == "staffroom" {
        return Ok(Some(
            "«Учительскую» удалить нельзя: в ней собраны все сотрудники школы.".into(),
        ));
    }
    let r = sqlx::query!(
        r#"select
             (select count(*) from memberships where school_id = $1 and class_id = $2 and status = 'active') as "members!",
             (select count(*) from memberships where school_id = $1 and class_id = $2) as "ever!",
             (select count(*) from movements where school_id = $1 and (from_class_id = $2 or to_class_id = $2)) as "moves!",
             (select count(*) from class_teacher_assignments where school_id = $1 and class_id = $2) as "leads!",
             (select count(*) from teaching_assignments where school_id = $1 and class_id = $2) as "teach!""#,
        school as SchoolId,
        class.id as ClassId
    )
    .fetch_one(conn)
    .await?;
    Ok(if r.members > 0 {
        Some(format!(
            "В классе {}. Сначала переведите их или оформите выбытие.",
            Role::Student.count(r.members)
        ))
    } else if r.ever > 0 || r.moves > 0 || r.leads > 0 {
        Some("У класса есть история (ученики, движение, классное руководство): его нельзя удалить, она нужна для отчётов.".into())
    } else if r.teach > 0 {
        Some("Классу назначены учителя по предметам: сначала снимите назначения.".into())
    } else {
        None
    })
}

async fn delete_page(
    State(state): State<AppState>,
    scope: SchoolScope,
    Path((_, class_id)): Path<(SchoolId, ClassId)>,
) -> AppResult<Response> {
    scope.require(Action::ManageClasses)?;
    let mut conn = state.db.acquire().await?;
    let class = find_class(&mut conn, scope.tenant(), class_id).await?;
    let blocked = delete_blocker(&mut conn, scope.tenant(), &class).await?;
    Ok(DeletePage {
        layout: Layout::for_scope(&scope),
        school_id: scope.school_id(),
        class_id,
        title: class.title,
        blocked,
        form_key: FormKey::default(),
    }
    .into_response())
}

async fn delete(
    State(state): State<AppState>,
    scope: SchoolScope,
    meta: RequestMeta,
    Path((_, class_id)): Path<(SchoolId, ClassId)>,
    Form(form): Form<KeyOnly>,
) -> AppResult<Response> {
    scope.require(Action::ManageClasses)?;
    let mut tx = state.db.begin().await?;
    if let Some(url) = form.form_key.seen(&mut tx, scope.actor().id()).await? {
        return Ok(once::again(&url));
    }
    let class = find_class(&mut tx, scope.tenant(), class_id).await?;
    if let Some(reason) = delete_blocker(&mut tx, scope.tenant(), &class).await? {
        drop(tx);
        return Ok(DeletePage {
            layout: Layout::for_scope(&scope),
            school_id: scope.school_id(),
            class_id,
            title: class.title,
            blocked: Some(reason),
            form_key: FormKey::default(),
        }
        .into_response());
    }
    sqlx::query!(
        "delete from classes where school_id = $1 and id = $2",
        scope.school_id() as SchoolId,
        class_id as ClassId
    )
    .execute(&mut *tx)
    .await?;
    audit::in_school(
        &mut tx,
        &meta,
        &scope,
        "class.deleted",
        Some(format!("class:{class_id}")),
        Some(class.title),
    )
    .await?;
    let url = format!("/s/{}/classes", scope.school_id());
    form.form_key
        .done(&mut tx, scope.actor().id(), &url)
        .await?;
    tx.commit().await?;
    Ok(Redirect::to(&url).into_response())
}
