//! A person's calendar feed in a school: a 32-byte random token in the address, only its
//! SHA-256 kept, shown once when made; «Новая ссылка» replaces it (the old address then
//! answers 404). Every fetch re-checks the person's roles in the school (someone who left
//! gets an empty calendar), answers with an ETag and 304 when unchanged, and the same
//! data gives the same bytes. No children's personal data is in it.

use axum::Form;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use sqlx::PgConnection;

use super::calendar::{events, uid_host, window};
use super::ical;
use super::queries::{self, Which};
use crate::AppState;
use crate::audit;
use crate::auth::extract::{RequestMeta, SchoolScope};
use crate::auth::permissions::Action;
use crate::auth::session::{new_token, token_hash};
use crate::auth::tenant::Tenant;
use crate::error::{AppError, AppResult};
use crate::ids::{AccountId, SchoolId};
use crate::web::once::FormKey;

pub async fn has_feed(conn: &mut PgConnection, scope: &SchoolScope) -> sqlx::Result<bool> {
    sqlx::query_scalar!(
        r#"select exists(select 1 from calendar_feeds where school_id = $1 and account_id = $2) as "e!""#,
        scope.school_id() as SchoolId,
        scope.actor().id() as AccountId
    )
    .fetch_one(conn)
    .await
}

#[derive(Deserialize, Default)]
pub struct FeedForm {
    #[serde(default)]
    form_key: FormKey,
}

/// Makes (or replaces) the actor's feed and shows its address once.
pub async fn rotate(
    State(state): State<AppState>,
    scope: SchoolScope,
    meta: RequestMeta,
    Form(form): Form<FeedForm>,
) -> AppResult<Response> {
    scope.require(Action::ViewBroadcasts)?;
    let mut tx = state.db.begin().await?;
    if let Some(url) = form.form_key.seen(&mut tx, scope.actor().id()).await? {
        return Ok(crate::web::once::again(&url));
    }
    let token = new_token();
    sqlx::query!(
        "insert into calendar_feeds (school_id, account_id, token_hash) values ($1, $2, $3)
         on conflict (school_id, account_id) do update set token_hash = excluded.token_hash, created_at = now()",
        scope.school_id() as SchoolId,
        scope.actor().id() as AccountId,
        token_hash(&token)
    )
    .execute(&mut *tx)
    .await?;
    audit::in_school(&mut tx, &meta, &scope, "calendar_feed.issued", None, None).await?;
    // Sent again, the form leads to the list: the address is shown only once.
    let back = format!("/s/{}/broadcasts", scope.school_id());
    form.form_key
        .done(&mut tx, scope.actor().id(), &back)
        .await?;
    tx.commit().await?;
    let url = format!("{}/calendar/{token}", state.public_url);
    super::pages::mine_page(&state, &scope, Some(url)).await
}

fn etag(body: &str) -> String {
    let d = Sha256::digest(body.as_bytes());
    let hex: String = d.iter().take(16).map(|b| format!("{b:02x}")).collect();
    format!("\"{hex}\"")
}

/// The feed itself (public: the token is the proof).
pub async fn feed(
    State(state): State<AppState>,
    Path(token): Path<String>,
    headers: HeaderMap,
) -> AppResult<Response> {
    if token.len() > 100 {
        return Err(AppError::NotFound);
    }
    let mut conn = state.db.acquire().await?;
    let row = sqlx::query!(
        r#"select f.school_id as "school_id: SchoolId", f.account_id as "account_id: AccountId",
                  s.name, s.timezone
           from calendar_feeds f join schools s on s.id = f.school_id where f.token_hash = $1"#,
        token_hash(&token)
    )
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(AppError::NotFound)?;
    let tenant = Tenant::of_feed(row.school_id);
    // The person's rights now, not when the link was made.
    let roles = crate::auth::extract::roles_of(&mut conn, row.account_id, tenant.id()).await?;
    let list = if roles.is_empty() {
        Vec::new()
    } else {
        queries::load(&mut conn, tenant, Which::For(row.account_id)).await?
    };
    let (from, to) = window(&row.timezone);
    let evs = events(&list, &row.timezone, &uid_host(&state.public_url), from, to);
    let body = ical::calendar(&format!("Трансляции — {}", row.name), &row.timezone, &evs);
    let tag = etag(&body);
    let matches = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == tag));
    let mut res = if matches {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        body.into_response()
    };
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/calendar; charset=utf-8"),
    );
    if let Ok(v) = HeaderValue::from_str(&tag) {
        h.insert(header::ETAG, v);
    }
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-cache"),
    );
    Ok(res)
}
