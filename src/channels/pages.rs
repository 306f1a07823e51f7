//! Channels (create, archive), the list of posts, the review queue and a new post.

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::model::{self, State as PostState};
use super::queries::{self, Channel};
use crate::AppState;
use crate::audit;
use crate::auth::extract::{RequestMeta, SchoolScope};
use crate::auth::permissions::{Action, Role};
use crate::auth::tenant::Tenant;
use crate::error::{AppError, AppResult};
use crate::ids::{AccountId, ChannelId, PostId, SchoolId};
use crate::web::form::FormErrors;
use crate::web::format;
use crate::web::layout::Layout;
use crate::web::once::{self, FormKey};

#[derive(Deserialize, Default)]
pub struct ChannelForm {
    #[serde(default)]
    form_key: FormKey,
    #[serde(default)]
    title: String,
    #[serde(default)]
    audience: String,
    #[serde(default)]
    address: String,
    #[serde(default)]
    submitters: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "channels/channels.html")]
struct ChannelsPage {
    layout: Layout,
    base: String,
    channels: Vec<Channel>,
    can_manage: bool,
    can_write: bool,
    form: ChannelForm,
    errors: FormErrors,
}

async fn channels_page(
    state: &AppState,
    scope: &SchoolScope,
    form: ChannelForm,
    errors: FormErrors,
) -> AppResult<Response> {
    let mut conn = state.db.acquire().await?;
    let channels = queries::channels(&mut conn, scope.tenant()).await?;
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    Ok((
        status,
        ChannelsPage {
            layout: Layout::for_scope(scope),
            base: format!("/s/{}", scope.school_id()),
            channels,
            can_manage: scope.can(Action::ManageChannels),
            can_write: scope.can(Action::WritePosts),
            form,
            errors,
        },
    )
        .into_response())
}

pub async fn channels(State(state): State<AppState>, scope: SchoolScope) -> AppResult<Response> {
    scope.require(Action::ViewChannels)?;
    channels_page(
        &state,
        &scope,
        ChannelForm::default(),
        FormErrors::default(),
    )
    .await
}

pub async fn create_channel(
    State(state): State<AppState>,
    scope: SchoolScope,
    meta: RequestMeta,
    Form(form): Form<ChannelForm>,
) -> AppResult<Response> {
    scope.require(Action::ManageChannels)?;
    let mut errors = FormErrors::default();
    let title = form.title.trim().to_owned();
    if title.is_empty() || title.chars().count() > 200 {
        errors.add("title", "Укажите название канала (до 200 символов).");
    }
    if form.audience.chars().count() > 500 {
        errors.add("audience", "Опишите аудиторию короче (до 500 символов).");
    }
    let address = form.address.trim().to_owned();
    if !address.is_empty() && !is_link(&address) {
        errors.add(
            "address",
            "Адрес канала на платформе начинается с https://.",
        );
    }
    if !["deputies", "admin"].contains(&form.submitters.as_str()) {
        errors.add("submitters", "Выберите, кто предлагает публикации.");
    }
    if !errors.is_empty() {
        return channels_page(&state, &scope, form, errors).await;
    }
    let mut tx = state.db.begin().await?;
    if let Some(url) = form.form_key.seen(&mut tx, scope.actor().id()).await? {
        return Ok(once::again(&url));
    }
    let id = ChannelId::new();
    sqlx::query!(
        "insert into channels (school_id, id, title, audience, address, submitters, created_by)
         values ($1, $2, $3, $4, $5, $6, $7)",
        scope.school_id() as SchoolId,
        id as ChannelId,
        title,
        form.audience.trim(),
        address,
        form.submitters,
        scope.actor().id() as AccountId
    )
    .execute(&mut *tx)
    .await?;
    audit::in_school(
        &mut tx,
        &meta,
        &scope,
        "channel.created",
        Some(format!("channel:{id}")),
        Some(title),
    )
    .await?;
    let url = format!("/s/{}/channels", scope.school_id());
    form.form_key
        .done(&mut tx, scope.actor().id(), &url)
        .await?;
    tx.commit().await?;
    Ok(Redirect::to(&url).into_response())
}

