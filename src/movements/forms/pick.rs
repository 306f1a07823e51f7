//! Choosing the student a form is about: a search by name and/or class, and the student's
//! card (404 for another school's student).

use askama::Template;
use askama_web::WebTemplate;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use sqlx::PgConnection;

use super::chosen_class;
use crate::auth::tenant::Tenant;
use crate::error::{AppError, AppResult};
use crate::ids::{ClassId, MembershipId, SchoolId};
use crate::movements::{ClassOption, current_classes};
use crate::web::format;

/// The student a form is about.
pub(in crate::movements) struct StudentCard {
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
pub(super) async fn require_student(
    conn: &mut PgConnection,
    tenant: Tenant,
    value: &str,
) -> AppResult<StudentCard> {
    let id: MembershipId = value.trim().parse().map_err(|_| AppError::NotFound)?;
    student_card(conn, tenant, id)
        .await?
        .ok_or(AppError::NotFound)
}

pub(in crate::movements) struct Found {
    pub id: MembershipId,
    pub name: String,
    pub class: String,
}

/// Search for a student by name and/or class: the list to pick from.
pub(in crate::movements) struct Picker {
    pub q: String,
    pub class: String,
    pub classes: Vec<ClassOption>,
    pub results: Vec<Found>,
    pub searched: bool,
    pub more: bool,
}

const PICK_LIMIT: i64 = 50;

impl Picker {
    /// The live count under the search field, read out by screen readers as one types
    /// (`role="status"`): «Найден 1 ученик», «Найдено 5 учеников», «Найдено больше 50 учеников».
    pub fn found(&self) -> String {
        found_text(self.results.len() as i64, self.more)
    }
}

fn found_text(n: i64, more: bool) -> String {
    if more {
        return format!(
            "Найдено больше {}",
            format::count(n, "ученика", "учеников", "учеников")
        );
    }
    format!(
        "{} {}",
        format::plural(n, "Найден", "Найдено", "Найдено"),
        format::count(n, "ученик", "ученика", "учеников")
    )
}

pub(super) async fn picker(
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
                      or name_key(a.surname || ' ' || a.given_name || ' '
                                  || coalesce(a.patronymic, ''))
                         like name_key($2))
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

#[derive(Template, WebTemplate)]
#[template(path = "movements/_student_results.html")]
struct Results<'a> {
    school_id: SchoolId,
    action: &'static str,
    p: &'a Picker,
}

/// The picker's results alone (`#student-results`): the answer to htmx while one types
/// in the picker; the same search without script gets the whole form page.
pub(super) fn results(tenant: Tenant, action: &'static str, p: &Picker) -> AppResult<Response> {
    Ok(Results {
        school_id: tenant.id(),
        action,
        p,
    }
    .into_response())
}

#[derive(Debug, Default, Deserialize)]
pub(in crate::movements) struct PickQuery {
    #[serde(default)]
    pub(super) student: String,
    #[serde(default)]
    pub(super) q: String,
    #[serde(default)]
    pub(super) class: String,
}

#[cfg(test)]
mod tests {
    use super::found_text;

    #[test]
    fn the_count_agrees_with_its_number() {
        assert_eq!(found_text(1, false), "Найден 1 ученик");
        assert_eq!(found_text(21, false), "Найден 21 ученик");
        assert_eq!(found_text(2, false), "Найдено 2 ученика");
        assert_eq!(found_text(11, false), "Найдено 11 учеников");
        assert_eq!(found_text(5, false), "Найдено 5 учеников");
        assert_eq!(found_text(50, true), "Найдено больше 50 учеников");
    }
}
