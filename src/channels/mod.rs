//! The school's channels on the platform and their posts, with a review before publishing
//! (R2.1.m: the administrator runs the system channels and posts to them; R2.3.c: deputies
//! supply the materials). `../shared/COMMUNICATION.md` gives the states and who does what.
//!
//! - [`model`]: the states and the transitions, pure; the state always comes from the
//!   actor's right, never from a form field.
//! - [`queries`]: the SQL (history, submissions, outcomes).
//! - [`pages`]: channels, the list of posts, a new post.
//! - [`post`]: a post's page and its edit form.
//! - [`review`]: submit, recall, return, decline, schedule, publish, withdraw.
//! - [`publish`]: the [`publish::Publisher`] seam and the due-post poller.
//! - [`attachments`]: files kept in PostgreSQL, served as attachments.

pub mod attachments;
pub mod demo;
pub mod model;
pub mod pages;
pub mod post;
pub mod publish;
pub mod queries;
pub mod review;

use axum::extract::DefaultBodyLimit;
use axum::handler::Handler;

use crate::auth::permissions::{Access, Action};
use crate::web::Routes;

pub fn routes(r: Routes) -> Routes {
    let school = Access::School;
    r.get(
        "/s/{school_id}/channels",
        school(Action::ViewChannels),
        pages::channels,
    )
    .post(
        "/s/{school_id}/channels",
        school(Action::ManageChannels),
        pages::create_channel,
    )
    .post(
        "/s/{school_id}/channels/{channel_id}/archive",
        school(Action::ManageChannels),
        pages::archive_channel,
    )
    .get(
        "/s/{school_id}/posts",
        school(Action::ViewChannels),
        pages::posts,
    )
    .get(
        "/s/{school_id}/posts/review",
        school(Action::ReviewPosts),
        pages::review_queue,
    )
    .get(
        "/s/{school_id}/posts/new",
        school(Action::WritePosts),
        pages::new_post,
    )
    .post(
        "/s/{school_id}/posts",
        school(Action::WritePosts),
        pages::create_post,
    )
    .get(
        "/s/{school_id}/posts/{post_id}",
        school(Action::ViewChannels),
        post::show,
    )
    .post(
        "/s/{school_id}/posts/{post_id}/edit",
        school(Action::WritePosts),
        post::edit,
    )
    .post(
        "/s/{school_id}/posts/{post_id}/submit",
        school(Action::WritePosts),
        review::submit,
    )
    .post(
        "/s/{school_id}/posts/{post_id}/recall",
        school(Action::WritePosts),
        review::recall,
    )
    .post(
        "/s/{school_id}/posts/{post_id}/return",
        school(Action::ReviewPosts),
        review::return_post,
    )
    .post(
        "/s/{school_id}/posts/{post_id}/decline",
        school(Action::ReviewPosts),
        review::decline,
    )
    .post(
        "/s/{school_id}/posts/{post_id}/schedule",
        school(Action::ReviewPosts),
        review::schedule,
    )
    .post(
        "/s/{school_id}/posts/{post_id}/publish",
        school(Action::ReviewPosts),
        review::publish,
    )
    .post(
        "/s/{school_id}/posts/{post_id}/withdraw",
        school(Action::ReviewPosts),
        review::withdraw,
    )
    .post(
        "/s/{school_id}/posts/{post_id}/attachments",
        school(Action::WritePosts),
        attachments::upload.layer(DefaultBodyLimit::max(attachments::UPLOAD_BODY_LIMIT)),
    )
    .get(
        "/s/{school_id}/posts/{post_id}/attachments/{attachment_id}",
        school(Action::ViewChannels),
        attachments::download,
    )
    .post(
        "/s/{school_id}/posts/{post_id}/attachments/{attachment_id}/delete",
        school(Action::WritePosts),
        attachments::delete,
    )
}

/// The start page's notes for the person: outcomes of their posts decided by someone else,
/// and for the administrator how many posts wait for review.
pub struct HomeNotes {
    pub outcomes: Vec<queries::Outcome>,
    pub waiting: i64,
}

pub async fn home_notes(
    conn: &mut sqlx::PgConnection,
    scope: &crate::auth::extract::SchoolScope,
) -> sqlx::Result<HomeNotes> {
    let outcomes = if scope.can(Action::WritePosts) {
        queries::my_outcomes(conn, scope.tenant(), scope.actor().id(), scope.timezone()).await?
    } else {
        Vec::new()
    };
    let waiting = if scope.can(Action::ReviewPosts) {
        pages::waiting_count(conn, scope.tenant()).await?
    } else {
        0
    };
    Ok(HomeNotes { outcomes, waiting })
}
