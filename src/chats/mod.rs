//! The school's chats (R2.3.d, R2.4.c–d, R2.5.c, R2.8.c): the class's three mandatory
//! chats created in one click and filled from the roster, subject, event and staff chats,
//! members with their role in the chat, reconciling a class chat with the roster, handing a
//! chat over, archiving; «Мои чаты» with the links to the platform (R2.6.a, R2.7.a); and
//! the compliance of each class with the regulation ([`compliance`]).

pub mod compliance;
mod create;
pub mod demo;
mod invite;
pub mod sync;

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::AppState;
use crate::audit::{self, Entry};
use crate::auth::FormErrors;
use crate::auth::extract::{RequestMeta, SchoolScope};
use crate::auth::objects::{Facts, Target};
use crate::auth::permissions::{Access, Action, Role};
use crate::auth::tenant::Tenant;
use crate::error::{AppError, AppResult};
use crate::ids::{AccountId, ClassId, MembershipId, SchoolId};
use crate::web::format;
use crate::web::layout::Layout;
use crate::web::once::FormKey;
use crate::web::{Routes, render};

pub use create::{NewChat, create_chat};
use create::{
    create_class_chat, create_mandatory, create_staff_chat, create_subject_chat, new_page,
};
use invite::create_invite;

pub fn routes(r: Routes) -> Routes {
    r.get(
        "/s/{school_id}/chats",
        Access::School(Action::ViewChats),
        list,
    )
    .get(
        "/s/{school_id}/chats/new",
        Access::School(Action::ViewChats),
        new_page,
    )
    .post(
        "/s/{school_id}/chats/class",
        Access::School(Action::CreateClassChats),
        create_class_chat,
    )
    .post(
        "/s/{school_id}/chats/subject",
        Access::School(Action::CreateSubjectChats),
        create_subject_chat,
    )
    .post(
        "/s/{school_id}/chats/staff",
        Access::School(Action::CreateStaffChats),
        create_staff_chat,
    )
    .post(
        "/s/{school_id}/classes/{class_id}/chats/{kind}",
        Access::School(Action::CreateClassChats),
        create_mandatory,
    )
    .get(
        "/s/{school_id}/chats/{chat_id}",
        Access::School(Action::ViewChats),
        show,
    )
    .post(
        "/s/{school_id}/chats/{chat_id}/members",
        Access::School(Action::ManageChats),
        add_member,
    )
    .post(
        "/s/{school_id}/chats/{chat_id}/members/{member_id}/remove",
        Access::School(Action::ManageChats),
        remove_member,
    )
    .post(
        "/s/{school_id}/chats/{chat_id}/reconcile",
        Access::School(Action::ManageChats),
        reconcile,
    )
    .post(
        "/s/{school_id}/chats/{chat_id}/handover",
        Access::School(Action::ManageChats),
        handover,
    )
    .post(
        "/s/{school_id}/chats/{chat_id}/archive",
        Access::School(Action::ManageChats),
        archive,
    )
    .post(
        "/s/{school_id}/chats/{chat_id}/edit",
        Access::School(Action::ManageChats),
        edit,
    )
    .post(
        "/s/{school_id}/chats/{chat_id}/invite",
        Access::School(Action::CreateInvites),
        create_invite,
    )
    .get(
        "/s/{school_id}/compliance",
        Access::School(Action::ViewCompliance),
        compliance::page,
    )
    .get(
        "/s/{school_id}/compliance.csv",
        Access::School(Action::ViewCompliance),
        compliance::csv,
    )
    .get(
        "/s/{school_id}/my-chats",
        Access::School(Action::ViewMyChats),
        my_chats,
    )
}

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
    fn route(self) -> &'static str {
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

/// The actor's staff membership in the school (an owner of a chat is one).
async fn staff_membership(
    conn: &mut PgConnection,
    tenant: Tenant,
    account: AccountId,
) -> sqlx::Result<Option<MembershipId>> {
    let school = tenant.id();
    sqlx::query_scalar!(
        r#"select id as "id: MembershipId" from memberships
           where school_id = $1 and account_id = $2 and status = 'active'
             and role in ('director', 'deputy', 'teacher', 'staff')
           order by case role when 'teacher' then 0 when 'deputy' then 1 when 'staff' then 2 else 3 end
           limit 1"#,
        school as SchoolId,
        account as AccountId
    )
    .fetch_optional(conn)
    .await
}

