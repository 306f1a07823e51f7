//! The people of a school: accounts, memberships, parent–child links (R2.1.k, R2.1.o).
//! The functions here are the one way other areas (imports, movements, invites) create
//! people, so the rules live in one place.
//!
//! A person belongs to themselves, not to a school (SECURITY.md 35): who may see and change
//! what of an account, and when a school makes an offer instead of an account, is written
//! down as the object rules in [`crate::offers`].

pub mod actions;
pub mod corrections;
pub mod pages;
pub mod verification;

use sqlx::PgConnection;

use crate::auth::tenant::Tenant;
use crate::ids::{AccountId, ClassId, MembershipId, SchoolId};
use crate::web::Routes;

pub fn routes(r: Routes) -> Routes {
    corrections::routes(actions::routes(verification::routes(pages::routes(r))))
}

/// A person to create. Names are stored as typed (trimmed); e-mail and phone normalised.
#[derive(Debug, Clone, Default)]
pub struct NewPerson {
    pub surname: String,
    pub given_name: String,
    pub patronymic: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub birth_date: Option<time::Date>,
}

/// Creates an account without a password (the person gets one when they join by a link).
pub async fn create_account(conn: &mut PgConnection, p: &NewPerson) -> sqlx::Result<AccountId> {
    let id = AccountId::new();
    sqlx::query!(
        r#"insert into accounts (id, surname, given_name, patronymic, email, phone, birth_date,
                                 security_stamp)
           values ($1, $2, $3, $4, $5, $6, $7, gen_random_uuid())"#,
        id as AccountId,
        p.surname.trim(),
        p.given_name.trim(),
        p.patronymic
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty()),
        p.email,
        p.phone,
        p.birth_date
    )
    .execute(conn)
    .await?;
    Ok(id)
}

/// Makes an account a student of the school in `class` (or returns the existing student
/// membership, re-activated and moved to `class`).
pub async fn enrol_student(
    conn: &mut PgConnection,
    tenant: Tenant,
    account: AccountId,
    class: ClassId,
) -> sqlx::Result<MembershipId> {
    let school = tenant.id();
    sqlx::query_scalar!(
        r#"insert into memberships (school_id, id, account_id, role, class_id)
           values ($1, $2, $3, 'student', $4)
           on conflict (school_id, account_id, role)
             do update set class_id = excluded.class_id, status = 'active', left_at = null
           returning id as "id: MembershipId""#,
        school as SchoolId,
        MembershipId::new() as MembershipId,
        account as AccountId,
        class as ClassId
    )
    .fetch_one(conn)
    .await
}

/// The account's parent membership in the school, created if missing.
pub async fn ensure_parent(
    conn: &mut PgConnection,
    tenant: Tenant,
    account: AccountId,
) -> sqlx::Result<MembershipId> {
    let school = tenant.id();
    sqlx::query_scalar!(
        r#"insert into memberships (school_id, id, account_id, role)
           values ($1, $2, $3, 'parent')
           on conflict (school_id, account_id, role)
             do update set status = 'active', left_at = null
           returning id as "id: MembershipId""#,
        school as SchoolId,
        MembershipId::new() as MembershipId,
        account as AccountId
    )
    .fetch_one(conn)
    .await
}

/// Links a parent to a child (idempotent).
pub async fn link_parent(
    conn: &mut PgConnection,
    tenant: Tenant,
    parent: MembershipId,
    child: MembershipId,
) -> sqlx::Result<()> {
    let school = tenant.id();
    sqlx::query!(
        r#"insert into parent_links (school_id, parent_id, child_id) values ($1, $2, $3)
           on conflict do nothing"#,
        school as SchoolId,
        parent as MembershipId,
        child as MembershipId
    )
    .execute(conn)
    .await?;
    Ok(())
}
