//! Each class's compliance with the regulation, one row per class (R2.4.c–d, R2.6.a–c,
//! R2.7.a–b, R2.1.h, R2.1.i, R2.1.l): the class teacher assigned and verified, the three
//! mandatory chats, the share of students in the students chat, of students with a linked
//! parent, of those parents in the parents chat, live and stale invite links, pending join
//! requests; a traffic light per row and for the school. The administrator, the director
//! and the deputies see every class, a class teacher their own. Exported as CSV too.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use sqlx::PgConnection;

use crate::AppState;
use crate::auth::extract::SchoolScope;
use crate::auth::objects::Target;
use crate::auth::permissions::{Action, Role};
use crate::auth::tenant::Tenant;
use crate::error::AppResult;
use crate::ids::{AccountId, ChatId, ClassId, SchoolId};
use crate::web::csv::Csv;
use crate::web::layout::Layout;

/// The numbers of one class, straight from the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub class_id: ClassId,
    pub title: String,
    pub class_teacher: Option<String>,
    pub teacher_verified: bool,
    pub students_chat: Option<ChatId>,
    pub parents_chat: Option<ChatId>,
    pub teachers_chat: Option<ChatId>,
    pub students: i64,
    pub students_in_chat: i64,
    pub students_with_parent: i64,
    pub parents: i64,
    pub parents_in_chat: i64,
    pub live_links: i64,
    pub stale_links: i64,
    pub pending_requests: i64,
    /// Pupils under 14 without the parent's consent to the chats (issue 13, item 7).
    pub without_consent: i64,
    /// The students chat is bound to a platform chat the school's bot is in and has read
    /// (issue 15): who is really there is known.
    pub students_on_platform: bool,
    /// Students the platform lists in that chat (their bound accounts).
    pub students_really_in_chat: i64,
    /// The same for the parents chat.
    pub parents_on_platform: bool,
    pub parents_really_in_chat: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Light {
    Green,
    Yellow,
    Red,
}

impl Light {
    pub fn code(self) -> &'static str {
        match self {
            Light::Green => "green",
            Light::Yellow => "yellow",
            Light::Red => "red",
        }
    }
    pub fn title(self) -> &'static str {
        match self {
            Light::Green => "соответствует",
            Light::Yellow => "есть замечания",
            Light::Red => "не соответствует",
        }
    }
}

impl Row {
    /// Red: no class teacher or a mandatory chat missing (R2.4.c). Yellow: the class
    /// teacher unverified, someone missing from a chat, students without a linked parent,
    /// stale links or pending requests. Green otherwise.
    pub fn light(&self) -> Light {
        if self.class_teacher.is_none()
            || self.students_chat.is_none()
            || self.parents_chat.is_none()
            || self.teachers_chat.is_none()
        {
            Light::Red
        } else if !self.teacher_verified
            || self.students_present() < self.students
            || self.students_with_parent < self.students
            || self.parents_present() < self.parents
            || self.stale_links > 0
            || self.pending_requests > 0
            || self.without_consent > 0
        {
            Light::Yellow
        } else {
            Light::Green
        }
    }

    /// Students in their chat: really there when the bot sees the chat (R2.1.l), else
    /// joined through the portal.
    pub fn students_present(&self) -> i64 {
        if self.students_on_platform {
            self.students_really_in_chat
        } else {
            self.students_in_chat
        }
    }

    /// Parents in their chat, the same way.
    pub fn parents_present(&self) -> i64 {
        if self.parents_on_platform {
            self.parents_really_in_chat
        } else {
            self.parents_in_chat
        }
    }

    /// Which chats are counted by the platform, in words («нет» when none).
    pub fn platform_counted(&self) -> &'static str {
        match (self.students_on_platform, self.parents_on_platform) {
            (true, true) => "чат учеников, чат родителей",
            (true, false) => "чат учеников",
            (false, true) => "чат родителей",
            (false, false) => "нет",
        }
    }
}

/// «12 из 25 (48 %)»; «—» when there is nobody to count.
pub fn share(part: i64, whole: i64) -> String {
    if whole == 0 {
        "—".to_owned()
    } else {
        format!("{part} из {whole} ({} %)", part * 100 / whole)
    }
}

