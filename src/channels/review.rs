//! The transitions of a post, each a POST: the state that results comes from
//! [`model::transition`] with the actor's right, checked on the row locked in the change's
//! transaction; every transition writes its history and audit rows, and the author is told
//! of each outcome someone else decided (start page and e-mail through the outbox).

use axum::Form;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use sqlx::PgConnection;
use time::{Duration, OffsetDateTime};

use super::model::{self, Refusal, State as PostState, Step};
use super::post::{Typed, page, who};
use super::queries;
use crate::AppState;
use crate::auth::extract::{RequestMeta, SchoolScope};
use crate::auth::permissions::Action;
use crate::auth::tenant::By;
use crate::broadcasts::recurrence;
use crate::error::{AppError, AppResult};
use crate::ids::{PostId, SchoolId};
use crate::web::form::FormErrors;
use crate::web::format;
use crate::web::once::{self, FormKey};

#[derive(Deserialize, Default)]
pub struct StepForm {
    #[serde(default)]
    form_key: FormKey,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    publish_at: String,
    #[serde(default)]
    platform_url: String,
    /// «yes»: scheduled in the quiet hours knowingly.
    #[serde(default)]
    quiet_ok: String,
}

/// Submits inside a transaction the caller holds (the post's state is `from`): the text is
/// kept as a new round.
pub async fn submit_in(
    conn: &mut PgConnection,
    by: &By<'_>,
    id: PostId,
    from: PostState,
) -> sqlx::Result<()> {
    let (title, body) = sqlx::query_as::<_, (String, String)>(
        "select title, body from posts where school_id = $1 and id = $2",
    )
    .bind(by.school())
    .bind(id)
    .fetch_one(&mut *conn)
    .await?;
    queries::snapshot(conn, by.tenant(), id, &title, &body).await?;
    queries::set_state(conn, by, id, from, PostState::Submitted, None).await
}

pub async fn submit(
    s: State<AppState>,
    scope: SchoolScope,
    meta: RequestMeta,
    p: Path<(SchoolId, PostId)>,
    f: Form<StepForm>,
) -> AppResult<Response> {
    step(s, scope, meta, p, f, Step::Submit).await
}
pub async fn recall(
    s: State<AppState>,
    scope: SchoolScope,
    meta: RequestMeta,
    p: Path<(SchoolId, PostId)>,
    f: Form<StepForm>,
) -> AppResult<Response> {
    step(s, scope, meta, p, f, Step::Recall).await
}
pub async fn return_post(
    s: State<AppState>,
    scope: SchoolScope,
    meta: RequestMeta,
    p: Path<(SchoolId, PostId)>,
    f: Form<StepForm>,
) -> AppResult<Response> {
    step(s, scope, meta, p, f, Step::Return).await
}
pub async fn decline(
    s: State<AppState>,
    scope: SchoolScope,
    meta: RequestMeta,
    p: Path<(SchoolId, PostId)>,
    f: Form<StepForm>,
) -> AppResult<Response> {
    step(s, scope, meta, p, f, Step::Decline).await
}
pub async fn schedule(
    s: State<AppState>,
    scope: SchoolScope,
    meta: RequestMeta,
    p: Path<(SchoolId, PostId)>,
    f: Form<StepForm>,
) -> AppResult<Response> {
    step(s, scope, meta, p, f, Step::Schedule).await
}
pub async fn publish(
    s: State<AppState>,
    scope: SchoolScope,
    meta: RequestMeta,
    p: Path<(SchoolId, PostId)>,
    f: Form<StepForm>,
) -> AppResult<Response> {
    step(s, scope, meta, p, f, Step::Publish).await
}
pub async fn withdraw(
    s: State<AppState>,
    scope: SchoolScope,
    meta: RequestMeta,
    p: Path<(SchoolId, PostId)>,
    f: Form<StepForm>,
) -> AppResult<Response> {
    step(s, scope, meta, p, f, Step::Withdraw).await
}

/// The e-mail's subject and first line for an outcome the author is told of.
fn outcome_mail(to: PostState) -> Option<(&'static str, &'static str)> {
    Some(match to {
        PostState::Returned => ("Публикация возвращена на доработку", "вернул на доработку"),
        PostState::Declined => ("Публикация отклонена", "отклонил"),
        PostState::Scheduled => ("Публикация запланирована", "запланировал"),
        PostState::Published => ("Публикация опубликована", "опубликовал"),
        PostState::Withdrawn => ("Публикация снята", "снял"),
        _ => return None,
    })
}