/// Whether the account leads the class now (R2.1.h).
pub async fn leads_class(
    conn: &mut PgConnection,
    tenant: Tenant,
    account: AccountId,
    class: ClassId,
) -> sqlx::Result<bool> {
    let school = tenant.id();
    sqlx::query_scalar!(
        r#"select exists(select 1 from class_teacher_assignments a
                  join memberships m on m.school_id = a.school_id and m.id = a.teacher_id
                  where a.school_id = $1 and a.class_id = $3 and a.ended_at is null
                    and m.account_id = $2 and m.status = 'active') as "x!""#,
        school as SchoolId,
        account as AccountId,
        class as ClassId
    )
    .fetch_one(conn)
    .await
}

/// A live class of the current year: its title (`None` for another school's, a past
/// year's or an archived one).
async fn live_class(
    conn: &mut PgConnection,
    tenant: Tenant,
    class: ClassId,
) -> sqlx::Result<Option<String>> {
    let school = tenant.id();
    sqlx::query_scalar!(
        r#"select c.title from classes c
           join academic_years y on y.school_id = c.school_id and y.id = c.academic_year_id
           where c.school_id = $1 and c.id = $2 and c.kind = 'class' and c.archived_at is null
             and y.is_current"#,
        school as SchoolId,
        class as ClassId
    )
    .fetch_optional(conn)
    .await
}

/// The permission table first, then the rows behind it: a class teacher creates only for
/// their own class (R2.4.c), a teacher only for a class they teach (R2.5.c).
async fn may_create(
    _conn: &mut PgConnection,
    scope: &SchoolScope,
    kind: Kind,
    class: Option<ClassId>,
) -> AppResult<()> {
    scope.require(kind.create_action())?;
    let facts = scope.facts();
    let ok = match (kind.create_action(), class) {
        (Action::CreateStaffChats, _) => true,
        // The object rules: LeadsClass, TeachesClass.
        (action, Some(c)) => facts.can_on(action, &Target::Class(c)),
        (_, None) => scope.has(Role::Admin),
    };
    if ok { Ok(()) } else { Err(AppError::Forbidden) }
}

// ---- the teacher's view: my classes and my chats --------------------------------------

pub struct ChatRow {
    pub id: Uuid,
    pub title: String,
    pub kind: &'static str,
    pub class: Option<String>,
    pub members: String,
    pub archived: bool,
    pub platform_url: Option<String>,
}

pub struct MyClass {
    pub id: ClassId,
    pub title: String,
    /// (kind code, kind title, the live chat if it exists)
    pub mandatory: Vec<(&'static str, &'static str, Option<Uuid>)>,
}

#[derive(Template)]
#[template(path = "chats/list.html")]
struct ListPage {
    layout: Layout,
    school_id: SchoolId,
    classes: Vec<MyClass>,
    chats: Vec<ChatRow>,
    all: bool,
    can_create: bool,
    page: i64,
    more: bool,
}

#[derive(Deserialize, Default)]
struct ListQuery {
    #[serde(default)]
    page: crate::web::query::Page,
}

const PAGE: i64 = 50;

fn is_leadership(scope: &SchoolScope) -> bool {
    [Role::Admin, Role::Director, Role::Deputy, Role::ItDeputy]
        .iter()
        .any(|r| scope.has(*r))
}

