//! The database work of every movement (R2.1.k), apart from the web: enrolment, transfer,
//! a student leaving, a staff member leaving, and the year-end rollover. Each function
//! takes the caller's connection — inside the caller's transaction — so that other areas
//! (class chats kept in step with the roster) can add their own work to the same
//! transaction. Each writes its `movements` row(s) and its audit row; none commits.
//!
//! A movement's id doubles as the form's idempotency key: recording the same id twice
//! answers [`MovementError::AlreadyRecorded`] and changes nothing (SECURITY.md 18).
//!
//! A movement changes this school's memberships only (SECURITY.md 5, 35): it ends no
//! sessions and touches no account, because the person may belong to another school too;
//! roles are read per request, so the change takes effect here at once.
//!
//! One file a concern: this module holds the plumbing every movement shares (the ids, the
//! kinds, the order, claiming an id, the `movements` row and its audit row); [`students`]
//! enrols, transfers and lets students leave; [`staff`] lets staff leave once everything
//! is handed over; [`rollover`] plans and applies the year-end rollover.

mod rollover;
mod staff;
mod students;

use sqlx::PgConnection;
use time::Date;

use crate::audit::{self, Entry};
use crate::auth::tenant::Tenant;
use crate::ids::{AccountId, ClassId, MembershipId, SchoolId};
use crate::web::format;

pub use rollover::{
    MarkErrors, Plan, PlanClass, PlanStudent, RolloverDone, RolloverError, RolloverInput,
    rollover_apply, rollover_plan, year_label,
};
pub use staff::{handovers, staff_leave};
pub use students::{
    Enrolled, Enrolment, enrol, leave, parents_left_alone, possible_duplicates, transfer,
};

pub use crate::ids::{MovementId, RolloverId};

/// The kinds of movement, as stored in `movements.kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Enrolment,
    Transfer,
    Leaving,
    StaffLeaving,
    Graduation,
    Promotion,
    Repeat,
}

impl Kind {
    pub const ALL: [Kind; 7] = [
        Kind::Enrolment,
        Kind::Transfer,
        Kind::Leaving,
        Kind::StaffLeaving,
        Kind::Graduation,
        Kind::Promotion,
        Kind::Repeat,
    ];

    pub fn code(self) -> &'static str {
        match self {
            Kind::Enrolment => "enrolment",
            Kind::Transfer => "transfer",
            Kind::Leaving => "leaving",
            Kind::StaffLeaving => "staff_leaving",
            Kind::Graduation => "graduation",
            Kind::Promotion => "promotion",
            Kind::Repeat => "repeat",
        }
    }

    /// The word in the register (UI.md).
    pub fn title(self) -> &'static str {
        match self {
            Kind::Enrolment => "зачисление",
            Kind::Transfer => "перевод",
            Kind::Leaving => "выбытие",
            Kind::StaffLeaving => "выбытие сотрудника",
            Kind::Graduation => "выпуск",
            Kind::Promotion => "перевод в следующий класс",
            Kind::Repeat => "оставлен на повторное обучение",
        }
    }

    pub fn from_code(code: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.code() == code)
    }

    /// The audit log's action for one movement of this kind.
    pub fn audit_action(self) -> &'static str {
        match self {
            Kind::Enrolment => "movement.enrolment",
            Kind::Transfer => "movement.transfer",
            Kind::Leaving => "movement.leaving",
            Kind::StaffLeaving => "movement.staff_leaving",
            Kind::Graduation => "movement.graduation",
            Kind::Promotion => "movement.promotion",
            Kind::Repeat => "movement.repeat",
        }
    }
}

/// The order behind a movement: «приказ № 12-о от 01.09.2025».
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Order {
    pub number: String,
    pub date: Date,
}

impl Order {
    pub fn text(&self) -> String {
        format::order(&self.number, self.date)
    }
}

/// Who records a movement, in which school, from which request (for the audit row); made
/// only by the school scope.
pub use crate::auth::tenant::By;

/// Something that must pass to someone else before a staff member may leave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Handover {
    /// «классное руководство 5А».
    ClassLeadership { class: String },
    /// Approved platform-administrator rights.
    AdminRights,
    /// A proposal of admin rights still waiting for the director's decision.
    AdminProposal,
    /// «уроки: математика в 5А, 6Б».
    Lessons {
        subject: String,
        classes: Vec<String>,
    },
}

impl Handover {
    pub fn text(&self) -> String {
        match self {
            Handover::ClassLeadership { class } => format!("классное руководство {class}"),
            Handover::AdminRights => "права администратора платформы".to_owned(),
            Handover::AdminProposal => {
                "предложение о правах администратора платформы (ждёт решения директора)".to_owned()
            }
            Handover::Lessons { subject, classes } => {
                format!("уроки: {subject} в {}", classes.join(", "))
            }
        }
    }

    /// Where the portal's pages deal with it (relative to `/s/{school_id}`).
    pub fn page(&self) -> &'static str {
        match self {
            Handover::ClassLeadership { .. } => "/class-teachers",
            Handover::AdminRights | Handover::AdminProposal => "/admin-rights",
            Handover::Lessons { .. } => "/subjects",
        }
    }
}

