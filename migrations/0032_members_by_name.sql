-- The people list in name order without sorting the school (issue 10): a person's
-- memberships in a school share the normalised name (`portal_search_name`), so the list
-- walks this index with `distinct on (search_name, account_id)` and stops after a page.
-- "C" order of the normalised name (lower case, ё as е) is the Russian alphabet's.
create index memberships_by_name on memberships (school_id, search_name collate "C", account_id);
