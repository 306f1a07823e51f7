//! Removing who left (issue 15, item 7; R2.1.l, R2.4.d). After a movement (leaving, a
//! transfer, graduation) the roster no longer expects someone the platform still lists: the
//! chat page proposes their removal, and the class teacher or the administrator confirms
//! each. The bot sends `DELETE /chats/{id}/members?user_id=`; the removal stays «sent»
//! until the platform's `user_removed` event closes it. Each step is audited.

use axum::Form;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use sqlx::PgConnection;
use uuid::Uuid;

use super::config::{self, ConnectorKey};
use super::matching::job_meta;
use super::presence;
use crate::AppState;
use crate::audit::{self, Entry};
use crate::auth::extract::{RequestMeta, SchoolScope};
use crate::auth::permissions::Action;
use crate::auth::tenant::Tenant;
use crate::error::AppResult;
use crate::ids::{AccountId, ChatId, MembershipId, SchoolId};
use crate::web::form::FormErrors;
use crate::web::once::{FormKey, KeyOnly, again};

/// The platform's `user_removed` closes the removals sent for this person in this chat.
pub async fn confirmed(
    conn: &mut PgConnection,
    tenant: Tenant,
    platform_chat: i64,
    user_id: i64,
    admin_id: Option<i64>,
) -> sqlx::Result<()> {
    let closed = sqlx::query_scalar!(
        "update connector_removals set state = 'done', done_at = now()
         where school_id = $1 and platform_chat_id = $2 and user_id = $3 and state = 'sent'
         returning id",
        tenant.id() as SchoolId,
        platform_chat,
        user_id
    )
    .fetch_all(&mut *conn)
    .await?;
    for id in closed {
        audit::record(
            conn,
            &job_meta(),
            Entry {
                actor: None,
                school: Some(tenant.id()),
                action: "connector.removal_confirmed",
                target: Some(format!("removal:{id}")),
                details: Some(format!(
                    "пользователь мессенджера {user_id} вышел из чата мессенджера {platform_chat}{}",
                    admin_id.map_or(String::new(), |a| format!(", исключил пользователь мессенджера {a}"))
                )),
            },
        )
        .await?;
    }
    Ok(())
}

#[derive(Debug, Default, Deserialize)]
pub struct RemoveForm {
    #[serde(default)]
    user_id: String,
    #[serde(default)]
    confirm: String,
    #[serde(default)]
    form_key: FormKey,
}

fn key_of(state: &AppState) -> Option<ConnectorKey> {
    ConnectorKey::from_config(&state.config.connector)
}

async fn refuse(
    conn: &mut PgConnection,
    scope: &SchoolScope,
    chat: ChatId,
    message: &'static str,
) -> AppResult<Response> {
    let mut errors = FormErrors::default();
    errors.add("platform", message);
    crate::chats::show_page(conn, scope, chat, errors, None).await
}

