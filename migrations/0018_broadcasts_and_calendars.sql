-- Broadcasts, lessons and meetings with their audience and weekly recurrence, and the
-- personal calendar feeds (R2.1.n, R2.3.d, R2.4.d, R2.5.d, R2.6.b–c, R2.7.b, R3.4; issue 12).

create table broadcasts (
    school_id uuid not null references schools (id),
    id uuid primary key,
    kind text not null check (kind in
        ('lesson', 'class_hour', 'parents_meeting', 'meeting', 'webinar', 'event')),
    title text not null check (length(title) between 1 and 200),
    -- The first (or only) occurrence, UTC.
    starts_at timestamptz not null,
    duration_minutes integer not null check (duration_minutes between 5 and 720),
    -- Audience beside the class × role rows.
    whole_school boolean not null default false,
    staffroom boolean not null default false,
    join_url text not null default '',
    -- Who runs it.
    host_id uuid not null references accounts (id),
    -- Weekly recurrence up to this local date (inclusive); null: once.
    weekly_until date,
    state text not null default 'planned' check (state in ('planned', 'moved', 'cancelled', 'held')),
    -- iCalendar SEQUENCE: bumped on every change.
    sequence integer not null default 0,
    created_by uuid not null references accounts (id),
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    unique (school_id, id)
);
create index broadcasts_by_start on broadcasts (school_id, starts_at);

create table broadcast_audience (
    school_id uuid not null,
    broadcast_id uuid not null,
    class_id uuid not null,
    role text not null check (role in ('student', 'parent')),
    primary key (broadcast_id, class_id, role),
    foreign key (school_id, broadcast_id) references broadcasts (school_id, id) on delete cascade,
    foreign key (school_id, class_id) references classes (school_id, id)
);
create index broadcast_audience_by_class on broadcast_audience (school_id, class_id);

-- An occurrence of a weekly broadcast that does not take place (by its local date).
create table broadcast_exceptions (
    school_id uuid not null,
    broadcast_id uuid not null,
    on_date date not null,
    created_at timestamptz not null default now(),
    primary key (broadcast_id, on_date),
    foreign key (school_id, broadcast_id) references broadcasts (school_id, id) on delete cascade
);

-- A person's calendar feed in a school: only the SHA-256 of its token is kept.
create table calendar_feeds (
    school_id uuid not null references schools (id),
    account_id uuid not null references accounts (id) on delete cascade,
    token_hash bytea not null unique,
    created_at timestamptz not null default now(),
    primary key (school_id, account_id)
);
