//! A post's page (the reviewer's note at the top, what changed since the last round, the
//! history, the forms the actor may use) and its edit form.

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use time::OffsetDateTime;

use super::attachments::{self, AttachmentItem};
use super::model::{self, State as PostState, Step, Who};
use super::pages::{PostForm, check_post};
use super::queries::{self, HistoryRow, Post};
use crate::AppState;
use crate::audit;
use crate::auth::extract::{RequestMeta, SchoolScope};
use crate::auth::permissions::{Action, Role};
use crate::broadcasts::recurrence;
use crate::error::{AppError, AppResult};
use crate::ids::{PostId, SchoolId};
use crate::web::form::FormErrors;
use crate::web::format;
use crate::web::layout::Layout;
use crate::web::once::{self, FormKey};

/// What the forms on the page hold when it is shown again after a refusal.
#[derive(Default)]
pub struct Typed {
    pub title: Option<String>,
    pub body: Option<String>,
    pub reason: String,
    pub publish_at: String,
    pub platform_url: String,
}

/// A fresh key per form on the page.
#[derive(Default)]
pub struct Keys {
    pub edit: FormKey,
    pub submit: FormKey,
    pub recall: FormKey,
    pub ret: FormKey,
    pub decline: FormKey,
    pub schedule: FormKey,
    pub publish: FormKey,
    pub withdraw: FormKey,
    pub upload: FormKey,
}

#[derive(Template, WebTemplate)]
#[template(path = "channels/post.html")]
struct PostPage {
    layout: Layout,
    base: String,
    post: Post,
    state_title: &'static str,
    history: Vec<HistoryRow>,
    attachments: Vec<AttachmentItem>,
    /// The lines of the text marked new since the previous round, and the lines gone.
    changed: Option<model::Changes>,
    rounds: usize,
    publish_at: String,
    can_edit: bool,
    /// Attachments may change (not once published).
    can_attach: bool,
    /// The administrator corrects a post the bot published: the edit goes to the platform.
    corrects: bool,
    /// The administrator (sees what the platform answered the school's bot).
    reviewer: bool,
    can_submit: bool,
    can_recall: bool,
    can_review: bool,
    can_schedule: bool,
    can_publish: bool,
    can_withdraw: bool,
    quiet_now: bool,
    quiet_scheduled: bool,
    typed: Typed,
    errors: FormErrors,
    message: Option<&'static str>,
    keys: Keys,
    max: usize,
    chars: usize,
}

pub fn who(scope: &SchoolScope, post: &Post) -> Who {
    Who {
        admin: scope.has(Role::Admin),
        author: post.author == scope.actor().id(),
    }
}

