-- One name normaliser (issue 16): name_key(text) is how names are compared in SQL, the same as
-- `web::form::name_key` in Rust (lower case, ё as е, runs of white space as one space, trimmed;
-- tests/it/names.rs proves the two agree). The people search's kept name is made by it.
create function name_key(s text) returns text language sql immutable strict parallel safe
    return btrim(regexp_replace(translate(lower(s), 'ё', 'е'),
                                '[\s\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\u0085]+',
                                ' ', 'g'), ' ');

create or replace function portal_search_name(surname text, given_name text, patronymic text)
    returns text language sql immutable parallel safe
    return name_key(surname || ' ' || given_name || ' ' || coalesce(patronymic, ''));

-- The kept names (a column, not an index expression: memberships_search stays as it is).
update memberships m set search_name = portal_search_name(a.surname, a.given_name, a.patronymic)
from accounts a
where a.id = m.account_id
  and m.search_name is distinct from portal_search_name(a.surname, a.given_name, a.patronymic);
