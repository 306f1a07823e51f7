//! The year-end rollover wizard (R2.1.k). The preview is the form: the current year and
//! the next, each class with what happens to it («5А → 6А (24 ученика)», «11А → выпуск»),
//! and per student the marks «оставить на повторное обучение» and «условно переведён».
//! Applying it is one transaction ([`domain::rollover_apply`]): nothing is half-done.

use std::collections::{HashMap, HashSet};

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::domain::{self, Plan, RolloverError, RolloverId, RolloverInput};
use super::{ClassOption, opt, required_order};
use crate::AppState;
use crate::auth::extract::{RequestMeta, SchoolScope};
use crate::auth::permissions::Action;
use crate::auth::permissions::Role;
use crate::error::{AppError, AppResult};
use crate::ids::{ClassId, MembershipId, SchoolId};
use crate::web::form::FormErrors;
use crate::web::format;
use crate::web::layout::Layout;
use crate::web::once::{self, FormKey};

pub(super) struct StudentView {
    pub id: MembershipId,
    pub name: String,
    pub repeat: bool,
    pub conditional: bool,
    pub was_conditional: bool,
    pub target: String,
    pub error: Option<&'static str>,
}

pub(super) struct ClassView {
    pub title: String,
    /// «6А» or «выпуск».
    pub becomes: String,
    pub count: String,
    pub graduates: bool,
    /// Where this class's repeaters go by themselves («5А нового учебного года»).
    pub auto_target: Option<String>,
    pub open: bool,
    pub students: Vec<StudentView>,
}

/// What the administrator typed and ticked, kept across an error.
#[derive(Default)]
pub(super) struct Marks {
    /// The form's key: the rollover is sent once.
    form_key: FormKey,
    order_number: String,
    order_date: String,
    confirm: bool,
    early_confirm: bool,
    repeat: HashSet<MembershipId>,
    conditional: HashSet<MembershipId>,
    targets: HashMap<MembershipId, String>,
}

#[derive(Template, WebTemplate)]
#[template(path = "movements/rollover.html")]
struct RolloverPage {
    layout: Layout,
    school_id: SchoolId,
    from_label: String,
    to_label: String,
    to_starts: String,
    started: String,
    early: bool,
    blockers: Vec<String>,
    classes: Vec<ClassView>,
    targets: Vec<ClassOption>,
    totals: String,
    form: Marks,
    errors: FormErrors,
    student_errors: usize,
    /// Marks for students no longer on the list (someone moved them meanwhile).
    stale: bool,
    done: Option<String>,
}

