//! The chats page: the teacher's classes with their mandatory chats, and the chats the
//! person sees (all of them for the leadership), paginated.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::Kind;
use crate::AppState;
use crate::auth::extract::SchoolScope;
use crate::auth::permissions::{Action, Role};
use crate::error::AppResult;
use crate::ids::{AccountId, ChatId, ClassId, SchoolId};
use crate::web::format;
use crate::web::layout::Layout;

pub struct ChatRow {
    pub id: ChatId,
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
    pub mandatory: Vec<(&'static str, &'static str, Option<ChatId>)>,
}

#[derive(Template, WebTemplate)]
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
pub(super) struct ListQuery {
    #[serde(default)]
    page: crate::web::query::Page,
}

const PAGE: i64 = 50;

fn is_leadership(scope: &SchoolScope) -> bool {
    [Role::Admin, Role::Director, Role::Deputy, Role::ItDeputy]
        .iter()
        .any(|r| scope.has(*r))
}

pub(super) async fn list(
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
                   and k.kind in ('class_students', 'class_parents', 'class_teachers')) as "ids!: Vec<ChatId>"
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
        q.page.offset(PAGE)
    )
    .fetch_all(&mut *conn)
    .await?;
    let more = rows.len() as i64 > PAGE;
    let chats = rows
        .into_iter()
        .take(PAGE as usize)
        .map(|r| ChatRow {
            id: ChatId(r.id),
            title: r.title,
            kind: Kind::from_code(&r.kind).map_or("чат", Kind::title),
            class: r.class,
            members: format::count(r.members, "участник", "участника", "участников"),
            archived: r.archived,
            platform_url: r.platform_url,
        })
        .collect();
    Ok(ListPage {
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
    }
    .into_response())
}
