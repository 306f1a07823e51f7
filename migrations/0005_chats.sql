-- Class chats and other chats of the school (R2.4.c, R2.5.c, R2.8.c), their members and
-- roles in the chat; kept in step with the roster by the movements (R2.4.d).

create table chats (
    school_id uuid not null references schools (id),
    id uuid primary key,
    kind text not null check (kind in ('class_students', 'class_parents', 'class_teachers',
                                       'subject', 'staff', 'event', 'other')),
    title text not null check (length(title) > 0),
    -- The owner's membership (a teacher, staff member or deputy of the school).
    owner_id uuid not null,
    class_id uuid,
    subject_id uuid,
    -- The link to the chat on the messaging platform («Сферум» / МАХ).
    platform_url text,
    created_by uuid references accounts (id),
    created_at timestamptz not null default now(),
    archived_at timestamptz,
    unique (school_id, id),
    foreign key (school_id, owner_id) references memberships (school_id, id),
    foreign key (school_id, class_id) references classes (school_id, id),
    foreign key (school_id, subject_id) references subjects (school_id, id),
    check (kind not in ('class_students', 'class_parents', 'class_teachers', 'subject')
           or class_id is not null),
    check (kind <> 'subject' or subject_id is not null)
);
-- One live chat of each mandatory kind per class (R2.4.c).
create unique index chats_one_mandatory on chats (school_id, class_id, kind)
    where archived_at is null and kind in ('class_students', 'class_parents', 'class_teachers');
create index chats_school on chats (school_id, created_at desc);
create index chats_owner on chats (school_id, owner_id);

create table chat_members (
    school_id uuid not null,
    chat_id uuid not null,
    member_id uuid not null,
    role text not null check (role in ('owner', 'admin', 'member')),
    added_by uuid references accounts (id),
    added_at timestamptz not null default now(),
    primary key (school_id, chat_id, member_id),
    foreign key (school_id, chat_id) references chats (school_id, id) on delete cascade,
    foreign key (school_id, member_id) references memberships (school_id, id)
);
create index chat_members_member on chat_members (school_id, member_id);

-- Who the roster says belongs in each live mandatory chat (R2.4.c–d): the class's active
-- students; their active linked parents; the active teachers who teach the class; and in
-- all three the class teacher.
create view chat_expected_members as
select c.school_id, c.id as chat_id, m.id as member_id
from chats c
join memberships m on m.school_id = c.school_id and m.class_id = c.class_id
where c.kind = 'class_students' and c.archived_at is null
  and m.role = 'student' and m.status = 'active'
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

-- A chat invite link (R2.6.a, R2.7.a): an invite into a class that also adds whoever joins
-- by it (or is already in the class) to this chat.
alter table invites
    add column chat_id uuid,
    add constraint invites_chat_fkey foreign key (school_id, chat_id) references chats (school_id, id);
