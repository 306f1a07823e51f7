//! A student's movements (R2.1.k): enrolment (a new account and membership in a class),
//! a transfer between classes of the current year, and leaving the school, with the
//! parents who have no other child here leaving too.

use sqlx::PgConnection;
use time::Date;

use super::{
    By, Kind, MovementError, MovementId, Order, Row, audit_movement, claim, current_class_title,
    insert_movement,
};
use crate::audit::{self, Entry};
use crate::auth::tenant::Tenant;
use crate::ids::{AccountId, ClassId, MembershipId, SchoolId};
use crate::people::{self, NewPerson};
use crate::web::format;

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

/// Active students of the school with this name (compared by `name_key`: case, ё/е and
/// spacing aside) and birth date, where both are known:
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
             and name_key(a.surname) = name_key($2) and name_key(a.given_name) = name_key($3)
             and name_key(coalesce(a.patronymic, '')) = name_key($4)
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
        id,
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
    crate::chats::sync::sync_people(conn, by.meta(), by.tenant(), by.actor(), &[membership])
        .await?;
    Ok(Enrolled {
        account,
        membership,
    })
}

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
        id,
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
    crate::chats::sync::sync_people(conn, by.meta(), by.tenant(), by.actor(), &[student]).await?;
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
pub(super) async fn release_parents(
    conn: &mut PgConnection,
    by: &By<'_>,
    children: &[MembershipId],
    audit_each: bool,
) -> sqlx::Result<Vec<AccountId>> {
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
        children as &[MembershipId]
    )
    .fetch_all(&mut *conn)
    .await?;
    let accounts: Vec<AccountId> = rows.into_iter().map(|r| AccountId(r.account_id)).collect();
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
    release_parents(conn, by, &[student], true).await?;
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
        id,
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
    crate::chats::sync::sync_people(conn, by.meta(), by.tenant(), by.actor(), &[student]).await?;
    Ok(parents)
}
