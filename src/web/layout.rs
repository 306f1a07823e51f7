//! What every page's frame needs: who is logged in and the navigation for their roles.

use crate::auth::extract::{Actor, SchoolScope};
use crate::auth::permissions::Action;

#[derive(Debug, Clone)]
pub struct NavItem {
    pub href: String,
    pub label: &'static str,
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
    /// The school's administrators' contacts, shown in every page's footer (R3.2).
    pub admins: Vec<AdminContact>,
}

/// One administrator of the school as the footer names them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AdminContact {
    pub name: String,
    pub phone: Option<String>,
    pub email: Option<String>,
}

/// The contacts from the scope's rows («name\tphone\temail», phone and e-mail may be empty).
pub fn admin_contacts(rows: &[String]) -> Vec<AdminContact> {
    rows.iter()
        .map(|row| {
            let mut parts = row.rsplitn(3, '\t');
            let email = parts.next().unwrap_or_default();
            let phone = parts.next().unwrap_or_default();
            let name = parts.next().unwrap_or_default();
            AdminContact {
                name: name.to_owned(),
                phone: Some(phone)
                    .filter(|p| !p.is_empty())
                    .map(super::format::phone),
                email: Some(email).filter(|e| !e.is_empty()).map(str::to_owned),
            }
        })
        .collect()
}

impl Layout {
    pub fn anonymous() -> Self {
        Self::default()
    }

    pub fn for_actor(actor: &Actor) -> Self {
        let mut nav = vec![NavItem {
            href: "/".into(),
            label: "Главная",
        }];
        if actor.is_operator() {
            nav.push(NavItem {
                href: "/operator/schools".into(),
                label: "Школы",
            });
            nav.push(NavItem {
                href: "/region/stats".into(),
                label: "Статистика региона",
            });
            nav.push(NavItem {
                href: "/operator/regional-specialists".into(),
                label: "Специалисты региона",
            });
        }
        nav.push(NavItem {
            href: "/profile".into(),
            label: "Мой профиль",
        });
        Self {
            user: Some(actor.full_name()),
            school: None,
            nav,
            school_id: None,
            admins: Vec::new(),
        }
    }

    pub fn for_scope(scope: &SchoolScope) -> Self {
        let base = format!("/s/{}", scope.school_id());
        let mut nav = vec![NavItem {
            href: base.clone(),
            label: "Главная",
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
                nav.push(NavItem {
                    href: format!("{base}{path}"),
                    label,
                });
            }
        }
        nav.push(NavItem {
            href: "/profile".into(),
            label: "Мой профиль",
        });
        Self {
            user: Some(scope.actor().full_name()),
            school: Some(scope.school_name().to_owned()),
            nav,
            school_id: Some(scope.school_id()),
            admins: admin_contacts(scope.admin_rows()),
        }
    }
}

impl Layout {
    /// The platform's technical support address for the footer (R3.2).
    pub fn support_email(&self) -> &'static str {
        crate::support::support_email()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_contacts_split_name_phone_and_email() {
        let rows = vec![
            "Иванова Анна Петровна\t+79123456789\tivanova@school.ru".to_owned(),
            "Петров Пётр\t\t".to_owned(),
        ];
        let c = admin_contacts(&rows);
        assert_eq!(c[0].name, "Иванова Анна Петровна");
        assert_eq!(c[0].email.as_deref(), Some("ivanova@school.ru"));
        assert!(c[0].phone.is_some());
        assert_eq!(
            c[1],
            AdminContact {
                name: "Петров Пётр".into(),
                phone: None,
                email: None
            }
        );
    }
}
