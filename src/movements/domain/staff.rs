//! A staff member leaving (R2.1.k): what they must hand over first (class leadership, admin
//! rights, lessons), and the leaving itself once nothing is left.

use sqlx::PgConnection;
use time::Date;

use super::{
    By, Handover, Kind, MovementError, MovementId, Order, Row, audit_movement, claim,
    insert_movement,
};
use crate::auth::tenant::Tenant;
use crate::ids::{AccountId, ClassId, MembershipId, SchoolId};

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
        id,
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
    crate::chats::sync::sync_people(conn, by.meta(), by.tenant(), by.actor(), &[member]).await?;
    Ok(())
}
