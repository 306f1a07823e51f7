//! The one permission table (ARCHITECTURE rule 1, SECURITY.md 10). Every route declares an
//! [`Access`]; school routes name an [`Action`], and [`can`] answers from [`MATRIX`].
//! `docs/permissions.md` is generated from this table, and a test keeps the two equal.

use std::fmt;

/// Declares an enum of unit variants together with `ALL`, every variant in declaration
/// order, so the list cannot drift from the enum.
macro_rules! with_all {
    (
        $(#[$meta:meta])*
        pub enum $name:ident { $($(#[$vmeta:meta])* $variant:ident,)* }
    ) => {
        $(#[$meta])*
        pub enum $name { $($(#[$vmeta])* $variant,)* }

        impl $name {
            /// Every variant, in declaration order.
            pub const ALL: [$name; [$(stringify!($variant)),*].len()] = [$($name::$variant),*];
        }
    };
}
pub(crate) use with_all;

pub use super::objects::{Facts, Rule, Target};

with_all! {
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
}

impl Role {
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

    /// The plural on the page: «ученики», «родители» (UI.md).
    pub fn title_plural(self) -> &'static str {
        match self {
            Role::Admin => "администраторы платформы",
            Role::Director => "директора",
            Role::Deputy => "заместители директора",
            Role::ItDeputy => "заместители директора по ИТ",
            Role::ClassTeacher => "классные руководители",
            Role::Teacher => "учителя",
            Role::Staff => "сотрудники",
            Role::Student => "ученики",
            Role::Parent => "родители",
        }
    }

    /// The three forms a number takes: (1, 2–4, 5) — «ученик», «ученика», «учеников».
    pub fn count_forms(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Role::Admin => (
                "администратор платформы",
                "администратора платформы",
                "администраторов платформы",
            ),
            Role::Director => ("директор", "директора", "директоров"),
            Role::Deputy => (
                "заместитель директора",
                "заместителя директора",
                "заместителей директора",
            ),
            Role::ItDeputy => (
                "заместитель директора по ИТ",
                "заместителя директора по ИТ",
                "заместителей директора по ИТ",
            ),
            Role::ClassTeacher => (
                "классный руководитель",
                "классных руководителя",
                "классных руководителей",
            ),
            Role::Teacher => ("учитель", "учителя", "учителей"),
            Role::Staff => ("сотрудник", "сотрудника", "сотрудников"),
            Role::Student => ("ученик", "ученика", "учеников"),
            Role::Parent => ("родитель", "родителя", "родителей"),
        }
    }

    /// A number of people in this role: «1 ученик», «3 ученика», «5 учеников».
    pub fn count(self, n: i64) -> String {
        let (one, few, many) = self.count_forms();
        crate::web::format::count(n, one, few, many)
    }

    /// A membership role as stored (`teacher`, `parent` …) in words; «—» for anything else.
    pub fn membership_title(role: &str) -> &'static str {
        Role::from_membership(role).map_or("—", Role::title)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.title())
    }
}

with_all! {
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
    /// The list of classes and a class's page (R2.1.e).
    ViewClasses,
    /// Create, edit and delete classes (R2.1.e).
    ManageClasses,
    /// The school's subjects and activities, and who teaches what (R1.5).
    ViewSubjects,
    /// Add and archive subjects; assign teachers to subjects in classes (R1.5).
    ManageSubjects,
    /// The people of the school, search, a person's card (R2.1.k, R2.1.o).
    ViewPeople,
    /// Add staff and edit people's details (R2.1.k).
    ManagePeople,
    /// Confirm or reject a teacher's, deputy's or staff member's status (R2.1.j).
    VerifyStatus,
    /// See who leads which class, under which order (R2.1.h).
    ViewClassTeachers,
    /// Record the distribution order and assign class teachers (R2.1.h).
    AssignClassTeachers,
    /// The movements register (R2.1.k).
    ViewMovements,
    /// Enrol, transfer, record leaving (R2.1.k).
    RecordMovements,
    /// Year-end rollover (R2.1.k).
    Rollover,
    /// Import and export lists of students, parents and staff (R2.1.k).
    ImportPeople,
    /// The list of admin rights and their trail (R2.1.g).
    ViewAdminRights,
    /// Propose granting admin rights to a verified staff member (R2.1.g).
    ProposeAdminRights,
    /// Approve or reject a proposed grant: the director or the IT deputy (R2.1.g, R2.1.q).
    ApproveAdminRights,
    /// Revoke admin rights (R2.1.g).
    RevokeAdminRights,
    /// The audit log (SECURITY.md 26).
    ViewAuditLog,
    /// Read the regulation in force and its editions (R1.3).
    ViewRegulation,
    /// Record a new edition of the regulation (R1.3, R4.2).
    ManageRegulation,
    /// The registry of invite links (R2.1.l); a class teacher sees their classes' links.
    ViewInvites,
    /// Create invite links and parent slips (R2.1.f); a class teacher only student and
    /// parent links of their own class.
    CreateInvites,
    /// Revoke one invite link (R2.1.l); a class teacher only their own class's.
    RevokeInvites,
    /// Revoke all links of a class, deactivate links unused for N days (R2.1.l).
    CleanupInvites,
    /// Approve or reject join requests (R2.1.i); a class teacher only their own class's
    /// students and parents.
    ReviewJoinRequests,
    /// The teacher's chats and a chat's page with its members (R2.4.c–d); staff see the
    /// chats they own, administer or are in, the class teacher their class's, the
    /// leadership all.
    ViewChats,
    /// Create the class's mandatory chats and other chats of a class (R2.4.c); a class
    /// teacher only for their own class.
    CreateClassChats,
    /// Create subject and event chats (R2.5.c); a teacher only for classes they teach.
    CreateSubjectChats,
    /// Create staff chats (R2.8.c, R2.3.d).
    CreateStaffChats,
    /// Add and remove members, reconcile with the roster, hand over, archive (R2.4.d);
    /// only the chat's owner or admin, or the administrator.
    ManageChats,
    /// The compliance of classes with the regulation (R2.4.c, R2.6, R2.7); a class teacher
    /// sees their own classes.
    ViewCompliance,
    /// «Мои чаты»: the chats one is in, with the link to each on the platform (R2.6.a, R2.7.a).
    ViewMyChats,
    /// See the contacts of a class's students' parents on the class's page (SECURITY.md 36):
    /// the administrator, and the class teacher for their own class.
    ViewClassContacts,
    /// «Статистика» (R2.1.r): the school's figures; a class teacher sees their own classes.
    ViewStatistics,
    /// «Справка об использовании платформы» for a period (R2.1.r).
    ViewStatisticsReport,
    /// A class's list of children for statistics, and the «не участвует» records: the
    /// administrator, and the class teacher for their own class.
    RecordParticipation,
    /// The school's channels and their posts (R2.1.m, R2.3.c).
    ViewChannels,
    /// Create and archive channels (R2.1.m).
    ManageChannels,
    /// Write drafts, submit them, recall a submitted post (R2.3.c); only one's own post,
    /// or the administrator.
    WritePosts,
    /// The review queue; edit a submitted post, return, decline, schedule, publish,
    /// withdraw (R2.1.m).
    ReviewPosts,
    /// «Мои трансляции», a broadcast's page and its `.ics`, one's calendar feed (R2.6.b–c,
    /// R2.7.b).
    ViewBroadcasts,
    /// The school's calendar of broadcasts, week and month (R2.1.n).
    ViewSchoolCalendar,
    /// Plan broadcasts: the administrator any, deputies meetings and webinars, a class
    /// teacher for their class, a teacher lessons of classes they teach (R2.1.n, R2.3.d,
    /// R2.4.d, R2.5.d, R3.4); a change only by who runs it or the administrator.
    PlanBroadcasts,
    /// The school's support page: the administrator's contacts, the platform's support
    /// address, a support request and the list of them (R3.2, R2.1.p); a member sees their
    /// own requests, the administrator the school's.
    ContactSupport,
    /// A parent consents to their child's taking part in the class chats (152-FZ; issue
    /// 13, item 7): only for their own linked child.
    GiveChildConsent,
    /// A pupil of 14 or more consents to taking part in the class chats themselves, the
    /// parent informed (issue 13, item 7).
    GiveOwnConsent,
    /// The school's bot on the platform: its token, the API's address, the root
    /// certificate, the health check, matching the chats it is in (issue 15).
    ManageConnector,
    /// Read a chat's members from the platform and remove who left (R2.1.l, R2.4.d): the
    /// administrator, and the class teacher for their own class's chats.
    ManagePlatformMembers,
    /// One's own deep link to the school's bot, which binds one's platform account.
    BindPlatformAccount,
}
}

impl Action {
    pub fn describe(self) -> &'static str {
        match self {
            Action::ViewSchoolHome => "school start page",
            Action::ViewSchoolProfile => "read the school profile (R2.1.c)",
            Action::EditSchoolProfile => "edit the school profile (R2.1.c)",
            Action::ViewSchoolSummary => "school summary on the start page",
            Action::ViewClasses => "classes and a class's page (R2.1.e)",
            Action::ManageClasses => "create, edit, delete classes (R2.1.e)",
            Action::ViewSubjects => "subjects, activities, who teaches what (R1.5)",
            Action::ManageSubjects => "manage subjects and teaching assignments (R1.5)",
            Action::ViewPeople => "people, search, a person's card (R2.1.k, R2.1.o)",
            Action::ManagePeople => "add staff, edit people (R2.1.k)",
            Action::VerifyStatus => "confirm or reject status (R2.1.j)",
            Action::ViewClassTeachers => "class leadership and its orders (R2.1.h)",
            Action::AssignClassTeachers => "assign class teachers under an order (R2.1.h)",
            Action::ViewMovements => "the movements register (R2.1.k)",
            Action::RecordMovements => "enrol, transfer, leaving (R2.1.k)",
            Action::Rollover => "year-end rollover (R2.1.k)",
            Action::ImportPeople => "import and export people (R2.1.k)",
            Action::ViewAdminRights => "admin rights and their trail (R2.1.g)",
            Action::ProposeAdminRights => "propose admin rights (R2.1.g)",
            Action::ApproveAdminRights => "approve or reject admin rights (R2.1.g, R2.1.q)",
            Action::RevokeAdminRights => "revoke admin rights (R2.1.g)",
            Action::ViewAuditLog => "the audit log (SECURITY.md 26)",
            Action::ViewRegulation => "the regulation in force (R1.3)",
            Action::ManageRegulation => "record a regulation edition (R1.3, R4.2)",
            Action::ViewInvites => "the registry of invite links (R2.1.l)",
            Action::CreateInvites => "create invite links and parent slips (R2.1.f)",
            Action::RevokeInvites => "revoke an invite link (R2.1.l)",
            Action::CleanupInvites => "revoke a class's links, deactivate unused ones (R2.1.l)",
            Action::ReviewJoinRequests => "approve or reject join requests (R2.1.i)",
            Action::ViewChats => "the teacher's chats, a chat's members (R2.4.c–d)",
            Action::CreateClassChats => "create a class's mandatory and other chats (R2.4.c)",
            Action::CreateSubjectChats => "create subject and event chats (R2.5.c)",
            Action::CreateStaffChats => "create staff chats (R2.8.c, R2.3.d)",
            Action::ManageChats => "members, reconcile, hand over, archive a chat (R2.4.d)",
            Action::ViewCompliance => "compliance of classes with the regulation (R2.4–R2.7)",
            Action::ViewMyChats => "my chats with their platform links (R2.6.a, R2.7.a)",
            Action::ViewClassContacts => "parents' contacts on a class's page (SECURITY.md 36)",
            Action::ViewStatistics => "the school's statistics, CSV and XLSX (R2.1.r)",
            Action::ViewStatisticsReport => "the report on the platform's use (R2.1.r)",
            Action::RecordParticipation => {
                "a class's children list, «не участвует» records (R2.1.r)"
            }
            Action::ViewChannels => "channels and their posts (R2.1.m, R2.3.c)",
            Action::ManageChannels => "create and archive channels (R2.1.m)",
            Action::WritePosts => "write, submit, recall one's posts (R2.3.c)",
            Action::ReviewPosts => "review, schedule, publish, withdraw posts (R2.1.m)",
            Action::ViewBroadcasts => {
                "my broadcasts, a broadcast, my calendar feed (R2.6.b–c, R2.7.b)"
            }
            Action::ViewSchoolCalendar => "the school's calendar of broadcasts (R2.1.n)",
            Action::PlanBroadcasts => {
                "plan and change broadcasts (R2.1.n, R2.3.d, R2.4.d, R2.5.d, R3.4)"
            }
            Action::ContactSupport => "support contacts and requests (R3.2, R2.1.p)",
            Action::GiveChildConsent => "a parent's consent to their child's chats (R4.3)",
            Action::GiveOwnConsent => "a pupil's own consent to the chats from 14 (R4.3)",
            Action::ManageConnector => "the school's bot on the platform (issue 15)",
            Action::ManagePlatformMembers => {
                "a chat's platform members, removing who left (R2.1.l, R2.4.d)"
            }
            Action::BindPlatformAccount => "one's deep link binding a platform account",
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

const LEADERSHIP: &[Role] = &[Admin, Director, Deputy, ItDeputy];
const ALL_STAFF: &[Role] = &[
    Admin,
    Director,
    Deputy,
    ItDeputy,
    ClassTeacher,
    Teacher,
    Staff,
];

/// Which roles may do each action. Deny by default: an action missing here is allowed to
/// nobody (and a test fails).
pub const MATRIX: &[(Action, &[Role])] = &[
    (Action::ViewSchoolHome, EVERY_MEMBER),
    (Action::ViewSchoolProfile, EVERY_MEMBER),
    (Action::EditSchoolProfile, &[Admin]),
    (Action::ViewSchoolSummary, LEADERSHIP),
    (Action::ViewClasses, ALL_STAFF),
    (Action::ManageClasses, &[Admin]),
    (Action::ViewSubjects, ALL_STAFF),
    (Action::ManageSubjects, &[Admin]),
    (Action::ViewPeople, LEADERSHIP),
    (Action::ManagePeople, &[Admin]),
    (Action::VerifyStatus, &[Admin]),
    (Action::ViewClassTeachers, LEADERSHIP),
    (Action::AssignClassTeachers, &[Admin]),
    (Action::ViewMovements, LEADERSHIP),
    (Action::RecordMovements, &[Admin]),
    (Action::Rollover, &[Admin]),
    (Action::ImportPeople, &[Admin]),
    (Action::ViewAdminRights, LEADERSHIP),
    (Action::ProposeAdminRights, &[Admin]),
    (Action::ApproveAdminRights, &[Director, ItDeputy]),
    (Action::RevokeAdminRights, &[Admin, Director, ItDeputy]),
    (Action::ViewAuditLog, &[Admin, Director]),
    (Action::ViewRegulation, EVERY_MEMBER),
    (Action::ManageRegulation, &[Admin]),
    (Action::ViewInvites, &[Admin, ClassTeacher]),
    (Action::CreateInvites, &[Admin, ClassTeacher]),
    (Action::RevokeInvites, &[Admin, ClassTeacher]),
    (Action::CleanupInvites, &[Admin]),
    (Action::ReviewJoinRequests, &[Admin, ClassTeacher]),
    (Action::ViewChats, ALL_STAFF),
    (Action::CreateClassChats, &[Admin, ClassTeacher]),
    (Action::CreateSubjectChats, &[Admin, ClassTeacher, Teacher]),
    (Action::CreateStaffChats, &[Admin, Deputy, ItDeputy, Staff]),
    (
        Action::ManageChats,
        &[Admin, Deputy, ItDeputy, ClassTeacher, Teacher, Staff],
    ),
    (
        Action::ViewCompliance,
        &[Admin, Director, Deputy, ItDeputy, ClassTeacher],
    ),
    (Action::ViewMyChats, EVERY_MEMBER),
    (Action::ViewClassContacts, &[Admin, ClassTeacher]),
    (
        Action::ViewStatistics,
        &[Admin, Director, Deputy, ItDeputy, ClassTeacher],
    ),
    (Action::ViewStatisticsReport, LEADERSHIP),
    (Action::RecordParticipation, &[Admin, ClassTeacher]),
    (Action::ViewChannels, LEADERSHIP),
    (Action::ManageChannels, &[Admin]),
    (Action::WritePosts, &[Admin, Deputy, ItDeputy]),
    (Action::ReviewPosts, &[Admin]),
    (Action::ViewBroadcasts, EVERY_MEMBER),
    (Action::ViewSchoolCalendar, ALL_STAFF),
    (
        Action::PlanBroadcasts,
        &[Admin, Deputy, ItDeputy, ClassTeacher, Teacher],
    ),
    (Action::ContactSupport, EVERY_MEMBER),
    (Action::GiveChildConsent, &[Parent]),
    (Action::GiveOwnConsent, &[Student]),
    (Action::ManageConnector, &[Admin]),
    (Action::ManagePlatformMembers, &[Admin, ClassTeacher]),
    (Action::BindPlatformAccount, EVERY_MEMBER),
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
    /// The region's statistics (issue 11): the operator, or a regional specialist
    /// («специалист органа управления образованием»), read-only.
    Region,
    /// A member of the school named in the URL (`{school_id}`) allowed the action.
    School(Action),
}

impl fmt::Display for Access {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Access::Public => f.write_str("public"),
            Access::LoggedIn => f.write_str("logged in"),
            Access::Operator => f.write_str("operator"),
            Access::Region => f.write_str("region (operator or regional specialist)"),
            Access::School(a) => write!(f, "school: {a:?}"),
        }
    }
}

#[cfg(test)]
mod role_words {
    use super::Role;

    #[test]
    fn counts_and_membership_titles_are_the_roles_own() {
        assert_eq!(Role::Student.count(1), "1 ученик");
        assert_eq!(Role::Parent.count(3), "3 родителя");
        assert_eq!(Role::Teacher.count(11), "11 учителей");
        assert_eq!(Role::Staff.count(22), "22 сотрудника");
        assert_eq!(Role::Student.title_plural(), "ученики");
        assert_eq!(Role::membership_title("deputy"), "заместитель директора");
        assert_eq!(Role::membership_title("class_teacher"), "—");
    }
}
