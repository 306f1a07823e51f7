//! Movements of students and staff, the movements register, and the year-end rollover
//! (R2.1.k). The administrator records each movement under its order (enrolment,
//! transfer between classes, a student leaving, a staff member leaving once everything
//! they hold is handed over); the leadership reads the register and exports it; at the
//! end of the year the rollover wizard moves every class up in one transaction.
//!
//! The database work lives in [`domain`], callable inside another area's transaction.

pub mod domain;
mod forms;
mod register;
mod rollover;

use sqlx::PgConnection;
use time::Date;

use crate::auth::permissions::{Access, Action};
use crate::auth::tenant::Tenant;
use crate::ids::{ClassId, SchoolId};
use crate::web::Routes;
use crate::web::form::FormErrors;

use domain::Order;

pub fn routes(r: Routes) -> Routes {
    r.get(
        "/s/{school_id}/movements",
        Access::School(Action::ViewMovements),
        register::list,
    )
    .get(
        "/s/{school_id}/movements.csv",
        Access::School(Action::ViewMovements),
        register::csv,
    )
    .get(
        "/s/{school_id}/movements/enrol",
        Access::School(Action::RecordMovements),
        forms::enrol_page,
    )
    .post(
        "/s/{school_id}/movements/enrol",
        Access::School(Action::RecordMovements),
        forms::enrol,
    )
    .get(
        "/s/{school_id}/movements/transfer",
        Access::School(Action::RecordMovements),
        forms::transfer_page,
    )
    .post(
        "/s/{school_id}/movements/transfer",
        Access::School(Action::RecordMovements),
        forms::transfer,
    )
    .get(
        "/s/{school_id}/movements/leave",
        Access::School(Action::RecordMovements),
        forms::leave_page,
    )
    .post(
        "/s/{school_id}/movements/leave",
        Access::School(Action::RecordMovements),
        forms::leave,
    )
    .get(
        "/s/{school_id}/movements/staff-leave",
        Access::School(Action::RecordMovements),
        forms::staff_leave_page,
    )
    .post(
        "/s/{school_id}/movements/staff-leave",
        Access::School(Action::RecordMovements),
        forms::staff_leave,
    )
    .get(
        "/s/{school_id}/rollover",
        Access::School(Action::Rollover),
        rollover::preview,
    )
    .post(
        "/s/{school_id}/rollover",
        Access::School(Action::Rollover),
        rollover::apply,
    )
}

/// A class to choose in a select.
#[derive(Debug, Clone)]
pub(crate) struct ClassOption {
    pub id: ClassId,
    pub title: String,
}

/// The classes of the current academic year (not archived), 1А to 11В.
async fn current_classes(
    conn: &mut PgConnection,
    tenant: Tenant,
) -> sqlx::Result<Vec<ClassOption>> {
    let school = tenant.id();
    sqlx::query_as!(
        ClassOption,
        r#"select c.id as "id: ClassId", c.title from classes c
           join academic_years y on y.school_id = c.school_id and y.id = c.academic_year_id
           where c.school_id = $1 and c.kind = 'class' and y.is_current and c.archived_at is null
           order by c.grade, c.letter"#,
        school as SchoolId
    )
    .fetch_all(conn)
    .await
}

/// Trims a text field; `None` when empty.
fn opt(s: &str) -> Option<&str> {
    Some(s.trim()).filter(|s| !s.is_empty())
}

/// A required date field («2025-09-01» or «01.09.2025»).
fn required_date(
    value: &str,
    field: &'static str,
    missing: &'static str,
    errors: &mut FormErrors,
) -> Option<Date> {
    if value.trim().is_empty() {
        errors.add(field, missing);
        return None;
    }
    match crate::web::form::parse_date(value) {
        Some(d) if (1990..=2100).contains(&d.year()) => Some(d),
        _ => {
            errors.add(field, "Дата в формате ДД.ММ.ГГГГ, например 01.09.2025.");
            None
        }
    }
}

/// The order's number and date, both required (each movement has its order).
fn required_order(number: &str, date: &str, errors: &mut FormErrors) -> Option<Order> {
    let number = number.trim();
    if number.is_empty() {
        errors.add("order_number", "Укажите номер приказа.");
    } else if number.chars().count() > 50 {
        errors.add("order_number", "Номер приказа не длиннее 50 символов.");
    }
    let date = required_date(date, "order_date", "Укажите дату приказа.", &mut *errors);
    let ok = !number.is_empty() && number.chars().count() <= 50;
    match (ok, date) {
        (true, Some(date)) => Some(Order {
            number: number.to_owned(),
            date,
        }),
        _ => None,
    }
}

/// An optional reason, at most 300 characters.
fn reason(value: &str, errors: &mut FormErrors) -> Option<String> {
    let r = opt(value)?;
    if r.chars().count() > 300 {
        errors.add("reason", "Причина не длиннее 300 символов.");
        return None;
    }
    Some(r.to_owned())
}

/// Reasons a student leaves, offered as suggestions (the field takes any text).
pub(crate) const LEAVING_REASONS: &[&str] = &[
    "перевод в другую школу",
    "смена места жительства",
    "по заявлению родителей (законных представителей)",
    "продолжение обучения в профессиональной организации",
    "получение образования в семейной форме",
];

/// Reasons a staff member leaves.
pub(crate) const STAFF_REASONS: &[&str] = &[
    "по собственному желанию",
    "по соглашению сторон",
    "перевод в другую организацию",
    "выход на пенсию",
    "истечение срока трудового договора",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_order_needs_its_number_and_date() {
        let mut e = FormErrors::default();
        assert_eq!(required_order("", "", &mut e), None);
        assert_eq!(e.get("order_number"), Some("Укажите номер приказа."));
        assert_eq!(e.get("order_date"), Some("Укажите дату приказа."));
        let mut e = FormErrors::default();
        let o = required_order(" 12-о ", "01.09.2025", &mut e);
        assert!(e.is_empty());
        assert_eq!(
            o.map(|o| o.text()).as_deref(),
            Some("приказ № 12-о от 01.09.2025")
        );
        let mut e = FormErrors::default();
        assert_eq!(required_order("1", "32.13.2025", &mut e), None);
        assert!(e.get("order_date").is_some());
    }
}
