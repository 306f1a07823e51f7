//! The route guard: each route's declared [`Access`] is checked before its handler runs
//! (defence in depth on top of the extractors each handler takes); a refusal (403) is
//! written to the audit log with the request's [`RequestMeta`], the same as every other row.

use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::AppState;
use crate::audit::{self, Entry};
use crate::auth::extract::{Actor, Operator, SchoolScope};
use crate::auth::permissions::Access;
use crate::auth::region::RegionViewer;
use crate::auth::session::CurrentSession;
use crate::error::AppError;
use crate::web::request_meta::RequestMeta;

/// The route guard: defence in depth on top of the extractors each handler takes. It
/// checks the route's declared [`Access`] before the handler runs.
pub async fn guard(
    State((state, access)): State<(AppState, Access)>,
    req: Request,
    next: Next,
) -> Response {
    let (mut parts, body) = req.into_parts();
    let checked: Result<(), AppError> = async {
        match access {
            Access::Public => Ok(()),
            Access::LoggedIn => Actor::from_request_parts(&mut parts, &state)
                .await
                .map(drop),
            Access::Operator => Operator::from_request_parts(&mut parts, &state)
                .await
                .map(drop),
            Access::Region => RegionViewer::from_request_parts(&mut parts, &state)
                .await
                .map(drop),
            Access::School(action) => {
                let scope = SchoolScope::from_request_parts(&mut parts, &state).await?;
                scope.require(action)
            }
        }
    }
    .await;
    if let Err(e) = checked {
        if matches!(e, AppError::Forbidden) {
            denied(&state, &parts, access).await;
        }
        return e.into_response();
    }
    next.run(Request::from_parts(parts, body)).await
}

/// What a refused request lacked, in the log's words.
fn lacked(access: Access) -> String {
    match access {
        Access::Public => "страница открыта всем".to_owned(),
        Access::LoggedIn => "нужен вход".to_owned(),
        Access::Operator => "только для оператора".to_owned(),
        Access::Region => "только для оператора или регионального специалиста".to_owned(),
        Access::School(action) => format!("нет права в школе ({action:?})"),
    }
}

/// Records a refused request (403). Failure to record is logged, not shown.
async fn denied(state: &AppState, parts: &Parts, access: Access) {
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
        audit::record(
            &mut conn,
            &meta,
            Entry {
                actor,
                school,
                action: audit::actions::ACCESS_DENIED,
                target: Some(format!("{} {}", parts.method, parts.uri.path())),
                details: Some(lacked(access)),
            },
        )
        .await
    }
    .await;
    if let Err(e) = result {
        tracing::error!(error = %e, "could not record a denial in the audit log");
    }
}
