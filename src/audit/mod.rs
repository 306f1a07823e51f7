//! The audit log (SECURITY.md 26): every change of state, every login (ok and failed) and
//! every denial writes a row with time, actor, school, action, target, request id and IP.
//! Rows are append-only (a trigger refuses UPDATE and DELETE). Nothing secret is ever
//! written here: no password, token or session id (SECURITY.md 27).
//!
//! - this module: [`record`] and [`in_school`] (a row in the caller's transaction; the route
//!   guard records denials with it, [`crate::web::guard`]);
//! - [`actions`]: every action code with its Russian title;
//! - [`names`]: targets and details as people read them;
//! - [`page`]: the log's page for the administrator and the director, and its CSV.

pub mod actions;
pub mod names;
pub mod page;

use sqlx::PgConnection;

use crate::auth::extract::SchoolScope;
use crate::ids::{AccountId, SchoolId};
use crate::web::request_meta::RequestMeta;

/// One audit row to write.
pub struct Entry<'a> {
    pub actor: Option<AccountId>,
    pub school: Option<SchoolId>,
    pub action: &'a str,
    pub target: Option<String>,
    pub details: Option<String>,
}

pub async fn record(
    conn: &mut PgConnection,
    meta: &RequestMeta,
    entry: Entry<'_>,
) -> sqlx::Result<()> {
    sqlx::query!(
        r#"insert into audit_log (actor_id, school_id, action, target, details, request_id, ip)
           values ($1, $2, $3, $4, $5, $6, $7)"#,
        entry.actor as Option<AccountId>,
        entry.school as Option<SchoolId>,
        entry.action,
        entry.target,
        entry.details,
        meta.request_id,
        meta.ip,
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Records something the actor of `scope` did in their school.
pub async fn in_school(
    conn: &mut PgConnection,
    meta: &RequestMeta,
    scope: &SchoolScope,
    action: &str,
    target: Option<String>,
    details: Option<String>,
) -> sqlx::Result<()> {
    record(
        conn,
        meta,
        Entry {
            actor: Some(scope.actor().id()),
            school: Some(scope.school_id()),
            action,
            target,
            details,
        },
    )
    .await
}
