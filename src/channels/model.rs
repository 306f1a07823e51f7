//! A post's states and the transitions between them (COMMUNICATION.md, «Channels and
//! posts»). Pure: the handlers ask [`transition`] with who the actor is to the post, and the
//! state that results comes from here, never from a form field.

/// A post's state; the word on the page is [`State::title`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Draft,
    Submitted,
    Returned,
    Declined,
    Scheduled,
    Published,
    Withdrawn,
}

impl State {
    pub const ALL: [State; 7] = [
        State::Draft,
        State::Submitted,
        State::Returned,
        State::Declined,
        State::Scheduled,
        State::Published,
        State::Withdrawn,
    ];

    pub fn parse(s: &str) -> Option<State> {
        State::ALL.into_iter().find(|st| st.as_str() == s)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            State::Draft => "draft",
            State::Submitted => "submitted",
            State::Returned => "returned",
            State::Declined => "declined",
            State::Scheduled => "scheduled",
            State::Published => "published",
            State::Withdrawn => "withdrawn",
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            State::Draft => "черновик",
            State::Submitted => "на проверке",
            State::Returned => "возвращён на доработку",
            State::Declined => "отклонён",
            State::Scheduled => "запланирован",
            State::Published => "опубликован",
            State::Withdrawn => "снят",
        }
    }

    /// Whether the post's text may still be edited by its author.
    pub fn author_edits(self) -> bool {
        matches!(self, State::Draft | State::Returned)
    }
}

/// The word of a history row's `to_state`: a state, or one of the poller's marks.
pub fn history_title(to: &str) -> &'static str {
    match to {
        "due" => "пора публиковать (напоминание администратору)",
        "overdue" => "просрочен: не опубликован вовремя",
        other => State::parse(other).map(State::title).unwrap_or("изменён"),
    }
}

/// Something done to a post.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Submit,
    Recall,
    Return,
    Decline,
    Schedule,
    Publish,
    Withdraw,
}

impl Step {
    pub fn as_str(self) -> &'static str {
        match self {
            Step::Submit => "submit",
            Step::Recall => "recall",
            Step::Return => "return",
            Step::Decline => "decline",
            Step::Schedule => "schedule",
            Step::Publish => "publish",
            Step::Withdraw => "withdraw",
        }
    }

    /// Whether the step needs a reason from the reviewer.
    pub fn needs_reason(self) -> bool {
        matches!(self, Step::Return | Step::Decline)
    }
}

/// Who the actor is to the post.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Who {
    /// The school's administrator (the only reviewer).
    pub admin: bool,
    /// The post's author.
    pub author: bool,
}

/// Why a step is refused, in Russian.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Not this person's to do (answered 403).
    NotYours,
    /// Not from this state (answered with the message, the page as it is now).
    NotNow(&'static str),
}

/// The state after `step`, or why not. Only the administrator reviews; the author submits
/// and recalls; the administrator's own draft may go straight to scheduled or published.
pub fn transition(state: State, step: Step, who: Who) -> Result<State, Refusal> {
    use State::*;
    let reviewer = |ok: bool, to: State, msg: &'static str| {
        if !who.admin {
            Err(Refusal::NotYours)
        } else if ok {
            Ok(to)
        } else {
            Err(Refusal::NotNow(msg))
        }
    };
    match step {
        Step::Submit => {
            if !who.author {
                Err(Refusal::NotYours)
            } else if state.author_edits() {
                Ok(Submitted)
            } else {
                Err(Refusal::NotNow(
                    "Отправить на проверку можно черновик или возвращённую публикацию.",
                ))
            }
        }
        Step::Recall => {
            if !who.author {
                Err(Refusal::NotYours)
            } else if state == Submitted {
                Ok(Draft)
            } else {
                Err(Refusal::NotNow(
                    "Отозвать можно только публикацию на проверке, пока администратор её не рассмотрел.",
                ))
            }
        }
        Step::Return => reviewer(
            matches!(state, Submitted | Scheduled),
            Returned,
            "Вернуть на доработку можно публикацию на проверке или запланированную.",
        ),
        Step::Decline => reviewer(
            matches!(state, Submitted | Scheduled),
            Declined,
            "Отклонить можно публикацию на проверке или запланированную.",
        ),
        Step::Schedule => reviewer(
            matches!(state, Submitted | Scheduled) || (who.author && state.author_edits()),
            Scheduled,
            "Запланировать можно публикацию на проверке (или свой черновик).",
        ),
        Step::Publish => reviewer(
            matches!(state, Submitted | Scheduled) || (who.author && state.author_edits()),
            Published,
            "Опубликовать можно публикацию на проверке, запланированную или свой черновик.",
        ),
        Step::Withdraw => reviewer(
            state == Published,
            Withdrawn,
            "Снять можно только опубликованную публикацию.",
        ),
    }
}

