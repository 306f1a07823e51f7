//! Removing those who left the school without a confirmation (issue 15, item 7): a school
//! setting, off by default. When it is on, the worker removes from the platform chats
//! matched to the portal's chats each person whose bound membership has ended (a student
//! who left, a parent whose children all left, a member of staff who left) and who has no
//! other live membership in the school. Nobody else: an outsider, or someone who moved to
//! another class, is still only proposed for a person to confirm. Each removal is audited
//! and stays «sent» until the platform's `user_removed` closes it, as a confirmed one does.

use axum::Form;
use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use sqlx::PgPool;
use uuid::Uuid;

use super::config::{self, ConnectorKey};
use super::matching::job_meta;
use crate::AppState;
use crate::audit::{self, Entry};
use crate::auth::extract::{RequestMeta, SchoolScope};
use crate::auth::permissions::Action;
use crate::auth::tenant::Tenant;
use crate::error::AppResult;
use crate::ids::{MembershipId, SchoolId};
use crate::web::form::FormErrors;
use crate::web::once::{FormKey, again};

#[derive(Debug, Default, Deserialize)]
pub struct LeaversForm {
    #[serde(default)]
    automatic: String,
    #[serde(default)]
    form_key: FormKey,
}

/// «Удалять выбывших из школы автоматически»: the setting, audited when it changes.
pub async fn save(
    State(state): State<AppState>,
    scope: SchoolScope,
    meta: RequestMeta,
    Form(form): Form<LeaversForm>,
) -> AppResult<Response> {
    scope.require(Action::ManageConnector)?;
    let actor = scope.actor().id();
    let mut tx = state.db.begin().await?;
    if let Some(url) = form.form_key.seen(&mut tx, actor).await? {
        return Ok(again(&url));
    }
    let on = form.automatic == "yes";
    let changed = sqlx::query_scalar!(
        "update connector_bots set remove_leavers = $2, updated_at = now()
         where school_id = $1 and remove_leavers <> $2
         returning school_id",
        scope.school_id() as SchoolId,
        on
    )
    .fetch_optional(&mut *tx)
    .await?;
    let configured = super::config::configured(&mut tx, scope.tenant()).await?;
    if !configured {
        let mut errors = FormErrors::default();
        errors.add("check", "Бот не настроен.");
        return super::pages::page_with(&mut tx, &scope, &state, errors).await;
    }
    if changed.is_some() {
        audit::in_school(
            &mut tx,
            &meta,
            &scope,
            "connector.leavers_setting",
            Some("connector:bot".to_owned()),
            Some(
                if on {
                    "выбывшие удаляются из чатов автоматически"
                } else {
                    "удаление выбывших — по подтверждению"
                }
                .to_owned(),
            ),
        )
        .await?;
    }
    let url = format!("/s/{}/connector?saved=1", scope.school_id());
    form.form_key.done(&mut tx, actor, &url).await?;
    tx.commit().await?;
    Ok(Redirect::to(&url).into_response())
}

/// One pass over the schools that remove leavers automatically: answers how many
/// removals were sent.
pub async fn remove_leavers(pool: &PgPool, key: Option<&ConnectorKey>) -> anyhow::Result<usize> {
    let schools = sqlx::query_scalar!(
        r#"select school_id as "s: SchoolId" from connector_bots where remove_leavers
           order by 1"#
    )
    .fetch_all(pool)
    .await?;
    let mut sent = 0;
    for school in schools {
        let tenant = Tenant::for_job(school);
        let mut conn = pool.acquire().await?;
        let Some(bot) = config::load(&mut conn, tenant, key).await? else {
            continue;
        };
        drop(conn);
        let due = sqlx::query!(
            r#"select cm.platform_chat_id, cm.user_id, cm.name, ca.membership_id as "member: MembershipId"
               from connector_members cm
               join connector_chats cc on cc.school_id = cm.school_id
                                      and cc.platform_chat_id = cm.platform_chat_id
               join connector_accounts ca on ca.school_id = cm.school_id and ca.user_id = cm.user_id
               join memberships m on m.school_id = ca.school_id and m.id = ca.membership_id
               where cm.school_id = $1 and cm.present and not cm.is_admin and not cm.is_owner
                 and cm.user_id <> coalesce($2::bigint, 0)
                 and cc.chat_id is not null and cc.bot_present
                 and m.status = 'left'
                 and not exists(select 1 from memberships o where o.school_id = m.school_id
                                and o.account_id = m.account_id and o.status = 'active')
                 and not exists(select 1 from connector_removals r
                                where r.school_id = cm.school_id
                                  and r.platform_chat_id = cm.platform_chat_id
                                  and r.user_id = cm.user_id
                                  and (r.state = 'sent' or (r.state = 'failed' and r.automatic)))
               order by cm.platform_chat_id, cm.user_id
               limit 500"#,
            school as SchoolId,
            bot.bot_user_id
        )
        .fetch_all(pool)
        .await?;
        if due.is_empty() {
            continue;
        }
        let client = bot.client();
        for d in due {
            let mut tx = pool.begin().await?;
            let id = Uuid::now_v7();
            let inserted = sqlx::query!(
                "insert into connector_removals (school_id, id, platform_chat_id, user_id,
                                                 membership_id, state, automatic)
                 values ($1, $2, $3, $4, $5, 'sent', true) on conflict do nothing",
                school as SchoolId,
                id,
                d.platform_chat_id,
                d.user_id,
                d.member as MembershipId
            )
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if inserted == 0 {
                continue;
            }
            let result = match &client {
                Ok(c) => c.remove_member(d.platform_chat_id, d.user_id).await,
                Err(e) => Err(super::client::ApiError::Transport(e.to_string())),
            };
            let (action, details) = match &result {
                Ok(()) => (
                    "connector.removal_automatic",
                    format!(
                        "{}, platform user {}, left the school: removed from platform chat {} \
                         without confirmation (school setting)",
                        d.name, d.user_id, d.platform_chat_id
                    ),
                ),
                Err(e) => {
                    sqlx::query!(
                        "update connector_removals set state = 'failed', error = $2 where id = $1",
                        id,
                        e.for_people()
                    )
                    .execute(&mut *tx)
                    .await?;
                    (
                        "connector.removal_failed",
                        format!("{}: {}", d.name, e.for_people()),
                    )
                }
            };
            audit::record(
                &mut tx,
                &job_meta(),
                Entry {
                    actor: None,
                    school: Some(school),
                    action,
                    target: Some(format!("removal:{id}")),
                    details: Some(details),
                },
            )
            .await?;
            tx.commit().await?;
            if result.is_ok() {
                sent += 1;
            }
        }
    }
    Ok(sent)
}
