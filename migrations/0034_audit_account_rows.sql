-- The audit log's page at a region's scale (issue 10): a school's log shows its members'
-- account rows (logins, password and session changes, written without a school). They
-- are read member by member, newest first, from this index, instead of reading every
-- account row of the region. On an empty database it costs nothing.
create index audit_log_account_rows on audit_log (actor_id, id desc) where school_id is null;
