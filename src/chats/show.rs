//! A chat's page: its head (kind, class, owner, link), its members with their role and why
//! one should not be there, who is missing, and whom the manager may add or hand it to.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use sqlx::PgConnection;

use super::Kind;
use crate::AppState;
use crate::auth::extract::SchoolScope;
use crate::auth::objects::{Facts, Target};
use crate::auth::permissions::{Action, Role};
use crate::auth::tenant::Tenant;
use crate::error::{AppError, AppResult};
use crate::ids::{AccountId, ChatId, ClassId, MembershipId, SchoolId};
use crate::web::form::FormErrors;
use crate::web::format;
use crate::web::layout::Layout;
use crate::web::once::FormKey;

pub(super) struct ChatHead {
    pub(super) id: ChatId,
    pub(super) kind: Kind,
    pub(super) title: String,
    pub(super) class_id: Option<ClassId>,
    pub(super) class: Option<String>,
    pub(super) subject: Option<String>,
    pub(super) owner: String,
    pub(super) platform_url: Option<String>,
    pub(super) archived: bool,
    pub(super) in_chat: bool,
    pub(super) chat_admin: bool,
    pub(super) leads: bool,
    pub(super) facts: Facts,
}

pub(super) async fn load_chat(
    conn: &mut PgConnection,
    scope: &SchoolScope,
    chat: ChatId,
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
        chat as ChatId,
        scope.actor().id() as AccountId
    )
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(AppError::NotFound)?;
    let head = ChatHead {
        id: ChatId(r.id),
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
    pub(super) fn target(&self) -> Target {
        Target::Chat {
            class: self.class_id,
            member: self.in_chat,
            manager: self.chat_admin,
        }
    }

    /// The object rule ManagesChat: the owner or an admin of the chat, the class teacher
    /// of its class, or the administrator (R2.4.d).
    pub(super) fn manageable(&self) -> bool {
        self.facts.can_on(Action::ManageChats, &self.target())
    }
}

pub struct MemberRow {
    pub id: MembershipId,
    pub name: String,
    pub school_role: &'static str,
    pub chat_role: &'static str,
    pub is_owner: bool,
    /// Why they should not be here, for a mandatory chat.
    pub unexpected: Option<&'static str>,
}

pub struct Person {
    pub id: MembershipId,
    pub name: String,
    pub school_role: &'static str,
}

#[derive(Template, WebTemplate)]
#[template(path = "chats/show.html")]
struct ShowPage {
    layout: Layout,
    school_id: SchoolId,
    chat_id: ChatId,
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
    /// The key of the page's change forms (each action derives its own from it).
    page_key: FormKey,
    /// Who is really in the chat on the platform, when the school's bot is in it
    /// (src/connector); None without a bot, and the page is as before.
    platform: Option<crate::connector::presence::PlatformView>,
    /// Whether the asker may read the platform's members and remove who left.
    can_remove: bool,
}

pub(super) fn chat_role(role: &str) -> &'static str {
    match role {
        "owner" => "владелец",
        "admin" => "администратор чата",
        _ => "участник",
    }
}

pub(crate) async fn show_page(
    conn: &mut PgConnection,
    scope: &SchoolScope,
    chat: ChatId,
    errors: FormErrors,
    notice: Option<&'static str>,
) -> AppResult<Response> {
    show_page_typed(conn, scope, chat, errors, notice, None).await
}

/// The chat's page with the title and link as typed into its edit form (refused).
pub(super) async fn show_page_typed(
    conn: &mut PgConnection,
    scope: &SchoolScope,
    chat: ChatId,
    errors: FormErrors,
    notice: Option<&'static str>,
    typed: Option<(String, String)>,
) -> AppResult<Response> {
    let mut head = load_chat(conn, scope, chat).await?;
    if let Some((title, url)) = typed {
        head.title = title;
        head.platform_url = Some(url).filter(|u| !u.is_empty());
    }
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
        chat as ChatId
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
                id: MembershipId(r.member_id),
                name: format::full_name(&r.surname, &r.given_name, r.patronymic.as_deref()),
                school_role: Role::membership_title(&r.role),
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
        chat as ChatId
    )
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .map(|r| Person {
        id: MembershipId(r.id),
        name: format::full_name(&r.surname, &r.given_name, r.patronymic.as_deref()),
        school_role: Role::membership_title(&r.role),
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
    let can_remove = head
        .facts
        .can_on(Action::ManagePlatformMembers, &head.target())
        && !head.archived;
    let platform = if head.manageable() || can_remove {
        crate::connector::presence::for_chat(conn, scope.tenant(), chat, scope.timezone()).await?
    } else {
        None
    };
    Ok(ShowPage {
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
        page_key: FormKey::default(),
        platform,
        can_remove,
    }
    .into_response())
}

/// Who may be added (the class's students and parents for a class chat, and the staff),
/// and who may take the chat over (the teachers and other staff).
pub(super) async fn candidates(
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
        head.id as ChatId,
        head.class_id as Option<ClassId>
    )
    .fetch_all(conn)
    .await?;
    let mut add = Vec::new();
    let mut successors = Vec::new();
    for r in rows {
        let p = Person {
            id: MembershipId(r.id),
            name: format::full_name(&r.surname, &r.given_name, r.patronymic.as_deref()),
            school_role: Role::membership_title(&r.role),
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

pub(super) async fn show(
    State(state): State<AppState>,
    scope: SchoolScope,
    Path((_, chat)): Path<(String, ChatId)>,
) -> AppResult<Response> {
    scope.require(Action::ViewChats)?;
    let mut conn = state.db.acquire().await?;
    show_page(&mut conn, &scope, chat, FormErrors::default(), None).await
}

/// The chat as the object rules see it, for the connector's actions on a chat (404 when
/// not in the asker's school, 403 unless they see it).
pub(crate) async fn chat_target(
    conn: &mut PgConnection,
    scope: &SchoolScope,
    chat: ChatId,
) -> AppResult<(Target, bool)> {
    let head = load_chat(conn, scope, chat).await?;
    Ok((head.target(), head.archived))
}
