//! Adopting a chat the platform made itself (issue 15, item 4): the bot was added to a
//! chat no portal chat matches (the class's chat made on the platform before the portal,
//! or the study profile's own class chat), and the administrator takes it as one of the
//! class's mandatory chats, e.g. «5А — родители». The portal's chat is created with the
//! platform chat's title and link, filled from the roster as a one-click chat is, and bound
//! to the platform chat; its page then shows who is really there.

use axum::Form;
use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::config::{self, ConnectorKey};
use super::presence;
use crate::AppState;
use crate::audit;
use crate::auth::extract::{RequestMeta, SchoolScope};
use crate::auth::permissions::Action;
use crate::chats::{Kind, NewChat, create_chat};
use crate::error::AppResult;
use crate::ids::{AccountId, ChatId, ClassId, MembershipId, SchoolId};
use crate::web::form::FormErrors;
use crate::web::once::{FormKey, again};

#[derive(Debug, Default, Deserialize)]
pub struct AdoptForm {
    #[serde(default)]
    platform_chat_id: String,
    #[serde(default)]
    class_id: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    form_key: FormKey,
}

/// A live class of the current year, for the choice on the bot's page.
pub struct ClassChoice {
    pub id: ClassId,
    pub title: String,
}

pub async fn classes(
    conn: &mut sqlx::PgConnection,
    scope: &SchoolScope,
) -> sqlx::Result<Vec<ClassChoice>> {
    Ok(sqlx::query!(
        r#"select c.id as "id: ClassId", c.title from classes c
           join academic_years y on y.school_id = c.school_id and y.id = c.academic_year_id
           where c.school_id = $1 and c.kind = 'class' and c.archived_at is null and y.is_current
           order by c.grade, c.letter"#,
        scope.school_id() as SchoolId
    )
    .fetch_all(conn)
    .await?
    .into_iter()
    .map(|r| ClassChoice {
        id: r.id,
        title: r.title,
    })
    .collect())
}

/// The mandatory kinds, for the choice: (code, words).
pub fn kinds() -> Vec<(&'static str, &'static str)> {
    Kind::MANDATORY
        .into_iter()
        .map(|k| (k.code(), k.title()))
        .collect()
}

/// «Принять как обязательный чат класса».
pub async fn adopt(
    State(state): State<AppState>,
    scope: SchoolScope,
    meta: RequestMeta,
    Form(form): Form<AdoptForm>,
) -> AppResult<Response> {
    scope.require(Action::ManageConnector)?;
    let tenant = scope.tenant();
    let school = tenant.id();
    let actor = scope.actor().id();
    let mut tx = state.db.begin().await?;
    if let Some(url) = form.form_key.seen(&mut tx, actor).await? {
        return Ok(again(&url));
    }
    let refuse = |message: &'static str| {
        let mut errors = FormErrors::default();
        errors.add("adopt", message);
        errors
    };
    let platform_chat = form.platform_chat_id.trim().parse::<i64>().ok();
    let class = form.class_id.parse::<ClassId>().ok();
    let kind = Kind::from_code(form.kind.trim()).filter(|k| k.is_mandatory());
    let (Some(platform_chat), Some(class), Some(kind)) = (platform_chat, class, kind) else {
        let errors = refuse("Выберите класс и какой это чат.");
        return super::pages::page_with(&mut tx, &scope, &state, errors).await;
    };
    let head = sqlx::query!(
        "select title, link from connector_chats
         where school_id = $1 and platform_chat_id = $2 and chat_id is null
           and channel_id is null and bot_present and not is_channel
         for update",
        school as SchoolId,
        platform_chat
    )
    .fetch_optional(&mut *tx)
    .await?;
    let Some(head) = head else {
        let errors = refuse("Этот чат уже сопоставлен или бота в нём больше нет.");
        return super::pages::page_with(&mut tx, &scope, &state, errors).await;
    };
    let Some(class_title) = classes(&mut tx, &scope)
        .await?
        .into_iter()
        .find(|c| c.id == class)
        .map(|c| c.title)
    else {
        let errors = refuse("Выберите класс этого учебного года.");
        return super::pages::page_with(&mut tx, &scope, &state, errors).await;
    };
    let existing = sqlx::query_scalar!(
        "select id from chats where school_id = $1 and class_id = $2 and kind = $3
         and archived_at is null",
        school as SchoolId,
        class as ClassId,
        kind.code()
    )
    .fetch_optional(&mut *tx)
    .await?;
    if existing.is_some() {
        let errors =
            refuse("У класса уже есть такой чат на портале: выберите его в списке «это…» выше.");
        return super::pages::page_with(&mut tx, &scope, &state, errors).await;
    }
    // The class teacher owns the class's chats; without one, the administrator's own staff
    // membership.
    let owner = sqlx::query_scalar!(
        r#"select id as "id!: MembershipId" from (
             select a.teacher_id as id, 0 as rank from class_teacher_assignments a
             join memberships m on m.school_id = a.school_id and m.id = a.teacher_id
             where a.school_id = $1 and a.class_id = $2 and a.ended_at is null
               and m.status = 'active'
             union all
             select m.id, 1 from memberships m
             where m.school_id = $1 and m.account_id = $3 and m.status = 'active'
               and m.role in ('director', 'deputy', 'teacher', 'staff')
           ) o order by rank limit 1"#,
        school as SchoolId,
        class as ClassId,
        actor as AccountId
    )
    .fetch_optional(&mut *tx)
    .await?;
    let Some(owner) = owner else {
        let errors =
            refuse("У класса нет классного руководителя: назначьте его, затем примите чат.");
        return super::pages::page_with(&mut tx, &scope, &state, errors).await;
    };
    let title = head
        .title
        .filter(|t| !t.trim().is_empty())
        .unwrap_or_else(|| kind.default_title(&class_title));
    let chat = create_chat(
        &mut tx,
        &meta,
        tenant,
        actor,
        &NewChat {
            kind,
            title: &title,
            class: Some(class),
            subject: None,
            platform_url: head.link.as_deref(),
            owner,
        },
    )
    .await?;
    sqlx::query!(
        "update connector_chats set chat_id = $3 where school_id = $1 and platform_chat_id = $2",
        school as SchoolId,
        platform_chat,
        chat as ChatId
    )
    .execute(&mut *tx)
    .await?;
    audit::in_school(
        &mut tx,
        &meta,
        &scope,
        "connector.chat_adopted",
        Some(format!("chat:{chat}")),
        Some(format!(
            "platform chat {platform_chat} adopted as {} of {class_title}",
            kind.code()
        )),
    )
    .await?;
    if let Some(bot) = config::load(
        &mut tx,
        tenant,
        ConnectorKey::from_config(&state.config.connector).as_ref(),
    )
    .await
    .ok()
    .flatten()
    {
        // Best effort: without the rights the chat page says what to grant.
        let _ = super::matching::read_rights(&mut tx, &bot, platform_chat).await;
        let _ = presence::full_read(&mut tx, &bot, platform_chat).await;
    }
    let url = format!("/s/{}/chats/{chat}", scope.school_id());
    form.form_key.done(&mut tx, actor, &url).await?;
    tx.commit().await?;
    Ok(Redirect::to(&url).into_response())
}
