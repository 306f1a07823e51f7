//! The audit log (SECURITY.md 26): every change of state, every login (ok and failed) and
//! every denial writes a row with time, actor, school, action, target, request id and IP.
//! Rows are append-only (a trigger refuses UPDATE and DELETE). Nothing secret is ever
//! written here: no password, token or session id (SECURITY.md 27).
//!
//! - this module: [`record`] and [`in_school`] (a row in the caller's transaction), [`denied`];
//! - [`page`]: the log's page for the administrator and the director.

pub mod page;

use axum::http::request::Parts;
use sqlx::PgConnection;

use crate::AppState;
use crate::auth::extract::RequestMeta;
use crate::auth::permissions::Access;
use crate::auth::session::CurrentSession;
use crate::ids::{AccountId, SchoolId};

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

/// Records a refused request (403). Failure to record is logged, not shown.
pub async fn denied(state: &AppState, parts: &Parts, access: Access) {
    let actor = parts
        .extensions
        .get::<Option<CurrentSession>>()
        .and_then(|s| s.as_ref().map(|s| s.account_id));
    let meta = RequestMeta::from_parts(parts, &state.config);
    let school = parts
        .uri
        .path()
        .strip_prefix("/s/")
        .and_then(|rest| rest.split('/').next())
        .and_then(|id| id.parse().ok());
    let result = async {
        let mut conn = state.db.acquire().await?;
        record(
            &mut conn,
            &meta,
            Entry {
                actor,
                school,
                action: "access.denied",
                target: Some(format!("{} {}", parts.method, parts.uri.path())),
                details: Some(access.to_string()),
            },
        )
        .await
    }
    .await;
    if let Err(e) = result {
        tracing::error!(error = %e, "could not record a denial in the audit log");
    }
}

/// Records something the actor of `scope` did in their school.
pub async fn in_school(
    conn: &mut PgConnection,
    meta: &RequestMeta,
    scope: &crate::auth::extract::SchoolScope,
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
