//! The live figures of one school (STATISTICS.md A1–A5, D1–D2): one row per class of the
//! current year and the school's headline, each number as its numerator and denominator.
//! The snapshot job writes these same numbers once a day; the page shows today from here.

use sqlx::PgConnection;

use crate::auth::tenant::Tenant;
use crate::ids::{AccountId, ClassId, SchoolId};

/// One class, live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClassRow {
    pub class_id: ClassId,
    pub title: String,
    pub grade: i16,
    /// Active students on the class's roster.
    pub students: i64,
    /// A1: of them, those who have logged in or are in a live chat.
    pub connected: i64,
    /// Students recorded «не участвует» themselves.
    pub refused: i64,
    /// A1 «без отказавшихся»: connected students not recorded as not taking part.
    pub connected_not_refused: i64,
    /// A3: students with at least one linked parent whose membership and account are active.
    pub with_parent: i64,
    /// Students whose family is recorded «не участвует».
    pub family_refused: i64,
    /// A3 «без отказавшихся»: with a parent, the family not recorded.
    pub with_parent_not_refused: i64,
    /// A4: linked active parents of the class, and those in its live parents chat.
    pub parents: i64,
    pub parents_in_chat: i64,
    /// D1: a current class teacher whose status is confirmed.
    pub verified_teacher: bool,
    /// D2: which of the three mandatory chats are live.
    pub students_chat: bool,
    pub parents_chat: bool,
    pub teachers_chat: bool,
}

impl ClassRow {
    /// A5: students without a linked parent.
    pub fn without_parent(&self) -> i64 {
        self.students - self.with_parent
    }
    pub fn all_chats(&self) -> bool {
        self.students_chat && self.parents_chat && self.teachers_chat
    }
    /// The mandatory chats the class lacks, as the page names them.
    pub fn missing_chats(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        if !self.students_chat {
            out.push("чат учеников");
        }
        if !self.parents_chat {
            out.push("чат родителей");
        }
        if !self.teachers_chat {
            out.push("чат учителей");
        }
        out
    }
}

/// The school's headline, live (sums over the current classes, and the staff list).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headline {
    pub students: i64,
    pub connected: i64,
    pub refused: i64,
    pub connected_not_refused: i64,
    /// A2: teachers, deputies and staff on the list, and those in «Учительская» confirmed.
    pub staff: i64,
    pub staff_verified: i64,
    pub teachers: i64,
    pub teachers_verified: i64,
    pub with_parent: i64,
    pub family_refused: i64,
    pub with_parent_not_refused: i64,
    pub classes: i64,
    pub classes_all_chats: i64,
    pub classes_verified_teacher: i64,
}

impl Headline {
    pub fn from_rows(rows: &[ClassRow], staff: Staff) -> Self {
        let mut h = Headline {
            staff: staff.staff,
            staff_verified: staff.staff_verified,
            teachers: staff.teachers,
            teachers_verified: staff.teachers_verified,
            ..Headline::default()
        };
        for r in rows {
            h.students += r.students;
            h.connected += r.connected;
            h.refused += r.refused;
            h.connected_not_refused += r.connected_not_refused;
            h.with_parent += r.with_parent;
            h.family_refused += r.family_refused;
            h.with_parent_not_refused += r.with_parent_not_refused;
            h.classes += 1;
            h.classes_all_chats += i64::from(r.all_chats());
            h.classes_verified_teacher += i64::from(r.verified_teacher);
        }
        h
    }
}