fn page(
    scope: &SchoolScope,
    plan: Plan,
    form: Marks,
    errors: FormErrors,
    student_errors: HashMap<MembershipId, &'static str>,
    done: Option<String>,
) -> AppResult<Response> {
    let mut promoted = 0i64;
    let mut graduated = 0i64;
    let (mut moving_classes, mut graduating_classes) = (0i64, 0i64);
    let classes = plan
        .classes
        .iter()
        .map(|c| {
            let n = c.students.len() as i64;
            if c.graduates() {
                graduating_classes += 1;
                graduated += n;
            } else {
                moving_classes += 1;
                promoted += n;
            }
            let students: Vec<StudentView> = c
                .students
                .iter()
                .map(|s| StudentView {
                    id: s.id,
                    name: s.name.clone(),
                    repeat: form.repeat.contains(&s.id),
                    conditional: form.conditional.contains(&s.id),
                    was_conditional: s.conditional,
                    target: form.targets.get(&s.id).cloned().unwrap_or_default(),
                    error: student_errors.get(&s.id).copied(),
                })
                .collect();
            let open = students
                .iter()
                .any(|s| s.error.is_some() || s.repeat || s.conditional);
            ClassView {
                title: c.title.clone(),
                becomes: c.new_title.clone().unwrap_or_else(|| "выпуск".to_owned()),
                count: Role::Student.count(n),
                graduates: c.graduates(),
                auto_target: c.repeat_target.as_ref().map(|t| t.1.clone()),
                open,
                students,
            }
        })
        .collect();
    let listed: HashSet<MembershipId> = plan
        .classes
        .iter()
        .flat_map(|c| c.students.iter().map(|s| s.id))
        .collect();
    let stale = student_errors.keys().any(|id| !listed.contains(id));
    let totals = format!(
        "Будет переведено {} ({}), выпущено {} ({}).",
        format::count(moving_classes, "класс", "класса", "классов"),
        Role::Student.count(promoted),
        format::count(graduating_classes, "класс", "класса", "классов"),
        Role::Student.count(graduated),
    );
    Ok(RolloverPage {
        layout: Layout::for_scope(scope),
        school_id: scope.school_id(),
        from_label: plan.from_label,
        to_label: plan.to_label,
        to_starts: format::date_prose(plan.to_starts),
        started: format::date_prose(plan.from_starts),
        early: plan.early,
        blockers: plan.blockers,
        classes,
        targets: plan
            .targets
            .into_iter()
            .map(|(id, title)| ClassOption { id, title })
            .collect(),
        totals,
        form,
        errors,
        student_errors: student_errors.len(),
        stale,
        done,
    }
    .into_response())
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct DoneQuery {
    #[serde(default)]
    done: String,
}

pub(super) async fn preview(
    State(state): State<AppState>,
    scope: SchoolScope,
    Query(q): Query<DoneQuery>,
) -> AppResult<Response> {
    scope.require(Action::Rollover)?;
    let school = scope.school_id();
    let mut conn = state.db.acquire().await?;
    let done = match q.done.parse::<RolloverId>() {
        Ok(id) => sqlx::query_scalar!(
            "select summary from rollovers where school_id = $1 and id = $2",
            school as SchoolId,
            id as RolloverId
        )
        .fetch_optional(&mut *conn)
        .await?
        .flatten(),
        Err(_) => None,
    };
    let plan = domain::rollover_plan(&mut conn, scope.tenant()).await?;
    page(
        &scope,
        plan,
        Marks::default(),
        FormErrors::default(),
        HashMap::new(),
        done,
    )
}

/// Reads the form: repeated fields (`repeat`, `conditional`) and one `target_<id>` per
/// repeater whose class the administrator picks.
fn read_marks(fields: &[(String, String)]) -> AppResult<Marks> {
    let mut m = Marks::default();
    let bad = || AppError::BadRequest(crate::ru!("Форма устарела. Откройте её заново."));
    for (name, value) in fields {
        match name.as_str() {
            "form_key" => m.form_key = FormKey::parse(value),
            "order_number" => m.order_number = value.clone(),
            "order_date" => m.order_date = value.clone(),
            "confirm" => m.confirm = true,
            "early_confirm" => m.early_confirm = true,
            "repeat" => {
                m.repeat.insert(value.trim().parse().map_err(|_| bad())?);
            }
            "conditional" => {
                m.conditional
                    .insert(value.trim().parse().map_err(|_| bad())?);
            }
            other => {
                if let Some(id) = other.strip_prefix("target_") {
                    let id: MembershipId = id.parse().map_err(|_| bad())?;
                    if !value.trim().is_empty() {
                        m.targets.insert(id, value.trim().to_owned());
                    }
                }
            }
        }
    }
    Ok(m)
}

pub(super) async fn apply(
    State(state): State<AppState>,
    scope: SchoolScope,
    meta: RequestMeta,
    Form(fields): Form<Vec<(String, String)>>,
) -> AppResult<Response> {
    scope.require(Action::Rollover)?;
    let school = scope.school_id();
    let marks = read_marks(&fields)?;
    // Sent again: the first moved the year on, and the plan now is next year's.
    if let Some(url) = marks
        .form_key
        .seen_before(&state.db, scope.actor().id())
        .await?
    {
        return Ok(once::again(&url));
    }
    let mut errors = FormErrors::default();
    let order = if opt(&marks.order_number).is_some() || opt(&marks.order_date).is_some() {
        required_order(&marks.order_number, &marks.order_date, &mut errors)
    } else {
        None
    };
    if !marks.confirm {
        errors.add(
            "confirm",
            "Отметьте «Я проверил(а) список и подтверждаю перевод».",
        );
    }
    let mut student_errors: HashMap<MembershipId, &'static str> = HashMap::new();
    let mut repeat = HashMap::new();
    for id in &marks.repeat {
        let picked = match marks.targets.get(id) {
            None => None,
            Some(v) => match v.parse::<ClassId>() {
                Ok(c) => Some(c),
                Err(_) => {
                    student_errors.insert(*id, "Выберите класс из списка.");
                    None
                }
            },
        };
        repeat.insert(*id, picked);
    }
    let reload = |marks: Marks, errors, student_errors| async {
        let mut conn = state.db.acquire().await?;
        let plan = domain::rollover_plan(&mut conn, scope.tenant()).await?;
        page(&scope, plan, marks, errors, student_errors, None)
    };
    if !errors.is_empty() || !student_errors.is_empty() {
        return reload(marks, errors, student_errors).await;
    }
    let input = RolloverInput {
        order,
        repeat,
        conditional: marks.conditional.clone(),
        early_confirmed: marks.early_confirm,
    };
    let by = scope.by(&meta);
    let mut tx = state.db.begin().await?;
    if let Some(url) = marks.form_key.seen(&mut tx, scope.actor().id()).await? {
        return Ok(once::again(&url));
    }
    match domain::rollover_apply(&mut tx, &by, &input).await {
        Ok(done) => {
            let url = format!("/s/{school}/rollover?done={}", done.id);
            marks
                .form_key
                .done(&mut tx, scope.actor().id(), &url)
                .await?;
            tx.commit().await?;
            crate::db::maintenance::analyze(&state.db, crate::db::maintenance::ROLLOVER_TABLES)
                .await;
            Ok(Redirect::to(&url).into_response())
        }
        Err(RolloverError::Db(e)) => Err(e.into()),
        Err(e) => {
            drop(tx);
            let mut errors = FormErrors::default();
            let mut student_errors = HashMap::new();
            match e {
                RolloverError::Invalid {
                    unconfirmed_early,
                    marks,
                } => {
                    if unconfirmed_early {
                        errors.add(
                            "early_confirm",
                            "Учебный год начался меньше полугода назад: подтвердите, что \
                             переводите именно сейчас.",
                        );
                    }
                    student_errors = marks;
                }
                // The reasons are on the page (the plan lists them).
                RolloverError::Refused(_) | RolloverError::Db(_) => {}
            }
            reload(marks, errors, student_errors).await
        }
    }
}
