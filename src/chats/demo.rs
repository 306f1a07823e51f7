//! The demo school's chats, in various states of completeness so that the compliance page
//! has something to show (issue 5, clause 8): some classes have all three mandatory chats
//! with everyone in them, some have them with people missing, some only the students chat,
//! some none; 5А has its students and teachers chats but not yet the parents chat.

use sqlx::PgConnection;

use crate::auth::tenant::Tenant;
use crate::ids::SchoolId;

pub async fn populate(conn: &mut PgConnection, tenant: Tenant) -> sqlx::Result<()> {
    let school = tenant.id();
    // Which classes get which chats: by the class's place in the list (n), 5А apart.
    sqlx::query!(
        r#"with cls as (
             select c.id, c.title, row_number() over (order by c.grade, c.letter) as n,
                    (select a.teacher_id from class_teacher_assignments a
                     where a.school_id = c.school_id and a.class_id = c.id and a.ended_at is null) as owner
             from classes c
             join academic_years y on y.school_id = c.school_id and y.id = c.academic_year_id
             where c.school_id = $1 and c.kind = 'class' and c.archived_at is null and y.is_current
           )
           insert into chats (school_id, id, kind, title, owner_id, class_id, platform_url, created_at)
           select $1, gen_random_uuid(), k.kind,
                  cls.title || case k.kind when 'class_students' then ' — ученики'
                                           when 'class_parents' then ' — родители'
                                           else ' — учителя' end,
                  cls.owner, cls.id,
                  case when cls.n % 3 <> 0 then 'https://sferum.ru/?p=messages&join=' || md5(cls.id::text || k.kind) end,
                  now() - interval '20 days'
           from cls
           cross join unnest(array['class_students', 'class_parents', 'class_teachers']) as k(kind)
           where cls.owner is not null
             and case when cls.title = '5А' then k.kind <> 'class_parents'
                      when cls.n % 4 = 2 then k.kind = 'class_students'
                      when cls.n % 4 = 3 then false
                      else true end"#,
        school as SchoolId
    )
    .execute(&mut *conn)
    .await?;
    // Members from the roster; in every fourth class (n % 4 = 1) some never joined.
    sqlx::query!(
        r#"insert into chat_members (school_id, chat_id, member_id, role, added_at)
           select e.school_id, e.chat_id, e.member_id,
                  case when e.member_id = k.owner_id then 'owner' else 'member' end,
                  now() - interval '19 days'
           from chat_expected_members e
           join chats k on k.school_id = e.school_id and k.id = e.chat_id
           join classes c on c.school_id = k.school_id and c.id = k.class_id
           where e.school_id = $1
             and (e.member_id = k.owner_id or c.title = '5А'
                  or (select count(*) from classes c2
                      where c2.school_id = c.school_id and c2.kind = 'class'
                        and c2.archived_at is null
                        and (c2.grade, c2.letter) <= (c.grade, c.letter)) % 4 <> 1
                  or abs(hashtext(e.member_id::text)) % 3 <> 0)"#,
        school as SchoolId
    )
    .execute(&mut *conn)
    .await?;
    // A staff chat of the school.
    sqlx::query!(
        r#"insert into chats (school_id, id, kind, title, owner_id, platform_url)
           select $1, gen_random_uuid(), 'staff', 'Педагогический совет', m.id,
                  'https://sferum.ru/?p=messages&join=staff'
           from memberships m where m.school_id = $1 and m.role = 'director' limit 1"#,
        school as SchoolId
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query!(
        r#"insert into chat_members (school_id, chat_id, member_id, role)
           select k.school_id, k.id, m.id, case when m.id = k.owner_id then 'owner' else 'member' end
           from chats k join memberships m on m.school_id = k.school_id
           where k.school_id = $1 and k.kind = 'staff' and m.status = 'active'
             and m.role in ('director', 'deputy', 'teacher', 'staff')
           on conflict do nothing"#,
        school as SchoolId
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}