async fn list(
    State(state): State<AppState>,
    scope: SchoolScope,
    Query(q): Query<ListQuery>,
) -> AppResult<Response> {
    scope.require(Action::ViewChats)?;
    let mut conn = state.db.acquire().await?;
    let page = q.page.number();
    let all = is_leadership(&scope);
    let me = scope.actor().id();
    let classes = sqlx::query!(
        r#"select c.id as "id: ClassId", c.title,
             array(select k.kind from chats k where k.school_id = c.school_id and k.class_id = c.id
                   and k.archived_at is null
                   and k.kind in ('class_students', 'class_parents', 'class_teachers')) as "kinds!: Vec<String>",
             array(select k.id from chats k where k.school_id = c.school_id and k.class_id = c.id
                   and k.archived_at is null
                   and k.kind in ('class_students', 'class_parents', 'class_teachers')) as "ids!: Vec<Uuid>"
           from classes c
           join class_teacher_assignments a on a.school_id = c.school_id and a.class_id = c.id
           join memberships m on m.school_id = a.school_id and m.id = a.teacher_id
           where c.school_id = $1 and a.ended_at is null and m.account_id = $2
             and m.status = 'active' and c.archived_at is null
           order by c.grade, c.letter"#,
        scope.school_id() as SchoolId,
        me as AccountId
    )
    .fetch_all(&mut *conn)
    .await?;
    let classes = classes
        .into_iter()
        .map(|c| MyClass {
            id: c.id,
            title: c.title,
            mandatory: Kind::MANDATORY
                .iter()
                .map(|k| {
                    let id = c
                        .kinds
                        .iter()
                        .position(|x| x == k.code())
                        .and_then(|i| c.ids.get(i).copied());
                    (k.code(), k.title(), id)
                })
                .collect(),
        })
        .collect();
    let rows = sqlx::query!(
        r#"select k.id, k.title, k.kind, cl.title as "class?", k.platform_url,
                  k.archived_at is not null as "archived!",
                  (select count(*) from chat_members cm
                   where cm.school_id = k.school_id and cm.chat_id = k.id) as "members!"
           from chats k
           left join classes cl on cl.school_id = k.school_id and cl.id = k.class_id
           where k.school_id = $1
             and ($2 or exists(select 1 from chat_members cm
                               join memberships m on m.school_id = cm.school_id and m.id = cm.member_id
                               where cm.school_id = k.school_id and cm.chat_id = k.id
                                 and m.account_id = $3)
                     or exists(select 1 from class_teacher_assignments a
                               join memberships m on m.school_id = a.school_id and m.id = a.teacher_id
                               where a.school_id = k.school_id and a.class_id = k.class_id
                                 and a.ended_at is null and m.account_id = $3))
           order by k.archived_at is not null, cl.grade nulls last, cl.letter, k.kind, k.title
           limit $4 offset $5"#,
        scope.school_id() as SchoolId,
        all,
        me as AccountId,
        PAGE + 1,
        crate::web::query::page_offset(page, PAGE)
    )
    .fetch_all(&mut *conn)
    .await?;
    let more = rows.len() as i64 > PAGE;
    let chats = rows
        .into_iter()
        .take(PAGE as usize)
        .map(|r| ChatRow {
            id: r.id,
            title: r.title,
            kind: Kind::from_code(&r.kind).map_or("чат", Kind::title),
            class: r.class,
            members: format::count(r.members, "участник", "участника", "участников"),
            archived: r.archived,
            platform_url: r.platform_url,
        })
        .collect();
    Ok(render(&ListPage {
        layout: Layout::for_scope(&scope),
        school_id: scope.school_id(),
        classes,
        chats,
        all,
        can_create: scope.can(Action::CreateClassChats)
            || scope.can(Action::CreateSubjectChats)
            || scope.can(Action::CreateStaffChats),
        page,
        more,
    })?
    .into_response())
}
/// A link to a chat on the platform: an https address, or nothing.
fn valid_platform_url(s: &str) -> Result<Option<&str>, &'static str> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(None);
    }
    if s.len() > 500 || !s.starts_with("https://") || s.contains(char::is_whitespace) {
        return Err("Укажите адрес чата на платформе, начинающийся с https://.");
    }
    Ok(Some(s))
}

// ---- a chat's page --------------------------------------------------------------------

struct ChatHead {
    id: Uuid,
    kind: Kind,
    title: String,
    class_id: Option<ClassId>,
    class: Option<String>,
    subject: Option<String>,
    owner: String,
    platform_url: Option<String>,
    archived: bool,
    in_chat: bool,
    chat_admin: bool,
    leads: bool,
    facts: Facts,
}

async fn load_chat(
    conn: &mut PgConnection,
    scope: &SchoolScope,
    chat: Uuid,
) -> AppResult<ChatHead> {
    let r = sqlx::query!(
        r#"select k.id, k.kind, k.title, k.class_id as "class_id?: ClassId", cl.title as "class?",
                  s.name as "subject?", k.platform_url, k.archived_at is not null as "archived!",
                  a.surname, a.given_name, a.patronymic,
                  exists(select 1 from chat_members cm
                         join memberships m on m.school_id = cm.school_id and m.id = cm.member_id
                         where cm.school_id = k.school_id and cm.chat_id = k.id
                           and m.account_id = $3) as "in_chat!",
                  exists(select 1 from chat_members cm
                         join memberships m on m.school_id = cm.school_id and m.id = cm.member_id
                         where cm.school_id = k.school_id and cm.chat_id = k.id
                           and cm.role in ('owner', 'admin') and m.status = 'active'
                           and m.account_id = $3) as "chat_admin!",
                  exists(select 1 from class_teacher_assignments t
                         join memberships m on m.school_id = t.school_id and m.id = t.teacher_id
                         where t.school_id = k.school_id and t.class_id = k.class_id
                           and t.ended_at is null and m.status = 'active'
                           and m.account_id = $3) as "leads!"
           from chats k
           join memberships o on o.school_id = k.school_id and o.id = k.owner_id
           join accounts a on a.id = o.account_id
           left join classes cl on cl.school_id = k.school_id and cl.id = k.class_id
           left join subjects s on s.school_id = k.school_id and s.id = k.subject_id
           where k.school_id = $1 and k.id = $2"#,
        scope.school_id() as SchoolId,
        chat,
        scope.actor().id() as AccountId
    )
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(AppError::NotFound)?;
    let head = ChatHead {
        id: r.id,
        kind: Kind::from_code(&r.kind).unwrap_or(Kind::Other),
        title: r.title,
        class_id: r.class_id,
        class: r.class,
        subject: r.subject,
        owner: format::full_name(&r.surname, &r.given_name, r.patronymic.as_deref()),
        platform_url: r.platform_url,
        archived: r.archived,
        in_chat: r.in_chat,
        chat_admin: r.chat_admin,
        leads: r.leads,
        facts: scope.facts(),
    };
    // The object rule SeesChat.
    head.facts.require_on(Action::ViewChats, &head.target())?;
    Ok(head)
}

