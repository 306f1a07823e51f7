-- Fast at a region's scale (issue 10): about 2,000 schools and 3 million people.

-- 1. Name search by trigrams, scoped by school. The people search matches a person's
-- normalised full name (lower case, ё as е) anywhere inside it. Each membership keeps
-- its account's normalised name, so one index on (school, name) answers «who in this
-- school has “елкин” in their name» without reading any other school's people, whatever
-- the planner's statistics say.
create extension if not exists pg_trgm;
create extension if not exists btree_gin;

create function portal_search_name(surname text, given_name text, patronymic text)
    returns text language sql immutable parallel safe
    return translate(lower(surname || ' ' || given_name || ' ' || coalesce(patronymic, '')), 'ё', 'е');

alter table memberships add column search_name text;
update memberships m set search_name = portal_search_name(a.surname, a.given_name, a.patronymic)
from accounts a where a.id = m.account_id;
alter table memberships alter column search_name set not null;

create function memberships_search_name() returns trigger language plpgsql as $$
begin
    select portal_search_name(a.surname, a.given_name, a.patronymic) into new.search_name
    from accounts a where a.id = new.account_id;
    return new;
end $$;
create trigger memberships_search_name before insert or update of account_id on memberships
    for each row execute function memberships_search_name();

create function accounts_search_name() returns trigger language plpgsql as $$
begin
    update memberships set search_name = portal_search_name(new.surname, new.given_name, new.patronymic)
    where account_id = new.id;
    return null;
end $$;
create trigger accounts_search_name after update of surname, given_name, patronymic on accounts
    for each row
    when (old.surname is distinct from new.surname or old.given_name is distinct from new.given_name
          or old.patronymic is distinct from new.patronymic)
    execute function accounts_search_name();

create index memberships_search on memberships using gin (school_id, search_name gin_trgm_ops);

-- 2. Kept aggregates for the operator's school list: the active members of each school,
-- kept current by statement-level triggers (one row per school and statement, however
-- many memberships a statement writes), instead of counting every membership of fifty
-- schools per request.
create table school_counts (
    school_id uuid primary key references schools (id) on delete cascade,
    active_members bigint not null default 0
);
insert into school_counts (school_id, active_members)
select s.id, (select count(*) from memberships m where m.school_id = s.id and m.status = 'active')
from schools s;

create function school_counts_new_school() returns trigger language plpgsql as $$
begin
    insert into school_counts (school_id) values (new.id) on conflict do nothing;
    return null;
end $$;
create trigger school_counts_new_school after insert on schools
    for each row execute function school_counts_new_school();

create function school_counts_inserted() returns trigger language plpgsql as $$
begin
    update school_counts c set active_members = c.active_members + x.n
    from (select school_id, count(*) as n from new_rows where status = 'active'
          group by school_id) x
    where c.school_id = x.school_id;
    return null;
end $$;
create function school_counts_updated() returns trigger language plpgsql as $$
begin
    update school_counts c set active_members = c.active_members + x.n
    from (select school_id, sum(d) as n from (
              select school_id, 1 as d from new_rows where status = 'active'
              union all
              select school_id, -1 from old_rows where status = 'active') u
          group by school_id) x
    where c.school_id = x.school_id and x.n <> 0;
    return null;
end $$;
create function school_counts_deleted() returns trigger language plpgsql as $$
begin
    update school_counts c set active_members = c.active_members - x.n
    from (select school_id, count(*) as n from old_rows where status = 'active'
          group by school_id) x
    where c.school_id = x.school_id;
    return null;
end $$;
create trigger school_counts_inserted after insert on memberships
    referencing new table as new_rows
    for each statement execute function school_counts_inserted();
create trigger school_counts_updated after update on memberships
    referencing old table as old_rows new table as new_rows
    for each statement execute function school_counts_updated();
create trigger school_counts_deleted after delete on memberships
    referencing old table as old_rows
    for each statement execute function school_counts_deleted();

-- 3. Missing indexes: invites by class (compliance, the class card), and the ones
-- behind foreign keys that had none (deleting or checking the referenced row would
-- otherwise read the whole table).
create index invites_class on invites (school_id, class_id);
create index invites_child on invites (school_id, child_id) where child_id is not null;
create index invites_chat on invites (school_id, chat_id) where chat_id is not null;
create index join_requests_class on join_requests (school_id, class_id);
create index join_requests_invite on join_requests (school_id, invite_id);
create index movements_from_class on movements (school_id, from_class_id) where from_class_id is not null;
create index movements_to_class on movements (school_id, to_class_id) where to_class_id is not null;
create index class_teacher_by_order on class_teacher_assignments (school_id, order_id) where order_id is not null;
create index chats_class on chats (school_id, class_id) where class_id is not null;
create index memberships_verified_by on memberships (verified_by) where verified_by is not null;
