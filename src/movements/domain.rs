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

use std::collections::{HashMap, HashSet};
use std::fmt;

use serde::{Deserialize, Serialize};
use sqlx::PgConnection;
use time::{Date, Month};
use uuid::Uuid;

use crate::audit::{self, Entry};
use crate::auth::tenant::Tenant;
use crate::ids::{AcademicYearId, AccountId, ClassId, MembershipId, SchoolId};
use crate::people::{self, NewPerson};
use crate::web::format;

macro_rules! local_id {
    ($($name:ident),*) => {$(
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, sqlx::Type)]
        #[sqlx(transparent)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl std::str::FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s.trim()).map(Self)
            }
        }
    )*};
}

local_id!(MovementId, RolloverId);

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
    id: Uuid,
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
        id,
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

// ---- enrolment ------------------------------------------------------------------------

/// A new student to enrol.
pub struct Enrolment {
    pub person: NewPerson,
    pub class: ClassId,
    pub order: Order,
    pub on: Date,
}

pub struct Enrolled {
    pub account: AccountId,
    pub membership: MembershipId,
}

/// Active students of the school with this name (and birth date, where both are known):
/// «Иванов Иван Иванович (5А)».
pub async fn possible_duplicates(
    conn: &mut PgConnection,
    tenant: Tenant,
    p: &NewPerson,
) -> sqlx::Result<Vec<String>> {
    let school = tenant.id();
    let rows = sqlx::query!(
        r#"select a.surname, a.given_name, a.patronymic, c.title as "class?"
           from memberships m join accounts a on a.id = m.account_id
           left join classes c on c.school_id = m.school_id and c.id = m.class_id
           where m.school_id = $1 and m.role = 'student' and m.status <> 'left'
             and lower(a.surname) = lower($2) and lower(a.given_name) = lower($3)
             and lower(coalesce(a.patronymic, '')) = lower($4)
             and ($5::date is null or a.birth_date is null or a.birth_date = $5)
           order by c.title"#,
        school as SchoolId,
        p.surname.trim(),
        p.given_name.trim(),
        p.patronymic.as_deref().unwrap_or("").trim(),
        p.birth_date
    )
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let name = format::full_name(&r.surname, &r.given_name, r.patronymic.as_deref());
            match r.class {
                Some(c) => format!("{name} ({c})"),
                None => name,
            }
        })
        .collect())
}

/// Creates the student's account and membership in `class` and records the enrolment.
pub async fn enrol(
    conn: &mut PgConnection,
    by: &By<'_>,
    id: MovementId,
    e: &Enrolment,
) -> Result<Enrolled, MovementError> {
    claim(conn, id).await?;
    let class_title = current_class_title(conn, by.tenant(), e.class)
        .await?
        .ok_or(MovementError::ClassNotFound)?;
    let account = people::create_account(conn, &e.person).await?;
    let membership = people::enrol_student(conn, by.tenant(), account, e.class).await?;
    let details = format!("{class_title}, {}", e.order.text());
    insert_movement(
        conn,
        by,
        id.0,
        Row {
            kind: Kind::Enrolment,
            membership,
            from: None,
            to: Some((e.class, class_title)),
            order: Some(e.order.clone()),
            reason: None,
            on: e.on,
        },
    )
    .await?;
    audit_movement(conn, by, Kind::Enrolment, account, details).await?;
    crate::chats::sync::sync_people(conn, by.meta(), by.tenant(), by.actor(), &[membership.0])
        .await?;
    Ok(Enrolled {
        account,
        membership,
    })
}

// ---- students -------------------------------------------------------------------------

/// A student of the school, locked for the rest of the transaction.
struct LockedStudent {
    account: AccountId,
    class: Option<(ClassId, String)>,
}

async fn lock_student(
    conn: &mut PgConnection,
    tenant: Tenant,
    student: MembershipId,
) -> Result<LockedStudent, MovementError> {
    let school = tenant.id();
    let row = sqlx::query!(
        r#"select m.account_id as "account: AccountId", m.status,
                  m.class_id as "class_id?: ClassId", c.title as "title?"
           from memberships m
           left join classes c on c.school_id = m.school_id and c.id = m.class_id
           where m.school_id = $1 and m.id = $2 and m.role = 'student'
           for update of m"#,
        school as SchoolId,
        student as MembershipId
    )
    .fetch_optional(conn)
    .await?
    .ok_or(MovementError::PersonNotFound)?;
    if row.status == "left" {
        return Err(MovementError::NotActive);
    }
    Ok(LockedStudent {
        account: row.account,
        class: row.class_id.zip(row.title),
    })
}