impl ChatHead {
    /// The chat as the object rules see it.
    fn target(&self) -> Target {
        Target::Chat {
            class: self.class_id,
            member: self.in_chat,
            manager: self.chat_admin,
        }
    }

    /// The object rule ManagesChat: the owner or an admin of the chat, the class teacher
    /// of its class, or the administrator (R2.4.d).
    fn manageable(&self) -> bool {
        self.facts.can_on(Action::ManageChats, &self.target())
    }
}

pub struct MemberRow {
    pub id: Uuid,
    pub name: String,
    pub school_role: &'static str,
    pub chat_role: &'static str,
    pub is_owner: bool,
    /// Why they should not be here, for a mandatory chat.
    pub unexpected: Option<&'static str>,
}

pub struct Person {
    pub id: Uuid,
    pub name: String,
    pub school_role: &'static str,
}

#[derive(Template)]
#[template(path = "chats/show.html")]
struct ShowPage {
    layout: Layout,
    school_id: SchoolId,
    chat_id: Uuid,
    kind: &'static str,
    title: String,
    class: Option<String>,
    subject: Option<String>,
    owner: String,
    platform_url: Option<String>,
    archived: bool,
    mandatory: bool,
    members: Vec<MemberRow>,
    unexpected_count: usize,
    missing: Vec<Person>,
    can_manage: bool,
    can_invite: bool,
    candidates: Vec<Person>,
    successors: Vec<Person>,
    errors: FormErrors,
    notice: Option<&'static str>,
    /// The key of the «create an invite link» form (sent twice, it makes one link).
    invite_key: FormKey,
}

fn school_role(role: &str) -> &'static str {
    Role::from_membership(role).map_or("—", Role::title)
}

fn chat_role(role: &str) -> &'static str {
    match role {
        "owner" => "владелец",
        "admin" => "администратор чата",
        _ => "участник",
    }
}

async fn show_page(
    conn: &mut PgConnection,
    scope: &SchoolScope,
    chat: Uuid,
    errors: FormErrors,
    notice: Option<&'static str>,
) -> AppResult<Response> {
    let head = load_chat(conn, scope, chat).await?;
    let rows = sqlx::query!(
        r#"select cm.member_id, cm.role as chat_role, m.role, m.status, a.surname, a.given_name,
                  a.patronymic,
                  (k.kind in ('class_students', 'class_parents', 'class_teachers')
                   and cm.role = 'member'
                   and not exists(select 1 from chat_expected_members e
                                  where e.school_id = cm.school_id and e.chat_id = cm.chat_id
                                    and e.member_id = cm.member_id)) as "unexpected!",
                  exists(select 1 from movements mv
                         where mv.school_id = cm.school_id and mv.membership_id = cm.member_id
                           and mv.from_class_id = k.class_id) as "was_in_class!"
           from chat_members cm
           join chats k on k.school_id = cm.school_id and k.id = cm.chat_id
           join memberships m on m.school_id = cm.school_id and m.id = cm.member_id
           join accounts a on a.id = m.account_id
           where cm.school_id = $1 and cm.chat_id = $2
           order by case cm.role when 'owner' then 0 when 'admin' then 1 else 2 end,
                    a.surname collate "ru-RU-x-icu", a.given_name collate "ru-RU-x-icu""#,
        scope.school_id() as SchoolId,
        chat
    )
    .fetch_all(&mut *conn)
    .await?;
    let members: Vec<MemberRow> = rows
        .into_iter()
        .map(|r| {
            let unexpected = r.unexpected.then_some(if r.status == "left" {
                "выбыл(а) из школы"
            } else if r.role == "student" && r.was_in_class {
                "больше не в этом классе"
            } else if r.role == "student" {
                "не был(а) в этом классе"
            } else if r.role == "parent" {
                "нет детей в этом классе"
            } else {
                "не ведёт уроки в этом классе"
            });
            MemberRow {
                id: r.member_id,
                name: format::full_name(&r.surname, &r.given_name, r.patronymic.as_deref()),
                school_role: school_role(&r.role),
                chat_role: chat_role(&r.chat_role),
                is_owner: r.chat_role == "owner",
                unexpected,
            }
        })
        .collect();
    let missing = sqlx::query!(
        r#"select e.member_id as "id!", m.role, a.surname, a.given_name, a.patronymic
           from chat_expected_members e
           join memberships m on m.school_id = e.school_id and m.id = e.member_id
           join accounts a on a.id = m.account_id
           where e.school_id = $1 and e.chat_id = $2
             and not exists(select 1 from chat_members cm
                            where cm.school_id = e.school_id and cm.chat_id = e.chat_id
                              and cm.member_id = e.member_id)
           order by a.surname collate "ru-RU-x-icu", a.given_name collate "ru-RU-x-icu""#,
        scope.school_id() as SchoolId,
        chat
    )
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .map(|r| Person {
        id: r.id,
        name: format::full_name(&r.surname, &r.given_name, r.patronymic.as_deref()),
        school_role: school_role(&r.role),
    })
    .collect();
    let can_manage = head.manageable() && !head.archived;
    let can_invite = head.facts.can_on(Action::CreateInvites, &head.target())
        && !head.archived
        && matches!(head.kind, Kind::ClassStudents | Kind::ClassParents);
    let (candidates, successors) = if can_manage {
        candidates(conn, scope.tenant(), &head).await?
    } else {
        (Vec::new(), Vec::new())
    };
    let unexpected_count = members.iter().filter(|m| m.unexpected.is_some()).count();
    Ok(render(&ShowPage {
        layout: Layout::for_scope(scope),
        school_id: scope.school_id(),
        chat_id: head.id,
        kind: head.kind.title(),
        title: head.title,
        class: head.class,
        subject: head.subject,
        owner: head.owner,
        platform_url: head.platform_url,
        archived: head.archived,
        mandatory: head.kind.is_mandatory(),
        members,
        unexpected_count,
        missing,
        can_manage,
        can_invite,
        candidates,
        successors,
        errors,
        notice,
        invite_key: FormKey::default(),
    })?
    .into_response())
}

