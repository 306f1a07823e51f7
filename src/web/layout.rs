//! What every page's frame needs: who is logged in and the navigation for their roles.

use crate::auth::extract::{Actor, SchoolScope};
use crate::auth::permissions::Action;

#[derive(Debug, Clone)]
pub struct NavItem {
    pub href: String,
    pub label: &'static str,
    /// The page being shown is this item's (or under it): `aria-current="page"`.
    pub current: bool,
    /// A count shown beside the label (the review queue), when there is something waiting.
    pub badge: Option<i64>,
}

impl NavItem {
    pub fn new(href: String, label: &'static str) -> Self {
        Self {
            href,
            label,
            current: false,
            badge: None,
        }
    }
}

/// Marks the item the page `path` belongs to: the longest item address that is the path
/// or a folder above it; a start page («Главная») only for itself.
fn mark_current(nav: &mut [NavItem], path: &str) {
    let home = nav.first().map(|i| i.href.clone()).unwrap_or_default();
    let best = nav
        .iter()
        .enumerate()
        .filter(|(_, item)| {
            path == item.href
                || (item.href != home
                    && path.starts_with(&item.href)
                    && path[item.href.len()..].starts_with('/'))
        })
        .max_by_key(|(_, item)| item.href.len())
        .map(|(i, _)| i);
    if let Some(i) = best {
        nav[i].current = true;
    }
}

#[derive(Debug, Clone, Default)]
pub struct Layout {
    /// «Фамилия Имя Отчество» of the logged-in person.
    pub user: Option<String>,
    /// The school being worked in, by its short name (the full one when it has none).
    pub school: Option<String>,
    /// Its full name as the school writes it, for the header's tooltip.
    pub school_full: Option<String>,
    /// What the last action did («Заявка одобрена.»), from the redirect that led here.
    pub flash: Option<&'static str>,
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
        Self {
            flash: super::here::flash(),
            ..Self::default()
        }
    }

    pub fn for_actor(actor: &Actor) -> Self {
        let mut nav = vec![NavItem::new("/".into(), "Главная")];
        if actor.is_operator() {
            nav.push(NavItem::new("/operator/schools".into(), "Школы"));
            nav.push(NavItem::new("/region/stats".into(), "Статистика региона"));
            nav.push(NavItem::new(
                "/operator/regional-specialists".into(),
                "Специалисты региона",
            ));
        }
        nav.push(NavItem::new("/profile".into(), "Мой профиль"));
        mark_current(&mut nav, &super::here::path());
        Self {
            user: Some(actor.full_name()),
            school: None,
            school_full: None,
            flash: super::here::flash(),
            nav,
            school_id: None,
            admins: Vec::new(),
        }
    }

    pub fn for_scope(scope: &SchoolScope) -> Self {
        let base = format!("/s/{}", scope.school_id());
        let mut nav = vec![NavItem::new(base.clone(), "Главная")];
        let items: [(Action, &str, &'static str); 19] = [
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
            (
                Action::ReviewJoinRequests,
                "/join-requests",
                "Заявки на вступление",
            ),
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
                if action == Action::ViewChannels && waiting > 0 {
                    let mut item = NavItem::new(format!("{base}/posts/review"), label);
                    item.badge = Some(waiting);
                    nav.push(item);
                } else {
                    nav.push(NavItem::new(format!("{base}{path}"), label));
                }
            }
        }
        nav.push(NavItem::new("/profile".into(), "Мой профиль"));
        mark_current(&mut nav, &super::here::path());
        Self {
            user: Some(scope.actor().full_name()),
            school: Some(scope.school_short_name().to_owned()),
            school_full: Some(scope.school_name().to_owned()),
            flash: super::here::flash(),
            nav,
            school_id: Some(scope.school_id()),
            admins: admin_contacts(scope.admin_rows()),
        }
    }
}

impl Layout {
    /// Adds a menu item at `index`, the current-page mark put right again.
    pub fn insert_nav(&mut self, index: usize, item: NavItem) {
        self.nav.insert(index.min(self.nav.len()), item);
        for item in &mut self.nav {
            item.current = false;
        }
        mark_current(&mut self.nav, &super::here::path());
    }

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
