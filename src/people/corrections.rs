//! Correcting a person's data from their card (issue 13, item 1; R2.1.k, R2.1.o): the
//! membership's data — a pupil's class placed by mistake (a correction, not a transfer: no
//! order, no movement), a staff member's role (учитель ↔ сотрудник) and position — and,
//! where the tenant rule allows, the name. Every correction is one audit row on the
//! person («было → стало» for each field), shown in the card's history.
//!
//! The tenant rule (SECURITY.md 35, `crate::offers`): the account is the person's. The
//! school corrects the name only of a person who belongs to this school alone; e-mail and
//! phone are logins, so a school never types them into an account here (that would tell
//! whether an address is someone's login) — the person changes them in «Мой профиль», or
//! the administrator sends a login link. Appointments (director, deputy) and admin rights
//! have their own procedures and are not corrected here.

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
use crate::auth::permissions::Role;
use crate::auth::permissions::{Access, Action};
use crate::error::{AppError, AppResult};
use crate::ids::{AccountId, ClassId, MembershipId, SchoolId};
use crate::web::Routes;
use crate::web::form::FormErrors;
use crate::web::layout::Layout;
use crate::web::once::{self, FormKey};

pub fn routes(r: Routes) -> Routes {
    r.get(
        "/s/{school_id}/people/{account_id}/correct",
        Access::School(Action::ManagePeople),
        page,
    )
    .post(
        "/s/{school_id}/people/{account_id}/correct",
        Access::School(Action::ManagePeople),
        correct,
    )
}

/// The staff roles a correction may swap between.
const STAFF_ROLES: &[(&str, &str)] = &[("teacher", "учитель"), ("staff", "сотрудник")];

#[derive(Deserialize, Default)]
struct CorrectForm {
    #[serde(default)]
    form_key: FormKey,
    #[serde(default)]
    surname: String,
    #[serde(default)]
    given_name: String,
    #[serde(default)]
    patronymic: String,
    /// The pupil's class (empty: no student membership).
    #[serde(default)]
    class_id: String,
    /// The staff membership's role, `teacher` or `staff`.
    #[serde(default)]
    role: String,
    #[serde(default)]
    position: String,
}

/// What is now stored, to compare the form with.
struct Current {
    name: String,
    surname: String,
    given_name: String,
    patronymic: Option<String>,
    only_here: bool,
    student: Option<(MembershipId, Option<ClassId>, Option<String>)>,
    staff: Option<(MembershipId, String, Option<String>)>,
}

async fn current(
    conn: &mut PgConnection,
    scope: &SchoolScope,
    account: AccountId,
) -> AppResult<Current> {
    let school = scope.school_id();
    let a = sqlx::query!(
        r#"select surname, given_name, patronymic,
                  not exists(select 1 from memberships o where o.account_id = a.id
                             and o.school_id <> $2) as "only_here!"
           from accounts a
           where a.id = $1 and a.deactivated_at is null
             and exists(select 1 from memberships m where m.school_id = $2 and m.account_id = a.id)"#,
        account as AccountId,
        school as SchoolId
    )
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(AppError::NotFound)?;
    let student = sqlx::query!(
        r#"select m.id as "id: MembershipId", m.class_id as "class_id?: ClassId", c.title as "title?"
           from memberships m left join classes c on c.school_id = m.school_id and c.id = m.class_id
           where m.school_id = $1 and m.account_id = $2 and m.role = 'student' and m.status = 'active'"#,
        school as SchoolId,
        account as AccountId
    )
    .fetch_optional(&mut *conn)
    .await?
    .map(|r| (r.id, r.class_id, r.title));
    let staff = sqlx::query!(
        r#"select id as "id: MembershipId", role, position from memberships
           where school_id = $1 and account_id = $2 and role in ('teacher', 'staff')
             and status = 'active'
           order by role limit 1"#,
        school as SchoolId,
        account as AccountId
    )
    .fetch_optional(&mut *conn)
    .await?
    .map(|r| (r.id, r.role, r.position));
    Ok(Current {
        name: crate::web::format::full_name(&a.surname, &a.given_name, a.patronymic.as_deref()),
        surname: a.surname,
        given_name: a.given_name,
        patronymic: a.patronymic,
        only_here: a.only_here,
        student,
        staff,
    })
}

