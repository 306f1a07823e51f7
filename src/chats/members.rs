//! Changing a chat (R2.4.d): adding and removing members, reconciling a mandatory chat
//! with the roster, handing it over, archiving it, its title and platform link. Each
//! change is checked by [`for_change`] and audited.

use axum::Form;
use axum::extract::{Path, State};
use axum::http::Uri;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use sqlx::{PgConnection, Postgres, Transaction};

use super::rules::valid_platform_url;
use super::show::{ChatHead, candidates, chat_role, load_chat, show_page, show_page_typed};
use super::sync;
use crate::AppState;
use crate::audit::{self, Entry};
use crate::auth::extract::{RequestMeta, SchoolScope};
use crate::auth::permissions::Action;
use crate::auth::tenant::Tenant;
use crate::error::{AppError, AppResult};
use crate::ids::{AccountId, ChatId, MembershipId, SchoolId};
use crate::web::form::FormErrors;
use crate::web::format;
use crate::web::once::{self, FormKey, KeyOnly};

/// Loads the chat for a change: 404 for another school's, 403 unless the actor manages it,
/// 404 once archived.
async fn for_change(
    conn: &mut PgConnection,
    scope: &SchoolScope,
    chat: ChatId,
) -> AppResult<ChatHead> {
    scope.require(Action::ManageChats)?;
    let head = load_chat(conn, scope, chat).await?;
    if !head.manageable() {
        return Err(AppError::Forbidden);
    }
    if head.archived {
        return Err(AppError::NotFound);
    }
    Ok(head)
}

/// Records the form key with the chat's page (where every change leads), commits, goes
/// there. The page renders one key into all its forms; each action derives its own
/// (`FormKey::for_action`), so a second submit of the same form changes nothing.
async fn finish(
    mut tx: Transaction<'_, Postgres>,
    scope: &SchoolScope,
    key: FormKey,
    chat: ChatId,
) -> AppResult<Response> {
    let url = format!("/s/{}/chats/{chat}", scope.school_id());
    key.done(&mut tx, scope.actor().id(), &url).await?;
    tx.commit().await?;
    Ok(Redirect::to(&url).into_response())
}

#[derive(Deserialize, Default, Debug)]
pub(super) struct MemberForm {
    #[serde(default)]
    form_key: FormKey,
    #[serde(default)]
    member_id: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    confirm: String,
}

pub(super) async fn add_member(
    State(state): State<AppState>,
    scope: SchoolScope,
    meta: RequestMeta,
    uri: Uri,
    Path((_, chat)): Path<(String, ChatId)>,
    Form(form): Form<MemberForm>,
) -> AppResult<Response> {
    let key = form.form_key.for_action(uri.path());
    let mut tx = state.db.begin().await?;
    if let Some(url) = key.seen(&mut tx, scope.actor().id()).await? {
        return Ok(once::again(&url));
    }
    let head = for_change(&mut tx, &scope, chat).await?;
    let role = if form.role == "admin" {
        "admin"
    } else {
        "member"
    };
    let allowed = match form.member_id.parse::<MembershipId>() {
        Ok(id) => candidates(&mut tx, scope.tenant(), &head)
            .await?
            .0
            .into_iter()
            .find(|p| p.id == id),
        Err(_) => None,
    };
    let Some(person) = allowed else {
        let mut errors = FormErrors::default();
        errors.add("member_id", "Выберите человека из списка.");
        return show_page(&mut tx, &scope, chat, errors, None).await;
    };
    sqlx::query!(
        r#"insert into chat_members (school_id, chat_id, member_id, role, added_by)
           values ($1, $2, $3, $4, $5) on conflict do nothing"#,
        scope.school_id() as SchoolId,
        chat as ChatId,
        person.id as MembershipId,
        role,
        scope.actor().id() as AccountId
    )
    .execute(&mut *tx)
    .await?;
    audit::record(
        &mut tx,
        &meta,
        Entry {
            actor: Some(scope.actor().id()),
            school: Some(scope.school_id()),
            action: "chat.member_added",
            target: Some(format!("chat:{chat}")),
            details: Some(format!("{} ({})", person.name, chat_role(role))),
        },
    )
    .await?;
    finish(tx, &scope, key, chat).await
}

