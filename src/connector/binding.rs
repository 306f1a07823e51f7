//! People matched to platform accounts (issue 15, item 5). The platform gives members no
//! contacts, so each person gets a personal deep link to the school's bot
//! (`https://max.ru/<bot>?start=<payload>`, and its QR code); opening it sends `bot_started`
//! with the payload, which binds the platform account to the person's membership. The class
//! teacher sees on the chat page who is bound.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use sqlx::PgConnection;

use super::config::random_token;
use super::matching::job_meta;
use crate::AppState;
use crate::audit::{self, Entry};
use crate::auth::extract::SchoolScope;
use crate::auth::permissions::Action;
use crate::auth::tenant::Tenant;
use crate::error::AppResult;
use crate::ids::{AccountId, MembershipId, SchoolId};
use crate::web::layout::Layout;

/// Binds the platform account that started the bot with `payload`. A payload of no
/// person of this school (another school's, or made up) binds nothing.
pub async fn bind(
    conn: &mut PgConnection,
    tenant: Tenant,
    payload: &str,
    user_id: i64,
    name: &str,
) -> sqlx::Result<bool> {
    let school = tenant.id();
    let Some(member) = sqlx::query_scalar!(
        r#"select membership_id as "m: MembershipId" from connector_bind_links
           where school_id = $1 and payload = $2"#,
        school as SchoolId,
        payload
    )
    .fetch_optional(&mut *conn)
    .await?
    else {
        return Ok(false);
    };
    // One platform account is one person: a second binding moves it.
    sqlx::query!(
        "delete from connector_accounts where school_id = $1 and user_id = $2 and membership_id <> $3",
        school as SchoolId,
        user_id,
        member as MembershipId
    )
    .execute(&mut *conn)
    .await?;
    let changed = sqlx::query!(
        "insert into connector_accounts (school_id, membership_id, user_id, name)
         values ($1, $2, $3, $4)
         on conflict (school_id, membership_id) do update
           set user_id = excluded.user_id, name = excluded.name, bound_at = now()
           where connector_accounts.user_id <> excluded.user_id",
        school as SchoolId,
        member as MembershipId,
        user_id,
        name
    )
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if changed == 1 {
        audit::record(
            conn,
            &job_meta(),
            Entry {
                actor: None,
                school: Some(school),
                action: "connector.account_bound",
                target: Some(format!("membership:{member}")),
                details: Some(format!("пользователь мессенджера {user_id}")),
            },
        )
        .await?;
    }
    Ok(changed == 1)
}

/// The person's payload, made on first use.
pub async fn payload_for(
    conn: &mut PgConnection,
    tenant: Tenant,
    member: MembershipId,
) -> sqlx::Result<String> {
    sqlx::query!(
        "insert into connector_bind_links (school_id, membership_id, payload) values ($1, $2, $3)
         on conflict do nothing",
        tenant.id() as SchoolId,
        member as MembershipId,
        random_token(40)
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query_scalar!(
        "select payload from connector_bind_links where school_id = $1 and membership_id = $2",
        tenant.id() as SchoolId,
        member as MembershipId
    )
    .fetch_one(conn)
    .await
}

/// The deep link to the bot carrying `payload`.
pub fn deep_link(username: &str, payload: &str) -> String {
    format!("https://max.ru/{username}?start={payload}")
}

#[derive(Template, WebTemplate)]
#[template(path = "connector/link.html")]
struct LinkPage {
    layout: Layout,
    link: Option<String>,
    qr: String,
    bound: bool,
}

/// «Привязать аккаунт на платформе»: the person's own deep link and its QR code.
pub async fn page(State(state): State<AppState>, scope: SchoolScope) -> AppResult<Response> {
    scope.require(Action::BindPlatformAccount)?;
    let mut conn = state.db.acquire().await?;
    let tenant = scope.tenant();
    let username = sqlx::query_scalar!(
        "select bot_username from connector_bots where school_id = $1",
        tenant.id() as SchoolId
    )
    .fetch_optional(&mut *conn)
    .await?
    .flatten();
    let member = sqlx::query_scalar!(
        r#"select id as "id: MembershipId" from memberships
           where school_id = $1 and account_id = $2 and status = 'active'
           order by joined_at, id limit 1"#,
        tenant.id() as SchoolId,
        scope.actor().id() as AccountId
    )
    .fetch_optional(&mut *conn)
    .await?;
    let (link, bound) = match (username, member) {
        (Some(u), Some(m)) => {
            let payload = payload_for(&mut conn, tenant, m).await?;
            let bound = sqlx::query_scalar!(
                r#"select exists(select 1 from connector_accounts
                                 where school_id = $1 and membership_id = $2) as "x!""#,
                tenant.id() as SchoolId,
                m as MembershipId
            )
            .fetch_one(&mut *conn)
            .await?;
            (Some(deep_link(&u, &payload)), bound)
        }
        _ => (None, false),
    };
    let qr = link
        .as_deref()
        .map(crate::invites::qr_svg)
        .unwrap_or_default();
    Ok(LinkPage {
        layout: Layout::for_scope(&scope),
        link,
        qr,
        bound,
    }
    .into_response())
}
