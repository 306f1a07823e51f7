//! The kinds of chat (R2.3.d): what each is called, which are mandatory for a class, and
//! which permission creates each.

use crate::auth::permissions::Action;

/// The kinds of chat, as stored in `chats.kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    ClassStudents,
    ClassParents,
    ClassTeachers,
    Subject,
    Staff,
    Event,
    Other,
}

impl Kind {
    pub const ALL: [Kind; 7] = [
        Kind::ClassStudents,
        Kind::ClassParents,
        Kind::ClassTeachers,
        Kind::Subject,
        Kind::Staff,
        Kind::Event,
        Kind::Other,
    ];
    pub const MANDATORY: [Kind; 3] = [Kind::ClassStudents, Kind::ClassParents, Kind::ClassTeachers];

    pub fn code(self) -> &'static str {
        match self {
            Kind::ClassStudents => "class_students",
            Kind::ClassParents => "class_parents",
            Kind::ClassTeachers => "class_teachers",
            Kind::Subject => "subject",
            Kind::Staff => "staff",
            Kind::Event => "event",
            Kind::Other => "other",
        }
    }

    pub fn from_code(code: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.code() == code)
    }

    /// The word on the page.
    pub fn title(self) -> &'static str {
        match self {
            Kind::ClassStudents => "чат учеников класса",
            Kind::ClassParents => "чат родителей класса",
            Kind::ClassTeachers => "чат учителей класса",
            Kind::Subject => "предметный чат",
            Kind::Staff => "чат сотрудников",
            Kind::Event => "чат мероприятия",
            Kind::Other => "другой чат класса",
        }
    }

    pub fn is_mandatory(self) -> bool {
        Kind::MANDATORY.contains(&self)
    }

    /// The permission that creates a chat of this kind (R2.4.c, R2.5.c, R2.8.c).
    pub fn create_action(self) -> Action {
        match self {
            Kind::ClassStudents | Kind::ClassParents | Kind::ClassTeachers | Kind::Other => {
                Action::CreateClassChats
            }
            Kind::Subject | Kind::Event => Action::CreateSubjectChats,
            Kind::Staff => Action::CreateStaffChats,
        }
    }

    /// The route a form creating this kind posts to.
    pub(super) fn route(self) -> &'static str {
        match self.create_action() {
            Action::CreateSubjectChats => "subject",
            Action::CreateStaffChats => "staff",
            _ => "class",
        }
    }

    /// The title a mandatory chat gets: «5А — родители».
    pub fn default_title(self, class: &str) -> String {
        match self {
            Kind::ClassStudents => format!("{class} — ученики"),
            Kind::ClassParents => format!("{class} — родители"),
            Kind::ClassTeachers => format!("{class} — учителя"),
            _ => class.to_owned(),
        }
    }
}
