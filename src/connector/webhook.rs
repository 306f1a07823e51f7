//! The webhook receiver: `POST /hooks/max/{hook_id}`, public (the platform calls it) but
//! per school and unguessable (a random 40-character id), and the secret header compared in
//! constant time. A wrong secret or an unknown hook answers 401 and stores nothing; a right
//! one stores the raw update (the same bytes twice are stored once) and answers 200 at
//! once: the worker processes it later (the platform wants an answer within 30 s).

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::AppState;
use crate::auth::tenant::Tenant;
use crate::error::AppResult;
use crate::ids::SchoolId;

/// The header the platform sends the subscription's secret in.
pub const SECRET_HEADER: &str = "x-max-bot-api-secret";

/// Compared against when the hook is unknown, so an unknown hook takes as long as a wrong
/// secret.
const DUMMY_SECRET: &str = "not-a-secret-of-any-school-0000000000";

fn same(a: &str, b: &str) -> bool {
    // ct_eq of different lengths is false at once; the length of a secret is no secret
    // worth keeping (5–256 characters by the platform's rule).
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

pub async fn receive(
    State(state): State<AppState>,
    Path(hook_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> AppResult<Response> {
    let sent = headers
        .get(SECRET_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mut conn = state.db.acquire().await?;
    let bot = if hook_id.len() <= 64 {
        sqlx::query!(
            r#"select school_id as "school_id: SchoolId", webhook_secret
               from connector_bots where hook_id = $1"#,
            hook_id
        )
        .fetch_optional(&mut *conn)
        .await?
    } else {
        None
    };
    let (school, secret) = match &bot {
        Some(b) => (Some(b.school_id), b.webhook_secret.as_str()),
        None => (None, DUMMY_SECRET),
    };
    let matches = same(sent, secret);
    let (Some(school), true) = (school, matches) else {
        return Ok((StatusCode::UNAUTHORIZED, "unauthorized").into_response());
    };
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(&body) else {
        return Ok((StatusCode::BAD_REQUEST, "not json").into_response());
    };
    if !value.is_object() {
        return Ok((StatusCode::BAD_REQUEST, "not an update").into_response());
    }
    let Ok(text) = std::str::from_utf8(&body) else {
        return Ok((StatusCode::BAD_REQUEST, "not utf-8").into_response());
    };
    store(&mut conn, Tenant::of_hook(school), text).await?;
    Ok((StatusCode::OK, "ok").into_response())
}

/// Stores an update (also used by long polling). False when the same bytes were stored
/// already.
pub async fn store(conn: &mut sqlx::PgConnection, tenant: Tenant, raw: &str) -> sqlx::Result<bool> {
    let digest = hex(&Sha256::digest(raw.as_bytes()));
    let stored = sqlx::query!(
        "insert into connector_updates (school_id, body, digest) values ($1, $2, $3)
         on conflict (school_id, digest) do nothing",
        tenant.id() as SchoolId,
        raw,
        digest
    )
    .execute(conn)
    .await?;
    Ok(stored.rows_affected() == 1)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
