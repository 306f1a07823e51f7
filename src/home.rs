//! Start pages: where each person lands after login. The administrator and the director
//! see the school summary; a class teacher their classes; a student their class; a parent
//! their children's classes.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use sqlx::PgConnection;

use crate::AppState;
use crate::auth::extract::{Actor, SchoolScope};
use crate::auth::permissions::{Access, Action, Role};
use crate::error::AppResult;
use crate::ids::{AccountId, ClassId, SchoolId};
use crate::web::Routes;
use crate::web::format::count;
use crate::web::layout::Layout;

pub fn routes(r: Routes) -> Routes {
    r.get("/", Access::LoggedIn, start).get(
        "/s/{school_id}",
        Access::School(Action::ViewSchoolHome),
        school_home,
    )
}

struct SchoolLink {
    id: SchoolId,
    name: String,
    roles: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "home/choose_school.html")]
struct ChooseSchoolPage {
    layout: Layout,
    schools: Vec<SchoolLink>,
    /// The person's join requests and their outcomes (R2.1.i).
    requests: Vec<crate::invites::RequestOutcome>,
}

/// The schools an account belongs to, with its roles there: the `school_roles` view, the
/// same definition the school scope reads.
async fn my_schools(conn: &mut PgConnection, account: AccountId) -> sqlx::Result<Vec<SchoolLink>> {
    let rows = sqlx::query!(
        r#"select s.id as "id: SchoolId", s.name,
                  array_agg(r.role) as "roles!: Vec<String>"
           from schools s join school_roles r on r.school_id = s.id and r.account_id = $1
           group by s.id, s.name
           order by s.name"#,
        account as AccountId
    )
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| SchoolLink {
            id: r.id,
            name: r.name,
            roles: crate::auth::extract::roles_from_view(&r.roles)
                .into_iter()
                .map(Role::title)
                .collect::<Vec<_>>()
                .join(", "),
        })
        .collect())
}

async fn start(State(state): State<AppState>, actor: Actor) -> AppResult<Response> {
    if actor.is_operator() {
        return Ok(Redirect::to("/operator/schools").into_response());
    }
    let mut conn = state.db.acquire().await?;
    let schools = my_schools(&mut conn, actor.id()).await?;
    if schools.is_empty() && crate::auth::region::is_specialist(&mut conn, actor.id()).await? {
        return Ok(crate::stats::regional::start());
    }
    if let [only] = schools.as_slice() {
        return Ok(Redirect::to(&format!("/s/{}", only.id)).into_response());
    }
    Ok(ChooseSchoolPage {
        layout: Layout::for_actor(&actor),
        schools,
        requests: crate::invites::my_requests(&mut conn, actor.id(), None).await?,
    }
    .into_response())
}

/// The school summary for the administrator and the director.
pub struct Summary {
    pub classes: String,
    pub students: String,
    pub parents: String,
    pub teachers: String,
    pub staff: String,
    pub unverified: i64,
    pub unverified_text: String,
    pub without_class_teacher: Vec<String>,
}

