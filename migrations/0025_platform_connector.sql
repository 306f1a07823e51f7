-- The platform connector (issue 15; R2.1.l, R2.4.d, R2.1.m): a school's own bot on the
-- messenger, which shows who is really in each chat, removes who left and posts what was
-- approved. Optional and off by default: without a row in connector_bots nothing here is
-- used and no page changes.

create table connector_bots (
    school_id uuid primary key references schools (id),
    -- The bot's token, encrypted (ChaCha20-Poly1305, the deployment's key from
    -- PORTAL_CONNECTOR_KEY, the school's id as associated data): never shown again.
    token_nonce bytea not null check (length(token_nonce) = 12),
    token_cipher bytea not null,
    api_base text not null check (api_base ~ '^https?://'),
    -- An extra root certificate (PEM) the client trusts, e.g. the Минцифры root.
    root_cert text,
    -- What the platform sends in X-Max-Bot-Api-Secret (its own rule: 5–256 of A-Za-z0-9-).
    webhook_secret text not null
        check (length(webhook_secret) between 5 and 256 and webhook_secret ~ '^[A-Za-z0-9-]+$'),
    -- The unguessable last segment of the school's webhook address.
    hook_id text not null unique check (length(hook_id) >= 32),
    -- What GET /me answered at the last check.
    bot_user_id bigint,
    bot_name text,
    bot_username text,
    checked_at timestamptz,
    check_error text,
    subscribed_at timestamptz,
    configured_by uuid references accounts (id),
    updated_at timestamptz not null default now()
);

-- Updates as the webhook received them, processed later by a worker (any number of
-- processes, FOR UPDATE SKIP LOCKED). The same event sent twice is stored once.
create table connector_updates (
    id bigserial primary key,
    school_id uuid not null references schools (id),
    -- The update as it came, byte for byte (JSON): unknown types and fields are kept.
    body text not null,
    -- SHA-256 of the raw body: a duplicate delivery is the same bytes.
    digest text not null,
    received_at timestamptz not null default now(),
    processed_at timestamptz,
    attempts integer not null default 0,
    not_before timestamptz not null default now(),
    error text,
    unique (school_id, digest)
);
create index connector_updates_pending on connector_updates (not_before, id)
    where processed_at is null;

-- The chats the bot was added to, and the portal's chat (or channel) each is matched to.
create table connector_chats (
    school_id uuid not null references schools (id),
    -- The platform's id (int64, negative for groups and channels).
    platform_chat_id bigint not null,
    chat_id uuid,
    channel_id uuid,
    title text,
    link text,
    is_channel boolean not null default false,
    bot_present boolean not null default true,
    bot_is_admin boolean,
    -- The bot's rights in the chat, as GET /chats/{id}/members/me names them.
    permissions text[] not null default '{}',
    -- The event time (ms since the epoch) of the last bot_added/bot_removed applied: an
    -- older event arriving late changes nothing.
    state_ts bigint not null default 0,
    members_read_at timestamptz,
    primary key (school_id, platform_chat_id),
    foreign key (school_id, chat_id) references chats (school_id, id),
    foreign key (school_id, channel_id) references channels (school_id, id)
);
create unique index connector_chats_one_per_chat on connector_chats (school_id, chat_id)
    where chat_id is not null;
create unique index connector_chats_one_per_channel on connector_chats (school_id, channel_id)
    where channel_id is not null;

-- Who the platform says is in each chat. A row is the last known state of one person in
-- one chat; `event_ts` orders the events and full reads that set it (last time wins).
create table connector_members (
    school_id uuid not null,
    platform_chat_id bigint not null,
    user_id bigint not null,
    name text not null default '',
    present boolean not null,
    -- Came in by the chat's link (user_added with inviter_id null).
    by_link boolean not null default false,
    is_admin boolean not null default false,
    is_owner boolean not null default false,
    event_ts bigint not null,
    primary key (school_id, platform_chat_id, user_id),
    foreign key (school_id, platform_chat_id)
        references connector_chats (school_id, platform_chat_id) on delete cascade
);

-- A person's platform account, bound by their personal deep link to the bot.
create table connector_accounts (
    school_id uuid not null,
    membership_id uuid not null,
    user_id bigint not null,
    name text not null default '',
    bound_at timestamptz not null default now(),
    primary key (school_id, membership_id),
    unique (school_id, user_id),
    foreign key (school_id, membership_id) references memberships (school_id, id)
);

-- Each person's deep-link payload (the bot_started event returns it; at most 128 chars).
create table connector_bind_links (
    school_id uuid not null,
    membership_id uuid not null,
    payload text not null unique check (length(payload) between 16 and 128),
    created_at timestamptz not null default now(),
    primary key (school_id, membership_id),
    foreign key (school_id, membership_id) references memberships (school_id, id)
);

-- A removal from a platform chat the class teacher or administrator confirmed: sent to
-- the platform, then closed by the user_removed event (or failed, with the platform's
-- message).
create table connector_removals (
    school_id uuid not null references schools (id),
    id uuid primary key,
    platform_chat_id bigint not null,
    user_id bigint not null,
    membership_id uuid,
    state text not null check (state in ('sent', 'done', 'failed')),
    error text,
    requested_by uuid references accounts (id),
    requested_at timestamptz not null default now(),
    done_at timestamptz,
    foreign key (school_id, platform_chat_id)
        references connector_chats (school_id, platform_chat_id)
);
create unique index connector_removals_one_open
    on connector_removals (school_id, platform_chat_id, user_id) where state = 'sent';

-- A post published through the bot: the platform's message id, for edits and withdrawals,
-- and what the platform answered when publishing failed.
alter table posts
    add column platform_mid text,
    add column platform_error text;