/// «Сначала передайте: классное руководство 5А; права администратора платформы; уроки: …».
pub fn handover_message(items: &[Handover]) -> String {
    let parts: Vec<String> = items.iter().map(Handover::text).collect();
    format!("Сначала передайте: {}.", parts.join("; "))
}

#[derive(Debug, thiserror::Error)]
pub enum MovementError {
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    /// A movement with this id exists: the form was sent twice.
    #[error("already recorded")]
    AlreadyRecorded,
    /// No such student (or staff member) in this school.
    #[error("no such person in the school")]
    PersonNotFound,
    /// The person has already left the school.
    #[error("the person has left")]
    NotActive,
    /// No such current class in this school.
    #[error("no such class")]
    ClassNotFound,
    /// A transfer into the class the student is in.
    #[error("the same class")]
    SameClass,
    /// A staff member still leads a class, teaches, or holds admin rights.
    #[error("hand over first")]
    HandOverFirst(Vec<Handover>),
}

/// Takes the movement's id as this transaction's, or says it is already recorded. The
/// advisory lock makes two submissions of one form wait for each other. Each movement
/// function claims its id itself; a caller may claim earlier (taking it again is fine).
pub async fn claim(conn: &mut PgConnection, id: MovementId) -> Result<(), MovementError> {
    let id = id.0;
    sqlx::query!(
        "select pg_advisory_xact_lock(hashtextextended($1::text, 0))",
        id.to_string()
    )
    .execute(&mut *conn)
    .await?;
    let taken = sqlx::query_scalar!(
        r#"select exists(select 1 from movements where id = $1) as "taken!""#,
        id
    )
    .fetch_one(&mut *conn)
    .await?;
    if taken {
        Err(MovementError::AlreadyRecorded)
    } else {
        Ok(())
    }
}

/// Today in the school's own time zone.
pub async fn school_today(conn: &mut PgConnection, tenant: Tenant) -> sqlx::Result<Date> {
    let school = tenant.id();
    sqlx::query_scalar!(
        r#"select (now() at time zone timezone)::date as "today!" from schools where id = $1"#,
        school as SchoolId
    )
    .fetch_one(conn)
    .await
}

/// A class of the school's current academic year that is not archived: its title.
pub async fn current_class_title(
    conn: &mut PgConnection,
    tenant: Tenant,
    class: ClassId,
) -> sqlx::Result<Option<String>> {
    let school = tenant.id();
    sqlx::query_scalar!(
        r#"select c.title from classes c
           join academic_years y on y.school_id = c.school_id and y.id = c.academic_year_id
           where c.school_id = $1 and c.id = $2 and c.kind = 'class' and y.is_current
             and c.archived_at is null"#,
        school as SchoolId,
        class as ClassId
    )
    .fetch_optional(conn)
    .await
}

struct Row {
    kind: Kind,
    membership: MembershipId,
    from: Option<(ClassId, String)>,
    to: Option<(ClassId, String)>,
    order: Option<Order>,
    reason: Option<String>,
    on: Date,
}

async fn insert_movement(
    conn: &mut PgConnection,
    by: &By<'_>,
    id: MovementId,
    row: Row,
) -> sqlx::Result<()> {
    let (from_id, from_title) = row.from.map_or((None, None), |(i, t)| (Some(i), Some(t)));
    let (to_id, to_title) = row.to.map_or((None, None), |(i, t)| (Some(i), Some(t)));
    sqlx::query!(
        r#"insert into movements (school_id, id, kind, membership_id, from_class_id, to_class_id,
                                  from_class_title, to_class_title, order_number, order_date,
                                  reason, happened_on, recorded_by)
           values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"#,
        by.school() as SchoolId,
        id as MovementId,
        row.kind.code(),
        row.membership as MembershipId,
        from_id as Option<ClassId>,
        to_id as Option<ClassId>,
        from_title,
        to_title,
        row.order.as_ref().map(|o| o.number.as_str()),
        row.order.as_ref().map(|o| o.date),
        row.reason,
        row.on,
        by.actor() as AccountId
    )
    .execute(conn)
    .await?;
    Ok(())
}

async fn audit_movement(
    conn: &mut PgConnection,
    by: &By<'_>,
    kind: Kind,
    account: AccountId,
    details: String,
) -> sqlx::Result<()> {
    audit::record(
        conn,
        by.meta(),
        Entry {
            actor: Some(by.actor()),
            school: Some(by.school()),
            action: kind.audit_action(),
            target: Some(format!("account:{account}")),
            details: Some(details),
        },
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip() {
        for k in Kind::ALL {
            assert_eq!(Kind::from_code(k.code()), Some(k));
        }
        assert_eq!(Kind::from_code("nonsense"), None);
    }

    #[test]
    fn handover_message_lists_everything() {
        let m = handover_message(&[
            Handover::ClassLeadership {
                class: "5А".into()
            },
            Handover::AdminRights,
            Handover::Lessons {
                subject: "математика".into(),
                classes: vec!["5А".into(), "6Б".into()],
            },
        ]);
        assert_eq!(
            m,
            "Сначала передайте: классное руководство 5А; права администратора платформы; \
             уроки: математика в 5А, 6Б."
        );
    }
}