/// The platform's limit on a post's text (characters).
pub const MAX_TEXT: usize = 4000;

/// The text's check at submission: a Russian message for the field, or none.
pub fn check_text(body: &str) -> Option<&'static str> {
    let n = body.chars().count();
    if body.trim().is_empty() {
        Some("Напишите текст публикации.")
    } else if n > MAX_TEXT {
        Some("Текст длиннее 4000 символов — столько платформа не принимает. Сократите его.")
    } else {
        None
    }
}

/// The lines of the new text, each marked whether it is new, and the lines gone.
pub type Changes = (Vec<(bool, String)>, Vec<String>);

/// What changed between two rounds' texts, line by line: each line of `now` marked as new
/// when it was not in `before`, and the lines of `before` gone from `now`.
pub fn changed_lines(before: &str, now: &str) -> Changes {
    let old: Vec<&str> = before.lines().collect();
    let new: Vec<&str> = now.lines().collect();
    let marked = new
        .iter()
        .map(|l| (!old.contains(l), (*l).to_owned()))
        .collect();
    let gone = old
        .iter()
        .filter(|l| !new.contains(l))
        .map(|l| (*l).to_owned())
        .collect();
    (marked, gone)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEPUTY: Who = Who {
        admin: false,
        author: true,
    };
    const ADMIN: Who = Who {
        admin: true,
        author: false,
    };

    #[test]
    fn a_deputy_never_reaches_scheduled_or_published() {
        for state in State::ALL {
            for step in [
                Step::Schedule,
                Step::Publish,
                Step::Return,
                Step::Decline,
                Step::Withdraw,
            ] {
                assert_eq!(transition(state, step, DEPUTY), Err(Refusal::NotYours));
            }
        }
    }

    #[test]
    fn the_review_round_trip() {
        let s = transition(State::Draft, Step::Submit, DEPUTY).unwrap();
        assert_eq!(s, State::Submitted);
        let s = transition(s, Step::Return, ADMIN).unwrap();
        assert_eq!(s, State::Returned);
        let s = transition(s, Step::Submit, DEPUTY).unwrap();
        let s = transition(s, Step::Schedule, ADMIN).unwrap();
        assert_eq!(s, State::Scheduled);
        let s = transition(s, Step::Publish, ADMIN).unwrap();
        assert_eq!(s, State::Published);
        assert_eq!(transition(s, Step::Withdraw, ADMIN), Ok(State::Withdrawn));
        assert!(matches!(
            transition(State::Returned, Step::Recall, DEPUTY),
            Err(Refusal::NotNow(_))
        ));
        assert!(matches!(
            transition(State::Draft, Step::Publish, ADMIN),
            Err(Refusal::NotNow(_))
        ));
        let own = Who {
            admin: true,
            author: true,
        };
        assert_eq!(
            transition(State::Draft, Step::Publish, own),
            Ok(State::Published)
        );
    }

    #[test]
    fn the_text_limit_counts_characters_not_bytes() {
        assert!(check_text(&"я".repeat(4000)).is_none());
        assert!(check_text(&"я".repeat(4001)).is_some());
        assert!(check_text("  ").is_some());
    }
}
