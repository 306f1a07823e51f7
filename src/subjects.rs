//! Subjects of the curriculum and extracurricular activities (R1.5), and who teaches which
//! subject in which class. Later, subject chats refer to these.

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use crate::AppState;
use crate::audit;
use crate::auth::extract::{RequestMeta, SchoolScope};
use crate::auth::permissions::{Access, Action};
use crate::classes::current_year;
use crate::error::{AppError, AppResult};
use crate::ids::{AcademicYearId, AssignmentId, ClassId, MembershipId, SchoolId, SubjectId};
use crate::web::Routes;
use crate::web::form::FormErrors;
use crate::web::format;
use crate::web::layout::Layout;
use crate::web::once::{self, FormKey};
use crate::web::unique::OnConstraint;

pub fn routes(r: Routes) -> Routes {
    r.get(
        "/s/{school_id}/subjects",
        Access::School(Action::ViewSubjects),
        list,
    )
    .post(
        "/s/{school_id}/subjects",
        Access::School(Action::ManageSubjects),
        create,
    )
    .post(
        "/s/{school_id}/subjects/{subject_id}/archive",
        Access::School(Action::ManageSubjects),
        archive,
    )
    .post(
        "/s/{school_id}/subjects/{subject_id}/teaching",
        Access::School(Action::ManageSubjects),
        assign,
    )
    .post(
        "/s/{school_id}/teaching/{assignment_id}/delete",
        Access::School(Action::ManageSubjects),
        unassign,
    )
}

struct Assignment {
    id: AssignmentId,
    class: String,
    teacher: String,
}

struct SubjectRow {
    id: SubjectId,
    name: String,
    activity: bool,
    assignments: Vec<Assignment>,
}

struct Choice {
    id: String,
    label: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "subjects/list.html")]
struct ListPage {
    layout: Layout,
    school_id: SchoolId,
    subjects: Vec<SubjectRow>,
    classes: Vec<Choice>,
    teachers: Vec<Choice>,
    can_manage: bool,
    form: SubjectForm,
    errors: FormErrors,
    message: Option<&'static str>,
}

#[derive(Deserialize, Default)]
struct SubjectForm {
    #[serde(default)]
    form_key: FormKey,
    #[serde(default)]
    name: String,
    #[serde(default)]
    kind: String,
}

async fn page(
    state: &AppState,
    scope: &SchoolScope,
    form: SubjectForm,
    errors: FormErrors,
    message: Option<&'static str>,
) -> AppResult<Response> {
    let school = scope.school_id();
    let mut conn = state.db.acquire().await?;
    let (year_id, _) = current_year(&mut conn, scope.tenant()).await?;
    let mut subjects: Vec<SubjectRow> = sqlx::query!(
        r#"select id, name, kind from subjects where school_id = $1 and archived_at is null
           order by kind desc, name collate "ru-RU-x-icu""#,
        school as SchoolId
    )
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .map(|r| SubjectRow {
        id: SubjectId(r.id),
        name: r.name,
        activity: r.kind == "activity",
        assignments: Vec::new(),
    })
    .collect();
    let assignments = sqlx::query!(
        r#"select t.id, t.subject_id, c.title,
                  a.surname || ' ' || a.given_name || coalesce(' ' || a.patronymic, '') as "teacher!"
           from teaching_assignments t
           join classes c on c.school_id = t.school_id and c.id = t.class_id
           join memberships m on m.school_id = t.school_id and m.id = t.teacher_id
           join accounts a on a.id = m.account_id
           where t.school_id = $1 and c.archived_at is null
           order by c.grade, c.letter, a.surname"#,
        school as SchoolId
    )
    .fetch_all(&mut *conn)
    .await?;
    for a in assignments {
        if let Some(s) = subjects.iter_mut().find(|s| s.id.0 == a.subject_id) {
            s.assignments.push(Assignment {
                id: AssignmentId(a.id),
                class: a.title,
                teacher: a.teacher,
            });
        }
    }
    let classes = sqlx::query!(
        r#"select id as "id: ClassId", title from classes
           where school_id = $1 and kind = 'class' and academic_year_id = $2 and archived_at is null
           order by grade, letter"#,
        school as SchoolId,
        year_id as AcademicYearId
    )
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .map(|r| Choice {
        id: r.id.to_string(),
        label: r.title,
    })
    .collect();
    let teachers = sqlx::query!(
        r#"select m.id as "id: MembershipId", a.surname, a.given_name, a.patronymic
           from memberships m join accounts a on a.id = m.account_id
           where m.school_id = $1 and m.role in ('teacher', 'deputy', 'director') and m.status = 'active'
           order by a.surname collate "ru-RU-x-icu", a.given_name collate "ru-RU-x-icu""#,
        school as SchoolId
    )
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .map(|r| Choice {
        id: r.id.to_string(),
        label: format::full_name(&r.surname, &r.given_name, r.patronymic.as_deref()),
    })
    .collect();
    Ok(ListPage {
        layout: Layout::for_scope(scope),
        school_id: school,
        subjects,
        classes,
        teachers,
        can_manage: scope.can(Action::ManageSubjects),
        form,
        errors,
        message,
    }
    .into_response())
}

