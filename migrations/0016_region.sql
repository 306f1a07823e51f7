-- The region's view (issue 11): the municipality a school records on its profile, and the
-- read-only regional role «специалист органа управления образованием», appointed by the
-- deployment operator for one municipality or (municipality null) the whole region.

alter table schools add column municipality text
    check (municipality is null or length(municipality) between 1 and 200);
create index schools_municipality on schools (municipality);

create table regional_specialists (
    id uuid primary key,
    account_id uuid not null references accounts (id),
    municipality text check (municipality is null or length(municipality) between 1 and 200),
    appointed_by uuid references accounts (id),
    appointed_at timestamptz not null default now(),
    revoked_at timestamptz
);
create unique index regional_specialists_one on regional_specialists (account_id)
    where revoked_at is null;