pub async fn archive_channel(
    State(state): State<AppState>,
    scope: SchoolScope,
    meta: RequestMeta,
    Path((_, channel)): Path<(SchoolId, ChannelId)>,
) -> AppResult<Response> {
    scope.require(Action::ManageChannels)?;
    let mut tx = state.db.begin().await?;
    let found = sqlx::query_scalar!(
        "select archived_at is not null as \"archived!\" from channels where school_id = $1 and id = $2 for update",
        scope.school_id() as SchoolId,
        channel as ChannelId
    )
    .fetch_optional(&mut *tx)
    .await?;
    match found {
        None => return Err(AppError::NotFound),
        Some(true) => {}
        Some(false) => {
            sqlx::query!(
                "update channels set archived_at = now() where school_id = $1 and id = $2",
                scope.school_id() as SchoolId,
                channel as ChannelId
            )
            .execute(&mut *tx)
            .await?;
            audit::in_school(
                &mut tx,
                &meta,
                &scope,
                "channel.archived",
                Some(format!("channel:{channel}")),
                None,
            )
            .await?;
        }
    }
    tx.commit().await?;
    Ok(Redirect::to(&format!("/s/{}/channels", scope.school_id())).into_response())
}

/// A post in a list.
pub struct PostItem {
    pub id: PostId,
    pub title: String,
    pub channel: String,
    pub author: String,
    pub state: &'static str,
    pub when: String,
    /// The review queue: how long it has waited.
    pub waited: String,
    pub mine: bool,
    pub due: bool,
}

#[derive(Deserialize, Default)]
pub struct ListQuery {
    #[serde(default)]
    state: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "channels/posts.html")]
struct PostsPage {
    layout: Layout,
    base: String,
    heading: &'static str,
    posts: Vec<PostItem>,
    outcomes: Vec<queries::Outcome>,
    states: Vec<(&'static str, &'static str)>,
    filter: String,
    can_write: bool,
    can_review: bool,
    waiting: i64,
    queue: bool,
}

/// «ждёт 2 ч 5 мин».
pub fn waited(minutes: i64) -> String {
    let m = minutes.max(0);
    if m < 60 {
        format!("{m} мин")
    } else if m < 24 * 60 {
        format!("{} ч {} мин", m / 60, m % 60)
    } else {
        format::count(m / (24 * 60), "день", "дня", "дней")
    }
}

async fn list(
    conn: &mut sqlx::PgConnection,
    scope: &SchoolScope,
    only: Option<&str>,
    queue: bool,
) -> sqlx::Result<Vec<PostItem>> {
    let rows = sqlx::query!(
        r#"select p.id, p.title, c.title as channel, p.state, p.updated_at, p.publish_at,
                  p.author_id as "author_id: AccountId", p.reminded_at,
                  a.surname, a.given_name, a.patronymic,
                  (select max(s.submitted_at) from post_submissions s where s.post_id = p.id) as submitted_at,
                  extract(epoch from now() - coalesce(
                      (select max(s.submitted_at) from post_submissions s where s.post_id = p.id),
                      p.updated_at))::bigint / 60 as "waited!"
           from posts p
           join channels c on c.school_id = p.school_id and c.id = p.channel_id
           join accounts a on a.id = p.author_id
           where p.school_id = $1 and ($2::text is null or p.state = $2)
           order by case when $3 then 0 else 1 end,
                    case when $3 then coalesce((select max(s.submitted_at) from post_submissions s
                                                where s.post_id = p.id), p.updated_at) end asc,
                    p.updated_at desc
           limit 200"#,
        scope.school_id() as SchoolId,
        only,
        queue
    )
    .fetch_all(conn)
    .await?;
    let tz = scope.timezone();
    Ok(rows
        .into_iter()
        .map(|r| {
            let state = PostState::parse(&r.state).unwrap_or(PostState::Draft);
            let when = match (state, r.publish_at) {
                (PostState::Scheduled, Some(at)) => format!("на {}", format::datetime(at, tz)),
                _ => format::datetime(r.updated_at, tz),
            };
            PostItem {
                id: PostId(r.id),
                title: r.title,
                channel: r.channel,
                author: format::full_name(&r.surname, &r.given_name, r.patronymic.as_deref()),
                state: state.title(),
                when,
                waited: waited(r.waited),
                mine: r.author_id == scope.actor().id(),
                due: state == PostState::Scheduled && r.reminded_at.is_some(),
            }
        })
        .collect())
}