/// The summary and the admin-rights proposals waiting for this person's decision (0 when
/// they may decide none), read in one round trip (issue 10): independent reads of the
/// same school.
async fn summary(conn: &mut PgConnection, scope: &SchoolScope) -> sqlx::Result<(Summary, i64)> {
    let c = sqlx::query!(
        r#"select
             (select count(*) from classes c join academic_years y
                on y.school_id = c.school_id and y.id = c.academic_year_id and y.is_current
              where c.school_id = $1 and c.kind = 'class') as "classes!",
             array(select c.title from classes c
                   join academic_years y on y.school_id = c.school_id and y.id = c.academic_year_id
                                        and y.is_current
                   where c.school_id = $1 and c.kind = 'class'
                     and not exists(select 1 from class_teacher_assignments a
                                    where a.school_id = c.school_id and a.class_id = c.id
                                      and a.ended_at is null)
                   order by c.grade, c.letter) as "without_class_teacher!",
             case when $3 then
               (select count(*) from admin_grants g
                where g.school_id = $1 and g.approved_at is null and g.rejected_at is null
                  and g.revoked_at is null and g.account_id <> $2)
             else 0 end as "proposals!",
             count(*) filter (where role = 'student') as "students!",
             count(*) filter (where role = 'parent') as "parents!",
             count(*) filter (where role in ('teacher')) as "teachers!",
             count(*) filter (where role in ('staff', 'deputy', 'director')) as "staff!",
             count(*) filter (where role in ('teacher', 'staff', 'deputy')
                              and verification = 'unverified') as "unverified!"
           from memberships where school_id = $1 and status = 'active'"#,
        scope.school_id() as SchoolId,
        scope.actor().id() as AccountId,
        scope.can(Action::ApproveAdminRights),
    )
    .fetch_one(&mut *conn)
    .await?;
    let summary = Summary {
        classes: count(c.classes, "класс", "класса", "классов"),
        students: Role::Student.count(c.students),
        parents: Role::Parent.count(c.parents),
        teachers: Role::Teacher.count(c.teachers),
        staff: Role::Staff.count(c.staff),
        unverified: c.unverified,
        unverified_text: count(
            c.unverified,
            "учитель или сотрудник",
            "учителя или сотрудника",
            "учителей или сотрудников",
        ),
        without_class_teacher: c.without_class_teacher,
    };
    Ok((summary, c.proposals))
}

/// A class as the start page lists it.
pub struct ClassCard {
    pub id: ClassId,
    pub title: String,
    pub students: String,
    pub class_teacher: Option<String>,
    /// For a parent: which child is in this class.
    pub child: Option<String>,
}

async fn led_classes(conn: &mut PgConnection, scope: &SchoolScope) -> sqlx::Result<Vec<ClassCard>> {
    let rows = sqlx::query!(
        r#"select c.id as "id: ClassId", c.title,
                  (select count(*) from memberships s where s.school_id = c.school_id
                     and s.class_id = c.id and s.role = 'student' and s.status = 'active') as "students!"
           from class_teacher_assignments a
           join memberships t on t.school_id = a.school_id and t.id = a.teacher_id
           join classes c on c.school_id = a.school_id and c.id = a.class_id
           where a.school_id = $1 and a.ended_at is null and t.account_id = $2
           order by c.grade, c.letter"#,
        scope.school_id() as SchoolId,
        scope.actor().id() as AccountId
    )
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| ClassCard {
            id: r.id,
            title: r.title,
            students: Role::Student.count(r.students),
            class_teacher: None,
            child: None,
        })
        .collect())
}

/// The classes of the actor as a student, and of their children as a parent.
async fn family_classes(
    conn: &mut PgConnection,
    scope: &SchoolScope,
) -> sqlx::Result<Vec<ClassCard>> {
    let rows = sqlx::query!(
        r#"with mine as (
             select m.class_id, null::text as child from memberships m
             where m.school_id = $1 and m.account_id = $2 and m.role = 'student' and m.status = 'active'
             union all
             select k.class_id, ka.surname || ' ' || ka.given_name as child
             from memberships p
             join parent_links l on l.school_id = p.school_id and l.parent_id = p.id
             join memberships k on k.school_id = l.school_id and k.id = l.child_id and k.status = 'active'
             join accounts ka on ka.id = k.account_id
             where p.school_id = $1 and p.account_id = $2 and p.role = 'parent' and p.status = 'active'
           )
           select c.id as "id: ClassId", c.title, mine.child,
                  (select count(*) from memberships s where s.school_id = c.school_id
                     and s.class_id = c.id and s.role = 'student' and s.status = 'active') as "students!",
                  (select ta.surname || ' ' || ta.given_name || coalesce(' ' || ta.patronymic, '')
                   from class_teacher_assignments a
                   join memberships t on t.school_id = a.school_id and t.id = a.teacher_id
                   join accounts ta on ta.id = t.account_id
                   where a.school_id = c.school_id and a.class_id = c.id and a.ended_at is null) as class_teacher
           from mine join classes c on c.school_id = $1 and c.id = mine.class_id
           order by c.grade, c.letter, mine.child"#,
        scope.school_id() as SchoolId,
        scope.actor().id() as AccountId
    )
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| ClassCard {
            id: r.id,
            title: r.title,
            students: Role::Student.count(r.students),
            class_teacher: r.class_teacher,
            child: r.child,
        })
        .collect())
}