/// Moves a student to another class of the current year.
pub async fn transfer(
    conn: &mut PgConnection,
    by: &By<'_>,
    id: MovementId,
    student: MembershipId,
    to: ClassId,
    order: &Order,
    on: Date,
) -> Result<(), MovementError> {
    claim(conn, id).await?;
    let s = lock_student(conn, by.tenant(), student).await?;
    let to_title = current_class_title(conn, by.tenant(), to)
        .await?
        .ok_or(MovementError::ClassNotFound)?;
    if s.class.as_ref().map(|c| c.0) == Some(to) {
        return Err(MovementError::SameClass);
    }
    sqlx::query!(
        "update memberships set class_id = $3 where school_id = $1 and id = $2",
        by.school() as SchoolId,
        student as MembershipId,
        to as ClassId
    )
    .execute(&mut *conn)
    .await?;
    let from_title = s.class.as_ref().map_or("—", |c| c.1.as_str()).to_owned();
    let details = format!("{from_title} → {to_title}, {}", order.text());
    insert_movement(
        conn,
        by,
        id.0,
        Row {
            kind: Kind::Transfer,
            membership: student,
            from: s.class,
            to: Some((to, to_title)),
            order: Some(order.clone()),
            reason: None,
            on,
        },
    )
    .await?;
    audit_movement(conn, by, Kind::Transfer, s.account, details).await?;
    crate::chats::sync::sync_people(conn, by.meta(), by.tenant(), by.actor(), &[student.0]).await?;
    Ok(())
}

/// The parents (законные представители) of `student` who have no other child in the
/// school: «Фамилия Имя Отчество». They leave with the student.
pub async fn parents_left_alone(
    conn: &mut PgConnection,
    tenant: Tenant,
    student: MembershipId,
) -> sqlx::Result<Vec<String>> {
    let school = tenant.id();
    let rows = sqlx::query!(
        r#"select a.surname, a.given_name, a.patronymic
           from memberships p join accounts a on a.id = p.account_id
           where p.school_id = $1 and p.role = 'parent' and p.status <> 'left'
             and exists(select 1 from parent_links l
                        where l.school_id = p.school_id and l.parent_id = p.id and l.child_id = $2)
             and not exists(select 1 from parent_links l
                            join memberships c on c.school_id = l.school_id and c.id = l.child_id
                            where l.school_id = p.school_id and l.parent_id = p.id
                              and c.id <> $2 and c.status <> 'left')
           order by a.surname collate "ru-RU-x-icu", a.given_name collate "ru-RU-x-icu""#,
        school as SchoolId,
        student as MembershipId
    )
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| format::full_name(&r.surname, &r.given_name, r.patronymic.as_deref()))
        .collect())
}

/// Marks as left every parent of these children whose every child has left; their audit
/// rows name the reason. Returns the parents' accounts.
async fn release_parents(
    conn: &mut PgConnection,
    by: &By<'_>,
    children: &[Uuid],
    audit_each: bool,
) -> sqlx::Result<Vec<Uuid>> {
    let rows = sqlx::query!(
        r#"update memberships p set status = 'left', left_at = now()
           where p.school_id = $1 and p.role = 'parent' and p.status <> 'left'
             and exists(select 1 from parent_links l
                        where l.school_id = p.school_id and l.parent_id = p.id
                          and l.child_id = any($2))
             and not exists(select 1 from parent_links l
                            join memberships c on c.school_id = l.school_id and c.id = l.child_id
                            where l.school_id = p.school_id and l.parent_id = p.id
                              and c.status <> 'left')
           returning p.account_id"#,
        by.school() as SchoolId,
        children
    )
    .fetch_all(&mut *conn)
    .await?;
    let accounts: Vec<Uuid> = rows.into_iter().map(|r| r.account_id).collect();
    if audit_each {
        for account in &accounts {
            audit::record(
                conn,
                by.meta(),
                Entry {
                    actor: Some(by.actor()),
                    school: Some(by.school()),
                    action: "membership.parent_left",
                    target: Some(format!("account:{account}")),
                    details: Some("все дети выбыли из школы".to_owned()),
                },
            )
            .await?;
        }
    }
    Ok(accounts)
}

