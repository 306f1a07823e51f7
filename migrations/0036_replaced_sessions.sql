-- Sessions replaced a moment ago (login, a new role: SECURITY.md 2). The old id is dead:
-- it authenticates nothing. But a form sent twice at once (a double tap) carries the old
-- cookie in both requests; the second one, read after the first committed, would find no
-- session and land on the login form. For a short while, a POST carrying a replaced id is
-- answered with a redirect to where the request that replaced it led, and nothing else.
-- Rows older than a minute are useless; the janitor deletes them.
create table replaced_sessions (
    token_hash bytea primary key,
    leads_to text not null,
    replaced_at timestamptz not null default now()
);
