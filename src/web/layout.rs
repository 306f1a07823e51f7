//! What every page's frame needs: who is logged in and the navigation for their roles.

use crate::auth::extract::{Actor, SchoolScope};
use crate::auth::permissions::Action;

#[derive(Debug, Clone)]
pub struct NavItem {
    pub href: String,
    pub label: &'static str,
    /// A count shown beside the label (the review queue), when there is something waiting.
    pub badge: Option<i64>,
}

#[derive(Debug, Clone, Default)]
pub struct Layout {
    /// «Фамилия Имя Отчество» of the logged-in person.
    pub user: Option<String>,
    /// The school being worked in.
    pub school: Option<String>,
    pub nav: Vec<NavItem>,
    /// The school being worked in, for the footer's support link.
    pub school_id: Option<crate::ids::SchoolId>,
}

impl Layout {
    pub fn anonymous() -> Self {
        Self::default()
    }

    pub fn for_actor(actor: &Actor) -> Self {
        let mut nav = vec![NavItem {
            href: "/".into(),
            label: "Главная",
            badge: None,
        }];
        if actor.is_operator() {
            nav.push(NavItem {
                href: "/operator/schools".into(),
                label: "Школы",
                badge: None,
            });
            nav.push(NavItem {
                href: "/region/stats".into(),
                label: "Статистика региона",
                badge: None,
            });
            nav.push(NavItem {
                href: "/operator/regional-specialists".into(),
                label: "Специалисты региона",
                badge: None,
            });
        }
        nav.push(NavItem {
            href: "/profile".into(),
            label: "Мой профиль",
            badge: None,
        });
        Self {
            user: Some(actor.full_name()),
            school: None,
            nav,
            school_id: None,
        }
    }

    pub fn for_scope(scope: &SchoolScope) -> Self {
        let base = format!("/s/{}", scope.school_id());
        let mut nav = vec![NavItem {
            href: base.clone(),
            label: "Главная",
            badge: None,
        }];
        let items: [(Action, &str, &'static str); 18] = [
            (Action::ViewClasses, "/classes", "Классы"),
            (
                Action::ViewClassTeachers,
                "/class-teachers",
                "Классное руководство",
            ),
            (Action::ViewSubjects, "/subjects", "Предметы"),
            (Action::ViewPeople, "/people", "Люди"),
            (Action::VerifyStatus, "/verification", "Подтверждение"),
            (Action::ViewInvites, "/invites", "Приглашения"),
            (Action::ViewChats, "/chats", "Чаты"),
            (
                Action::ViewCompliance,
                "/compliance",
                "Соответствие Положению",
            ),
            (Action::ViewMovements, "/movements", "Движение"),
            (Action::ImportPeople, "/import", "Импорт"),
            (
                Action::ViewAdminRights,
                "/admin-rights",
                "Права администратора",
            ),
            (Action::ViewAuditLog, "/audit", "Журнал действий"),
            (Action::ViewSchoolProfile, "/profile", "Школа"),
            (Action::ViewRegulation, "/regulation", "Положение"),
            (Action::ViewStatistics, "/stats", "Статистика"),
            (Action::ViewChannels, "/channels", "Каналы"),
            (Action::ViewBroadcasts, "/broadcasts", "Трансляции"),
            (Action::ViewSchoolCalendar, "/calendar", "Календарь"),
        ];
        for (action, path, label) in items {
            if scope.can(action) {
                // The administrator's review queue: a badge on «Каналы», which then
                // leads to the queue (issue 12).
                let waiting = scope.review_queue();
                let queue = action == Action::ViewChannels && waiting > 0;
                nav.push(NavItem {
                    href: if queue {
                        format!("{base}/posts/review")
                    } else {
                        format!("{base}{path}")
                    },
                    label,
                    badge: queue.then_some(waiting),
                });
            }
        }
        nav.push(NavItem {
            href: "/profile".into(),
            label: "Мой профиль",
            badge: None,
        });
        Self {
            user: Some(scope.actor().full_name()),
            school: Some(scope.school_name().to_owned()),
            nav,
            school_id: Some(scope.school_id()),
        }
    }
}

impl Layout {
    /// The platform's technical support address for the footer (R3.2).
    pub fn support_email(&self) -> &'static str {
        crate::support::support_email()
    }
}