/// A student leaves the school. Parent links stay (history); a parent whose every child
/// has left leaves too. Returns those parents' names.
pub async fn leave(
    conn: &mut PgConnection,
    by: &By<'_>,
    id: MovementId,
    student: MembershipId,
    order: &Order,
    on: Date,
    reason: Option<&str>,
) -> Result<Vec<String>, MovementError> {
    claim(conn, id).await?;
    let s = lock_student(conn, by.tenant(), student).await?;
    let parents = parents_left_alone(conn, by.tenant(), student).await?;
    sqlx::query!(
        "update memberships set status = 'left', left_at = now() where school_id = $1 and id = $2",
        by.school() as SchoolId,
        student as MembershipId
    )
    .execute(&mut *conn)
    .await?;
    release_parents(conn, by, &[student.0], true).await?;
    let mut details = format!(
        "из {}, {}",
        s.class.as_ref().map_or("—", |c| c.1.as_str()),
        order.text()
    );
    if let Some(r) = reason {
        details.push_str(&format!(", причина: {r}"));
    }
    insert_movement(
        conn,
        by,
        id.0,
        Row {
            kind: Kind::Leaving,
            membership: student,
            from: s.class,
            to: None,
            order: Some(order.clone()),
            reason: reason.map(str::to_owned),
            on,
        },
    )
    .await?;
    audit_movement(conn, by, Kind::Leaving, s.account, details).await?;
    crate::chats::sync::sync_people(conn, by.meta(), by.tenant(), by.actor(), &[student.0]).await?;
    Ok(parents)
}

// ---- staff ----------------------------------------------------------------------------

/// What a staff member must hand over before leaving: class leadership, admin rights
/// (approved or proposed), lessons in current classes.
pub async fn handovers(
    conn: &mut PgConnection,
    tenant: Tenant,
    member: MembershipId,
) -> sqlx::Result<Vec<Handover>> {
    let school = tenant.id();
    let mut out = Vec::new();
    let led = sqlx::query_scalar!(
        r#"select c.title from class_teacher_assignments t
           join classes c on c.school_id = t.school_id and c.id = t.class_id
           where t.school_id = $1 and t.teacher_id = $2 and t.ended_at is null
           order by c.grade, c.letter"#,
        school as SchoolId,
        member as MembershipId
    )
    .fetch_all(&mut *conn)
    .await?;
    out.extend(
        led.into_iter()
            .map(|class| Handover::ClassLeadership { class }),
    );
    let rights = sqlx::query!(
        r#"select
             exists(select 1 from active_admin_grants g
                    where g.school_id = m.school_id and g.account_id = m.account_id) as "active!",
             exists(select 1 from admin_grants g
                    where g.school_id = m.school_id and g.account_id = m.account_id
                      and g.approved_at is null and g.revoked_at is null
                      and g.rejected_at is null) as "pending!"
           from memberships m where m.school_id = $1 and m.id = $2"#,
        school as SchoolId,
        member as MembershipId
    )
    .fetch_optional(&mut *conn)
    .await?;
    if let Some(r) = rights {
        if r.active {
            out.push(Handover::AdminRights);
        }
        if r.pending {
            out.push(Handover::AdminProposal);
        }
    }
    let lessons = sqlx::query!(
        r#"select s.name as subject,
                  array_agg(c.title order by c.grade, c.letter) as "classes!"
           from teaching_assignments t
           join subjects s on s.school_id = t.school_id and s.id = t.subject_id
           join classes c on c.school_id = t.school_id and c.id = t.class_id
           where t.school_id = $1 and t.teacher_id = $2 and c.archived_at is null
           group by s.name
           order by s.name"#,
        school as SchoolId,
        member as MembershipId
    )
    .fetch_all(&mut *conn)
    .await?;
    out.extend(lessons.into_iter().map(|r| Handover::Lessons {
        subject: r.subject,
        classes: r.classes,
    }));
    Ok(out)
}

/// A teacher, staff member or deputy leaves the school, once nothing is left to hand over.
pub async fn staff_leave(
    conn: &mut PgConnection,
    by: &By<'_>,
    id: MovementId,
    member: MembershipId,
    order: &Order,
    on: Date,
    reason: Option<&str>,
) -> Result<(), MovementError> {
    claim(conn, id).await?;
    let row = sqlx::query!(
        r#"select m.account_id as "account: AccountId", m.status,
                  m.class_id as "class_id?: ClassId", c.title as "title?"
           from memberships m
           left join classes c on c.school_id = m.school_id and c.id = m.class_id
           where m.school_id = $1 and m.id = $2 and m.role in ('teacher', 'staff', 'deputy')
           for update of m"#,
        by.school() as SchoolId,
        member as MembershipId
    )
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(MovementError::PersonNotFound)?;
    if row.status == "left" {
        return Err(MovementError::NotActive);
    }
    let items = handovers(conn, by.tenant(), member).await?;
    if !items.is_empty() {
        return Err(MovementError::HandOverFirst(items));
    }
    sqlx::query!(
        "update memberships set status = 'left', left_at = now() where school_id = $1 and id = $2",
        by.school() as SchoolId,
        member as MembershipId
    )
    .execute(&mut *conn)
    .await?;
    let mut details = order.text();
    if let Some(r) = reason {
        details.push_str(&format!(", причина: {r}"));
    }
    insert_movement(
        conn,
        by,
        id.0,
        Row {
            kind: Kind::StaffLeaving,
            membership: member,
            from: row.class_id.zip(row.title),
            to: None,
            order: Some(order.clone()),
            reason: reason.map(str::to_owned),
            on,
        },
    )
    .await?;
    audit_movement(conn, by, Kind::StaffLeaving, row.account, details).await?;
    crate::chats::sync::sync_people(conn, by.meta(), by.tenant(), by.actor(), &[member.0]).await?;
    Ok(())
}