/// The post's page, with what was typed and the refusal, if any.
pub async fn page(
    state: &AppState,
    scope: &SchoolScope,
    id: PostId,
    typed: Typed,
    errors: FormErrors,
    message: Option<&'static str>,
) -> AppResult<Response> {
    let mut conn = state.db.acquire().await?;
    let post = queries::post(&mut conn, scope.tenant(), id)
        .await?
        .ok_or(AppError::NotFound)?;
    let tz = scope.timezone();
    let history = queries::history(&mut conn, scope.tenant(), id, tz).await?;
    let rounds = queries::last_rounds(&mut conn, scope.tenant(), id).await?;
    let changed = match rounds.as_slice() {
        [(_, now), (_, before), ..] => Some(model::changed_lines(before, now)),
        _ => None,
    };
    let files = attachments::list(&mut conn, scope.tenant(), id).await?;
    let w = who(scope, &post);
    let ok = |step| model::transition(post.state, step, w).is_ok();
    let can_write = scope.can_on(
        Action::WritePosts,
        &crate::auth::objects::Target::Authored {
            author: post.author,
        },
    );
    let can_attach = can_write
        && ((w.author && post.state.author_edits())
            || (w.admin && post.state == PostState::Submitted));
    // A post the school's bot published is corrected on the platform too (issue 15).
    let corrects = w.admin && post.state == PostState::Published && post.platform_mid.is_some();
    let can_edit = can_attach || (can_write && corrects);
    let status = if errors.is_empty() && message.is_none() {
        StatusCode::OK
    } else if message.is_some() {
        StatusCode::CONFLICT
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    let page = PostPage {
        layout: Layout::for_scope(scope),
        base: format!("/s/{}", scope.school_id()),
        state_title: post.state.title(),
        history,
        attachments: files,
        changed,
        rounds: rounds.len(),
        publish_at: post
            .publish_at
            .map(|at| format::datetime(at, tz))
            .unwrap_or_default(),
        can_edit,
        can_attach,
        corrects,
        reviewer: w.admin,
        can_submit: can_write && ok(Step::Submit),
        can_recall: can_write && ok(Step::Recall),
        can_review: ok(Step::Return),
        can_schedule: ok(Step::Schedule),
        can_publish: ok(Step::Publish),
        can_withdraw: ok(Step::Withdraw),
        quiet_now: recurrence::quiet_hours(OffsetDateTime::now_utc(), tz),
        quiet_scheduled: post
            .publish_at
            .is_some_and(|at| recurrence::quiet_hours(at, tz)),
        chars: typed.body.as_deref().unwrap_or(&post.body).chars().count(),
        typed,
        errors,
        message,
        keys: Keys::default(),
        max: model::MAX_TEXT,
        post,
    };
    Ok((status, page).into_response())
}

pub async fn show(
    State(state): State<AppState>,
    scope: SchoolScope,
    Path((_, id)): Path<(SchoolId, PostId)>,
) -> AppResult<Response> {
    scope.require(Action::ViewChannels)?;
    page(
        &state,
        &scope,
        id,
        Typed::default(),
        FormErrors::default(),
        None,
    )
    .await
}

/// Saves the title and text: the author while a draft or returned, the administrator
/// while on review. The state never changes here («submit» = yes sends it for review
/// through the same transition as the button).
pub async fn edit(
    State(state): State<AppState>,
    scope: SchoolScope,
    meta: RequestMeta,
    Path((_, id)): Path<(SchoolId, PostId)>,
    Form(form): Form<PostForm>,
) -> AppResult<Response> {
    scope.require(Action::WritePosts)?;
    let mut conn = state.db.acquire().await?;
    let post = queries::post(&mut conn, scope.tenant(), id)
        .await?
        .ok_or(AppError::NotFound)?;
    drop(conn);
    scope.require_on(
        Action::WritePosts,
        &crate::auth::objects::Target::Authored {
            author: post.author,
        },
    )?;
    let submitting = form.submit == "yes";
    let mut errors = FormErrors::default();
    let correcting =
        scope.has(Role::Admin) && post.state == PostState::Published && post.platform_mid.is_some();
    // A correction goes to the platform: its limits hold as at submission.
    check_post(
        &form.title,
        &form.body,
        submitting || correcting,
        &mut errors,
    );
    let typed = || Typed {
        title: Some(form.title.clone()),
        body: Some(form.body.clone()),
        ..Typed::default()
    };
    if !errors.is_empty() {
        return page(&state, &scope, id, typed(), errors, None).await;
    }
    let mut tx = state.db.begin().await?;
    if let Some(url) = form.form_key.seen(&mut tx, scope.actor().id()).await? {
        return Ok(once::again(&url));
    }
    let Some(now) = queries::lock_state(&mut tx, scope.tenant(), id).await? else {
        return Err(AppError::NotFound);
    };
    let w = who(&scope, &post);
    let may = (w.author && now.author_edits())
        || (w.admin && now == PostState::Submitted)
        || (correcting && now == PostState::Published);
    if !may {
        drop(tx);
        return page(
            &state,
            &scope,
            id,
            typed(),
            FormErrors::default(),
            Some("Сейчас эту публикацию изменить нельзя: её состояние изменилось."),
        )
        .await;
    }
    sqlx::query!(
        "update posts set title = $3, body = $4, updated_at = now() where school_id = $1 and id = $2",
        scope.school_id() as SchoolId,
        id as PostId,
        form.title.trim(),
        form.body
    )
    .execute(&mut *tx)
    .await?;
    let mut details = None;
    if now == PostState::Published {
        let key = crate::connector::ConnectorKey::from_config(&state.config.connector);
        let change = crate::connector::publishing::edit_published(
            &mut tx,
            key.as_ref(),
            scope.tenant(),
            id,
            form.title.trim(),
            &form.body,
        )
        .await?;
        if let crate::connector::publishing::Change::Refused(e) = change {
            // The portal's text stays what the platform shows; the refusal is kept.
            drop(tx);
            let mut conn = state.db.acquire().await?;
            crate::connector::publishing::refused_edit(&mut conn, scope.tenant(), id, &e).await?;
            drop(conn);
            return page(
                &state,
                &scope,
                id,
                typed(),
                FormErrors::default(),
                Some("Платформа не приняла изменение: текст не изменён ни там, ни на портале."),
            )
            .await;
        }
        details = Some("изменено и на платформе".to_owned());
    }
    audit::in_school(
        &mut tx,
        &meta,
        &scope,
        "post.edited",
        Some(format!("post:{id}")),
        details,
    )
    .await?;
    if submitting {
        if !w.author || !now.author_edits() {
            drop(tx);
            return page(
                &state,
                &scope,
                id,
                typed(),
                FormErrors::default(),
                Some("Отправить на проверку может автор черновика."),
            )
            .await;
        }
        super::review::submit_in(&mut tx, &scope.by(&meta), id, now).await?;
    }
    let url = format!("/s/{}/posts/{id}", scope.school_id());
    form.form_key
        .done(&mut tx, scope.actor().id(), &url)
        .await?;
    tx.commit().await?;
    Ok(Redirect::to(&url).into_response())
}
