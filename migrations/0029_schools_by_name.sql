-- The operator's list of schools is ordered by name (byte order) and paged: with this
-- index a page is read in order instead of sorting every school of the region (issue 10).
create index schools_by_name on schools (name collate "C", id);
