//! Enrolling a new student into a class: the form, possible duplicates to confirm, and
//! the enrolment under its order.

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::{chosen_class, iso, movement_failure, parse_key, recorded, recorded_before};
use crate::AppState;
use crate::auth::extract::{RequestMeta, SchoolScope};
use crate::auth::permissions::Action;
use crate::error::AppResult;
use crate::ids::SchoolId;
use crate::movements::domain::{self, Enrolment, MovementError, MovementId};
use crate::movements::{ClassOption, current_classes, opt, required_date, required_order};
use crate::people::NewPerson;
use crate::web::form::FormErrors;
use crate::web::layout::Layout;

#[derive(Debug, Default, Deserialize)]
pub(in crate::movements) struct EnrolForm {
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

#[derive(Template, WebTemplate)]
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
pub(in crate::movements) struct ClassQuery {
    #[serde(default)]
    class: String,
}

pub(in crate::movements) async fn enrol_page(
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
    Ok(EnrolPage {
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
    }
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

pub(in crate::movements) async fn enrol(
    State(state): State<AppState>,
    scope: SchoolScope,
    meta: RequestMeta,
    Form(form): Form<EnrolForm>,
) -> AppResult<Response> {
    scope.require(Action::RecordMovements)?;
    let school = scope.school_id();
    let key = parse_key(&form.key)?;
    if let Some(again) = recorded_before(&state, scope.tenant(), key).await? {
        return Ok(again);
    }
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
        Some(v) => match crate::web::form::parse_date(v) {
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
            Ok(EnrolPage {
                layout: Layout::for_scope(&scope),
                school_id: school,
                form,
                errors,
                classes: classes.clone(),
                duplicates,
            }
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
