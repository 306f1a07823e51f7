-- Kept counts per class (issue 10): the classes list and the compliance page read a
-- class's numbers from here instead of counting the school's memberships and parent
-- links on every request.
--
-- - students: the class's active student memberships;
-- - staff: its active teachers, staff members, deputies and directors (the staff room's);
-- - parents: the distinct active parents linked to its active students;
-- - with_parent: its active students with at least one active linked parent.
--
-- Statement-level triggers on memberships and parent_links recount the classes a
-- statement touched (one recount a class and statement, however many rows it wrote).
-- A recount first locks its row, so a second transaction changing the same class waits
-- and then counts what the first committed. On an empty database this costs nothing.
create table class_counts (
    school_id uuid not null,
    class_id uuid not null,
    students bigint not null default 0,
    staff bigint not null default 0,
    parents bigint not null default 0,
    with_parent bigint not null default 0,
    primary key (school_id, class_id),
    foreign key (school_id, class_id) references classes (school_id, id) on delete cascade
);

create function class_counts_recount(school uuid, class uuid) returns void
language plpgsql as $$
begin
    insert into class_counts (school_id, class_id)
    select c.school_id, c.id from classes c where c.school_id = school and c.id = class
    on conflict do nothing;
    perform 1 from class_counts n where n.school_id = school and n.class_id = class for update;
    update class_counts n set
        students = x.students, staff = x.staff, parents = x.parents, with_parent = x.with_parent
    from (
        select
            (select count(*) from memberships m
             where m.school_id = school and m.class_id = class and m.status = 'active'
               and m.role = 'student') as students,
            (select count(*) from memberships m
             where m.school_id = school and m.class_id = class and m.status = 'active'
               and m.role in ('teacher', 'staff', 'deputy', 'director')) as staff,
            count(distinct f.parent_id) as parents,
            count(distinct f.child_id) as with_parent
        from (
            select l.parent_id, l.child_id
            from memberships k
            join parent_links l on l.school_id = k.school_id and l.child_id = k.id
            join memberships p on p.school_id = l.school_id and p.id = l.parent_id
            where k.school_id = school and k.class_id = class and k.status = 'active'
              and k.role = 'student' and p.status = 'active'
        ) f
    ) x
    where n.school_id = school and n.class_id = class;
end $$;

-- The classes of the memberships `ids` names: their own classes, and those of the
-- children they are parents of.
create function class_counts_recount_members(school_ids uuid[], ids uuid[], classes uuid[])
returns void language plpgsql as $$
declare
    k record;
begin
    for k in
        select distinct s, c from (
            select u.s, u.c from unnest(school_ids, classes) as u(s, c) where u.c is not null
            union
            select ch.school_id, ch.class_id
            from unnest(school_ids, ids) as u(s, i)
            join parent_links l on l.school_id = u.s and l.parent_id = u.i
            join memberships ch on ch.school_id = l.school_id and ch.id = l.child_id
            where ch.class_id is not null
        ) t(s, c)
        order by s, c
    loop
        perform class_counts_recount(k.s, k.c);
    end loop;
end $$;

create function class_counts_members_inserted() returns trigger language plpgsql as $$
begin
    perform class_counts_recount_members(
        array(select school_id from new_rows order by id),
        array(select id from new_rows order by id),
        array(select class_id from new_rows order by id));
    return null;
end $$;
create function class_counts_members_updated() returns trigger language plpgsql as $$
begin
    perform class_counts_recount_members(array_agg(x.school_id), array_agg(x.id), array_agg(x.class_id))
    from (
        select o.school_id, o.id, o.class_id from old_rows o join new_rows n on n.id = o.id
        where o.class_id is distinct from n.class_id or o.status is distinct from n.status
           or o.role is distinct from n.role or o.school_id is distinct from n.school_id
        union all
        select n.school_id, n.id, n.class_id from old_rows o join new_rows n on n.id = o.id
        where o.class_id is distinct from n.class_id or o.status is distinct from n.status
           or o.role is distinct from n.role or o.school_id is distinct from n.school_id
    ) x;
    return null;
end $$;
create function class_counts_members_deleted() returns trigger language plpgsql as $$
begin
    perform class_counts_recount_members(
        array(select school_id from old_rows order by id),
        array(select id from old_rows order by id),
        array(select class_id from old_rows order by id));
    return null;
end $$;
create trigger class_counts_members_inserted after insert on memberships
    referencing new table as new_rows
    for each statement execute function class_counts_members_inserted();
create trigger class_counts_members_updated after update on memberships
    referencing old table as old_rows new table as new_rows
    for each statement execute function class_counts_members_updated();
create trigger class_counts_members_deleted after delete on memberships
    referencing old table as old_rows
    for each statement execute function class_counts_members_deleted();

-- A link changes the counts of its child's class.
create function class_counts_links_changed() returns trigger language plpgsql as $$
declare
    k record;
begin
    for k in
        select distinct m.school_id, m.class_id from (
            select school_id, child_id from changed_rows
        ) l
        join memberships m on m.school_id = l.school_id and m.id = l.child_id
        where m.class_id is not null
        order by m.school_id, m.class_id
    loop
        perform class_counts_recount(k.school_id, k.class_id);
    end loop;
    return null;
end $$;
create trigger class_counts_links_inserted after insert on parent_links
    referencing new table as changed_rows
    for each statement execute function class_counts_links_changed();
create trigger class_counts_links_deleted after delete on parent_links
    referencing old table as changed_rows
    for each statement execute function class_counts_links_changed();
create function class_counts_links_updated() returns trigger language plpgsql as $$
declare
    k record;
begin
    for k in
        select distinct m.school_id, m.class_id from (
            select school_id, child_id from old_rows
            union
            select school_id, child_id from new_rows
        ) l
        join memberships m on m.school_id = l.school_id and m.id = l.child_id
        where m.class_id is not null
        order by m.school_id, m.class_id
    loop
        perform class_counts_recount(k.school_id, k.class_id);
    end loop;
    return null;
end $$;
create trigger class_counts_links_updated after update on parent_links
    referencing old table as old_rows new table as new_rows
    for each statement execute function class_counts_links_updated();

-- The backfill: every class of a live database, counted once.
insert into class_counts (school_id, class_id, students, staff, parents, with_parent)
select c.school_id, c.id,
    (select count(*) from memberships m
     where m.school_id = c.school_id and m.class_id = c.id and m.status = 'active'
       and m.role = 'student'),
    (select count(*) from memberships m
     where m.school_id = c.school_id and m.class_id = c.id and m.status = 'active'
       and m.role in ('teacher', 'staff', 'deputy', 'director')),
    coalesce(f.parents, 0), coalesce(f.with_parent, 0)
from classes c
left join (
    select k.school_id, k.class_id, count(distinct l.parent_id) as parents,
           count(distinct l.child_id) as with_parent
    from memberships k
    join parent_links l on l.school_id = k.school_id and l.child_id = k.id
    join memberships p on p.school_id = l.school_id and p.id = l.parent_id
    where k.status = 'active' and k.role = 'student' and p.status = 'active'
    group by k.school_id, k.class_id
) f on f.school_id = c.school_id and f.class_id = c.id;
