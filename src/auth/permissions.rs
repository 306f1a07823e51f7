//! The one permission table (ARCHITECTURE rule 1, SECURITY.md 10). Every route declares an
//! [`Access`]; school routes name an [`Action`], and [`can`] answers from [`MATRIX`].
//! `docs/permissions.md` is generated from this table, and a test keeps the two equal.

use std::fmt;

/// A role a person holds in a school. `Admin` comes from an approved admin-rights grant,
/// `ClassTeacher` from a current class-leadership assignment, `ItDeputy` from the deputy's
/// flag; the rest are memberships.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    Admin,
    Director,
    Deputy,
    ItDeputy,
    ClassTeacher,
    Teacher,
    Staff,
    Student,
    Parent,
}

impl Role {
    pub const ALL: [Role; 9] = [
        Role::Admin,
        Role::Director,
        Role::Deputy,
        Role::ItDeputy,
        Role::ClassTeacher,
        Role::Teacher,
        Role::Staff,
        Role::Student,
        Role::Parent,
    ];

    /// The membership role stored in the database, if this role is one.
    pub fn from_membership(role: &str) -> Option<Role> {
        Some(match role {
            "director" => Role::Director,
            "deputy" => Role::Deputy,
            "teacher" => Role::Teacher,
            "staff" => Role::Staff,
            "student" => Role::Student,
            "parent" => Role::Parent,
            _ => return None,
        })
    }

    /// The word on the page (UI.md).
    pub fn title(self) -> &'static str {
        match self {
            Role::Admin => "администратор платформы",
            Role::Director => "директор",
            Role::Deputy => "заместитель директора",
            Role::ItDeputy => "заместитель директора по ИТ",
            Role::ClassTeacher => "классный руководитель",
            Role::Teacher => "учитель",
            Role::Staff => "сотрудник",
            Role::Student => "ученик",
            Role::Parent => "родитель (законный представитель)",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.title())
    }
}

/// Something a person does inside a school.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// The school's start page (each role sees its own sections).
    ViewSchoolHome,
    /// Read the school's profile (R2.1.c).
    ViewSchoolProfile,
    /// Edit the school's profile (R2.1.c).
    EditSchoolProfile,
    /// See the school summary: counts, classes without a class teacher, pending work.
    ViewSchoolSummary,
}

impl Action {
    pub const ALL: [Action; 4] = [
        Action::ViewSchoolHome,
        Action::ViewSchoolProfile,
        Action::EditSchoolProfile,
        Action::ViewSchoolSummary,
    ];

    pub fn describe(self) -> &'static str {
        match self {
            Action::ViewSchoolHome => "school start page",
            Action::ViewSchoolProfile => "read the school profile (R2.1.c)",
            Action::EditSchoolProfile => "edit the school profile (R2.1.c)",
            Action::ViewSchoolSummary => "school summary on the start page",
        }
    }
}

use Role::*;

const EVERY_MEMBER: &[Role] = &[
    Admin,
    Director,
    Deputy,
    ItDeputy,
    ClassTeacher,
    Teacher,
    Staff,
    Student,
    Parent,
];

/// Which roles may do each action. Deny by default: an action missing here is allowed to
/// nobody (and a test fails).
pub const MATRIX: &[(Action, &[Role])] = &[
    (Action::ViewSchoolHome, EVERY_MEMBER),
    (Action::ViewSchoolProfile, EVERY_MEMBER),
    (Action::EditSchoolProfile, &[Admin]),
    (
        Action::ViewSchoolSummary,
        &[Admin, Director, Deputy, ItDeputy],
    ),
];

/// The roles allowed an action.
pub fn allowed(action: Action) -> &'static [Role] {
    MATRIX
        .iter()
        .find(|(a, _)| *a == action)
        .map(|(_, roles)| *roles)
        .unwrap_or(&[])
}

/// Whether someone holding `roles` may do `action`.
pub fn can(roles: &[Role], action: Action) -> bool {
    let allowed = allowed(action);
    roles.iter().any(|r| allowed.contains(r))
}

/// What a route requires of the person asking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone, logged in or not.
    Public,
    /// Any logged-in person.
    LoggedIn,
    /// The deployment operator only.
    Operator,
    /// A member of the school named in the URL (`{school_id}`) allowed the action.
    School(Action),
}

impl fmt::Display for Access {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Access::Public => f.write_str("public"),
            Access::LoggedIn => f.write_str("logged in"),
            Access::Operator => f.write_str("operator"),
            Access::School(a) => write!(f, "school: {a:?}"),
        }
    }
}
