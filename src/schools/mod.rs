//! Schools: the operator creates them and appoints each one's first platform
//! administrator with the director's order (R2.2); the administrator keeps the school's
//! profile (R2.1.c). Every school is created with its current academic year and its one
//! «Учительская» (R2.1.d).

pub mod operator;
pub mod profile;

use sqlx::PgConnection;
use time::OffsetDateTime;

use crate::auth::tenant::Tenant;
use crate::ids::{AcademicYearId, AccountId, ClassId, GrantId, MembershipId, SchoolId};
use crate::web::Routes;
use crate::web::format::academic_year_of;

pub fn routes(r: Routes) -> Routes {
    profile::routes(operator::routes(r))
}

/// The staff room's name, the same in every school.
pub const STAFFROOM: &str = "Учительская";

/// Creates a school with its current academic year and its «Учительская». Returns false
/// (creating nothing) if a school with this id exists: a double-submitted form makes one
/// school (SECURITY.md 18).
pub async fn create_school(
    conn: &mut PgConnection,
    tenant: Tenant,
    name: &str,
    short_name: Option<&str>,
    timezone: &str,
) -> sqlx::Result<bool> {
    let id = tenant.id();
    let created = sqlx::query!(
        "insert into schools (id, name, short_name, timezone) values ($1, $2, $3, $4) on conflict (id) do nothing",
        id as SchoolId,
        name,
        short_name,
        timezone
    )
    .execute(&mut *conn)
    .await?;
    if created.rows_affected() == 0 {
        return Ok(false);
    }
    let (starts, ends, _) = academic_year_of(OffsetDateTime::now_utc().date());
    sqlx::query!(
        "insert into academic_years (school_id, id, starts_on, ends_on, is_current) values ($1, $2, $3, $4, true)",
        id as SchoolId,
        AcademicYearId::new() as AcademicYearId,
        starts,
        ends
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query!(
        "insert into classes (school_id, id, kind, title) values ($1, $2, 'staffroom', $3)",
        id as SchoolId,
        ClassId::new() as ClassId,
        STAFFROOM
    )
    .execute(&mut *conn)
    .await?;
    Ok(true)
}

/// The school's «Учительская».
pub async fn staffroom(conn: &mut PgConnection, tenant: Tenant) -> sqlx::Result<ClassId> {
    let school = tenant.id();
    sqlx::query_scalar!(
        r#"select id as "id: ClassId" from classes where school_id = $1 and kind = 'staffroom'"#,
        school as SchoolId
    )
    .fetch_one(conn)
    .await
}

/// Gives an account a staff-type role in a school (placed in the «Учительская»), unless it
/// already has that role there. Returns the membership.
pub async fn ensure_staff_membership(
    conn: &mut PgConnection,
    tenant: Tenant,
    account: AccountId,
    role: &str,
) -> sqlx::Result<MembershipId> {
    let school = tenant.id();
    let room = staffroom(&mut *conn, tenant).await?;
    sqlx::query_scalar!(
        r#"insert into memberships (school_id, id, account_id, role, class_id, verification)
           values ($1, $2, $3, $4, $5, 'unverified')
           on conflict (school_id, account_id, role) do update set status = 'active', left_at = null
           returning id as "id: MembershipId""#,
        school as SchoolId,
        MembershipId::new() as MembershipId,
        account as AccountId,
        role,
        room as ClassId
    )
    .fetch_one(conn)
    .await
}

/// Records an approved admin-rights grant (R2.2: the operator at first setup; later issues
/// add the director's approval flow).
pub async fn grant_admin(
    conn: &mut PgConnection,
    tenant: Tenant,
    account: AccountId,
    by: AccountId,
    order_number: &str,
    order_date: time::Date,
) -> sqlx::Result<GrantId> {
    let school = tenant.id();
    let id = GrantId::new();
    sqlx::query!(
        r#"insert into admin_grants (school_id, id, account_id, granted_by, approved_by, approved_at,
                                     order_number, order_date)
           values ($1, $2, $3, $4, $4, now(), $5, $6)"#,
        school as SchoolId,
        id as GrantId,
        account as AccountId,
        by as AccountId,
        order_number,
        order_date
    )
    .execute(conn)
    .await?;
    Ok(id)
}