pub(super) async fn remove_member(
    State(state): State<AppState>,
    scope: SchoolScope,
    meta: RequestMeta,
    uri: Uri,
    Path((_, chat, member)): Path<(String, ChatId, MembershipId)>,
    Form(form): Form<MemberForm>,
) -> AppResult<Response> {
    let key = form.form_key.for_action(uri.path());
    let mut tx = state.db.begin().await?;
    if let Some(url) = key.seen(&mut tx, scope.actor().id()).await? {
        return Ok(once::again(&url));
    }
    for_change(&mut tx, &scope, chat).await?;
    let row = sqlx::query!(
        r#"select cm.role, a.surname, a.given_name, a.patronymic from chat_members cm
           join memberships m on m.school_id = cm.school_id and m.id = cm.member_id
           join accounts a on a.id = m.account_id
           where cm.school_id = $1 and cm.chat_id = $2 and cm.member_id = $3"#,
        scope.school_id() as SchoolId,
        chat as ChatId,
        member as MembershipId
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(AppError::NotFound)?;
    let mut errors = FormErrors::default();
    if row.role == "owner" {
        errors.add(
            "remove",
            "Владельца нельзя исключить: сначала передайте чат другому.",
        );
    } else if form.confirm != "yes" {
        errors.add(
            "remove",
            "Отметьте «Подтверждаю», чтобы исключить участника.",
        );
    }
    if !errors.is_empty() {
        return show_page(&mut tx, &scope, chat, errors, None).await;
    }
    sqlx::query!(
        "delete from chat_members where school_id = $1 and chat_id = $2 and member_id = $3",
        scope.school_id() as SchoolId,
        chat as ChatId,
        member as MembershipId
    )
    .execute(&mut *tx)
    .await?;
    audit::record(
        &mut tx,
        &meta,
        Entry {
            actor: Some(scope.actor().id()),
            school: Some(scope.school_id()),
            action: "chat.member_removed",
            target: Some(format!("chat:{chat}")),
            details: Some(format::full_name(
                &row.surname,
                &row.given_name,
                row.patronymic.as_deref(),
            )),
        },
    )
    .await?;
    finish(tx, &scope, key, chat).await
}

/// Brings a mandatory chat to what the roster says, in one action (R2.4.d).
pub async fn reconcile_chat(
    conn: &mut PgConnection,
    meta: &RequestMeta,
    tenant: Tenant,
    actor: AccountId,
    chat: ChatId,
) -> sqlx::Result<sync::Synced> {
    let school = tenant.id();
    let removed = sqlx::query!(
        r#"delete from chat_members cm
           where cm.school_id = $1 and cm.chat_id = $2 and cm.role = 'member'
             and not exists(select 1 from chat_expected_members e
                            where e.school_id = cm.school_id and e.chat_id = cm.chat_id
                              and e.member_id = cm.member_id)"#,
        school as SchoolId,
        chat as ChatId
    )
    .execute(&mut *conn)
    .await?
    .rows_affected();
    let added = fill_from_roster(&mut *conn, tenant, chat, actor).await?;
    audit::record(
        conn,
        meta,
        Entry {
            actor: Some(actor),
            school: Some(school),
            action: "chat.reconciled",
            target: Some(format!("chat:{chat}")),
            details: Some(format!("добавлено: {added}, исключено: {removed}")),
        },
    )
    .await?;
    Ok(sync::Synced { added, removed })
}

pub(super) async fn reconcile(
    State(state): State<AppState>,
    scope: SchoolScope,
    meta: RequestMeta,
    uri: Uri,
    Path((_, chat)): Path<(String, ChatId)>,
    Form(form): Form<KeyOnly>,
) -> AppResult<Response> {
    let key = form.form_key.for_action(uri.path());
    let mut tx = state.db.begin().await?;
    if let Some(url) = key.seen(&mut tx, scope.actor().id()).await? {
        return Ok(once::again(&url));
    }
    let head = for_change(&mut tx, &scope, chat).await?;
    if !head.kind.is_mandatory() {
        return Err(AppError::NotFound);
    }
    reconcile_chat(&mut tx, &meta, scope.tenant(), scope.actor().id(), chat).await?;
    finish(tx, &scope, key, chat).await
}

pub(super) async fn handover(
    State(state): State<AppState>,
    scope: SchoolScope,
    meta: RequestMeta,
    uri: Uri,
    Path((_, chat)): Path<(String, ChatId)>,
    Form(form): Form<MemberForm>,
) -> AppResult<Response> {
    let key = form.form_key.for_action(uri.path());
    let mut tx = state.db.begin().await?;
    if let Some(url) = key.seen(&mut tx, scope.actor().id()).await? {
        return Ok(once::again(&url));
    }
    let head = for_change(&mut tx, &scope, chat).await?;
    let to = match form.member_id.parse::<MembershipId>() {
        Ok(id) => candidates(&mut tx, scope.tenant(), &head)
            .await?
            .1
            .into_iter()
            .find(|p| p.id == id),
        Err(_) => None,
    };
    let Some(to) = to else {
        let mut errors = FormErrors::default();
        errors.add(
            "handover",
            "Выберите учителя или сотрудника, которому передаёте чат.",
        );
        return show_page(&mut tx, &scope, chat, errors, None).await;
    };
    sqlx::query!(
        r#"update chat_members set role = 'member'
           where school_id = $1 and chat_id = $2 and role = 'owner'"#,
        scope.school_id() as SchoolId,
        chat as ChatId
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query!(
        r#"insert into chat_members (school_id, chat_id, member_id, role, added_by)
           values ($1, $2, $3, 'owner', $4)
           on conflict (school_id, chat_id, member_id) do update set role = 'owner'"#,
        scope.school_id() as SchoolId,
        chat as ChatId,
        to.id as MembershipId,
        scope.actor().id() as AccountId
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query!(
        "update chats set owner_id = $3 where school_id = $1 and id = $2",
        scope.school_id() as SchoolId,
        chat as ChatId,
        to.id as MembershipId
    )
    .execute(&mut *tx)
    .await?;
    audit::record(
        &mut tx,
        &meta,
        Entry {
            actor: Some(scope.actor().id()),
            school: Some(scope.school_id()),
            action: "chat.handed_over",
            target: Some(format!("chat:{chat}")),
            details: Some(format!("{} → {}", head.owner, to.name)),
        },
    )
    .await?;
    finish(tx, &scope, key, chat).await
}

pub(super) async fn archive(
    State(state): State<AppState>,
    scope: SchoolScope,
    meta: RequestMeta,
    uri: Uri,
    Path((_, chat)): Path<(String, ChatId)>,
    Form(form): Form<MemberForm>,
) -> AppResult<Response> {
    let key = form.form_key.for_action(uri.path());
    let mut tx = state.db.begin().await?;
    if let Some(url) = key.seen(&mut tx, scope.actor().id()).await? {
        return Ok(once::again(&url));
    }
    let head = for_change(&mut tx, &scope, chat).await?;
    if form.confirm != "yes" {
        let mut errors = FormErrors::default();
        errors.add(
            "archive",
            "Отметьте «Подтверждаю», чтобы отправить чат в архив.",
        );
        return show_page(&mut tx, &scope, chat, errors, None).await;
    }
    sqlx::query!(
        "update chats set archived_at = now() where school_id = $1 and id = $2",
        scope.school_id() as SchoolId,
        chat as ChatId
    )
    .execute(&mut *tx)
    .await?;
    audit::record(
        &mut tx,
        &meta,
        Entry {
            actor: Some(scope.actor().id()),
            school: Some(scope.school_id()),
            action: "chat.archived",
            target: Some(format!("chat:{chat}")),
            details: Some(head.title),
        },
    )
    .await?;
    finish(tx, &scope, key, chat).await
}

// ---- title and platform link -----------------------------------------------------------

#[derive(Deserialize, Default, Debug)]
pub(super) struct EditForm {
    #[serde(default)]
    form_key: FormKey,
    #[serde(default)]
    title: String,
    #[serde(default)]
    platform_url: String,
}

/// Renames the chat and sets its link on the platform (what «Мои чаты» shows).
pub(super) async fn edit(
    State(state): State<AppState>,
    scope: SchoolScope,
    meta: RequestMeta,
    uri: Uri,
    Path((_, chat)): Path<(String, ChatId)>,
    Form(form): Form<EditForm>,
) -> AppResult<Response> {
    let key = form.form_key.for_action(uri.path());
    let mut tx = state.db.begin().await?;
    if let Some(url) = key.seen(&mut tx, scope.actor().id()).await? {
        return Ok(once::again(&url));
    }
    for_change(&mut tx, &scope, chat).await?;
    let mut errors = FormErrors::default();
    let title = form.title.trim();
    if title.is_empty() || title.chars().count() > 200 {
        errors.add("title", "Укажите название чата (до 200 знаков).");
    }
    let url = match valid_platform_url(&form.platform_url) {
        Ok(u) => u,
        Err(e) => {
            errors.add("platform_url", e);
            None
        }
    };
    if !errors.is_empty() {
        let typed = (form.title.clone(), form.platform_url.clone());
        return show_page_typed(&mut tx, &scope, chat, errors, None, Some(typed)).await;
    }
    sqlx::query!(
        "update chats set title = $3, platform_url = $4 where school_id = $1 and id = $2",
        scope.school_id() as SchoolId,
        chat as ChatId,
        title,
        url
    )
    .execute(&mut *tx)
    .await?;
    audit::record(
        &mut tx,
        &meta,
        Entry {
            actor: Some(scope.actor().id()),
            school: Some(scope.school_id()),
            action: "chat.edited",
            target: Some(format!("chat:{chat}")),
            details: Some(format!("«{title}», ссылка: {}", url.unwrap_or("—"))),
        },
    )
    .await?;
    finish(tx, &scope, key, chat).await
}

/// Adds everyone the roster says belongs in a chat and is not in it yet; returns how many.
pub(super) async fn fill_from_roster(
    conn: &mut sqlx::PgConnection,
    tenant: Tenant,
    chat: ChatId,
    actor: AccountId,
) -> sqlx::Result<u64> {
    let school = tenant.id();
    Ok(sqlx::query!(
        r#"insert into chat_members (school_id, chat_id, member_id, role, added_by)
           select e.school_id, e.chat_id, e.member_id, 'member', $3
           from chat_expected_members e where e.school_id = $1 and e.chat_id = $2
           on conflict do nothing"#,
        school as SchoolId,
        chat as ChatId,
        actor as AccountId
    )
    .execute(conn)
    .await?
    .rows_affected())
}