/// How many posts wait for the administrator: submitted, or scheduled and due.
pub async fn waiting_count(conn: &mut sqlx::PgConnection, tenant: Tenant) -> sqlx::Result<i64> {
    sqlx::query_scalar!(
        r#"select count(*) as "n!" from posts where school_id = $1
           and (state = 'submitted' or (state = 'scheduled' and reminded_at is not null))"#,
        tenant.id() as SchoolId
    )
    .fetch_one(conn)
    .await
}

pub async fn posts(
    State(state): State<AppState>,
    scope: SchoolScope,
    Query(q): Query<ListQuery>,
) -> AppResult<Response> {
    scope.require(Action::ViewChannels)?;
    let mut conn = state.db.acquire().await?;
    let filter = PostState::parse(&q.state).map(PostState::as_str);
    let posts = list(&mut conn, &scope, filter, false).await?;
    let notes = super::home_notes(&mut conn, &scope).await?;
    Ok(PostsPage {
        layout: Layout::for_scope(&scope),
        base: format!("/s/{}", scope.school_id()),
        heading: "Публикации",
        posts,
        outcomes: notes.outcomes,
        states: PostState::ALL
            .iter()
            .map(|s| (s.as_str(), s.title()))
            .collect(),
        filter: filter.unwrap_or("").to_owned(),
        can_write: scope.can(Action::WritePosts),
        can_review: scope.can(Action::ReviewPosts),
        waiting: notes.waiting,
        queue: false,
    }
    .into_response())
}

/// The review queue: submitted posts, oldest first, with how long each has waited; then
/// scheduled posts that are due.
pub async fn review_queue(
    State(state): State<AppState>,
    scope: SchoolScope,
) -> AppResult<Response> {
    scope.require(Action::ReviewPosts)?;
    let mut conn = state.db.acquire().await?;
    let mut posts = list(&mut conn, &scope, Some("submitted"), true).await?;
    let due: Vec<PostItem> = list(&mut conn, &scope, Some("scheduled"), true)
        .await?
        .into_iter()
        .filter(|p| p.due)
        .collect();
    posts.extend(due);
    Ok(PostsPage {
        layout: Layout::for_scope(&scope),
        base: format!("/s/{}", scope.school_id()),
        heading: "Публикации на проверке",
        waiting: i64::try_from(posts.len()).unwrap_or(0),
        posts,
        outcomes: Vec::new(),
        states: Vec::new(),
        filter: String::new(),
        can_write: scope.can(Action::WritePosts),
        can_review: true,
        queue: true,
    }
    .into_response())
}

#[derive(Deserialize, Default)]
pub struct PostForm {
    #[serde(default)]
    pub form_key: FormKey,
    #[serde(default)]
    pub channel: String,
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub body: String,
    /// «submit»: save and send for review at once.
    #[serde(default)]
    pub submit: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "channels/new_post.html")]
struct NewPostPage {
    layout: Layout,
    base: String,
    channels: Vec<Channel>,
    form: PostForm,
    errors: FormErrors,
    max: usize,
}

/// Channels the actor may write to: open ones, the administrator's own only to them.
fn writable(scope: &SchoolScope, all: Vec<Channel>) -> Vec<Channel> {
    let admin = scope.has(Role::Admin);
    all.into_iter()
        .filter(|c| !c.archived && (admin || !c.admin_only))
        .collect()
}

async fn new_post_page(
    state: &AppState,
    scope: &SchoolScope,
    form: PostForm,
    errors: FormErrors,
) -> AppResult<Response> {
    let mut conn = state.db.acquire().await?;
    let channels = writable(scope, queries::channels(&mut conn, scope.tenant()).await?);
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    Ok((
        status,
        NewPostPage {
            layout: Layout::for_scope(scope),
            base: format!("/s/{}", scope.school_id()),
            channels,
            form,
            errors,
            max: model::MAX_TEXT,
        },
    )
        .into_response())
}

