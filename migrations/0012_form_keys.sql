-- Form keys (SECURITY.md 18): every state-changing form carries a hidden key made when the
-- form page was rendered. The first successful submit records the key with the address it
-- led to, in the same transaction as its change; a second submit of the same form (sent
-- twice at once, or again after Back) waits for the first under an advisory lock on the key
-- and is sent to that address instead of changing anything again.
-- No foreign key to accounts: a key outlives nothing, keys older than a day are deleted as
-- new ones arrive, and the janitor's deletion of a person must not trip over them.
create table form_keys (
    account_id uuid not null,
    key uuid not null,
    url text not null,
    created_at timestamptz not null default now(),
    primary key (account_id, key)
);
create index form_keys_age on form_keys (created_at);
