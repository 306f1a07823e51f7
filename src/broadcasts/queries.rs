//! The broadcasts' SQL: who is invited (the audience), what a person sees, whom a change
//! is announced to. Every function takes the school's [`Tenant`].

use sqlx::PgConnection;
use time::{Date, OffsetDateTime};
use uuid::Uuid;

use super::model::{BState, Kind};
use super::recurrence::{self, Occurrence};
use crate::auth::permissions::Role;
use crate::auth::tenant::Tenant;
use crate::ids::{AccountId, BroadcastId, ClassId, SchoolId};
use crate::web::format;

/// A broadcast with what its pages and the feed need.
#[derive(Debug, Clone)]
pub struct Broadcast {
    pub id: BroadcastId,
    pub kind: Kind,
    pub title: String,
    pub starts_at: OffsetDateTime,
    pub duration_minutes: i32,
    pub whole_school: bool,
    pub staffroom: bool,
    pub join_url: String,
    pub host: AccountId,
    pub host_name: String,
    /// Who planned it: they may change it, as its host and the administrator may.
    pub created_by: AccountId,
    pub weekly_until: Option<Date>,
    pub state: BState,
    pub sequence: i32,
    pub updated_at: OffsetDateTime,
    /// «5А: ученики», «5А: родители».
    pub audience: Vec<(ClassId, String, &'static str)>,
    pub exceptions: Vec<Date>,
}

impl Broadcast {
    /// «5А — ученики и родители; Учительская».
    pub fn audience_text(&self) -> String {
        if self.whole_school {
            return "вся школа".to_owned();
        }
        let mut parts: Vec<String> = Vec::new();
        let mut titles: Vec<&str> = self.audience.iter().map(|a| a.1.as_str()).collect();
        titles.dedup();
        for t in titles {
            let roles: Vec<&str> = self
                .audience
                .iter()
                .filter(|a| a.1 == t)
                .map(|a| {
                    if a.2 == "student" {
                        Role::Student.title_plural()
                    } else {
                        Role::Parent.title_plural()
                    }
                })
                .collect();
            parts.push(format!("{t} — {}", roles.join(" и ")));
        }
        if self.staffroom {
            parts.push("Учительская".to_owned());
        }
        parts.join("; ")
    }

    /// The occurrences within `[from, to]`, each with whether it is cancelled.
    pub fn occurrences(&self, tz: &str, from: Date, to: Date) -> Vec<(Occurrence, bool)> {
        recurrence::occurrences(self.starts_at, self.weekly_until, tz, from, to)
            .into_iter()
            .map(|o| {
                let cancelled =
                    self.state == BState::Cancelled || self.exceptions.contains(&o.date);
                (o, cancelled)
            })
            .collect()
    }
}

/// Which broadcasts to load.
pub enum Which {
    /// The whole school's (the school calendar).
    All,
    /// What this person is invited to or runs.
    For(AccountId),
    One(BroadcastId),
}

pub async fn load(
    conn: &mut PgConnection,
    tenant: Tenant,
    which: Which,
) -> sqlx::Result<Vec<Broadcast>> {
    let (person, one) = match which {
        Which::All => (None, None),
        Which::For(a) => (Some(a), None),
        Which::One(id) => (None, Some(id)),
    };
    let rows = sqlx::query!(
        r#"select b.id, b.kind, b.title, b.starts_at, b.duration_minutes, b.whole_school,
                  b.staffroom, b.join_url, b.host_id as "host_id: AccountId", b.weekly_until,
                  b.created_by as "created_by: AccountId", b.state, b.sequence, b.updated_at, a.surname, a.given_name, a.patronymic
           from broadcasts b join accounts a on a.id = b.host_id
           where b.school_id = $1 and ($3::uuid is null or b.id = $3)
             and ($2::uuid is null or b.host_id = $2 or b.whole_school
                  or (b.staffroom and exists(select 1 from memberships m
                        where m.school_id = b.school_id and m.account_id = $2 and m.status = 'active'
                          and m.role in ('director', 'deputy', 'teacher', 'staff')))
                  or exists(select 1 from broadcast_audience ba
                        join memberships m on m.school_id = ba.school_id and m.class_id = ba.class_id
                        where ba.broadcast_id = b.id and ba.role = 'student' and m.role = 'student'
                          and m.status = 'active' and m.account_id = $2)
                  or exists(select 1 from broadcast_audience ba
                        join memberships k on k.school_id = ba.school_id and k.class_id = ba.class_id
                             and k.role = 'student' and k.status = 'active'
                        join parent_links l on l.school_id = k.school_id and l.child_id = k.id
                        join memberships p on p.school_id = l.school_id and p.id = l.parent_id
                             and p.role = 'parent' and p.status = 'active'
                        where ba.broadcast_id = b.id and ba.role = 'parent' and p.account_id = $2))
           order by b.starts_at, b.id"#,
        tenant.id() as SchoolId,
        person as Option<AccountId>,
        one as Option<BroadcastId>
    )
    .fetch_all(&mut *conn)
    .await?;
    let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
    let audience = sqlx::query!(
        r#"select ba.broadcast_id, ba.class_id as "class_id: ClassId", c.title, ba.role
           from broadcast_audience ba join classes c on c.school_id = ba.school_id and c.id = ba.class_id
           where ba.school_id = $1 and ba.broadcast_id = any($2)
           order by c.grade, c.letter, ba.role desc"#,
        tenant.id() as SchoolId,
        &ids
    )
    .fetch_all(&mut *conn)
    .await?;
    let exceptions = sqlx::query!(
        "select broadcast_id, on_date from broadcast_exceptions
         where school_id = $1 and broadcast_id = any($2) order by on_date",
        tenant.id() as SchoolId,
        &ids
    )
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| Broadcast {
            id: BroadcastId(r.id),
            kind: Kind::parse(&r.kind).unwrap_or(Kind::Event),
            title: r.title,
            starts_at: r.starts_at,
            duration_minutes: r.duration_minutes,
            whole_school: r.whole_school,
            staffroom: r.staffroom,
            join_url: r.join_url,
            host: r.host_id,
            host_name: format::full_name(&r.surname, &r.given_name, r.patronymic.as_deref()),
            created_by: r.created_by,
            weekly_until: r.weekly_until,
            state: BState::parse(&r.state),
            sequence: r.sequence,
            updated_at: r.updated_at,
            audience: audience
                .iter()
                .filter(|a| a.broadcast_id == r.id)
                .map(|a| {
                    (
                        a.class_id,
                        a.title.clone(),
                        if a.role == "student" {
                            "student"
                        } else {
                            "parent"
                        },
                    )
                })
                .collect(),
            exceptions: exceptions
                .iter()
                .filter(|e| e.broadcast_id == r.id)
                .map(|e| e.on_date)
                .collect(),
        })
        .collect())
}

