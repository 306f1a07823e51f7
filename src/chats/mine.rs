//! «Мои чаты» (R2.6.a, R2.7.a): the live chats the person is in, with the link to each on
//! the platform.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use sqlx::PgConnection;

use super::Kind;
use super::list::ChatRow;
use crate::AppState;
use crate::auth::extract::SchoolScope;
use crate::auth::permissions::Action;
use crate::auth::tenant::Tenant;
use crate::error::AppResult;
use crate::ids::{AccountId, ChatId, SchoolId};
use crate::web::layout::Layout;

#[derive(Template, WebTemplate)]
#[template(path = "chats/my.html")]
struct MyPage {
    layout: Layout,
    school_id: SchoolId,
    chats: Vec<ChatRow>,
}

/// The live chats the person is in, with the link to each on the platform (R2.6.a, R2.7.a).
pub async fn my_chat_rows(
    conn: &mut PgConnection,
    tenant: Tenant,
    account: AccountId,
) -> sqlx::Result<Vec<ChatRow>> {
    let school = tenant.id();
    Ok(sqlx::query!(
        r#"select distinct k.id, k.title, k.kind, cl.title as "class?", k.platform_url,
                  cl.grade, cl.letter
           from chats k
           join chat_members cm on cm.school_id = k.school_id and cm.chat_id = k.id
           join memberships m on m.school_id = cm.school_id and m.id = cm.member_id
           left join classes cl on cl.school_id = k.school_id and cl.id = k.class_id
           where k.school_id = $1 and m.account_id = $2 and m.status = 'active'
             and k.archived_at is null
           order by cl.grade nulls last, cl.letter, k.title"#,
        school as SchoolId,
        account as AccountId
    )
    .fetch_all(conn)
    .await?
    .into_iter()
    .map(|r| ChatRow {
        id: ChatId(r.id),
        title: r.title,
        kind: Kind::from_code(&r.kind).map_or("чат", Kind::title),
        class: r.class,
        members: String::new(),
        archived: false,
        platform_url: r.platform_url,
    })
    .collect())
}

pub(super) async fn my_chats(
    State(state): State<AppState>,
    scope: SchoolScope,
) -> AppResult<Response> {
    scope.require(Action::ViewMyChats)?;
    let mut conn = state.db.acquire().await?;
    let chats = my_chat_rows(&mut conn, scope.tenant(), scope.actor().id()).await?;
    Ok(MyPage {
        layout: Layout::for_scope(&scope),
        school_id: scope.school_id(),
        chats,
    }
    .into_response())
}
