//! «Приглашения школ»: a logged-in person's own pending offers, found by their own login
//! (e-mail or phone), so that an offer made with only a phone reaches its person too
//! (SECURITY.md 35). Accepting records consent (SECURITY.md 36), as on `/offers/{token}`.

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::pages::{accept, addressed_to, gone, live_by, lock};
use super::{NOTICE_VERSION, consent_given};
use crate::AppState;
use crate::audit::{self, Entry};
use crate::auth::extract::{Actor, MaybeActor, RequestMeta};
use crate::auth::permissions::Access;
use crate::auth::permissions::Role;
use crate::error::{AppError, AppResult};
use crate::ids::{AccountId, OfferId};
use crate::web::Routes;
use crate::web::format;

pub fn routes(r: Routes) -> Routes {
    r.get("/my-offers", Access::LoggedIn, list).post(
        "/my-offers/{offer_id}",
        Access::LoggedIn,
        answer,
    )
}

struct Row {
    id: OfferId,
    school: String,
    role: &'static str,
    class: Option<String>,
    child: Option<String>,
    expires: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "offers/mine.html")]
struct MinePage {
    layout: crate::web::layout::Layout,
    offers: Vec<Row>,
    notice_version: &'static str,
    error: Option<&'static str>,
}

async fn page(state: &AppState, actor: &Actor, error: Option<&'static str>) -> AppResult<Response> {
    let mut conn = state.db.acquire().await?;
    let offers = sqlx::query!(
        r#"select o.id, s.name as school, s.timezone, o.role, c.title as "class?", o.expires_at,
                  (select ka.surname || ' ' || ka.given_name from memberships k
                   join accounts ka on ka.id = k.account_id
                   where k.school_id = o.school_id and k.id = o.child_id) as child
           from offers o
           join accounts a on a.id = $1
           join schools s on s.id = o.school_id
           left join classes c on c.school_id = o.school_id and c.id = o.class_id
           where o.status = 'pending' and o.expires_at > now()
             and ((o.email = a.email and a.email is not null)
                  or (o.phone = a.phone and a.phone is not null))
           order by o.created_at, o.id"#,
        actor.id() as AccountId
    )
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .map(|o| Row {
        id: OfferId(o.id),
        school: o.school,
        role: Role::membership_title(&o.role),
        class: o.class,
        child: o.child,
        expires: format::datetime(o.expires_at, &o.timezone),
    })
    .collect();
    Ok(MinePage {
        layout: crate::web::layout::Layout::for_actor(actor),
        offers,
        notice_version: NOTICE_VERSION,
        error,
    }
    .into_response())
}

async fn list(State(state): State<AppState>, actor: Actor) -> AppResult<Response> {
    page(&state, &actor, None).await
}

#[derive(Deserialize)]
struct AnswerForm {
    #[serde(default)]
    mode: String,
    #[serde(default)]
    consent: String,
}

async fn answer(
    State(state): State<AppState>,
    actor: Actor,
    meta: RequestMeta,
    headers: HeaderMap,
    Path(offer_id): Path<OfferId>,
    Form(form): Form<AnswerForm>,
) -> AppResult<Response> {
    let maybe = MaybeActor(Some(actor.clone()));
    let mut conn = state.db.acquire().await?;
    let live = match live_by(&mut conn, None, Some(offer_id)).await? {
        Some(l) if addressed_to(&mut conn, &l, actor.id()).await? => l,
        // Accepted by this person already (sent twice): where the first led. Someone
        // else's offer, or an answered one: the same as an unknown one.
        _ => {
            return match super::pages::accepted_by(&mut conn, offer_id, actor.id()).await? {
                Some(school) => Ok(Redirect::to(&format!("/s/{school}")).into_response()),
                None => gone(&maybe),
            };
        }
    };
    drop(conn);
    match form.mode.as_str() {
        "accept" => {
            if let Err(m) = consent_given(&form.consent) {
                return page(&state, &actor, Some(m)).await;
            }
            accept(&state, &meta, &headers, &live, actor.id(), &maybe).await
        }
        "decline" => {
            let mut tx = state.db.begin().await?;
            if !lock(&mut tx, &live).await? {
                return gone(&maybe);
            }
            sqlx::query!(
                r#"update offers set status = 'declined', decided_at = now(), decided_by = $2
                   where id = $1"#,
                live.id as OfferId,
                actor.id() as AccountId
            )
            .execute(&mut *tx)
            .await?;
            audit::record(
                &mut tx,
                &meta,
                Entry {
                    actor: Some(actor.id()),
                    school: Some(live.school),
                    action: "offer.declined",
                    target: Some(format!("offer:{}", live.id)),
                    details: None,
                },
            )
            .await?;
            tx.commit().await?;
            Ok(Redirect::to("/my-offers").into_response())
        }
        _ => Err(AppError::BadRequest(crate::ru!("Неизвестное действие."))),
    }
}
