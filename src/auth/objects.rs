//! Object-level rules beside the permission table (issue 8, item 4; SECURITY.md 10, 36, 38).
//!
//! [`can`](super::permissions::can) answers whether a role may do an action at all; the
//! rules here answer whether this person may do it *to this object*: «the administrator or
//! this class's class teacher», «a teacher of this class», «the chat's owner or admin»,
//! «not your own request». Each action names its rules in [`OBJECT_RULES`]; [`can_on`]
//! checks the table and then every rule of the action against a [`Target`]. Failing a rule
//! answers 403: the school is the actor's and the object exists (another school's object
//! is never found, 404, before a rule is asked). `docs/permissions.md` lists the rules, and
//! the route-table test derives its expectations from them.

use super::extract::SchoolScope;
use super::permissions::{Action, Role, can, with_all};
use crate::error::AppError;
use crate::ids::{AccountId, ClassId};

/// What a rule is asked about: the object an action is done to, with the facts about it
/// the rules need. Build it from the object's row, found in the actor's school.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A class (or the «Учительская»).
    Class(ClassId),
    /// A chat: its class (if a class's chat) and whether the actor is in it / is its owner
    /// or one of its admins.
    Chat {
        class: Option<ClassId>,
        member: bool,
        manager: bool,
    },
    /// A join request: who asked, into which class, and whether for a student or parent
    /// (`pupil`) rather than a staff role.
    JoinRequest {
        requester: AccountId,
        class: ClassId,
        pupil: bool,
    },
    /// An invite link: its class, its creator, and whether for a student or parent.
    Invite {
        class: ClassId,
        creator: AccountId,
        pupil: bool,
    },
    /// A grant of admin rights, to `account`.
    Grant { account: AccountId },
    /// A person's membership (their status, their class).
    Membership {
        account: AccountId,
        class: Option<ClassId>,
    },
    /// Something a person made and keeps: a post (its author), a broadcast (who runs it).
    Authored { author: AccountId },
}

with_all! {
/// One object-level rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Rule {
    /// The administrator, or the class teacher of the object's class (for a join request
    /// or an invite: of a student or parent of their class).
    LeadsClass,
    /// The administrator, the class teacher of the object's class or a teacher of a
    /// subject in it.
    TeachesClass,
    /// The school's leadership, a member of the chat, or the class teacher of its class.
    SeesChat,
    /// The chat's owner or one of its admins, the class teacher of its class, or the
    /// administrator.
    ManagesChat,
    /// Not about yourself: nobody decides their own join request, admin-rights grant or
    /// status (SECURITY.md 38).
    NotOwn,
    /// The object's author (a post's, a broadcast's host), or the administrator.
    AuthorOrAdmin,
}
}

impl Rule {
    /// The rule as the docs say it.
    pub fn describe(self) -> &'static str {
        match self {
            Rule::LeadsClass => {
                "the administrator or this class's class teacher (for a join request or an \
                 invite: of a student or parent of their class)"
            }
            Rule::TeachesClass => {
                "the administrator, this class's class teacher or a teacher of a subject in it"
            }
            Rule::SeesChat => {
                "the leadership, a member of the chat or the class teacher of its class"
            }
            Rule::ManagesChat => {
                "the chat's owner or admin, the class teacher of its class, or the administrator"
            }
            Rule::NotOwn => "not your own request, grant or status (SECURITY.md 38)",
            Rule::AuthorOrAdmin => {
                "the post's author, the broadcast's host or planner, or the administrator"
            }
        }
    }

    /// Whether the rule lets `who` act on `target`. A rule that does not speak of a kind
    /// of target lets it pass only where it can say so (see each arm).
    pub fn allows(self, who: &Facts, target: &Target) -> bool {
        let admin = who.roles.contains(&Role::Admin);
        let leads = |c: &ClassId| who.led.contains(c);
        let teaches = |c: &ClassId| who.taught.contains(c);
        match self {
            Rule::LeadsClass => {
                admin
                    || match target {
                        Target::Class(c) => leads(c),
                        Target::Chat { class, .. } => class.as_ref().is_some_and(leads),
                        Target::JoinRequest { class, pupil, .. }
                        | Target::Invite { class, pupil, .. } => *pupil && leads(class),
                        Target::Membership { class, .. } => class.as_ref().is_some_and(leads),
                        Target::Grant { .. } | Target::Authored { .. } => false,
                    }
            }
            Rule::TeachesClass => {
                admin
                    || match target {
                        Target::Class(c) => leads(c) || teaches(c),
                        Target::Chat { class, .. } | Target::Membership { class, .. } => {
                            class.as_ref().is_some_and(|c| leads(c) || teaches(c))
                        }
                        Target::JoinRequest { class, .. } | Target::Invite { class, .. } => {
                            leads(class) || teaches(class)
                        }
                        Target::Grant { .. } | Target::Authored { .. } => false,
                    }
            }
            Rule::SeesChat => match target {
                Target::Chat { class, member, .. } => {
                    who.is_leadership() || *member || class.as_ref().is_some_and(leads)
                }
                _ => false,
            },
            Rule::ManagesChat => match target {
                Target::Chat { class, manager, .. } => {
                    admin || *manager || class.as_ref().is_some_and(leads)
                }
                _ => false,
            },
            Rule::NotOwn => match target {
                Target::JoinRequest { requester, .. } => *requester != who.account,
                Target::Grant { account } | Target::Membership { account, .. } => {
                    *account != who.account
                }
                Target::Invite { .. }
                | Target::Class(_)
                | Target::Chat { .. }
                | Target::Authored { .. } => true,
            },
            Rule::AuthorOrAdmin => match target {
                Target::Authored { author } => admin || *author == who.account,
                _ => admin,
            },
        }
    }
}