/// The current year's live classes, for the pupil's class.
async fn classes(
    conn: &mut PgConnection,
    scope: &SchoolScope,
) -> sqlx::Result<Vec<(ClassId, String)>> {
    Ok(sqlx::query!(
        r#"select c.id as "id: ClassId", c.title from classes c
           join academic_years y on y.school_id = c.school_id and y.id = c.academic_year_id
           where c.school_id = $1 and c.kind = 'class' and c.archived_at is null and y.is_current
           order by c.grade, c.letter"#,
        scope.school_id() as SchoolId
    )
    .fetch_all(conn)
    .await?
    .into_iter()
    .map(|r| (r.id, r.title))
    .collect())
}

#[derive(Template, WebTemplate)]
#[template(path = "people/correct.html")]
struct CorrectPage {
    layout: Layout,
    school_id: SchoolId,
    account_id: AccountId,
    name: String,
    only_here: bool,
    is_student: bool,
    is_staff: bool,
    classes: Vec<(ClassId, String)>,
    staff_roles: &'static [(&'static str, &'static str)],
    form: CorrectForm,
    errors: FormErrors,
}

async fn show(
    conn: &mut PgConnection,
    scope: &SchoolScope,
    account: AccountId,
    now: &Current,
    form: CorrectForm,
    errors: FormErrors,
) -> AppResult<Response> {
    Ok(CorrectPage {
        layout: Layout::for_scope(scope),
        school_id: scope.school_id(),
        account_id: account,
        name: now.name.clone(),
        only_here: now.only_here,
        is_student: now.student.is_some(),
        is_staff: now.staff.is_some(),
        classes: classes(conn, scope).await?,
        staff_roles: STAFF_ROLES,
        form,
        errors,
    }
    .into_response())
}

async fn page(
    State(state): State<AppState>,
    scope: SchoolScope,
    Path((_, account)): Path<(SchoolId, AccountId)>,
) -> AppResult<Response> {
    scope.require(Action::ManagePeople)?;
    let mut conn = state.db.acquire().await?;
    let now = current(&mut conn, &scope, account).await?;
    let form = CorrectForm {
        surname: now.surname.clone(),
        given_name: now.given_name.clone(),
        patronymic: now.patronymic.clone().unwrap_or_default(),
        class_id: now
            .student
            .as_ref()
            .and_then(|s| s.1)
            .map(|c| c.to_string())
            .unwrap_or_default(),
        role: now.staff.as_ref().map(|s| s.1.clone()).unwrap_or_default(),
        position: now
            .staff
            .as_ref()
            .and_then(|s| s.2.clone())
            .unwrap_or_default(),
        ..CorrectForm::default()
    };
    show(
        &mut conn,
        &scope,
        account,
        &now,
        form,
        FormErrors::default(),
    )
    .await
}

/// «поле: было → стало», «—» for nothing.
fn change(field: &str, was: Option<&str>, now: Option<&str>) -> Option<String> {
    (was != now).then(|| format!("{field}: {} → {}", was.unwrap_or("—"), now.unwrap_or("—")))
}

