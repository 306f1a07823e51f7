//! Keeping the class chats in step with the roster (R2.4.d). The movements call
//! [`sync_people`] inside their own transaction, so an enrolment, a transfer, a leaving or a
//! rollover changes the memberships of the mandatory chats together with the class, or not
//! at all. Only the people named (and, for students, their parents) are touched.

use sqlx::PgConnection;

use crate::audit::{self, Entry};
use crate::auth::extract::RequestMeta;
use crate::auth::tenant::Tenant;
use crate::ids::{AccountId, ClassId, MembershipId, SchoolId};

/// What a sync changed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Synced {
    pub added: u64,
    pub removed: u64,
}

/// Brings the memberships of these people (students are joined by their linked parents)
/// in the school's live mandatory chats to what the roster says: added where expected,
/// removed where they are plain members no longer expected. Owners and chat admins are
/// never removed here.
pub async fn sync_people(
    conn: &mut PgConnection,
    meta: &RequestMeta,
    tenant: Tenant,
    actor: AccountId,
    people: &[MembershipId],
) -> sqlx::Result<Synced> {
    let school = tenant.id();
    if people.is_empty() {
        return Ok(Synced::default());
    }
    let everyone: Vec<MembershipId> = sqlx::query_scalar!(
        r#"select x as "x!: MembershipId" from unnest($2::uuid[]) as x
           union
           select l.parent_id from parent_links l
           where l.school_id = $1 and l.child_id = any($2)"#,
        school as SchoolId,
        people as &[MembershipId]
    )
    .fetch_all(&mut *conn)
    .await?;
    let removed = sqlx::query!(
        r#"delete from chat_members cm using chats c
           where cm.school_id = $1 and cm.member_id = any($2) and cm.role = 'member'
             and c.school_id = cm.school_id and c.id = cm.chat_id and c.archived_at is null
             and c.kind in ('class_students', 'class_parents', 'class_teachers')
             and not exists(select 1 from chat_expected_members e
                            where e.school_id = cm.school_id and e.chat_id = cm.chat_id
                              and e.member_id = cm.member_id)"#,
        school as SchoolId,
        &everyone[..] as &[MembershipId]
    )
    .execute(&mut *conn)
    .await?
    .rows_affected();
    let added = sqlx::query!(
        r#"insert into chat_members (school_id, chat_id, member_id, role, added_by)
           select e.school_id, e.chat_id, e.member_id, 'member', $3
           from chat_expected_members e
           where e.school_id = $1 and e.member_id = any($2)
           on conflict do nothing"#,
        school as SchoolId,
        &everyone[..] as &[MembershipId],
        actor as AccountId
    )
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if added + removed > 0 {
        audit::record(
            conn,
            meta,
            Entry {
                actor: Some(actor),
                school: Some(school),
                action: "chat.roster_synced",
                target: None,
                details: Some(format!("добавлено: {added}, исключено: {removed}")),
            },
        )
        .await?;
    }
    Ok(Synced { added, removed })
}

/// Archives the live chats of these classes (a graduated class's chats end with it).
pub async fn archive_class_chats(
    conn: &mut PgConnection,
    tenant: Tenant,
    classes: &[ClassId],
) -> sqlx::Result<u64> {
    let school = tenant.id();
    Ok(sqlx::query!(
        r#"update chats set archived_at = now()
           where school_id = $1 and class_id = any($2) and archived_at is null"#,
        school as SchoolId,
        classes as &[ClassId]
    )
    .execute(conn)
    .await?
    .rows_affected())
}

/// After a rollover renames classes («5А» → «6А»), the class chats named after the class by
/// default follow («5А — ученики» → «6А — ученики»); titles the teacher changed stay.
pub async fn retitle_class_chats(
    conn: &mut PgConnection,
    tenant: Tenant,
    classes: &[ClassId],
    old_titles: &[String],
    new_titles: &[String],
) -> sqlx::Result<u64> {
    let school = tenant.id();
    Ok(sqlx::query!(
        r#"update chats k set title = x.new_title || substr(k.title, length(x.old_title) + 1)
           from unnest($2::uuid[], $3::text[], $4::text[]) as x(id, old_title, new_title)
           where k.school_id = $1 and k.class_id = x.id and k.archived_at is null
             and k.kind in ('class_students', 'class_parents', 'class_teachers')
             and left(k.title, length(x.old_title) + 3) = x.old_title || ' — '"#,
        school as SchoolId,
        classes as &[ClassId],
        old_titles,
        new_titles
    )
    .execute(conn)
    .await?
    .rows_affected())
}