/// The rows: every live class of the current year, or only those `only_led_by` leads.
pub async fn rows(
    conn: &mut PgConnection,
    tenant: Tenant,
    only_led_by: Option<AccountId>,
) -> sqlx::Result<Vec<Row>> {
    let school = tenant.id();
    let rows = sqlx::query!(
        r#"with cls as (
             select c.school_id, c.id, c.title, c.grade, c.letter from classes c
             join academic_years y on y.school_id = c.school_id and y.id = c.academic_year_id
             where c.school_id = $1 and c.kind = 'class' and c.archived_at is null and y.is_current
               and ($2::uuid is null or exists(
                     select 1 from class_teacher_assignments a
                     join memberships m on m.school_id = a.school_id and m.id = a.teacher_id
                     where a.school_id = c.school_id and a.class_id = c.id and a.ended_at is null
                       and m.status = 'active' and m.account_id = $2))
           ),
           -- Each number is aggregated once for the whole school and joined once, so
           -- the plan is the same at one school as at two thousand (issue 10): the
           -- class's students and parents come from the counts kept by triggers
           -- (`class_counts`, migration 0035); who of them is in the class's chat is
           -- counted from the chat's members, each looked up by its primary key.
           live as materialized (
             select k.class_id, k.kind, k.id from chats k
             where k.school_id = $1 and k.archived_at is null
               and k.kind in ('class_students', 'class_parents', 'class_teachers')
           ),
           -- Chats the school's bot is in and has read (issue 15): there the count is of
           -- who the platform really lists, through the accounts bound by deep link.
           plat as materialized (
             select cc.chat_id, cc.platform_chat_id from connector_chats cc
             join connector_bots b on b.school_id = cc.school_id
             where cc.school_id = $1 and cc.chat_id is not null and cc.bot_present
               and cc.members_read_at is not null
           ),
           stud_chat as (
             select sc.class_id, count(*) as in_chat
             from live sc
             join chat_members ic on ic.school_id = $1 and ic.chat_id = sc.id
             join memberships s on s.school_id = $1 and s.id = ic.member_id
             where sc.kind = 'class_students' and s.class_id = sc.class_id
               and s.role = 'student' and s.status = 'active'
             group by sc.class_id
           ),
           -- A parent in the parents chat counts once however many children they have
           -- in the class (the chat's members are distinct).
           par_chat as (
             select pc.class_id, count(*) as in_chat
             from live pc
             join chat_members ic on ic.school_id = $1 and ic.chat_id = pc.id
             join memberships p on p.school_id = $1 and p.id = ic.member_id
             where pc.kind = 'class_parents' and p.status = 'active'
               and exists(select 1 from parent_links l
                          join memberships k on k.school_id = l.school_id and k.id = l.child_id
                          where l.school_id = $1 and l.parent_id = p.id
                            and k.class_id = pc.class_id and k.role = 'student'
                            and k.status = 'active')
             group by pc.class_id
           ),
           stud_plat as (
             select sc.class_id, count(*) as n
             from plat pl
             join live sc on sc.id = pl.chat_id and sc.kind = 'class_students'
             join memberships s on s.school_id = $1 and s.class_id = sc.class_id
                               and s.role = 'student' and s.status = 'active'
             join connector_accounts ca on ca.school_id = $1 and ca.membership_id = s.id
             join connector_members pm on pm.school_id = $1
                                      and pm.platform_chat_id = pl.platform_chat_id
                                      and pm.user_id = ca.user_id and pm.present
             group by sc.class_id
           ),
           par_plat as (
             select pc.class_id, count(distinct p.id) as n
             from plat pl
             join live pc on pc.id = pl.chat_id and pc.kind = 'class_parents'
             join memberships k on k.school_id = $1 and k.class_id = pc.class_id
                               and k.role = 'student' and k.status = 'active'
             join parent_links l on l.school_id = $1 and l.child_id = k.id
             join memberships p on p.school_id = $1 and p.id = l.parent_id and p.status = 'active'
             join connector_accounts ca on ca.school_id = $1 and ca.membership_id = p.id
             join connector_members pm on pm.school_id = $1
                                      and pm.platform_chat_id = pl.platform_chat_id
                                      and pm.user_id = ca.user_id and pm.present
             group by pc.class_id
           ),
           links as (
             select i.class_id,
                    count(*) filter (where i.expires_at > now() and i.uses < i.max_uses) as live,
                    count(*) filter (where i.expires_at <= now() or i.uses >= i.max_uses) as stale
             from invites i where i.school_id = $1 and i.revoked_at is null
             group by i.class_id
           ),
           pending as (
             select r.class_id, count(*) as n from join_requests r
             where r.school_id = $1 and r.status = 'pending'
             group by r.class_id
           ),
           no_consent as (
             select n.class_id, count(*) as n from pupils_without_parent_consent n
             where n.school_id = $1
             group by n.class_id
           )
           select c.id as "class_id!: ClassId", c.title as "title!",
             t.name as "class_teacher?", coalesce(t.verified, false) as "teacher_verified!",
             sc.id as "students_chat?", pc.id as "parents_chat?", tc.id as "teachers_chat?",
             coalesce(n.students, 0) as "students!",
             coalesce(sch.in_chat, 0) as "students_in_chat!",
             coalesce(n.with_parent, 0) as "students_with_parent!",
             coalesce(n.parents, 0) as "parents!",
             coalesce(pch.in_chat, 0) as "parents_in_chat!",
             coalesce(lk.live, 0) as "live_links!",
             coalesce(lk.stale, 0) as "stale_links!",
             coalesce(pr.n, 0) as "pending_requests!",
             coalesce(nc.n, 0) as "without_consent!",
             sp.chat_id is not null as "students_on_platform!",
             coalesce(spl.n, 0) as "students_really_in_chat!",
             pp.chat_id is not null as "parents_on_platform!",
             coalesce(ppl.n, 0) as "parents_really_in_chat!"
           from cls c
           left join lateral (
             select a.surname || ' ' || a.given_name || coalesce(' ' || a.patronymic, '') as name,
                    m.verification = 'verified' as verified
             from class_teacher_assignments x
             join memberships m on m.school_id = x.school_id and m.id = x.teacher_id
             join accounts a on a.id = m.account_id
             where x.school_id = c.school_id and x.class_id = c.id and x.ended_at is null
               and m.status = 'active'
           ) t on true
           left join live sc on sc.class_id = c.id and sc.kind = 'class_students'
           left join live pc on pc.class_id = c.id and pc.kind = 'class_parents'
           left join live tc on tc.class_id = c.id and tc.kind = 'class_teachers'
           left join class_counts n on n.school_id = c.school_id and n.class_id = c.id
           left join stud_chat sch on sch.class_id = c.id
           left join par_chat pch on pch.class_id = c.id
           left join stud_plat spl on spl.class_id = c.id
           left join par_plat ppl on ppl.class_id = c.id
           left join links lk on lk.class_id = c.id
           left join pending pr on pr.class_id = c.id
           left join no_consent nc on nc.class_id = c.id
           left join plat sp on sp.chat_id = sc.id
           left join plat pp on pp.chat_id = pc.id
           order by c.grade, c.letter"#,
        school as SchoolId,
        only_led_by.map(|a| a.0)
    )
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| Row {
            class_id: r.class_id,
            title: r.title,
            class_teacher: r.class_teacher,
            teacher_verified: r.teacher_verified,
            students_chat: r.students_chat.map(ChatId),
            parents_chat: r.parents_chat.map(ChatId),
            teachers_chat: r.teachers_chat.map(ChatId),
            students: r.students,
            students_in_chat: r.students_in_chat,
            students_with_parent: r.students_with_parent,
            parents: r.parents,
            parents_in_chat: r.parents_in_chat,
            live_links: r.live_links,
            stale_links: r.stale_links,
            pending_requests: r.pending_requests,
            without_consent: r.without_consent,
            students_on_platform: r.students_on_platform,
            students_really_in_chat: r.students_really_in_chat,
            parents_on_platform: r.parents_on_platform,
            parents_really_in_chat: r.parents_really_in_chat,
        })
        .collect())
}

