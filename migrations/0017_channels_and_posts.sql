-- Channels of a school and posts with a review before publishing (R2.1.m, R2.3.c; issue 12).
-- A post's state changes only through the portal's transitions, each writing a history row;
-- each submission keeps the text that was sent, so the reviewer sees what changed.

create table channels (
    school_id uuid not null references schools (id),
    id uuid primary key,
    title text not null check (length(title) between 1 and 200),
    -- Who reads it, in words («родители 5-х классов»).
    audience text not null default '',
    -- The channel's address on the platform.
    address text not null default '',
    -- Who may submit posts to it: deputies and the administrator, or the administrator only.
    submitters text not null default 'deputies' check (submitters in ('deputies', 'admin')),
    created_by uuid not null references accounts (id),
    created_at timestamptz not null default now(),
    archived_at timestamptz,
    unique (school_id, id)
);

create table posts (
    school_id uuid not null,
    id uuid primary key,
    channel_id uuid not null,
    author_id uuid not null references accounts (id),
    title text not null,
    body text not null,
    state text not null default 'draft' check (state in
        ('draft', 'submitted', 'returned', 'declined', 'scheduled', 'published', 'withdrawn')),
    -- The reviewer's last reason (returned, declined).
    reason text,
    -- When a scheduled post is due (UTC).
    publish_at timestamptz,
    -- The poller's marks: the administrator was reminded; the post went overdue.
    reminded_at timestamptz,
    overdue_at timestamptz,
    -- The post's link on the platform, recorded when published.
    platform_url text,
    published_at timestamptz,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    unique (school_id, id),
    foreign key (school_id, channel_id) references channels (school_id, id),
    check (state <> 'scheduled' or publish_at is not null)
);
create index posts_by_state on posts (school_id, state, updated_at);
create index posts_due on posts (publish_at) where state = 'scheduled';

-- Every transition: from, to, who (null: the portal's poller), when, reason.
create table post_history (
    school_id uuid not null,
    id uuid primary key,
    post_id uuid not null,
    from_state text,
    to_state text not null,
    actor_id uuid references accounts (id),
    reason text,
    at timestamptz not null default now(),
    foreign key (school_id, post_id) references posts (school_id, id)
);
create index post_history_by_post on post_history (post_id, at);

-- The text of each submission (round 1, 2, ...).
create table post_submissions (
    school_id uuid not null,
    post_id uuid not null,
    round integer not null,
    title text not null,
    body text not null,
    submitted_at timestamptz not null default now(),
    primary key (post_id, round),
    foreign key (school_id, post_id) references posts (school_id, id)
);

-- Attachments, in the database (never rendered: served as attachment with nosniff).
create table post_attachments (
    school_id uuid not null,
    id uuid primary key,
    post_id uuid not null,
    filename text not null,
    content_type text not null,
    size_bytes integer not null,
    content bytea not null,
    created_at timestamptz not null default now(),
    foreign key (school_id, post_id) references posts (school_id, id)
);
create index post_attachments_by_post on post_attachments (post_id);