async fn list(State(state): State<AppState>, scope: SchoolScope) -> AppResult<Response> {
    scope.require(Action::ViewSubjects)?;
    page(
        &state,
        &scope,
        SubjectForm::default(),
        FormErrors::default(),
        None,
    )
    .await
}

async fn create(
    State(state): State<AppState>,
    scope: SchoolScope,
    meta: RequestMeta,
    Form(form): Form<SubjectForm>,
) -> AppResult<Response> {
    scope.require(Action::ManageSubjects)?;
    let mut errors = FormErrors::default();
    let name = form.name.trim().to_owned();
    if name.is_empty() || name.chars().count() > 200 {
        errors.add("name", "Укажите название (до 200 символов).");
    }
    if !["subject", "activity"].contains(&form.kind.as_str()) {
        errors.add(
            "kind",
            "Выберите: учебный предмет или внеурочная деятельность.",
        );
    }
    if !errors.is_empty() {
        return page(&state, &scope, form, errors, None).await;
    }
    let mut tx = state.db.begin().await?;
    if let Some(url) = form.form_key.seen(&mut tx, scope.actor().id()).await? {
        return Ok(once::again(&url));
    }
    let id = SubjectId::new();
    let inserted = sqlx::query!(
        "insert into subjects (school_id, id, kind, name) values ($1, $2, $3, $4)",
        scope.school_id() as SchoolId,
        id as SubjectId,
        form.kind,
        name
    )
    .execute(&mut *tx)
    .await
    .on_constraint_field("subjects_unique_name", "name", "Такой предмет уже есть.")?;
    if let Err(errors) = inserted {
        drop(tx);
        return page(&state, &scope, form, errors, None).await;
    }
    audit::in_school(
        &mut tx,
        &meta,
        &scope,
        "subject.created",
        Some(format!("subject:{id}")),
        Some(name),
    )
    .await?;
    let url = format!("/s/{}/subjects", scope.school_id());
    form.form_key
        .done(&mut tx, scope.actor().id(), &url)
        .await?;
    tx.commit().await?;
    Ok(Redirect::to(&url).into_response())
}

#[derive(Deserialize, Default)]
struct ConfirmForm {
    #[serde(default)]
    confirm: String,
}

async fn archive(
    State(state): State<AppState>,
    scope: SchoolScope,
    meta: RequestMeta,
    Path((_, subject)): Path<(SchoolId, SubjectId)>,
    Form(form): Form<ConfirmForm>,
) -> AppResult<Response> {
    scope.require(Action::ManageSubjects)?;
    if form.confirm != "yes" {
        return page(
            &state,
            &scope,
            SubjectForm::default(),
            FormErrors::default(),
            Some("Отметьте «Подтверждаю», чтобы убрать предмет в архив."),
        )
        .await;
    }
    let mut tx = state.db.begin().await?;
    let name = sqlx::query_scalar!(
        "update subjects set archived_at = now() where school_id = $1 and id = $2 and archived_at is null returning name",
        scope.school_id() as SchoolId,
        subject as SubjectId
    )
    .fetch_optional(&mut *tx)
    .await?;
    let Some(name) = name else {
        // Sent twice: the first archived it; another school's subject stays not found.
        let archived = sqlx::query_scalar!(
            r#"select exists(select 1 from subjects where school_id = $1 and id = $2) as "e!""#,
            scope.school_id() as SchoolId,
            subject as SubjectId
        )
        .fetch_one(&mut *tx)
        .await?;
        if !archived {
            return Err(AppError::NotFound);
        }
        // The first submit's answer: the list, where the subject shows as archived.
        drop(tx);
        return Ok(Redirect::to(&format!("/s/{}/subjects", scope.school_id())).into_response());
    };
    audit::in_school(
        &mut tx,
        &meta,
        &scope,
        "subject.archived",
        Some(format!("subject:{subject}")),
        Some(name),
    )
    .await?;
    tx.commit().await?;
    Ok(Redirect::to(&format!("/s/{}/subjects", scope.school_id())).into_response())
}