/// The school's light: the worst of its rows (green when there are none).
pub fn school_light(rows: &[Row]) -> Light {
    rows.iter().map(Row::light).max().unwrap_or(Light::Green)
}

/// Every class for the leadership; a class teacher only their own.
fn sees_all(scope: &SchoolScope) -> bool {
    [Role::Admin, Role::Director, Role::Deputy, Role::ItDeputy]
        .iter()
        .any(|r| scope.has(*r))
}

pub struct View {
    pub row: Row,
    pub light: Light,
    pub students_share: String,
    pub with_parent_share: String,
    pub parents_share: String,
    pub can_create: bool,
    /// The three mandatory chats: (kind code, the live chat if any).
    pub chats: Vec<(&'static str, Option<ChatId>)>,
}

#[derive(Template, WebTemplate)]
#[template(path = "chats/compliance.html")]
struct Page {
    layout: Layout,
    school_id: SchoolId,
    rows: Vec<View>,
    light: Light,
    /// Some chat is counted by the platform (the hint says what that means).
    any_platform: bool,
}

pub async fn page(State(state): State<AppState>, scope: SchoolScope) -> AppResult<Response> {
    scope.require(Action::ViewCompliance)?;
    let mut conn = state.db.acquire().await?;
    let only = (!sees_all(&scope)).then(|| scope.actor().id());
    let rows = rows(&mut conn, scope.tenant(), only).await?;
    let light = school_light(&rows);
    let any_platform = rows
        .iter()
        .any(|r| r.students_on_platform || r.parents_on_platform);
    let facts = scope.facts();
    let mut views = Vec::with_capacity(rows.len());
    for row in rows {
        // The object rule LeadsClass, per class.
        let can_create = facts.can_on(Action::CreateClassChats, &Target::Class(row.class_id));
        views.push(View {
            light: row.light(),
            students_share: share(row.students_present(), row.students),
            with_parent_share: share(row.students_with_parent, row.students),
            parents_share: share(row.parents_present(), row.parents),
            can_create,
            chats: vec![
                ("class_students", row.students_chat),
                ("class_parents", row.parents_chat),
                ("class_teachers", row.teachers_chat),
            ],
            row,
        });
    }
    Ok(Page {
        layout: Layout::for_scope(&scope),
        school_id: scope.school_id(),
        rows: views,
        light,
        any_platform,
    }
    .into_response())
}

/// The register as a CSV file ([`crate::web::csv`]).
pub fn to_csv(rows: &[Row]) -> AppResult<Vec<u8>> {
    let mut w = Csv::new();
    w.row([
        "Класс",
        "Классный руководитель",
        "Статус подтверждён",
        "Чат учеников",
        "Чат родителей",
        "Чат учителей",
        "Учеников",
        "Учеников в чате",
        "Учеников с родителем",
        "Родителей",
        "Родителей в чате",
        "Действующих ссылок",
        "Устаревших ссылок",
        "Заявок на рассмотрении",
        "Без согласия родителя",
        "Светофор",
        "По данным платформы",
    ])?;
    let yes = |b: bool| if b { "да" } else { "нет" }.to_owned();
    for r in rows {
        w.row([
            r.title.clone(),
            r.class_teacher
                .clone()
                .unwrap_or_else(|| "не назначен".to_owned()),
            yes(r.teacher_verified),
            yes(r.students_chat.is_some()),
            yes(r.parents_chat.is_some()),
            yes(r.teachers_chat.is_some()),
            r.students.to_string(),
            r.students_present().to_string(),
            r.students_with_parent.to_string(),
            r.parents.to_string(),
            r.parents_present().to_string(),
            r.live_links.to_string(),
            r.stale_links.to_string(),
            r.pending_requests.to_string(),
            r.without_consent.to_string(),
            r.light().title().to_owned(),
            r.platform_counted().to_owned(),
        ])?;
    }
    w.finish()
}

pub async fn csv(State(state): State<AppState>, scope: SchoolScope) -> AppResult<Response> {
    scope.require(Action::ViewCompliance)?;
    let mut conn = state.db.acquire().await?;
    let only = (!sees_all(&scope)).then(|| scope.actor().id());
    let rows = rows(&mut conn, scope.tenant(), only).await?;
    Ok(crate::web::csv::attachment(
        "compliance.csv",
        to_csv(&rows)?,
    ))
}
