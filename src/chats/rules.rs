//! Who may create a chat and the facts the rules read (R2.1.h, R2.4.c, R2.5.c): the actor's
//! staff membership, class leadership, a live class; and the platform link's check.

use sqlx::PgConnection;

use super::Kind;
use crate::auth::extract::SchoolScope;
use crate::auth::objects::Target;
use crate::auth::permissions::{Action, Role};
use crate::auth::tenant::Tenant;
use crate::error::{AppError, AppResult};
use crate::ids::{AccountId, ClassId, MembershipId, SchoolId};

/// The actor's staff membership in the school (an owner of a chat is one).
pub(super) async fn staff_membership(
    conn: &mut PgConnection,
    tenant: Tenant,
    account: AccountId,
) -> sqlx::Result<Option<MembershipId>> {
    let school = tenant.id();
    sqlx::query_scalar!(
        r#"select id as "id: MembershipId" from memberships
           where school_id = $1 and account_id = $2 and status = 'active'
             and role in ('director', 'deputy', 'teacher', 'staff')
           order by case role when 'teacher' then 0 when 'deputy' then 1 when 'staff' then 2 else 3 end
           limit 1"#,
        school as SchoolId,
        account as AccountId
    )
    .fetch_optional(conn)
    .await
}

/// Whether the account leads the class now (R2.1.h).
pub async fn leads_class(
    conn: &mut PgConnection,
    tenant: Tenant,
    account: AccountId,
    class: ClassId,
) -> sqlx::Result<bool> {
    let school = tenant.id();
    sqlx::query_scalar!(
        r#"select exists(select 1 from class_teacher_assignments a
                  join memberships m on m.school_id = a.school_id and m.id = a.teacher_id
                  where a.school_id = $1 and a.class_id = $3 and a.ended_at is null
                    and m.account_id = $2 and m.status = 'active') as "x!""#,
        school as SchoolId,
        account as AccountId,
        class as ClassId
    )
    .fetch_one(conn)
    .await
}

/// A live class of the current year: its title (`None` for another school's, a past
/// year's or an archived one).
pub(super) async fn live_class(
    conn: &mut PgConnection,
    tenant: Tenant,
    class: ClassId,
) -> sqlx::Result<Option<String>> {
    let school = tenant.id();
    sqlx::query_scalar!(
        r#"select c.title from classes c
           join academic_years y on y.school_id = c.school_id and y.id = c.academic_year_id
           where c.school_id = $1 and c.id = $2 and c.kind = 'class' and c.archived_at is null
             and y.is_current"#,
        school as SchoolId,
        class as ClassId
    )
    .fetch_optional(conn)
    .await
}

/// The permission table first, then the rows behind it: a class teacher creates only for
/// their own class (R2.4.c), a teacher only for a class they teach (R2.5.c).
pub(super) async fn may_create(
    _conn: &mut PgConnection,
    scope: &SchoolScope,
    kind: Kind,
    class: Option<ClassId>,
) -> AppResult<()> {
    scope.require(kind.create_action())?;
    let facts = scope.facts();
    let ok = match (kind.create_action(), class) {
        (Action::CreateStaffChats, _) => true,
        // The object rules: LeadsClass, TeachesClass.
        (action, Some(c)) => facts.can_on(action, &Target::Class(c)),
        (_, None) => scope.has(Role::Admin),
    };
    if ok { Ok(()) } else { Err(AppError::Forbidden) }
}

/// A link to a chat on the platform: an https address, or nothing.
pub(super) fn valid_platform_url(s: &str) -> Result<Option<&str>, &'static str> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(None);
    }
    if s.len() > 500 || !s.starts_with("https://") || s.contains(char::is_whitespace) {
        return Err("Укажите адрес чата на платформе, начинающийся с https://.");
    }
    Ok(Some(s))
}