/// «Удалить из чата на платформе», confirmed.
pub async fn remove(
    State(state): State<AppState>,
    scope: SchoolScope,
    meta: RequestMeta,
    Path((_, chat)): Path<(String, ChatId)>,
    Form(form): Form<RemoveForm>,
) -> AppResult<Response> {
    scope.require(Action::ManagePlatformMembers)?;
    let tenant = scope.tenant();
    let actor = scope.actor().id();
    let mut tx = state.db.begin().await?;
    let (target, archived) = crate::chats::chat_target(&mut tx, &scope, chat).await?;
    scope
        .facts()
        .require_on(Action::ManagePlatformMembers, &target)?;
    if let Some(url) = form.form_key.seen(&mut tx, actor).await? {
        return Ok(again(&url));
    }
    let url = format!("/s/{}/chats/{chat}", scope.school_id());
    if archived {
        return refuse(&mut tx, &scope, chat, "Чат в архиве.").await;
    }
    let Some(view) = presence::for_chat(&mut tx, tenant, chat, scope.timezone()).await? else {
        return refuse(
            &mut tx,
            &scope,
            chat as ChatId,
            "Бота школы нет в этом чате на платформе.",
        )
        .await;
    };
    let Ok(user_id) = form.user_id.trim().parse::<i64>() else {
        return refuse(&mut tx, &scope, chat, "Выберите, кого удалить.").await;
    };
    let Some(row) = view
        .present_unexpected
        .iter()
        .find(|r| r.user_id == user_id)
    else {
        return refuse(
            &mut tx,
            &scope,
            chat as ChatId,
            "Этого участника нет среди тех, кого предлагается удалить.",
        )
        .await;
    };
    if row.platform_admin {
        return refuse(
            &mut tx,
            &scope,
            chat as ChatId,
            "Администратора чата на платформе бот удалить не может: удалите его вручную.",
        )
        .await;
    }
    if form.confirm != "yes" {
        return refuse(&mut tx, &scope, chat, "Подтвердите удаление галочкой.").await;
    }
    let Some(bot) = config::load(&mut tx, tenant, key_of(&state).as_ref())
        .await
        .ok()
        .flatten()
    else {
        return refuse(
            &mut tx,
            &scope,
            chat as ChatId,
            "Бот школы не настроен: проверьте его в профиле школы.",
        )
        .await;
    };
    let member = sqlx::query_scalar!(
        r#"select membership_id as "m: MembershipId" from connector_accounts
           where school_id = $1 and user_id = $2"#,
        tenant.id() as SchoolId,
        user_id
    )
    .fetch_optional(&mut *tx)
    .await?;
    let id = Uuid::now_v7();
    let inserted = sqlx::query!(
        "insert into connector_removals (school_id, id, platform_chat_id, user_id, membership_id,
                                         state, requested_by)
         values ($1, $2, $3, $4, $5, 'sent', $6) on conflict do nothing",
        tenant.id() as SchoolId,
        id,
        view.platform_chat_id,
        user_id,
        member as Option<MembershipId>,
        actor as AccountId
    )
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if inserted == 1 {
        let who = row.person.clone().unwrap_or_else(|| row.name.clone());
        let result = match bot.client() {
            Ok(c) => c.remove_member(view.platform_chat_id, user_id).await,
            Err(e) => Err(e),
        };
        match result {
            Ok(()) => {
                audit::in_school(
                    &mut tx,
                    &meta,
                    &scope,
                    "connector.removal_requested",
                    Some(format!("removal:{id}")),
                    Some(format!(
                        "{who}, пользователь мессенджера {user_id}, из чата мессенджера {}",
                        view.platform_chat_id
                    )),
                )
                .await?;
            }
            Err(e) => {
                sqlx::query!(
                    "update connector_removals set state = 'failed', error = $2 where id = $1",
                    id,
                    e.for_people()
                )
                .execute(&mut *tx)
                .await?;
                audit::in_school(
                    &mut tx,
                    &meta,
                    &scope,
                    "connector.removal_failed",
                    Some(format!("removal:{id}")),
                    Some(format!("{who}: {}", e.for_people())),
                )
                .await?;
                // The failure is shown on the page; a corrected resend tries again.
                tx.commit().await?;
                return Ok(Redirect::to(&url).into_response());
            }
        }
    }
    form.form_key.done(&mut tx, actor, &url).await?;
    tx.commit().await?;
    Ok(Redirect::to(&url).into_response())
}

/// «Прочитать участников с платформы»: a full paged read on demand.
pub async fn refresh(
    State(state): State<AppState>,
    scope: SchoolScope,
    Path((_, chat)): Path<(String, ChatId)>,
    Form(form): Form<KeyOnly>,
) -> AppResult<Response> {
    scope.require(Action::ManagePlatformMembers)?;
    let tenant = scope.tenant();
    let actor = scope.actor().id();
    let mut tx = state.db.begin().await?;
    let (target, _) = crate::chats::chat_target(&mut tx, &scope, chat).await?;
    scope
        .facts()
        .require_on(Action::ManagePlatformMembers, &target)?;
    if let Some(url) = form.form_key.seen(&mut tx, actor).await? {
        return Ok(again(&url));
    }
    let url = format!("/s/{}/chats/{chat}", scope.school_id());
    let Some(view) = presence::for_chat(&mut tx, tenant, chat, scope.timezone()).await? else {
        return refuse(
            &mut tx,
            &scope,
            chat as ChatId,
            "Бота школы нет в этом чате на платформе.",
        )
        .await;
    };
    let Some(bot) = config::load(&mut tx, tenant, key_of(&state).as_ref())
        .await
        .ok()
        .flatten()
    else {
        return refuse(
            &mut tx,
            &scope,
            chat as ChatId,
            "Бот школы не настроен: проверьте его в профиле школы.",
        )
        .await;
    };
    match presence::full_read(&mut tx, &bot, view.platform_chat_id).await {
        Ok(_) => {}
        Err(presence::ReadError::Api(_)) => {
            return refuse(
                &mut tx,
                &scope,
                chat as ChatId,
                "Платформа не отдала список участников: проверьте права бота в чате.",
            )
            .await;
        }
        Err(presence::ReadError::Db(e)) => return Err(e.into()),
    }
    form.form_key.done(&mut tx, actor, &url).await?;
    tx.commit().await?;
    Ok(Redirect::to(&url).into_response())
}