/// The e-mail addresses of the broadcast's audience (those who have one), without the
/// actor: whom a change or cancellation is announced to.
pub async fn audience_emails(
    conn: &mut PgConnection,
    tenant: Tenant,
    broadcast: BroadcastId,
    actor: AccountId,
) -> sqlx::Result<Vec<String>> {
    sqlx::query_scalar!(
        r#"select distinct a.email as "email!"
           from broadcasts b
           join memberships m on m.school_id = b.school_id and m.status = 'active'
           join accounts a on a.id = m.account_id and a.deactivated_at is null
           where b.school_id = $1 and b.id = $2 and a.email is not null and a.id <> $3
             and (b.whole_school
                  or (b.staffroom and m.role in ('director', 'deputy', 'teacher', 'staff'))
                  or (m.role = 'student' and exists(select 1 from broadcast_audience ba
                        where ba.broadcast_id = b.id and ba.role = 'student' and ba.class_id = m.class_id))
                  or (m.role = 'parent' and exists(select 1 from broadcast_audience ba
                        join memberships k on k.school_id = ba.school_id and k.class_id = ba.class_id
                             and k.role = 'student' and k.status = 'active'
                        join parent_links l on l.school_id = k.school_id and l.child_id = k.id
                        where ba.broadcast_id = b.id and ba.role = 'parent' and l.parent_id = m.id)))
           order by 1"#,
        tenant.id() as SchoolId,
        broadcast as BroadcastId,
        actor as AccountId
    )
    .fetch_all(conn)
    .await
}

/// A class to choose in the audience.
pub struct ClassChoice {
    pub id: ClassId,
    pub title: String,
}

pub async fn classes(conn: &mut PgConnection, tenant: Tenant) -> sqlx::Result<Vec<ClassChoice>> {
    let rows = sqlx::query!(
        r#"select c.id as "id: ClassId", c.title from classes c
           join academic_years y on y.school_id = c.school_id and y.id = c.academic_year_id and y.is_current
           where c.school_id = $1 and c.kind = 'class' and c.archived_at is null
           order by c.grade, c.letter"#,
        tenant.id() as SchoolId
    )
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| ClassChoice {
            id: r.id,
            title: r.title,
        })
        .collect())
}

/// A person who may run a broadcast: the school's active staff (director, deputies,
/// teachers, staff), by name.
pub struct HostChoice {
    pub id: AccountId,
    pub name: String,
}

pub async fn hosts(conn: &mut PgConnection, tenant: Tenant) -> sqlx::Result<Vec<HostChoice>> {
    let rows = sqlx::query!(
        r#"select distinct a.id as "id: AccountId", a.surname, a.given_name, a.patronymic
           from memberships m join accounts a on a.id = m.account_id and a.deactivated_at is null
           where m.school_id = $1 and m.status = 'active'
             and m.role in ('director', 'deputy', 'teacher', 'staff')
           order by a.surname, a.given_name, a.patronymic, 1"#,
        tenant.id() as SchoolId
    )
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| HostChoice {
            id: r.id,
            name: format::full_name(&r.surname, &r.given_name, r.patronymic.as_deref()),
        })
        .collect())
}
