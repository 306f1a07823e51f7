//! The region's viewers (issue 11, item 6): the deployment operator, or a regional
//! specialist («специалист органа управления образованием») in force, read-only, for one
//! municipality or the whole region. [`RegionViewer`] is the proof `Access::Region` asks
//! for; its `tenant` opens a school's aggregates only inside the viewer's municipality.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use super::extract::Actor;
use super::tenant::Tenant;
use crate::AppState;
use crate::error::AppError;
use crate::ids::{AccountId, SchoolId};
use crate::web::layout::{Layout, NavItem};

/// Proof that the actor may see the region: the operator (everything) or a regional
/// specialist in force (their municipality, or everything when appointed for the region).
pub struct RegionViewer {
    actor: Actor,
    /// `None`: the whole region.
    municipality: Option<String>,
}

impl RegionViewer {
    pub fn actor(&self) -> &Actor {
        &self.actor
    }
    pub fn municipality(&self) -> Option<&str> {
        self.municipality.as_deref()
    }
    /// The page frame, with the way back to the region's view.
    pub fn layout(&self) -> Layout {
        let mut layout = Layout::for_actor(&self.actor);
        if !self.actor.is_operator() {
            layout.insert_nav(
                1,
                NavItem::new("/region/stats".into(), "Статистика региона"),
            );
        }
        layout
    }
    /// The key to a school's aggregates, when the school is in the viewer's part of the
    /// region (`None`: not found for them).
    pub async fn tenant(
        &self,
        conn: &mut sqlx::PgConnection,
        school: SchoolId,
    ) -> sqlx::Result<Option<(Tenant, String, String)>> {
        let row = sqlx::query!(
            "select name, timezone, municipality from schools where id = $1",
            school as SchoolId
        )
        .fetch_optional(conn)
        .await?;
        Ok(row
            .filter(|r| match &self.municipality {
                None => true,
                Some(m) => r.municipality.as_deref() == Some(m.as_str()),
            })
            .map(|r| (Tenant::for_region(school), r.name, r.timezone)))
    }
}

impl FromRequestParts<AppState> for RegionViewer {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        if let Some(RegionScope(municipality)) = parts.extensions.get::<RegionScope>().cloned() {
            return Ok(RegionViewer {
                actor: Actor::from_request_parts(parts, state).await?,
                municipality,
            });
        }
        let actor = Actor::from_request_parts(parts, state).await?;
        let municipality = if actor.is_operator() {
            None
        } else {
            let mut conn = state.db.acquire().await?;
            let row = sqlx::query!(
                "select municipality from regional_specialists where account_id = $1 and revoked_at is null",
                actor.id() as AccountId
            )
            .fetch_optional(&mut *conn)
            .await?;
            match row {
                Some(r) => r.municipality,
                None => return Err(AppError::Forbidden),
            }
        };
        parts.extensions.insert(RegionScope(municipality.clone()));
        Ok(RegionViewer {
            actor,
            municipality,
        })
    }
}

/// What the guard found, kept for the handler's extractor.
#[derive(Clone)]
struct RegionScope(Option<String>);

/// Whether an account is a regional specialist in force (for the start page).
pub async fn is_specialist(
    conn: &mut sqlx::PgConnection,
    account: AccountId,
) -> sqlx::Result<bool> {
    sqlx::query_scalar!(
        r#"select exists(select 1 from regional_specialists where account_id = $1
                         and revoked_at is null) as "e!""#,
        account as AccountId
    )
    .fetch_one(conn)
    .await
}
