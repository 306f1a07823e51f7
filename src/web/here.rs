//! Where the request is, for the page frame: the path (the menu marks its item with
//! `aria-current="page"`) and the message a redirect after an action asked for
//! (`?done=<id>`, shown at the top of the page the action led to). A middleware keeps
//! them for the request's task, so every [`Layout`](super::layout::Layout) reads them
//! without each handler passing them on.

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;

#[derive(Debug, Clone, Default)]
struct Here {
    path: String,
    done: Option<String>,
}

tokio::task_local! {
    static HERE: Here;
}

/// Keeps the request's path and `done` message id for its handler.
pub async fn scope(req: Request, next: Next) -> Response {
    let here = Here {
        path: req.uri().path().to_owned(),
        done: req.uri().query().and_then(done_of),
    };
    HERE.scope(here, next.run(req)).await
}

fn done_of(query: &str) -> Option<String> {
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(k, _)| *k == "done")
        .map(|(_, v)| v.to_owned())
        .filter(|v| v.len() <= 64)
}

/// The path of the request being answered ("" outside a request).
pub fn path() -> String {
    HERE.try_with(|h| h.path.clone()).unwrap_or_default()
}

/// The message for the `?done=` id of the request being answered, if it names one.
pub fn flash() -> Option<&'static str> {
    HERE.try_with(|h| h.done.as_deref().and_then(message))
        .ok()
        .flatten()
}

/// What each action's redirect may ask the next page to say. One table, so an id in a
/// link never shows text from outside the portal.
pub fn message(id: &str) -> Option<&'static str> {
    Some(match id {
        "approved" => "Заявка одобрена.",
        "rejected" => "Заявка отклонена.",
        "confirmed" => "Статус подтверждён.",
        "declined" => "В подтверждении отказано.",
        "invite-created" => "Приглашение создано.",
        "invite-revoked" => "Приглашение отозвано.",
        "chat-created" => "Чат создан.",
        "class-created" => "Класс создан.",
        "class-saved" => "Класс сохранён.",
        "saved" => "Изменения сохранены.",
        _ => return None,
    })
}

/// A redirect (303) to `to` asking it to say `id`'s message.
pub fn redirect_done(to: &str, id: &'static str) -> axum::response::Redirect {
    let sep = if to.contains('?') { '&' } else { '?' };
    axum::response::Redirect::to(&format!("{to}{sep}done={id}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn done_is_read_from_the_query_and_only_known_ids_speak() {
        assert_eq!(done_of("page=2&done=approved").as_deref(), Some("approved"));
        assert_eq!(done_of("page=2"), None);
        assert_eq!(message("approved"), Some("Заявка одобрена."));
        assert_eq!(message("<script>"), None);
    }
}
