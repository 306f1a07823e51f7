//! Export of the school's lists to CSV in the import's own columns (R2.1.k), so that an
//! export imports back as «без изменений». UTF-8 with a BOM and `;` between values: what
//! Excel in Russia opens with a double click. Every export writes an audit row (SECURITY.md
//! 26). The empty templates are the same headers.

use std::collections::HashMap;

use axum::extract::State;
use axum::response::Response;

use super::parse::{Col, Field, staff_role_title};
use crate::AppState;
use crate::audit::{self, Entry};
use crate::auth::extract::{RequestMeta, SchoolScope};
use crate::auth::permissions::Action;
use crate::auth::permissions::Role;
use crate::error::AppResult;
use crate::ids::{MembershipId, SchoolId};
use crate::web::clock::SchoolClock;
use crate::web::csv::Csv;
use crate::web::format;

/// A student list's columns, in order.
pub const STUDENT_COLUMNS: [Col; 15] = [
    Col::Class,
    Col::Person(Field::Surname),
    Col::Person(Field::Given),
    Col::Person(Field::Patronymic),
    Col::BirthDate,
    Col::Parent(1, Field::Surname),
    Col::Parent(1, Field::Given),
    Col::Parent(1, Field::Patronymic),
    Col::Parent(1, Field::Phone),
    Col::Parent(1, Field::Email),
    Col::Parent(2, Field::Surname),
    Col::Parent(2, Field::Given),
    Col::Parent(2, Field::Patronymic),
    Col::Parent(2, Field::Phone),
    Col::Parent(2, Field::Email),
];

/// A staff list's columns, in order.
pub const STAFF_COLUMNS: [Col; 7] = [
    Col::Person(Field::Surname),
    Col::Person(Field::Given),
    Col::Person(Field::Patronymic),
    Col::Role,
    Col::Position,
    Col::Person(Field::Email),
    Col::Person(Field::Phone),
];

/// «8 (912) 345-67-89»: Excel would take «+7 …» for a formula.
fn phone(stored: Option<&str>) -> String {
    stored
        .map(|p| format::phone(p).replacen("+7 ", "8 ", 1))
        .unwrap_or_default()
}

/// The CSV file: header, rows ([`crate::web::csv`]: a BOM, `;`, the formula guard, which
/// the import takes off again).
pub fn csv_bytes(columns: &[Col], rows: &[Vec<String>]) -> AppResult<Vec<u8>> {
    let mut w = Csv::new();
    w.row(columns.iter().map(|c| c.title()))?;
    for row in rows {
        w.row(row)?;
    }
    w.finish()
}

fn attachment(name: &str, body: Vec<u8>) -> Response {
    crate::web::csv::attachment(name, body)
}

pub async fn template_students(scope: SchoolScope) -> AppResult<Response> {
    scope.require(Action::ImportPeople)?;
    Ok(attachment(
        "students-template.csv",
        csv_bytes(&STUDENT_COLUMNS, &[])?,
    ))
}

pub async fn template_staff(scope: SchoolScope) -> AppResult<Response> {
    scope.require(Action::ImportPeople)?;
    Ok(attachment(
        "staff-template.csv",
        csv_bytes(&STAFF_COLUMNS, &[])?,
    ))
}

struct Parent {
    surname: String,
    given: String,
    patronymic: Option<String>,
    email: Option<String>,
    phone: Option<String>,
}