async fn step(
    State(state): State<AppState>,
    scope: SchoolScope,
    meta: RequestMeta,
    Path((_, id)): Path<(SchoolId, PostId)>,
    Form(form): Form<StepForm>,
    step: Step,
) -> AppResult<Response> {
    let action = match step {
        Step::Submit | Step::Recall => Action::WritePosts,
        _ => Action::ReviewPosts,
    };
    scope.require(action)?;
    let mut conn = state.db.acquire().await?;
    let post = queries::post(&mut conn, scope.tenant(), id)
        .await?
        .ok_or(AppError::NotFound)?;
    drop(conn);
    if action == Action::WritePosts {
        scope.require_on(
            action,
            &crate::auth::objects::Target::Authored {
                author: post.author,
            },
        )?;
    }
    let tz = scope.timezone().to_owned();
    let mut errors = FormErrors::default();
    let reason = form.reason.trim().to_owned();
    if step.needs_reason() && (reason.is_empty() || reason.chars().count() > 2000) {
        errors.add(
            "reason",
            "Напишите причину (до 2000 символов): автор её увидит.",
        );
    }
    let mut publish_at = None;
    if step == Step::Schedule {
        match recurrence::parse_local(&form.publish_at, &tz) {
            None => errors.add("publish_at", "Укажите дату и время публикации."),
            Some(at) if at < OffsetDateTime::now_utc() + Duration::minutes(5) => errors.add(
                "publish_at",
                "Запланировать можно не раньше чем через 5 минут.",
            ),
            Some(at) if recurrence::quiet_hours(at, &tz) && form.quiet_ok != "yes" => errors.add(
                "publish_at",
                "Это тихие часы (22:00–08:00): каждая публикация приходит подписчикам \
                 уведомлением. Выберите другое время или отметьте, что публикуете осознанно.",
            ),
            Some(at) => publish_at = Some(at),
        }
    }
    let url = form.platform_url.trim().to_owned();
    if step == Step::Publish && !super::pages::is_link(&url) {
        errors.add(
            "platform_url",
            "Вставьте ссылку на публикацию на платформе (начинается с https://).",
        );
    }
    // The platform's limits are checked when the text is sent for review (and when the
    // administrator's own draft goes out straight away).
    if matches!(step, Step::Submit | Step::Schedule | Step::Publish)
        && let Some(e) = model::check_text(&post.body)
    {
        errors.add("body", e);
    }
    if matches!(step, Step::Submit | Step::Schedule | Step::Publish)
        && let Some(e) = super::attachments::check_set(&state, &scope, id).await?
    {
        errors.add("attachments", e);
    }
    let typed = Typed {
        reason: form.reason.clone(),
        publish_at: form.publish_at.clone(),
        platform_url: form.platform_url.clone(),
        ..Typed::default()
    };
    if !errors.is_empty() {
        return page(&state, &scope, id, typed, errors, None).await;
    }
    let mut tx = state.db.begin().await?;
    if let Some(url) = form.form_key.seen(&mut tx, scope.actor().id()).await? {
        return Ok(once::again(&url));
    }
    let Some(now) = queries::lock_state(&mut tx, scope.tenant(), id).await? else {
        return Err(AppError::NotFound);
    };
    let to = match model::transition(now, step, who(&scope, &post)) {
        Ok(to) => to,
        // The route let a writer through (their own post, or the administrator): what is
        // left is the author's alone, a message rather than a refusal.
        Err(Refusal::NotYours) if action == Action::WritePosts => {
            drop(tx);
            let msg = "Это может сделать только автор публикации.";
            return page(&state, &scope, id, typed, FormErrors::default(), Some(msg)).await;
        }
        Err(Refusal::NotYours) => return Err(AppError::Forbidden),
        Err(Refusal::NotNow(msg)) => {
            drop(tx);
            return page(&state, &scope, id, typed, FormErrors::default(), Some(msg)).await;
        }
    };
    let by = scope.by(&meta);
    match step {
        Step::Submit => submit_in(&mut tx, &by, id, now).await?,
        _ => {
            if let Some(at) = publish_at {
                sqlx::query!(
                    "update posts set publish_at = $3 where school_id = $1 and id = $2",
                    scope.school_id() as SchoolId,
                    id as PostId,
                    at
                )
                .execute(&mut *tx)
                .await?;
            }
            if step == Step::Publish {
                sqlx::query!(
                    "update posts set platform_url = $3, published_at = now()
                     where school_id = $1 and id = $2",
                    scope.school_id() as SchoolId,
                    id as PostId,
                    url
                )
                .execute(&mut *tx)
                .await?;
            }
            let why = (!reason.is_empty()).then_some(reason.as_str());
            queries::set_state(&mut tx, &by, id, now, to, why).await?;
            if step == Step::Withdraw {
                // Published by the school's bot: taken off the platform too (issue 15); a
                // refusal is kept on the post, the portal's withdrawal stands.
                let key = crate::connector::ConnectorKey::from_config(&state.config.connector);
                crate::connector::publishing::withdraw_published(
                    &mut tx,
                    key.as_ref(),
                    scope.tenant(),
                    id,
                )
                .await?;
            }
        }
    }
    // The author is told of every outcome; the actor never is.
    if post.author != scope.actor().id()
        && let (Some((subject, verb)), Some(email)) = (outcome_mail(to), &post.author_email)
    {
        let mut body = format!(
            "Здравствуйте!\n\nАдминистратор {} «{}» в канале «{}».\n",
            verb, post.title, post.channel
        );
        if let Some(at) = publish_at {
            body.push_str(&format!(
                "Время публикации: {}.\n",
                format::datetime(at, &tz)
            ));
        }
        if !reason.is_empty() {
            body.push_str(&format!("Причина: {reason}\n"));
        }
        if step == Step::Publish {
            body.push_str(&format!("Публикация на платформе: {url}\n"));
        }
        body.push_str(&format!(
            "\nПубликация на портале: {}/s/{}/posts/{id}\n",
            state.public_url,
            scope.school_id()
        ));
        crate::mail::enqueue(&mut tx, Some(scope.tenant()), email, subject, &body).await?;
    }
    let back = format!("/s/{}/posts/{id}", scope.school_id());
    form.form_key
        .done(&mut tx, scope.actor().id(), &back)
        .await?;
    tx.commit().await?;
    Ok(Redirect::to(&back).into_response())
}