#[derive(Deserialize, Default)]
struct AssignForm {
    #[serde(default)]
    class: String,
    #[serde(default)]
    teacher: String,
}

async fn assign(
    State(state): State<AppState>,
    scope: SchoolScope,
    meta: RequestMeta,
    Path((_, subject)): Path<(SchoolId, SubjectId)>,
    Form(form): Form<AssignForm>,
) -> AppResult<Response> {
    scope.require(Action::ManageSubjects)?;
    let school = scope.school_id();
    let class: Option<ClassId> = form.class.parse().ok();
    let teacher: Option<MembershipId> = form.teacher.parse().ok();
    let (Some(class), Some(teacher)) = (class, teacher) else {
        return page(
            &state,
            &scope,
            SubjectForm::default(),
            FormErrors::default(),
            Some("Выберите класс и учителя."),
        )
        .await;
    };
    let mut tx = state.db.begin().await?;
    // All three must be this school's: the foreign keys include school_id, so another
    // school's ids fail here; check first to answer 404 rather than 500.
    let ok: bool = sqlx::query_scalar!(
        r#"select exists(select 1 from subjects where school_id = $1 and id = $2 and archived_at is null)
              and exists(select 1 from classes where school_id = $1 and id = $3 and kind = 'class')
              and exists(select 1 from memberships where school_id = $1 and id = $4 and status = 'active'
                         and role in ('teacher', 'deputy', 'director')) as "ok!""#,
        school as SchoolId,
        subject as SubjectId,
        class as ClassId,
        teacher as MembershipId
    )
    .fetch_one(&mut *tx)
    .await?;
    if !ok {
        return Err(AppError::NotFound);
    }
    let added = sqlx::query!(
        r#"insert into teaching_assignments (school_id, id, subject_id, class_id, teacher_id)
           values ($1, $2, $3, $4, $5) on conflict do nothing"#,
        school as SchoolId,
        AssignmentId::new() as AssignmentId,
        subject as SubjectId,
        class as ClassId,
        teacher as MembershipId
    )
    .execute(&mut *tx)
    .await?
    .rows_affected();
    // Sent again: the unique rule kept the one assignment; nothing more to record.
    if added == 0 {
        return Ok(Redirect::to(&format!("/s/{school}/subjects")).into_response());
    }
    let who = sqlx::query_scalar!(
        r#"select 'класс ' || c.title || ', учитель ' || a.surname || ' ' || a.given_name
                  || coalesce(' ' || a.patronymic, '') as "who!"
           from classes c, memberships m join accounts a on a.id = m.account_id
           where c.school_id = $1 and c.id = $2 and m.school_id = $1 and m.id = $3"#,
        school as SchoolId,
        class as ClassId,
        teacher as MembershipId
    )
    .fetch_optional(&mut *tx)
    .await?;
    audit::in_school(
        &mut tx,
        &meta,
        &scope,
        "teaching.assigned",
        Some(format!("subject:{subject}")),
        who,
    )
    .await?;
    tx.commit().await?;
    Ok(Redirect::to(&format!("/s/{school}/subjects")).into_response())
}

async fn unassign(
    State(state): State<AppState>,
    scope: SchoolScope,
    meta: RequestMeta,
    Path((_, assignment)): Path<(SchoolId, AssignmentId)>,
) -> AppResult<Response> {
    scope.require(Action::ManageSubjects)?;
    let mut tx = state.db.begin().await?;
    let done = sqlx::query!(
        "delete from teaching_assignments where school_id = $1 and id = $2",
        scope.school_id() as SchoolId,
        assignment as AssignmentId
    )
    .execute(&mut *tx)
    .await?;
    // Already gone (the same form sent again, or Back): nothing to do, the same place.
    if done.rows_affected() == 0 {
        return Ok(Redirect::to(&format!("/s/{}/subjects", scope.school_id())).into_response());
    }
    audit::in_school(
        &mut tx,
        &meta,
        &scope,
        "teaching.removed",
        Some(format!("teaching:{assignment}")),
        None,
    )
    .await?;
    tx.commit().await?;
    Ok(Redirect::to(&format!("/s/{}/subjects", scope.school_id())).into_response())
}
