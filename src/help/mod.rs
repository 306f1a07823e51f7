//! Help pages (R3.3, R2.1.o; issue 13, item 3): short, practical instructions in Russian
//! for a parent, a student, a class teacher and the school's administrator. Public, so a
//! person who cannot log in reads them too; linked from every page's footer and from the
//! places where people get stuck (the empty «Мои чаты», the page after joining).

use askama::Template;
use askama_web::WebTemplate;
use axum::response::{IntoResponse, Response};

use crate::auth::extract::MaybeActor;
use crate::auth::permissions::Access;
use crate::error::AppResult;
use crate::web::Routes;
use crate::web::layout::Layout;

/// The topics: address, title.
pub const TOPICS: &[(&str, &str)] = &[
    ("parents", "Родителям"),
    ("students", "Ученикам"),
    ("teachers", "Классным руководителям и учителям"),
    ("admins", "Администратору платформы в школе"),
];

pub fn routes(r: Routes) -> Routes {
    r.get("/help", Access::Public, index)
        .get("/help/parents", Access::Public, parents)
        .get("/help/students", Access::Public, students)
        .get("/help/teachers", Access::Public, teachers)
        .get("/help/admins", Access::Public, admins)
}

#[derive(Template, WebTemplate)]
#[template(path = "help/page.html")]
struct HelpPage {
    layout: Layout,
    /// «» for the index, else one of [`TOPICS`].
    topic: &'static str,
    title: &'static str,
    topics: &'static [(&'static str, &'static str)],
}

fn layout(actor: &Option<crate::auth::extract::Actor>) -> Layout {
    match actor {
        Some(a) => Layout::for_actor(a),
        None => Layout::anonymous(),
    }
}

fn show(actor: MaybeActor, topic: &'static str) -> AppResult<Response> {
    let title = TOPICS
        .iter()
        .find(|(t, _)| *t == topic)
        .map(|(_, title)| *title)
        .unwrap_or("Помощь");
    Ok(HelpPage {
        layout: layout(&actor.0),
        topic,
        title,
        topics: TOPICS,
    }
    .into_response())
}

async fn index(actor: MaybeActor) -> AppResult<Response> {
    show(actor, "")
}
async fn parents(actor: MaybeActor) -> AppResult<Response> {
    show(actor, "parents")
}
async fn students(actor: MaybeActor) -> AppResult<Response> {
    show(actor, "students")
}
async fn teachers(actor: MaybeActor) -> AppResult<Response> {
    show(actor, "teachers")
}
async fn admins(actor: MaybeActor) -> AppResult<Response> {
    show(actor, "admins")
}