/// The school's active students with (up to two of) their parents.
pub async fn students(
    State(state): State<AppState>,
    scope: SchoolScope,
    meta: RequestMeta,
) -> AppResult<Response> {
    scope.require(Action::ImportPeople)?;
    let school = scope.school_id();
    let mut conn = state.db.acquire().await?;
    let students = sqlx::query!(
        r#"select m.id as "membership: MembershipId", c.grade as "grade!", c.letter as "letter!",
                  a.surname, a.given_name, a.patronymic, a.birth_date
           from memberships m
           join accounts a on a.id = m.account_id
           join classes c on c.school_id = m.school_id and c.id = m.class_id
           where m.school_id = $1 and m.role = 'student' and m.status = 'active'
             and c.kind = 'class'
           order by c.grade, c.letter, a.surname collate "ru-RU-x-icu",
                    a.given_name collate "ru-RU-x-icu", a.patronymic collate "ru-RU-x-icu", m.id"#,
        school as SchoolId
    )
    .fetch_all(&mut *conn)
    .await?;
    let links = sqlx::query!(
        r#"select l.child_id as "child: MembershipId", a.surname, a.given_name, a.patronymic,
                  a.email, a.phone
           from parent_links l
           join memberships pm on pm.school_id = l.school_id and pm.id = l.parent_id
           join accounts a on a.id = pm.account_id
           where l.school_id = $1 and pm.status = 'active'
           order by l.created_at, a.surname collate "ru-RU-x-icu", a.id"#,
        school as SchoolId
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut parents: HashMap<MembershipId, Vec<Parent>> = HashMap::new();
    for l in links {
        parents.entry(l.child).or_default().push(Parent {
            surname: l.surname,
            given: l.given_name,
            patronymic: l.patronymic,
            email: l.email,
            phone: l.phone,
        });
    }
    let rows: Vec<Vec<String>> = students
        .iter()
        .map(|s| {
            let mut row = vec![
                format!("{}{}", s.grade, s.letter),
                s.surname.clone(),
                s.given_name.clone(),
                s.patronymic.clone().unwrap_or_default(),
                s.birth_date.map(format::date).unwrap_or_default(),
            ];
            let mine = parents.get(&s.membership).map(Vec::as_slice).unwrap_or(&[]);
            for i in 0..2 {
                match mine.get(i) {
                    Some(p) => row.extend([
                        p.surname.clone(),
                        p.given.clone(),
                        p.patronymic.clone().unwrap_or_default(),
                        phone(p.phone.as_deref()),
                        p.email.clone().unwrap_or_default(),
                    ]),
                    None => row.extend(std::iter::repeat_n(String::new(), 5)),
                }
            }
            row
        })
        .collect();
    let body = csv_bytes(&STUDENT_COLUMNS, &rows)?;
    audit::record(
        &mut conn,
        &meta,
        Entry {
            actor: Some(scope.actor().id()),
            school: Some(school),
            action: "export.students",
            target: Some(format!("school:{school}")),
            details: Some(Role::Student.count(rows.len() as i64)),
        },
    )
    .await?;
    Ok(attachment(
        &format!("students-{}.csv", SchoolClock::of(&scope).file_date()),
        body,
    ))
}

/// The school's active staff: one row per role.
pub async fn staff(
    State(state): State<AppState>,
    scope: SchoolScope,
    meta: RequestMeta,
) -> AppResult<Response> {
    scope.require(Action::ImportPeople)?;
    let school = scope.school_id();
    let mut conn = state.db.acquire().await?;
    let staff = sqlx::query!(
        r#"select a.surname, a.given_name, a.patronymic, a.email, a.phone, m.role, m.position
           from memberships m join accounts a on a.id = m.account_id
           where m.school_id = $1 and m.status = 'active'
             and m.role in ('director', 'deputy', 'teacher', 'staff')
           order by a.surname collate "ru-RU-x-icu", a.given_name collate "ru-RU-x-icu",
                    a.patronymic collate "ru-RU-x-icu", a.id, m.role"#,
        school as SchoolId
    )
    .fetch_all(&mut *conn)
    .await?;
    let rows: Vec<Vec<String>> = staff
        .into_iter()
        .map(|s| {
            vec![
                s.surname,
                s.given_name,
                s.patronymic.unwrap_or_default(),
                staff_role_title(&s.role).to_owned(),
                s.position.unwrap_or_default(),
                s.email.unwrap_or_default(),
                phone(s.phone.as_deref()),
            ]
        })
        .collect();
    let body = csv_bytes(&STAFF_COLUMNS, &rows)?;
    audit::record(
        &mut conn,
        &meta,
        Entry {
            actor: Some(scope.actor().id()),
            school: Some(school),
            action: "export.staff",
            target: Some(format!("school:{school}")),
            details: Some(format::count(
                rows.len() as i64,
                "строка",
                "строки",
                "строк",
            )),
        },
    )
    .await?;
    Ok(attachment(
        &format!("staff-{}.csv", SchoolClock::of(&scope).file_date()),
        body,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::imports::parse::{Kind, read};

    #[test]
    fn an_export_reads_back_with_the_same_values() {
        let rows = vec![vec![
            "=Иванов".to_owned(),
            "Иван".into(),
            "".into(),
            "учитель".into(),
            "учитель; физика".into(),
            "-x@school.ru".into(),
            phone(Some("+79123456789")),
        ]];
        let bytes = csv_bytes(&STAFF_COLUMNS, &rows).unwrap();
        assert!(bytes.starts_with(b"\xEF\xBB\xBF"));
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(text.contains("'=Иванов;"), "{text}");
        assert!(text.contains("8 (912) 345-67-89"));
        let table = read(Kind::Staff, &bytes).unwrap();
        let row = &table.rows[0];
        assert_eq!(row.get(Col::Person(Field::Surname)), "=Иванов");
        assert_eq!(row.get(Col::Position), "учитель; физика");
        assert_eq!(row.get(Col::Person(Field::Email)), "-x@school.ru");
        assert!(table.ignored.is_empty());
    }
}
