-- The audit log's object filter by name (issue 10): the `kind:id` targets of the school
-- whose object's name matches a pattern. The log's page query keeps to one join and asks
-- this only when the filter is typed; the names of a page's rows are looked up after the
-- page is chosen (src/audit/names.rs).
create function audit_targets_named(school uuid, pattern text) returns setof text
language sql stable as $$
    select 'account:' || m.account_id
    from memberships m join accounts a on a.id = m.account_id
    where m.school_id = school
      and (a.surname || ' ' || a.given_name || coalesce(' ' || a.patronymic, '')) ilike pattern
    union all
    select 'membership:' || m.id
    from memberships m join accounts a on a.id = m.account_id
    where m.school_id = school
      and (a.surname || ' ' || a.given_name || coalesce(' ' || a.patronymic, '')) ilike pattern
    union all
    select 'account:' || g.account_id
    from admin_grants g join accounts a on a.id = g.account_id
    where g.school_id = school
      and (a.surname || ' ' || a.given_name || coalesce(' ' || a.patronymic, '')) ilike pattern
    union all
    select 'class:' || c.id from classes c where c.school_id = school and c.title ilike pattern
    union all
    select 'chat:' || c.id from chats c where c.school_id = school and c.title ilike pattern
    union all
    select 'channel:' || c.id from channels c where c.school_id = school and c.title ilike pattern
    union all
    select 'subject:' || s.id from subjects s where s.school_id = school and s.name ilike pattern
    union all
    select 'post:' || p.id from posts p where p.school_id = school and p.title ilike pattern
    union all
    select 'broadcast:' || b.id from broadcasts b where b.school_id = school and b.title ilike pattern
    union all
    select 'import:' || i.id from imports i where i.school_id = school and i.filename ilike pattern
    union all
    select 'invite:' || i.id
    from invites i join classes c on c.school_id = i.school_id and c.id = i.class_id
    where i.school_id = school and ('в класс ' || c.title) ilike pattern
    union all
    select 'school:' || s.id from schools s
    where s.id = school and coalesce(s.short_name, s.name) ilike pattern
$$;