/// Who may be added (the class's students and parents for a class chat, and the staff),
/// and who may take the chat over (the teachers and other staff).
async fn candidates(
    conn: &mut PgConnection,
    tenant: Tenant,
    head: &ChatHead,
) -> sqlx::Result<(Vec<Person>, Vec<Person>)> {
    let school = tenant.id();
    let rows = sqlx::query!(
        r#"select m.id, m.role, a.surname, a.given_name, a.patronymic,
                  exists(select 1 from chat_members cm where cm.school_id = m.school_id
                         and cm.chat_id = $2 and cm.member_id = m.id) as "in_chat!"
           from memberships m join accounts a on a.id = m.account_id
           where m.school_id = $1 and m.status = 'active'
             and (m.role in ('director', 'deputy', 'teacher', 'staff')
                  or (m.role = 'student' and m.class_id = $3)
                  or (m.role = 'parent' and exists(
                        select 1 from parent_links l
                        join memberships k on k.school_id = l.school_id and k.id = l.child_id
                        where l.school_id = m.school_id and l.parent_id = m.id
                          and k.class_id = $3 and k.status = 'active')))
           order by m.role, a.surname collate "ru-RU-x-icu", a.given_name collate "ru-RU-x-icu"
           limit 500"#,
        school as SchoolId,
        head.id,
        head.class_id as Option<ClassId>
    )
    .fetch_all(conn)
    .await?;
    let mut add = Vec::new();
    let mut successors = Vec::new();
    for r in rows {
        let p = Person {
            id: r.id,
            name: format::full_name(&r.surname, &r.given_name, r.patronymic.as_deref()),
            school_role: school_role(&r.role),
        };
        let staff = ["director", "deputy", "teacher", "staff"].contains(&r.role.as_str());
        if staff {
            successors.push(Person {
                id: p.id,
                name: p.name.clone(),
                school_role: p.school_role,
            });
        }
        if !r.in_chat {
            add.push(p);
        }
    }
    Ok((add, successors))
}

async fn show(
    State(state): State<AppState>,
    scope: SchoolScope,
    Path((_, chat)): Path<(String, Uuid)>,
) -> AppResult<Response> {
    scope.require(Action::ViewChats)?;
    let mut conn = state.db.acquire().await?;
    show_page(&mut conn, &scope, chat, FormErrors::default(), None).await
}

/// Loads the chat for a change: 404 for another school's, 403 unless the actor manages it,
/// 404 once archived.
async fn for_change(
    conn: &mut PgConnection,
    scope: &SchoolScope,
    chat: Uuid,
) -> AppResult<ChatHead> {
    scope.require(Action::ManageChats)?;
    let head = load_chat(conn, scope, chat).await?;
    if !head.manageable() {
        return Err(AppError::Forbidden);
    }
    if head.archived {
        return Err(AppError::NotFound);
    }
    Ok(head)
}