// ---- the year-end rollover ------------------------------------------------------------

/// «2025/2026».
pub fn year_label(starts_on: Date) -> String {
    format!("{}/{}", starts_on.year(), starts_on.year() + 1)
}

/// A student in the rollover plan.
#[derive(Debug, Clone)]
pub struct PlanStudent {
    pub id: MembershipId,
    pub name: String,
    pub conditional: bool,
}

/// A class of the current year and what the rollover does to it.
#[derive(Debug, Clone)]
pub struct PlanClass {
    pub id: ClassId,
    pub grade: i16,
    pub letter: String,
    pub title: String,
    /// The title in the new year; `None` for an 11th class, which graduates.
    pub new_title: Option<String>,
    /// Where this class's repeaters go when the admin picks nothing: the class that will
    /// have this grade and letter in the new year.
    pub repeat_target: Option<(ClassId, String)>,
    pub students: Vec<PlanStudent>,
}

impl PlanClass {
    pub fn graduates(&self) -> bool {
        self.new_title.is_none()
    }
}

/// What the rollover would do now.
#[derive(Debug, Clone)]
pub struct Plan {
    pub from_year: AcademicYearId,
    pub from_label: String,
    pub from_starts: Date,
    pub to_starts: Date,
    pub to_ends: Date,
    pub to_label: String,
    /// The next year's row, if someone created it already (its classes stay).
    pub existing_next: Option<AcademicYearId>,
    pub classes: Vec<PlanClass>,
    /// Classes the new year will have, by their new titles: repeaters' possible targets.
    pub targets: Vec<(ClassId, String)>,
    /// Why the rollover cannot be applied now (Russian, for the page).
    pub blockers: Vec<String>,
    /// The current year started less than six months ago: ask again before applying.
    pub early: bool,
    pub today: Date,
}

/// Adds `months` calendar months to a date (the day clamped to the month's end).
fn add_months(d: Date, months: i32) -> Date {
    let total = d.year() * 12 + i32::from(u8::from(d.month())) - 1 + months;
    let (year, month0) = (total.div_euclid(12), total.rem_euclid(12));
    let month = Month::try_from(u8::try_from(month0 + 1).unwrap_or(1)).unwrap_or(Month::January);
    let mut day = d.day();
    loop {
        if let Ok(x) = Date::from_calendar_date(year, month, day) {
            return x;
        }
        if day <= 28 {
            return d;
        }
        day -= 1;
    }
}