/// Which rules each action asks of its object, beside the roles of
/// [`MATRIX`](super::permissions::MATRIX). An action not listed has no object rule.
pub const OBJECT_RULES: &[(Action, &[Rule])] = &[
    (Action::ViewClassContacts, &[Rule::LeadsClass]),
    (Action::ViewChats, &[Rule::SeesChat]),
    (Action::ManageChats, &[Rule::ManagesChat]),
    (Action::CreateClassChats, &[Rule::LeadsClass]),
    (Action::CreateSubjectChats, &[Rule::TeachesClass]),
    (Action::ViewInvites, &[Rule::LeadsClass]),
    (Action::CreateInvites, &[Rule::LeadsClass]),
    (Action::RevokeInvites, &[Rule::LeadsClass]),
    (
        Action::ReviewJoinRequests,
        &[Rule::LeadsClass, Rule::NotOwn],
    ),
    (Action::ViewCompliance, &[Rule::LeadsClass]),
    (Action::ApproveAdminRights, &[Rule::NotOwn]),
    (Action::VerifyStatus, &[Rule::NotOwn]),
    (Action::RecordParticipation, &[Rule::LeadsClass]),
    (Action::WritePosts, &[Rule::AuthorOrAdmin]),
    (Action::PlanBroadcasts, &[Rule::AuthorOrAdmin]),
    (Action::ManagePlatformMembers, &[Rule::LeadsClass]),
];

/// The object rules of an action (none for most).
pub fn rules_for(action: Action) -> &'static [Rule] {
    OBJECT_RULES
        .iter()
        .find(|(a, _)| *a == action)
        .map(|(_, r)| *r)
        .unwrap_or(&[])
}

/// The actions a rule applies to, for the docs.
pub fn actions_of(rule: Rule) -> Vec<Action> {
    OBJECT_RULES
        .iter()
        .filter(|(_, rules)| rules.contains(&rule))
        .map(|(a, _)| *a)
        .collect()
}

/// The path parameters that name the object a route acts on; a school route with one of
/// them has its action's object rules checked against that object.
pub const OBJECT_PARAMS: &[&str] = &[
    "{class_id}",
    "{chat_id}",
    "{request_id}",
    "{invite_id}",
    "{grant_id}",
    "{membership_id}",
    "{post_id}",
    "{broadcast_id}",
];

/// The object rules a route declares, derived from its action and path: the action's
/// rules when the path names an object, none otherwise (lists and forms filter or
/// validate instead).
pub fn route_rules(action: Action, path: &str) -> &'static [Rule] {
    if OBJECT_PARAMS.iter().any(|p| path.contains(p)) {
        rules_for(action)
    } else {
        &[]
    }
}

/// What the rules know about the actor in a school: their roles and the classes they lead
/// and teach now.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    pub account: AccountId,
    pub roles: Vec<Role>,
    pub led: Vec<ClassId>,
    pub taught: Vec<ClassId>,
}