/// The class rows: every live class of the current year, or only those `only_led_by` leads.
pub async fn class_rows(
    conn: &mut PgConnection,
    tenant: Tenant,
    only_led_by: Option<AccountId>,
) -> sqlx::Result<Vec<ClassRow>> {
    let rows = sqlx::query!(
        r#"with cls as (
             select c.school_id, c.id, c.title, c.grade, c.letter from classes c
             join academic_years y on y.school_id = c.school_id and y.id = c.academic_year_id
             where c.school_id = $1 and c.kind = 'class' and c.archived_at is null and y.is_current
               and ($2::uuid is null or exists(
                     select 1 from led_classes l
                     where l.school_id = c.school_id and l.class_id = c.id and l.account_id = $2))
           ),
           -- Every table read is scoped by the school ($1) and every account is read
           -- by its key, so no part of the plan grows with the region; each set is
           -- materialized once and joined once (issue 10).
           studs as materialized (
             select m.class_id, m.id, a.logged_in
             from memberships m
             cross join lateral (select x.first_login_at is not null as logged_in from accounts x
                                 where x.id = m.account_id limit 1) a
             where m.school_id = $1 and m.role = 'student' and m.status = 'active'
               and m.class_id in (select id from cls)
           ),
           chatted as materialized (
             select distinct cm.member_id from chat_members cm
             join chats k on k.school_id = cm.school_id and k.id = cm.chat_id
             where cm.school_id = $1 and k.archived_at is null
           ),
           parents as materialized (
             select l.child_id, l.parent_id from parent_links l
             join memberships p on p.school_id = l.school_id and p.id = l.parent_id
             cross join lateral (select 1 from accounts x
                                 where x.id = p.account_id and x.deactivated_at is null limit 1) pa
             where l.school_id = $1 and p.school_id = $1 and p.status = 'active'
           ),
           refusals as materialized (
             select r.membership_id, bool_or(r.kind = 'student') as refused,
                    bool_or(r.kind = 'family') as family_refused
             from participation_records r
             where r.school_id = $1 and r.withdrawn_at is null
             group by r.membership_id
           ),
           live as materialized (
             select k.class_id, k.kind, k.id from chats k
             where k.school_id = $1 and k.archived_at is null
               and k.kind in ('class_students', 'class_parents', 'class_teachers')
           ),
           each as (
             select s.class_id, s.logged_in or ch.member_id is not null as connected,
                    wp.child_id is not null as with_parent,
                    coalesce(rf.refused, false) as refused,
                    coalesce(rf.family_refused, false) as family_refused
             from studs s
             left join chatted ch on ch.member_id = s.id
             left join (select distinct child_id from parents) wp on wp.child_id = s.id
             left join refusals rf on rf.membership_id = s.id
           ),
           agg as (
             select e.class_id, count(*) as students,
               count(*) filter (where e.connected) as connected,
               count(*) filter (where e.refused) as refused,
               count(*) filter (where e.connected and not e.refused) as connected_not_refused,
               count(*) filter (where e.with_parent) as with_parent,
               count(*) filter (where e.family_refused) as family_refused,
               count(*) filter (where e.with_parent and not e.family_refused) as with_parent_not_refused
             from each e group by e.class_id
           ),
           fam as (
             select distinct s.class_id, p.parent_id from studs s join parents p on p.child_id = s.id
           ),
           pagg as (
             select f.class_id, count(*) as parents, count(cm.member_id) as in_chat
             from fam f
             left join live pc on pc.class_id = f.class_id and pc.kind = 'class_parents'
             left join chat_members cm on cm.school_id = $1 and cm.chat_id = pc.id and cm.member_id = f.parent_id
             group by f.class_id
           )
           select c.id as "class_id!: ClassId", c.title as "title!", c.grade as "grade!",
             coalesce(a.students, 0) as "students!", coalesce(a.connected, 0) as "connected!",
             coalesce(a.refused, 0) as "refused!",
             coalesce(a.connected_not_refused, 0) as "connected_not_refused!",
             coalesce(a.with_parent, 0) as "with_parent!",
             coalesce(a.family_refused, 0) as "family_refused!",
             coalesce(a.with_parent_not_refused, 0) as "with_parent_not_refused!",
             coalesce(p.parents, 0) as "parents!", coalesce(p.in_chat, 0) as "parents_in_chat!",
             exists(select 1 from class_teacher_assignments x
                    join memberships m on m.school_id = x.school_id and m.id = x.teacher_id
                    where x.school_id = c.school_id and x.class_id = c.id and x.ended_at is null
                      and m.status = 'active' and m.verification = 'verified') as "verified_teacher!",
             exists(select 1 from live l where l.class_id = c.id and l.kind = 'class_students') as "students_chat!",
             exists(select 1 from live l where l.class_id = c.id and l.kind = 'class_parents') as "parents_chat!",
             exists(select 1 from live l where l.class_id = c.id and l.kind = 'class_teachers') as "teachers_chat!"
           from cls c
           left join agg a on a.class_id = c.id
           left join pagg p on p.class_id = c.id
           order by c.grade, c.letter"#,
        tenant.id() as SchoolId,
        only_led_by.map(|a| a.0)
    )
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| ClassRow {
            class_id: r.class_id,
            title: r.title,
            grade: r.grade,
            students: r.students,
            connected: r.connected,
            refused: r.refused,
            connected_not_refused: r.connected_not_refused,
            with_parent: r.with_parent,
            family_refused: r.family_refused,
            with_parent_not_refused: r.with_parent_not_refused,
            parents: r.parents,
            parents_in_chat: r.parents_in_chat,
            verified_teacher: r.verified_teacher,
            students_chat: r.students_chat,
            parents_chat: r.parents_chat,
            teachers_chat: r.teachers_chat,
        })
        .collect())
}

/// A2's figures.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Staff {
    pub staff: i64,
    pub staff_verified: i64,
    pub teachers: i64,
    pub teachers_verified: i64,
}

/// A2: teachers, deputies and staff with an active membership; confirmed = in
/// «Учительская» with the status «подтверждён».
pub async fn staff(conn: &mut PgConnection, tenant: Tenant) -> sqlx::Result<Staff> {
    let r = sqlx::query!(
        r#"select count(*) as "staff!",
             count(*) filter (where m.verification = 'verified' and c.kind = 'staffroom') as "verified!",
             count(*) filter (where m.role = 'teacher') as "teachers!",
             count(*) filter (where m.role = 'teacher' and m.verification = 'verified'
                              and c.kind = 'staffroom') as "teachers_verified!"
           from memberships m
           left join classes c on c.school_id = m.school_id and c.id = m.class_id
           where m.school_id = $1 and m.status = 'active' and m.role in ('teacher', 'staff', 'deputy')"#,
        tenant.id() as SchoolId
    )
    .fetch_one(conn)
    .await?;
    Ok(Staff {
        staff: r.staff,
        staff_verified: r.verified,
        teachers: r.teachers,
        teachers_verified: r.teachers_verified,
    })
}

/// The school's calendar day now, and the time it is, in its own zone.
pub async fn today(conn: &mut PgConnection, tenant: Tenant) -> sqlx::Result<time::Date> {
    sqlx::query_scalar!(
        r#"select (now() at time zone s.timezone)::date as "d!" from schools s where s.id = $1"#,
        tenant.id() as SchoolId
    )
    .fetch_one(conn)
    .await
}