async fn correct(
    State(state): State<AppState>,
    scope: SchoolScope,
    meta: RequestMeta,
    Path((_, account)): Path<(SchoolId, AccountId)>,
    Form(form): Form<CorrectForm>,
) -> AppResult<Response> {
    scope.require(Action::ManagePeople)?;
    let school = scope.school_id();
    let card = format!("/s/{school}/people/{account}?done=corrected");
    let mut tx = state.db.begin().await?;
    if let Some(url) = form.form_key.seen(&mut tx, scope.actor().id()).await? {
        return Ok(once::again(&url));
    }
    let now = current(&mut tx, &scope, account).await?;
    let mut errors = FormErrors::default();
    let surname = form.surname.trim();
    let given = form.given_name.trim();
    let patronymic = Some(form.patronymic.trim()).filter(|p| !p.is_empty());
    let name_changed = surname != now.surname
        || given != now.given_name
        || patronymic != now.patronymic.as_deref();
    if name_changed && !now.only_here {
        errors.add(
            "surname",
            "Человек состоит и в другой школе: имя он исправляет сам, в «Моём профиле».",
        );
    }
    if surname.is_empty() {
        errors.add("surname", "Укажите фамилию.");
    }
    if given.is_empty() {
        errors.add("given_name", "Укажите имя.");
    }
    for (field, value) in [
        ("surname", surname),
        ("given_name", given),
        ("patronymic", patronymic.unwrap_or("")),
    ] {
        if value.chars().count() > 100 {
            errors.add(field, "Слишком длинно: не больше 100 знаков.");
        }
    }
    let mut new_class: Option<(ClassId, String)> = None;
    if let Some((_, class, _)) = &now.student {
        let wanted = form.class_id.trim();
        if wanted != class.map(|c| c.to_string()).unwrap_or_default() {
            let found = match wanted.parse::<ClassId>() {
                Ok(id) => classes(&mut tx, &scope)
                    .await?
                    .into_iter()
                    .find(|(c, _)| *c == id),
                Err(_) => None,
            };
            match found {
                Some(c) => new_class = Some(c),
                None => errors.add("class_id", "Выберите класс из списка."),
            }
        }
    }
    let position = form.position.trim();
    if let Some((_, role, _)) = &now.staff {
        if form.role != *role && !STAFF_ROLES.iter().any(|(r, _)| *r == form.role) {
            errors.add("role", "Выберите роль из списка.");
        }
        if position.chars().count() > 200 {
            errors.add("position", "Слишком длинно: не больше 200 знаков.");
        }
    }
    if !errors.is_empty() {
        return show(&mut tx, &scope, account, &now, form, errors).await;
    }

    let mut changes: Vec<String> = Vec::new();
    if name_changed {
        changes.extend(change("фамилия", Some(&now.surname), Some(surname)));
        changes.extend(change("имя", Some(&now.given_name), Some(given)));
        changes.extend(change("отчество", now.patronymic.as_deref(), patronymic));
        sqlx::query!(
            "update accounts set surname = $2, given_name = $3, patronymic = $4 where id = $1",
            account as AccountId,
            surname,
            given,
            patronymic
        )
        .execute(&mut *tx)
        .await?;
    }
    if let (Some((m, _, was)), Some((class, title))) = (&now.student, &new_class) {
        changes.extend(change("класс", was.as_deref(), Some(title)));
        sqlx::query!(
            "update memberships set class_id = $3 where school_id = $1 and id = $2",
            school as SchoolId,
            *m as MembershipId,
            *class as ClassId
        )
        .execute(&mut *tx)
        .await?;
        crate::chats::sync::sync_people(&mut tx, &meta, scope.tenant(), scope.actor().id(), &[*m])
            .await?;
    }
    if let Some((m, role, was_position)) = &now.staff {
        let new_position = Some(position).filter(|p| !p.is_empty());
        if form.role != *role {
            let moved = sqlx::query!(
                r#"update memberships set role = $3 where school_id = $1 and id = $2
                   and not exists(select 1 from memberships o where o.school_id = $1
                                  and o.account_id = $4 and o.role = $3)"#,
                school as SchoolId,
                *m as MembershipId,
                form.role,
                account as AccountId
            )
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if moved == 0 {
                let mut errors = FormErrors::default();
                errors.add("role", "У человека уже есть эта роль в школе.");
                return show(&mut tx, &scope, account, &now, form, errors).await;
            }
            changes.extend(change(
                "роль",
                Some(Role::membership_title(role)),
                Some(Role::membership_title(&form.role)),
            ));
        }
        if new_position != was_position.as_deref() {
            changes.extend(change("должность", was_position.as_deref(), new_position));
            sqlx::query!(
                "update memberships set position = $3 where school_id = $1 and id = $2",
                school as SchoolId,
                *m as MembershipId,
                new_position
            )
            .execute(&mut *tx)
            .await?;
        }
    }
    if !changes.is_empty() {
        audit::in_school(
            &mut tx,
            &meta,
            &scope,
            "people.corrected",
            Some(format!("account:{account}")),
            Some(changes.join("; ")),
        )
        .await?;
    }
    form.form_key
        .done(&mut tx, scope.actor().id(), &card)
        .await?;
    tx.commit().await?;
    Ok(Redirect::to(&card).into_response())
}