/// The plan of the year-end rollover for the school's current year.
pub async fn rollover_plan(conn: &mut PgConnection, tenant: Tenant) -> sqlx::Result<Plan> {
    let school = tenant.id();
    let today = school_today(conn, tenant).await?;
    let year = sqlx::query!(
        r#"select id as "id: AcademicYearId", starts_on from academic_years
           where school_id = $1 and is_current"#,
        school as SchoolId
    )
    .fetch_optional(&mut *conn)
    .await?;
    let mut blockers = Vec::new();
    let (from_year, starts_on) = match year {
        Some(y) => (y.id, y.starts_on),
        None => {
            // A school always has a current year; without one there is nothing to roll over.
            blockers.push("У школы нет текущего учебного года.".to_owned());
            let (starts, _, _) = format::academic_year_of(today);
            (AcademicYearId(Uuid::nil()), starts)
        }
    };
    let next_start_year = starts_on.year() + 1;
    let to_starts =
        Date::from_calendar_date(next_start_year, Month::September, 1).unwrap_or(starts_on);
    let to_ends =
        Date::from_calendar_date(next_start_year + 1, Month::August, 31).unwrap_or(starts_on);
    let from_label = year_label(starts_on);
    let to_label = year_label(to_starts);
    if starts_on > today {
        blockers.push(format!(
            "Учебный год {from_label} ещё не начался: перевод в него уже выполнен. \
             Следующий перевод — в конце учебного года {from_label}."
        ));
    }
    let early = add_months(starts_on, 6) > today;

    let existing_next = sqlx::query_scalar!(
        r#"select id as "id: AcademicYearId" from academic_years
           where school_id = $1 and starts_on = $2"#,
        school as SchoolId,
        to_starts
    )
    .fetch_optional(&mut *conn)
    .await?;

    let class_rows = sqlx::query!(
        r#"select c.id as "id: ClassId", c.grade as "grade!", c.letter as "letter!", c.title
           from classes c
           where c.school_id = $1 and c.academic_year_id = $2 and c.kind = 'class'
             and c.archived_at is null
           order by c.grade, c.letter"#,
        school as SchoolId,
        from_year as AcademicYearId
    )
    .fetch_all(&mut *conn)
    .await?;
    let student_rows = sqlx::query!(
        r#"select m.id as "id: MembershipId", m.class_id as "class_id!: ClassId",
                  m.conditional_promotion, a.surname, a.given_name, a.patronymic
           from memberships m join accounts a on a.id = m.account_id
           join classes c on c.school_id = m.school_id and c.id = m.class_id
           where m.school_id = $1 and m.role = 'student' and m.status <> 'left'
             and c.academic_year_id = $2 and c.kind = 'class' and c.archived_at is null
           order by a.surname collate "ru-RU-x-icu", a.given_name collate "ru-RU-x-icu",
                    a.patronymic collate "ru-RU-x-icu", m.id"#,
        school as SchoolId,
        from_year as AcademicYearId
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut students: HashMap<ClassId, Vec<PlanStudent>> = HashMap::new();
    for r in student_rows {
        students.entry(r.class_id).or_default().push(PlanStudent {
            id: r.id,
            name: format::full_name(&r.surname, &r.given_name, r.patronymic.as_deref()),
            conditional: r.conditional_promotion,
        });
    }

    // Classes the next year already has (created ahead of the rollover).
    let existing_classes = match existing_next {
        Some(next) => {
            sqlx::query!(
                r#"select c.id as "id: ClassId", c.grade as "grade!", c.letter as "letter!",
                          c.title
                   from classes c
                   where c.school_id = $1 and c.academic_year_id = $2 and c.kind = 'class'
                     and c.archived_at is null
                   order by c.grade, c.letter"#,
                school as SchoolId,
                next as AcademicYearId
            )
            .fetch_all(&mut *conn)
            .await?
        }
        None => Vec::new(),
    };

    // The new year's classes by (grade, letter): the moving ones and those already there.
    let mut new_year: HashMap<(i16, String), (ClassId, String)> = HashMap::new();
    let mut targets: Vec<(i16, String, ClassId, String)> = Vec::new();
    for c in &existing_classes {
        new_year.insert((c.grade, c.letter.clone()), (c.id, c.title.clone()));
        targets.push((c.grade, c.letter.clone(), c.id, c.title.clone()));
    }
    let mut classes = Vec::new();
    for c in &class_rows {
        let new_title = (c.grade < 11).then(|| {
            let old_prefix = format!("{}{}", c.grade, c.letter);
            let new_prefix = format!("{}{}", c.grade + 1, c.letter);
            match c.title.strip_prefix(&old_prefix) {
                Some(rest) => format!("{new_prefix}{rest}"),
                None => new_prefix,
            }
        });
        if let Some(t) = &new_title {
            let key = (c.grade + 1, c.letter.clone());
            if let Some((_, existing)) = new_year.get(&key) {
                blockers.push(format!(
                    "В учебном году {to_label} уже есть класс {existing}: класс {} не может \
                     стать {t}. Переименуйте или удалите один из них.",
                    c.title
                ));
            }
            new_year.insert(key, (c.id, t.clone()));
            targets.push((c.grade + 1, c.letter.clone(), c.id, t.clone()));
        }
        classes.push(PlanClass {
            id: c.id,
            grade: c.grade,
            letter: c.letter.clone(),
            title: c.title.clone(),
            new_title,
            repeat_target: None,
            students: students.remove(&c.id).unwrap_or_default(),
        });
    }
    for c in &mut classes {
        c.repeat_target = new_year.get(&(c.grade, c.letter.clone())).cloned();
    }
    targets.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
    Ok(Plan {
        from_year,
        from_label,
        from_starts: starts_on,
        to_starts,
        to_ends,
        to_label,
        existing_next,
        classes,
        targets: targets.into_iter().map(|t| (t.2, t.3)).collect(),
        blockers,
        early,
        today,
    })
}

/// What the administrator marked on the rollover form.
#[derive(Debug, Clone, Default)]
pub struct RolloverInput {
    pub order: Option<Order>,
    /// Students to keep in the same grade, with the class picked for them (if any).
    pub repeat: HashMap<MembershipId, Option<ClassId>>,
    /// Students promoted conditionally («условно переведён»).
    pub conditional: HashSet<MembershipId>,
    /// The administrator confirmed a rollover early in the year.
    pub early_confirmed: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum RolloverError {
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    /// The rollover cannot be applied now (the reasons, in Russian).
    #[error("refused")]
    Refused(Vec<String>),
    /// The current year started less than six months ago and that was not confirmed,
    /// and/or marks that do not fit (per student, in Russian).
    #[error("invalid input")]
    Invalid {
        unconfirmed_early: bool,
        marks: MarkErrors,
    },
}

/// What an applied rollover did.
#[derive(Debug, Clone)]
pub struct RolloverDone {
    pub id: RolloverId,
    pub summary: String,
}

/// Per student, what is wrong with their marks (Russian).
pub type MarkErrors = HashMap<MembershipId, &'static str>;

/// Checks the marks against the plan: the repeaters' classes (picked or automatic).
fn resolve_marks(
    plan: &Plan,
    input: &RolloverInput,
) -> Result<HashMap<MembershipId, (ClassId, String)>, MarkErrors> {
    let mut errors = HashMap::new();
    let mut where_is: HashMap<MembershipId, &PlanClass> = HashMap::new();
    for c in &plan.classes {
        for s in &c.students {
            where_is.insert(s.id, c);
        }
    }
    let mut out = HashMap::new();
    for (student, picked) in &input.repeat {
        let Some(class) = where_is.get(student) else {
            errors.insert(
                *student,
                "Этого ученика уже нет в списке: откройте страницу заново.",
            );
            continue;
        };
        if input.conditional.contains(student) {
            errors.insert(
                *student,
                "Отметьте что-то одно: повторное обучение или условный перевод.",
            );
            continue;
        }
        let target = match picked {
            Some(id) => plan.targets.iter().find(|(c, _)| c == id).cloned(),
            None => class.repeat_target.clone(),
        };
        match target {
            Some(t) => {
                out.insert(*student, t);
            }
            None if picked.is_some() => {
                errors.insert(*student, "Выберите класс из списка.");
            }
            None => {
                errors.insert(
                    *student,
                    "Выберите класс, в котором ученик будет учиться повторно.",
                );
            }
        }
    }
    for student in &input.conditional {
        match where_is.get(student) {
            None => {
                errors.insert(
                    *student,
                    "Этого ученика уже нет в списке: откройте страницу заново.",
                );
            }
            Some(c) if c.graduates() => {
                errors.insert(*student, "Выпускников не переводят условно.");
            }
            Some(_) => {}
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

/// Applies the year-end rollover in the caller's transaction: the next academic year
/// becomes current; classes 1–10 move up a grade into it keeping their id, letter and
/// class teacher (5А → 6А); 11th classes graduate (students leave, the class is archived,
/// its class teacher's assignment ends); repeaters go to their class of the same grade;
/// the conditional-promotion flag is set for the marked and cleared for the rest. Every
/// student gets a movement (in bulk). Nothing is committed here: any error leaves the
/// caller's transaction to roll back whole.
pub async fn rollover_apply(
    conn: &mut PgConnection,
    by: &By<'_>,
    input: &RolloverInput,
) -> Result<RolloverDone, RolloverError> {
    // One rollover at a time per school; the plan is read after the lock.
    sqlx::query!(
        "select pg_advisory_xact_lock(hashtextextended('rollover:' || $1::text, 0))",
        by.school().to_string()
    )
    .execute(&mut *conn)
    .await?;
    let plan = rollover_plan(conn, by.tenant()).await?;
    if !plan.blockers.is_empty() {
        return Err(RolloverError::Refused(plan.blockers));
    }
    let unconfirmed_early = plan.early && !input.early_confirmed;
    let repeaters = match resolve_marks(&plan, input) {
        Ok(r) if !unconfirmed_early => r,
        Ok(_) => {
            return Err(RolloverError::Invalid {
                unconfirmed_early,
                marks: HashMap::new(),
            });
        }
        Err(marks) => {
            return Err(RolloverError::Invalid {
                unconfirmed_early,
                marks,
            });
        }
    };
    let on = input.order.as_ref().map_or(plan.today, |o| o.date);
    let order_number = input.order.as_ref().map(|o| o.number.clone());
    let order_date = input.order.as_ref().map(|o| o.date);

    // The summary, from the plan.
    let moving: Vec<&PlanClass> = plan.classes.iter().filter(|c| !c.graduates()).collect();
    let graduating: Vec<&PlanClass> = plan.classes.iter().filter(|c| c.graduates()).collect();
    let count_students = |cs: &[&PlanClass]| -> i64 {
        cs.iter()
            .flat_map(|c| c.students.iter())
            .filter(|s| !repeaters.contains_key(&s.id))
            .count() as i64
    };
    let promoted = count_students(&moving);
    let graduated = count_students(&graduating);
    let mut summary = format!(
        "{} → {}: переведено {} ({}), выпущено {} ({}), оставлено на повторное обучение: {}, \
         условно переведено: {}",
        plan.from_label,
        plan.to_label,
        format::count(moving.len() as i64, "класс", "класса", "классов"),
        format::count(promoted, "ученик", "ученика", "учеников"),
        format::count(graduating.len() as i64, "класс", "класса", "классов"),
        format::count(graduated, "ученик", "ученика", "учеников"),
        repeaters.len(),
        input.conditional.len()
    );
    if let Some(o) = &input.order {
        summary.push_str(&format!("; {}", o.text()));
    }

    let rollover = RolloverId::new();
    let new_year = AcademicYearId::new();
    // The new year: the old one stops being current first (one current year per school).
    sqlx::query!(
        "update academic_years set is_current = false where school_id = $1 and id = $2",
        by.school() as SchoolId,
        plan.from_year as AcademicYearId
    )
    .execute(&mut *conn)
    .await?;
    let new_year = sqlx::query_scalar!(
        r#"insert into academic_years (school_id, id, starts_on, ends_on, is_current)
           values ($1, $2, $3, $4, true)
           on conflict (school_id, starts_on) do update set is_current = true
           returning id as "id: AcademicYearId""#,
        by.school() as SchoolId,
        new_year as AcademicYearId,
        plan.to_starts,
        plan.to_ends
    )
    .fetch_one(&mut *conn)
    .await?;
    sqlx::query!(
        r#"insert into rollovers (school_id, id, from_year_id, to_year_id, order_number,
                                  order_date, performed_by, summary)
           values ($1, $2, $3, $4, $5, $6, $7, $8)"#,
        by.school() as SchoolId,
        rollover as RolloverId,
        plan.from_year as AcademicYearId,
        new_year as AcademicYearId,
        order_number,
        order_date,
        by.actor() as AccountId,
        summary
    )
    .execute(&mut *conn)
    .await?;

    // Repeaters first: they change class and take no part in promotion or graduation.
    let mut r_member = Vec::new();
    let mut r_from = Vec::new();
    let mut r_from_title = Vec::new();
    let mut r_to = Vec::new();
    let mut r_to_title = Vec::new();
    for c in &plan.classes {
        for s in &c.students {
            if let Some((to, to_title)) = repeaters.get(&s.id) {
                r_member.push(s.id.0);
                r_from.push(c.id.0);
                r_from_title.push(c.title.clone());
                r_to.push(to.0);
                r_to_title.push(to_title.clone());
            }
        }
    }
    sqlx::query!(
        r#"insert into movements (school_id, id, kind, membership_id, from_class_id, to_class_id,
                                  from_class_title, to_class_title, order_number, order_date,
                                  happened_on, rollover_id, recorded_by)
           select $1, gen_random_uuid(), 'repeat', x.m, x.f, x.t, x.ft, x.tt, $7, $8, $9, $10, $11
           from unnest($2::uuid[], $3::uuid[], $4::text[], $5::uuid[], $6::text[])
             as x(m, f, ft, t, tt)"#,
        by.school() as SchoolId,
        &r_member[..],
        &r_from[..],
        &r_from_title[..],
        &r_to[..],
        &r_to_title[..],
        order_number,
        order_date,
        on,
        rollover as RolloverId,
        by.actor() as AccountId
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query!(
        r#"update memberships m set class_id = x.t
           from unnest($2::uuid[], $3::uuid[]) as x(m, t)
           where m.school_id = $1 and m.id = x.m"#,
        by.school() as SchoolId,
        &r_member[..],
        &r_to[..]
    )
    .execute(&mut *conn)
    .await?;

    // Promotion: every other student of classes 1–10, then the classes move up.
    let m_ids: Vec<Uuid> = moving.iter().map(|c| c.id.0).collect();
    let m_titles: Vec<String> = moving
        .iter()
        .map(|c| c.new_title.clone().unwrap_or_default())
        .collect();
    sqlx::query!(
        r#"insert into movements (school_id, id, kind, membership_id, from_class_id, to_class_id,
                                  from_class_title, to_class_title, order_number, order_date,
                                  happened_on, rollover_id, recorded_by)
           select $1, gen_random_uuid(), 'promotion', m.id, c.id, c.id, c.title, n.title,
                  $5, $6, $7, $8, $9
           from unnest($2::uuid[], $3::text[]) as n(id, title)
           join classes c on c.school_id = $1 and c.id = n.id
           join memberships m on m.school_id = c.school_id and m.class_id = c.id
           where m.role = 'student' and m.status <> 'left' and not (m.id = any($4))"#,
        by.school() as SchoolId,
        &m_ids[..],
        &m_titles[..],
        &r_member[..],
        order_number,
        order_date,
        on,
        rollover as RolloverId,
        by.actor() as AccountId
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query!(
        r#"update classes c set grade = c.grade + 1, title = n.title, academic_year_id = $2
           from unnest($3::uuid[], $4::text[]) as n(id, title)
           where c.school_id = $1 and c.id = n.id"#,
        by.school() as SchoolId,
        new_year as AcademicYearId,
        &m_ids[..],
        &m_titles[..]
    )
    .execute(&mut *conn)
    .await?;

    let m_old_titles: Vec<String> = moving.iter().map(|c| c.title.clone()).collect();
    crate::chats::sync::retitle_class_chats(conn, by.tenant(), &m_ids, &m_old_titles, &m_titles)
        .await?;

    // Graduation: the 11th classes' students leave, the classes are archived.
    let g_ids: Vec<Uuid> = graduating.iter().map(|c| c.id.0).collect();
    sqlx::query!(
        r#"insert into movements (school_id, id, kind, membership_id, from_class_id,
                                  from_class_title, order_number, order_date, happened_on,
                                  rollover_id, recorded_by)
           select $1, gen_random_uuid(), 'graduation', m.id, c.id, c.title, $4, $5, $6, $7, $8
           from classes c
           join memberships m on m.school_id = c.school_id and m.class_id = c.id
           where c.school_id = $1 and c.id = any($2) and m.role = 'student'
             and m.status <> 'left' and not (m.id = any($3))"#,
        by.school() as SchoolId,
        &g_ids[..],
        &r_member[..],
        order_number,
        order_date,
        on,
        rollover as RolloverId,
        by.actor() as AccountId
    )
    .execute(&mut *conn)
    .await?;
    let graduates = sqlx::query!(
        r#"update memberships m set status = 'left', left_at = now(),
                                    conditional_promotion = false
           where m.school_id = $1 and m.class_id = any($2) and m.role = 'student'
             and m.status <> 'left' and not (m.id = any($3))
           returning m.id, m.account_id"#,
        by.school() as SchoolId,
        &g_ids[..],
        &r_member[..]
    )
    .fetch_all(&mut *conn)
    .await?;
    let graduate_ids: Vec<Uuid> = graduates.iter().map(|r| r.id).collect();
    let parents = release_parents(conn, by, &graduate_ids, false).await?;
    // The chats keep step: graduated classes' chats are archived, repeaters change chats.
    crate::chats::sync::archive_class_chats(conn, by.tenant(), &g_ids).await?;
    crate::chats::sync::sync_people(conn, by.meta(), by.tenant(), by.actor(), &r_member).await?;
    sqlx::query!(
        "update classes set archived_at = now() where school_id = $1 and id = any($2)",
        by.school() as SchoolId,
        &g_ids[..]
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query!(
        r#"update class_teacher_assignments set ended_at = now()
           where school_id = $1 and class_id = any($2) and ended_at is null"#,
        by.school() as SchoolId,
        &g_ids[..]
    )
    .execute(&mut *conn)
    .await?;

    // Conditional promotion: set for the marked, cleared for everyone else.
    let conditional: Vec<Uuid> = input.conditional.iter().map(|m| m.0).collect();
    sqlx::query!(
        r#"update memberships set conditional_promotion = (id = any($2))
           where school_id = $1 and role = 'student'
             and (conditional_promotion or id = any($2))"#,
        by.school() as SchoolId,
        &conditional[..]
    )
    .execute(&mut *conn)
    .await?;

    if !parents.is_empty() {
        summary.push_str(&format!(
            "; выбыли родители (законные представители) выпускников без других детей в школе: {}",
            parents.len()
        ));
        sqlx::query!(
            "update rollovers set summary = $2 where id = $1",
            rollover as RolloverId,
            summary
        )
        .execute(&mut *conn)
        .await?;
    }
    audit::record(
        conn,
        by.meta(),
        Entry {
            actor: Some(by.actor()),
            school: Some(by.school()),
            action: "rollover.applied",
            target: Some(format!("rollover:{rollover}")),
            details: Some(summary.clone()),
        },
    )
    .await?;
    Ok(RolloverDone {
        id: rollover,
        summary,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn months_are_added_by_the_calendar() {
        assert_eq!(add_months(date!(2026 - 09 - 01), 6), date!(2027 - 03 - 01));
        assert_eq!(add_months(date!(2026 - 08 - 31), 6), date!(2027 - 02 - 28));
        assert_eq!(add_months(date!(2026 - 01 - 15), 12), date!(2027 - 01 - 15));
    }

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