#[derive(Deserialize, Default)]
pub struct NewQuery {
    #[serde(default)]
    channel: String,
}

pub async fn new_post(
    State(state): State<AppState>,
    scope: SchoolScope,
    Query(q): Query<NewQuery>,
) -> AppResult<Response> {
    scope.require(Action::WritePosts)?;
    let form = PostForm {
        channel: q.channel,
        ..PostForm::default()
    };
    new_post_page(&state, &scope, form, FormErrors::default()).await
}

/// The checks of a post's title and text; `submitting` adds the platform's limits.
pub fn check_post(title: &str, body: &str, submitting: bool, errors: &mut FormErrors) {
    if title.trim().is_empty() || title.chars().count() > 200 {
        errors.add("title", "Укажите заголовок для портала (до 200 символов).");
    }
    if submitting {
        if let Some(e) = model::check_text(body) {
            errors.add("body", e);
        }
    } else if body.chars().count() > 20_000 {
        errors.add("body", "Черновик слишком длинный (до 20 000 символов).");
    }
}

pub async fn create_post(
    State(state): State<AppState>,
    scope: SchoolScope,
    meta: RequestMeta,
    Form(form): Form<PostForm>,
) -> AppResult<Response> {
    scope.require(Action::WritePosts)?;
    let submitting = form.submit == "yes";
    let mut errors = FormErrors::default();
    let mut conn = state.db.acquire().await?;
    let channels = writable(&scope, queries::channels(&mut conn, scope.tenant()).await?);
    drop(conn);
    let channel = form
        .channel
        .parse::<ChannelId>()
        .ok()
        .filter(|id| channels.iter().any(|c| c.id == *id));
    if channel.is_none() {
        errors.add("channel", "Выберите канал.");
    }
    check_post(&form.title, &form.body, submitting, &mut errors);
    let Some(channel) = channel.filter(|_| errors.is_empty()) else {
        return new_post_page(&state, &scope, form, errors).await;
    };
    let mut tx = state.db.begin().await?;
    if let Some(url) = form.form_key.seen(&mut tx, scope.actor().id()).await? {
        return Ok(once::again(&url));
    }
    let id = PostId::new();
    let by = scope.by(&meta);
    sqlx::query!(
        "insert into posts (school_id, id, channel_id, author_id, title, body)
         values ($1, $2, $3, $4, $5, $6)",
        scope.school_id() as SchoolId,
        id as PostId,
        channel as ChannelId,
        scope.actor().id() as AccountId,
        form.title.trim(),
        form.body
    )
    .execute(&mut *tx)
    .await?;
    queries::history_row(
        &mut tx,
        scope.tenant(),
        id,
        None,
        "draft",
        Some(scope.actor().id()),
        None,
    )
    .await?;
    audit::in_school(
        &mut tx,
        &meta,
        &scope,
        "post.created",
        Some(format!("post:{id}")),
        Some(form.title.trim().to_owned()),
    )
    .await?;
    if submitting {
        super::review::submit_in(&mut tx, &by, id, PostState::Draft).await?;
    }
    let url = format!("/s/{}/posts/{id}", scope.school_id());
    form.form_key
        .done(&mut tx, scope.actor().id(), &url)
        .await?;
    tx.commit().await?;
    Ok(Redirect::to(&url).into_response())
}

/// A link on the platform: https (or http), no spaces, a sane length.
pub fn is_link(s: &str) -> bool {
    (s.starts_with("https://") || s.starts_with("http://"))
        && s.len() > 10
        && s.len() <= 500
        && !s.chars().any(char::is_whitespace)
}

#[cfg(test)]
mod tests {
    #[test]
    fn waiting_time_reads_in_russian() {
        assert_eq!(super::waited(5), "5 мин");
        assert_eq!(super::waited(125), "2 ч 5 мин");
        assert_eq!(super::waited(3 * 24 * 60), "3 дня");
    }
}