#[derive(Template, WebTemplate)]
#[template(path = "home/school.html")]
struct SchoolHomePage {
    layout: Layout,
    /// `/s/{school_id}`, for links.
    base: String,
    can_verify: bool,
    greeting: String,
    roles: String,
    summary: Option<Summary>,
    is_teacher: bool,
    is_student: bool,
    is_parent: bool,
    led: Vec<ClassCard>,
    family: Vec<ClassCard>,
    /// Stale links, requests to decide, the person's own requests (R2.1.i, R2.1.l).
    invites: crate::invites::HomeNotes,
    /// Proposals to approve and the statistics summary (issue 11).
    stats: crate::stats::StartNotes,
    /// Outcomes of the person's posts, posts waiting for review (R2.1.m, R2.3.c).
    posts: crate::channels::HomeNotes,
    /// A student's or parent's chats with their platform links (issue 13, item 9).
    chats: Vec<crate::chats::ChatRow>,
    /// Consents to the class chats: a parent's children, a pupil's own (issue 13, item 7).
    consent: Option<crate::child_consent::HomeNotes>,
    /// What was just done (`?done=`), said once.
    done: Option<&'static str>,
}

#[derive(serde::Deserialize, Default)]
struct HomeQuery {
    #[serde(default)]
    done: String,
}

async fn school_home(
    State(state): State<AppState>,
    scope: SchoolScope,
    Query(q): Query<HomeQuery>,
) -> AppResult<Response> {
    scope.require(Action::ViewSchoolHome)?;
    let mut conn = state.db.acquire().await?;
    let (summary, proposals) = if scope.can(Action::ViewSchoolSummary) {
        let (summary, proposals) = summary(&mut conn, &scope).await?;
        (Some(summary), Some(proposals))
    } else {
        (None, None)
    };
    let is_teacher = scope.has(Role::Teacher) || scope.has(Role::ClassTeacher);
    let led = if is_teacher {
        led_classes(&mut conn, &scope).await?
    } else {
        Vec::new()
    };
    let pupil_or_parent = scope.has(Role::Student) || scope.has(Role::Parent);
    let family = if pupil_or_parent {
        family_classes(&mut conn, &scope).await?
    } else {
        Vec::new()
    };
    let (chats, consent) = if pupil_or_parent {
        (
            crate::chats::my_chat_rows(&mut conn, scope.tenant(), scope.actor().id()).await?,
            Some(crate::child_consent::home_notes(&mut conn, &scope).await?),
        )
    } else {
        (Vec::new(), None)
    };
    let roles = scope
        .roles()
        .iter()
        .map(|r| r.title())
        .collect::<Vec<_>>()
        .join(", ");
    Ok(SchoolHomePage {
        layout: Layout::for_scope(&scope),
        base: format!("/s/{}", scope.school_id()),
        can_verify: scope.can(Action::VerifyStatus),
        greeting: scope.actor().address_name(),
        roles,
        summary,
        is_teacher,
        is_student: scope.has(Role::Student),
        is_parent: scope.has(Role::Parent),
        led,
        family,
        invites: crate::invites::home_notes(&mut conn, &scope, state.config.stale_invite_days)
            .await?,
        stats: crate::stats::start_notes(&mut conn, &scope, proposals).await?,
        posts: crate::channels::home_notes(&mut conn, &scope).await?,
        chats,
        consent,
        done: match q.done.as_str() {
            "consent" => Some("Согласие на участие ребёнка в чатах класса записано."),
            "own-consent" => {
                Some("Ваше согласие на участие в чатах класса записано; родителям сообщили.")
            }
            _ => None,
        },
    }
    .into_response())
}
