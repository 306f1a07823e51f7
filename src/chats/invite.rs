//! A chat's invite link (R2.6.a, R2.7.a) through the invites mechanism. The button's form
//! carries a [`FormKey`] that becomes the link's id (SECURITY.md 18): sent twice, the
//! second finds the first's link and says so; the raw link is shown once. Joining by such a
//! link puts the new member into the chat ([`join_chat_by_invite`]).

use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use sqlx::PgConnection;

use super::Kind;
use super::show::load_chat;
use crate::AppState;
use crate::auth::extract::{RequestMeta, SchoolScope};
use crate::auth::permissions::{Action, Role};
use crate::auth::tenant::Tenant;
use crate::error::{AppError, AppResult};
use crate::ids::{AccountId, ChatId, InviteId, SchoolId};
use crate::invites::links::MessagePage;
use crate::web::format;
use crate::web::layout::Layout;
use crate::web::once::FormKey;
use crate::web::render;

#[derive(Deserialize, Default)]
pub(super) struct KeyForm {
    #[serde(default)]
    form_key: FormKey,
}

#[derive(Template)]
#[template(path = "chats/invite.html")]
struct InvitePage {
    layout: Layout,
    school_id: SchoolId,
    chat_id: ChatId,
    title: String,
    link: String,
    role: &'static str,
    expires: String,
}

/// A chat invite link through the invites mechanism: a link into the chat's class for its
/// students (students chat) or parents (parents chat) that also puts whoever joins by it —
/// newcomer or already in the class — into this chat. Shown once; only its hash is kept.
pub(super) async fn create_invite(
    State(state): State<AppState>,
    scope: SchoolScope,
    meta: RequestMeta,
    Path((_, chat)): Path<(String, ChatId)>,
    Form(form): Form<KeyForm>,
) -> AppResult<Response> {
    scope.require(Action::CreateInvites)?;
    let mut tx = state.db.begin().await?;
    let head = load_chat(&mut tx, &scope, chat).await?;
    if !(scope.has(Role::Admin) || head.leads) {
        return Err(AppError::Forbidden);
    }
    let (role, class) = match (head.kind, head.class_id) {
        (Kind::ClassStudents, Some(c)) => ("student", c),
        (Kind::ClassParents, Some(c)) => ("parent", c),
        _ => return Err(AppError::NotFound),
    };
    if head.archived {
        return Err(AppError::NotFound);
    }
    drop(tx);
    let request = crate::invites::issue::Request {
        id: crate::invites::InviteId(form.form_key.0),
        role: role.to_owned(),
        class,
        chat: Some(chat),
        children: None,
        purpose: format!("чат «{}»", head.title),
        max_uses: 60,
        needs_approval: role == "parent",
        days: 14,
    };
    let outcome =
        crate::invites::issue::issue(&state, &scope, &meta, request, "invite.created").await?;
    let crate::invites::issue::Outcome::Issued { links, expires_at } = outcome else {
        // Sent twice: the first made the link, shown once.
        return Ok(render(&MessagePage {
            layout: Layout::for_scope(&scope),
            title: "Приглашение уже создано",
            message: "Эта форма уже была отправлена, и ссылка-приглашение в чат по ней создана. Ссылку показывают только один раз: если она потерялась, отзовите приглашение в реестре и создайте новое.",
            back: format!("/s/{}/chats/{chat}", scope.school_id()),
            back_label: "К чату",
        })?
        .into_response());
    };
    let token = links
        .into_iter()
        .next()
        .map(|l| l.token)
        .unwrap_or_default();
    let expires = expires_at;
    Ok(render(&InvitePage {
        layout: Layout::for_scope(&scope),
        school_id: scope.school_id(),
        chat_id: chat,
        title: head.title,
        link: crate::invites::join_url(&state.public_url, &token),
        role: Role::membership_title(role),
        expires: format::datetime(expires, scope.timezone()),
    })?
    .into_response())
}

// ---- joining a chat by its invite link ----------------------------------------------

/// Puts the account's membership of the invite's role into the invite's chat, if the
/// invite names one (the caller's transaction; nothing when it names none).
pub async fn join_chat_by_invite(
    conn: &mut PgConnection,
    tenant: Tenant,
    invite: InviteId,
    account: AccountId,
) -> sqlx::Result<bool> {
    let school = tenant.id();
    Ok(sqlx::query!(
        r#"insert into chat_members (school_id, chat_id, member_id, role, added_by)
           select i.school_id, i.chat_id, m.id, 'member', $3
           from invites i
           join chats k on k.school_id = i.school_id and k.id = i.chat_id and k.archived_at is null
           join memberships m on m.school_id = i.school_id and m.account_id = $3
                              and m.role = i.role and m.status = 'active'
           where i.school_id = $1 and i.id = $2
           on conflict do nothing"#,
        school as SchoolId,
        invite as InviteId,
        account as AccountId
    )
    .execute(conn)
    .await?
    .rows_affected()
        > 0)
}