impl Facts {
    /// The actor's facts in the scope's school: the roles, led and taught classes the
    /// scope loaded with the roles, in the same query.
    pub fn of(scope: &SchoolScope) -> Facts {
        Facts {
            account: scope.actor().id(),
            roles: scope.roles().to_vec(),
            led: scope.led_classes().to_vec(),
            taught: scope.taught_classes().to_vec(),
        }
    }

    fn is_leadership(&self) -> bool {
        [Role::Admin, Role::Director, Role::Deputy, Role::ItDeputy]
            .iter()
            .any(|r| self.roles.contains(r))
    }

    /// The table, then every object rule of the action.
    pub fn can_on(&self, action: Action, target: &Target) -> bool {
        can(&self.roles, action) && rules_for(action).iter().all(|r| r.allows(self, target))
    }

    /// 403 unless [`can_on`](Self::can_on).
    pub fn require_on(&self, action: Action, target: &Target) -> Result<(), AppError> {
        if self.can_on(action, target) {
            Ok(())
        } else {
            Err(AppError::Forbidden)
        }
    }
}

impl SchoolScope {
    /// What the object rules know of the actor here.
    pub fn facts(&self) -> Facts {
        Facts::of(self)
    }
    /// Whether the actor may do `action` to `target`: the permission table, then every
    /// object rule of the action.
    pub fn can_on(&self, action: Action, target: &Target) -> bool {
        self.facts().can_on(action, target)
    }
    /// 403 unless [`can_on`](Self::can_on).
    pub fn require_on(&self, action: Action, target: &Target) -> Result<(), AppError> {
        self.facts().require_on(action, target)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(roles: &[Role], led: &[ClassId], taught: &[ClassId]) -> Facts {
        Facts {
            account: AccountId::new(),
            roles: roles.to_vec(),
            led: led.to_vec(),
            taught: taught.to_vec(),
        }
    }

    #[test]
    fn a_class_teacher_decides_only_their_classs_pupils_and_never_their_own_request() {
        let five_a = ClassId::new();
        let five_b = ClassId::new();
        let t = facts(&[Role::Teacher, Role::ClassTeacher], &[five_a], &[]);
        let req = |requester, class, pupil| Target::JoinRequest {
            requester,
            class,
            pupil,
        };
        let a = Action::ReviewJoinRequests;
        assert!(t.can_on(a, &req(AccountId::new(), five_a, true)));
        assert!(!t.can_on(a, &req(AccountId::new(), five_b, true)));
        assert!(!t.can_on(a, &req(AccountId::new(), five_a, false)));
        assert!(!t.can_on(a, &req(t.account, five_a, true)));
        let admin = facts(&[Role::Staff, Role::Admin], &[], &[]);
        assert!(admin.can_on(a, &req(AccountId::new(), five_b, false)));
        assert!(!admin.can_on(a, &req(admin.account, five_b, true)));
    }

    #[test]
    fn chat_rules_follow_membership_ownership_and_class_leadership() {
        let five_a = ClassId::new();
        let chat = |member, manager| Target::Chat {
            class: Some(five_a),
            member,
            manager,
        };
        let teacher = facts(&[Role::Teacher], &[], &[five_a]);
        assert!(!teacher.can_on(Action::ViewChats, &chat(false, false)));
        assert!(teacher.can_on(Action::ViewChats, &chat(true, false)));
        assert!(!teacher.can_on(Action::ManageChats, &chat(true, false)));
        assert!(teacher.can_on(Action::ManageChats, &chat(true, true)));
        let lead = facts(&[Role::Teacher, Role::ClassTeacher], &[five_a], &[]);
        assert!(lead.can_on(Action::ManageChats, &chat(false, false)));
        let director = facts(&[Role::Director], &[], &[]);
        assert!(director.can_on(Action::ViewChats, &chat(false, false)));
        assert!(!director.can_on(Action::ManageChats, &chat(false, false)));
    }

    #[test]
    fn every_rule_applies_to_some_action_and_only_object_params_carry_rules() {
        for rule in Rule::ALL {
            assert!(
                !actions_of(rule).is_empty(),
                "{rule:?} is used by no action"
            );
        }
        assert_eq!(
            route_rules(Action::ManageChats, "/s/{school_id}/chats/{chat_id}/edit"),
            &[Rule::ManagesChat]
        );
        assert!(route_rules(Action::ViewChats, "/s/{school_id}/chats").is_empty());
    }
}
