-- Issue 13, item 7: the parent's consent to a pupil's taking part in the class chats
-- (152-FZ: a child under 14 is represented by the parent; from 14 the pupil consents
-- themselves, the parent informed), and the school setting that keeps a pupil under 14
-- without it out of the students' chat.

-- Off (the default): a pupil without the consent is added to the chats all the same and
-- shown as «нет согласия родителя»; on: kept out of the students' chat until it is given.
alter table schools add column chats_need_parent_consent boolean not null default false;

-- Who consented to which pupil's taking part in the class chats, and when. One row per
-- pupil and kind (the first parent's consent counts; a second one changes nothing). Rows go
-- with the pupil's membership when the janitor removes it (R4.3).
create table child_consents (
    school_id uuid not null references schools (id),
    id uuid primary key,
    -- The pupil's (student) membership.
    child_id uuid not null,
    -- 'parent': a linked parent for a pupil under 14; 'own': the pupil from 14.
    kind text not null check (kind in ('parent', 'own')),
    given_by uuid references accounts (id) on delete set null,
    notice_version text not null check (length(notice_version) > 0),
    given_at timestamptz not null default now(),
    unique (school_id, child_id, kind),
    foreign key (school_id, child_id) references memberships (school_id, id) on delete cascade
);

-- Active pupils who are under 14 by their birth date and whose parent has not consented
-- (a pupil whose birth date the school does not know is not counted: nobody can say).
create view pupils_without_parent_consent as
select m.school_id, m.id as member_id, m.class_id
from memberships m
join accounts a on a.id = m.account_id
where m.role = 'student' and m.status = 'active'
  and a.birth_date is not null
  and a.birth_date > (current_date - interval '14 years')::date
  and not exists(select 1 from child_consents c
                 where c.school_id = m.school_id and c.child_id = m.id and c.kind = 'parent');

-- As in 0005, except that with the school's setting on a pupil under 14 without the
-- parent's consent is not expected in the students' chat.
create or replace view chat_expected_members as
select c.school_id, c.id as chat_id, m.id as member_id
from chats c
join memberships m on m.school_id = c.school_id and m.class_id = c.class_id
join schools s on s.id = c.school_id
where c.kind = 'class_students' and c.archived_at is null
  and m.role = 'student' and m.status = 'active'
  and not (s.chats_need_parent_consent
           and exists(select 1 from pupils_without_parent_consent n
                      where n.school_id = m.school_id and n.member_id = m.id))
union
select c.school_id, c.id, p.id
from chats c
join memberships k on k.school_id = c.school_id and k.class_id = c.class_id
join parent_links l on l.school_id = k.school_id and l.child_id = k.id
join memberships p on p.school_id = l.school_id and p.id = l.parent_id
where c.kind = 'class_parents' and c.archived_at is null
  and k.role = 'student' and k.status = 'active' and p.status = 'active'
union
select c.school_id, c.id, t.teacher_id
from chats c
join teaching_assignments t on t.school_id = c.school_id and t.class_id = c.class_id
join memberships m on m.school_id = t.school_id and m.id = t.teacher_id
where c.kind = 'class_teachers' and c.archived_at is null and m.status = 'active'
union
select c.school_id, c.id, a.teacher_id
from chats c
join class_teacher_assignments a on a.school_id = c.school_id and a.class_id = c.class_id
join memberships m on m.school_id = a.school_id and m.id = a.teacher_id
where c.kind in ('class_students', 'class_parents', 'class_teachers')
  and c.archived_at is null and a.ended_at is null and m.status = 'active';