fn back(scope: &SchoolScope, chat: Uuid) -> Response {
    Redirect::to(&format!("/s/{}/chats/{chat}", scope.school_id())).into_response()
}

#[derive(Deserialize, Default, Debug)]
struct MemberForm {
    #[serde(default)]
    member_id: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    confirm: String,
}

async fn add_member(
    State(state): State<AppState>,
    scope: SchoolScope,
    meta: RequestMeta,
    Path((_, chat)): Path<(String, Uuid)>,
    Form(form): Form<MemberForm>,
) -> AppResult<Response> {
    let mut tx = state.db.begin().await?;
    let head = for_change(&mut tx, &scope, chat).await?;
    let role = if form.role == "admin" {
        "admin"
    } else {
        "member"
    };
    let allowed = match form.member_id.parse::<Uuid>() {
        Ok(id) => candidates(&mut tx, scope.tenant(), &head)
            .await?
            .0
            .into_iter()
            .find(|p| p.id == id),
        Err(_) => None,
    };
    let Some(person) = allowed else {
        let mut errors = FormErrors::default();
        errors.add("member_id", "Выберите человека из списка.");
        return show_page(&mut tx, &scope, chat, errors, None).await;
    };
    sqlx::query!(
        r#"insert into chat_members (school_id, chat_id, member_id, role, added_by)
           values ($1, $2, $3, $4, $5) on conflict do nothing"#,
        scope.school_id() as SchoolId,
        chat,
        person.id,
        role,
        scope.actor().id() as AccountId
    )
    .execute(&mut *tx)
    .await?;
    audit::record(
        &mut tx,
        &meta,
        Entry {
            actor: Some(scope.actor().id()),
            school: Some(scope.school_id()),
            action: "chat.member_added",
            target: Some(format!("chat:{chat}")),
            details: Some(format!("{} ({})", person.name, chat_role(role))),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(back(&scope, chat))
}

async fn remove_member(
    State(state): State<AppState>,
    scope: SchoolScope,
    meta: RequestMeta,
    Path((_, chat, member)): Path<(String, Uuid, Uuid)>,
    Form(form): Form<MemberForm>,
) -> AppResult<Response> {
    let mut tx = state.db.begin().await?;
    for_change(&mut tx, &scope, chat).await?;
    let row = sqlx::query!(
        r#"select cm.role, a.surname, a.given_name, a.patronymic from chat_members cm
           join memberships m on m.school_id = cm.school_id and m.id = cm.member_id
           join accounts a on a.id = m.account_id
           where cm.school_id = $1 and cm.chat_id = $2 and cm.member_id = $3"#,
        scope.school_id() as SchoolId,
        chat,
        member
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(AppError::NotFound)?;
    let mut errors = FormErrors::default();
    if row.role == "owner" {
        errors.add(
            "remove",
            "Владельца нельзя исключить: сначала передайте чат другому.",
        );
    } else if form.confirm != "yes" {
        errors.add(
            "remove",
            "Отметьте «Подтверждаю», чтобы исключить участника.",
        );
    }
    if !errors.is_empty() {
        return show_page(&mut tx, &scope, chat, errors, None).await;
    }
    sqlx::query!(
        "delete from chat_members where school_id = $1 and chat_id = $2 and member_id = $3",
        scope.school_id() as SchoolId,
        chat,
        member
    )
    .execute(&mut *tx)
    .await?;
    audit::record(
        &mut tx,
        &meta,
        Entry {
            actor: Some(scope.actor().id()),
            school: Some(scope.school_id()),
            action: "chat.member_removed",
            target: Some(format!("chat:{chat}")),
            details: Some(format::full_name(
                &row.surname,
                &row.given_name,
                row.patronymic.as_deref(),
            )),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(back(&scope, chat))
}

/// Brings a mandatory chat to what the roster says, in one action (R2.4.d).
pub async fn reconcile_chat(
    conn: &mut PgConnection,
    meta: &RequestMeta,
    tenant: Tenant,
    actor: AccountId,
    chat: Uuid,
) -> sqlx::Result<sync::Synced> {
    let school = tenant.id();
    let removed = sqlx::query!(
        r#"delete from chat_members cm
           where cm.school_id = $1 and cm.chat_id = $2 and cm.role = 'member'
             and not exists(select 1 from chat_expected_members e
                            where e.school_id = cm.school_id and e.chat_id = cm.chat_id
                              and e.member_id = cm.member_id)"#,
        school as SchoolId,
        chat
    )
    .execute(&mut *conn)
    .await?
    .rows_affected();
    let added = fill_from_roster(&mut *conn, tenant, chat, actor).await?;
    audit::record(
        conn,
        meta,
        Entry {
            actor: Some(actor),
            school: Some(school),
            action: "chat.reconciled",
            target: Some(format!("chat:{chat}")),
            details: Some(format!("добавлено: {added}, исключено: {removed}")),
        },
    )
    .await?;
    Ok(sync::Synced { added, removed })
}

async fn reconcile(
    State(state): State<AppState>,
    scope: SchoolScope,
    meta: RequestMeta,
    Path((_, chat)): Path<(String, Uuid)>,
) -> AppResult<Response> {
    let mut tx = state.db.begin().await?;
    let head = for_change(&mut tx, &scope, chat).await?;
    if !head.kind.is_mandatory() {
        return Err(AppError::NotFound);
    }
    reconcile_chat(&mut tx, &meta, scope.tenant(), scope.actor().id(), chat).await?;
    tx.commit().await?;
    Ok(back(&scope, chat))
}

async fn handover(
    State(state): State<AppState>,
    scope: SchoolScope,
    meta: RequestMeta,
    Path((_, chat)): Path<(String, Uuid)>,
    Form(form): Form<MemberForm>,
) -> AppResult<Response> {
    let mut tx = state.db.begin().await?;
    let head = for_change(&mut tx, &scope, chat).await?;
    let to = match form.member_id.parse::<Uuid>() {
        Ok(id) => candidates(&mut tx, scope.tenant(), &head)
            .await?
            .1
            .into_iter()
            .find(|p| p.id == id),
        Err(_) => None,
    };
    let Some(to) = to else {
        let mut errors = FormErrors::default();
        errors.add(
            "handover",
            "Выберите учителя или сотрудника, которому передаёте чат.",
        );
        return show_page(&mut tx, &scope, chat, errors, None).await;
    };
    sqlx::query!(
        r#"update chat_members set role = 'member'
           where school_id = $1 and chat_id = $2 and role = 'owner'"#,
        scope.school_id() as SchoolId,
        chat
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query!(
        r#"insert into chat_members (school_id, chat_id, member_id, role, added_by)
           values ($1, $2, $3, 'owner', $4)
           on conflict (school_id, chat_id, member_id) do update set role = 'owner'"#,
        scope.school_id() as SchoolId,
        chat,
        to.id,
        scope.actor().id() as AccountId
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query!(
        "update chats set owner_id = $3 where school_id = $1 and id = $2",
        scope.school_id() as SchoolId,
        chat,
        to.id
    )
    .execute(&mut *tx)
    .await?;
    audit::record(
        &mut tx,
        &meta,
        Entry {
            actor: Some(scope.actor().id()),
            school: Some(scope.school_id()),
            action: "chat.handed_over",
            target: Some(format!("chat:{chat}")),
            details: Some(format!("{} → {}", head.owner, to.name)),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(back(&scope, chat))
}

async fn archive(
    State(state): State<AppState>,
    scope: SchoolScope,
    meta: RequestMeta,
    Path((_, chat)): Path<(String, Uuid)>,
    Form(form): Form<MemberForm>,
) -> AppResult<Response> {
    let mut tx = state.db.begin().await?;
    let head = for_change(&mut tx, &scope, chat).await?;
    if form.confirm != "yes" {
        let mut errors = FormErrors::default();
        errors.add(
            "archive",
            "Отметьте «Подтверждаю», чтобы отправить чат в архив.",
        );
        return show_page(&mut tx, &scope, chat, errors, None).await;
    }
    sqlx::query!(
        "update chats set archived_at = now() where school_id = $1 and id = $2",
        scope.school_id() as SchoolId,
        chat
    )
    .execute(&mut *tx)
    .await?;
    audit::record(
        &mut tx,
        &meta,
        Entry {
            actor: Some(scope.actor().id()),
            school: Some(scope.school_id()),
            action: "chat.archived",
            target: Some(format!("chat:{chat}")),
            details: Some(head.title),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(back(&scope, chat))
}

// ---- «Мои чаты» -----------------------------------------------------------------------

#[derive(Template)]
#[template(path = "chats/my.html")]
struct MyPage {
    layout: Layout,
    school_id: SchoolId,
    chats: Vec<ChatRow>,
}

/// The live chats the person is in, with the link to each on the platform (R2.6.a, R2.7.a).
pub async fn my_chat_rows(
    conn: &mut PgConnection,
    tenant: Tenant,
    account: AccountId,
) -> sqlx::Result<Vec<ChatRow>> {
    let school = tenant.id();
    Ok(sqlx::query!(
        r#"select distinct k.id, k.title, k.kind, cl.title as "class?", k.platform_url,
                  cl.grade, cl.letter
           from chats k
           join chat_members cm on cm.school_id = k.school_id and cm.chat_id = k.id
           join memberships m on m.school_id = cm.school_id and m.id = cm.member_id
           left join classes cl on cl.school_id = k.school_id and cl.id = k.class_id
           where k.school_id = $1 and m.account_id = $2 and m.status = 'active'
             and k.archived_at is null
           order by cl.grade nulls last, cl.letter, k.title"#,
        school as SchoolId,
        account as AccountId
    )
    .fetch_all(conn)
    .await?
    .into_iter()
    .map(|r| ChatRow {
        id: r.id,
        title: r.title,
        kind: Kind::from_code(&r.kind).map_or("чат", Kind::title),
        class: r.class,
        members: String::new(),
        archived: false,
        platform_url: r.platform_url,
    })
    .collect())
}

async fn my_chats(State(state): State<AppState>, scope: SchoolScope) -> AppResult<Response> {
    scope.require(Action::ViewMyChats)?;
    let mut conn = state.db.acquire().await?;
    let chats = my_chat_rows(&mut conn, scope.tenant(), scope.actor().id()).await?;
    Ok(render(&MyPage {
        layout: Layout::for_scope(&scope),
        school_id: scope.school_id(),
        chats,
    })?
    .into_response())
}

// ---- chat invite links (R2.6.a, R2.7.a) ------------------------------------------------

/// Puts the account's membership of the invite's role into the invite's chat, if the
/// invite names one (the caller's transaction; nothing when it names none).
pub async fn join_chat_by_invite(
    conn: &mut PgConnection,
    tenant: Tenant,
    invite: Uuid,
    account: AccountId,
) -> sqlx::Result<bool> {
    let school = tenant.id();
    Ok(sqlx::query!(
        r#"insert into chat_members (school_id, chat_id, member_id, role, added_by)
           select i.school_id, i.chat_id, m.id, 'member', $3
           from invites i
           join chats k on k.school_id = i.school_id and k.id = i.chat_id and k.archived_at is null
           join memberships m on m.school_id = i.school_id and m.account_id = $3
                              and m.role = i.role and m.status = 'active'
           where i.school_id = $1 and i.id = $2
           on conflict do nothing"#,
        school as SchoolId,
        invite,
        account as AccountId
    )
    .execute(conn)
    .await?
    .rows_affected()
        > 0)
}

// ---- title and platform link -----------------------------------------------------------

#[derive(Deserialize, Default, Debug)]
struct EditForm {
    #[serde(default)]
    title: String,
    #[serde(default)]
    platform_url: String,
}

/// Renames the chat and sets its link on the platform (what «Мои чаты» shows).
async fn edit(
    State(state): State<AppState>,
    scope: SchoolScope,
    meta: RequestMeta,
    Path((_, chat)): Path<(String, Uuid)>,
    Form(form): Form<EditForm>,
) -> AppResult<Response> {
    let mut tx = state.db.begin().await?;
    for_change(&mut tx, &scope, chat).await?;
    let mut errors = FormErrors::default();
    let title = form.title.trim();
    if title.is_empty() || title.chars().count() > 200 {
        errors.add("title", "Укажите название чата (до 200 знаков).");
    }
    let url = match valid_platform_url(&form.platform_url) {
        Ok(u) => u,
        Err(e) => {
            errors.add("platform_url", e);
            None
        }
    };
    if !errors.is_empty() {
        return show_page(&mut tx, &scope, chat, errors, None).await;
    }
    sqlx::query!(
        "update chats set title = $3, platform_url = $4 where school_id = $1 and id = $2",
        scope.school_id() as SchoolId,
        chat,
        title,
        url
    )
    .execute(&mut *tx)
    .await?;
    audit::record(
        &mut tx,
        &meta,
        Entry {
            actor: Some(scope.actor().id()),
            school: Some(scope.school_id()),
            action: "chat.edited",
            target: Some(format!("chat:{chat}")),
            details: Some(format!("«{title}», ссылка: {}", url.unwrap_or("—"))),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(back(&scope, chat))
}

/// Adds everyone the roster says belongs in a chat and is not in it yet; returns how many.
async fn fill_from_roster(
    conn: &mut sqlx::PgConnection,
    tenant: Tenant,
    chat: uuid::Uuid,
    actor: AccountId,
) -> sqlx::Result<u64> {
    let school = tenant.id();
    Ok(sqlx::query!(
        r#"insert into chat_members (school_id, chat_id, member_id, role, added_by)
           select e.school_id, e.chat_id, e.member_id, 'member', $3
           from chat_expected_members e where e.school_id = $1 and e.chat_id = $2
           on conflict do nothing"#,
        school as SchoolId,
        chat,
        actor as AccountId
    )
    .execute(conn)
    .await?
    .rows_affected())
}
