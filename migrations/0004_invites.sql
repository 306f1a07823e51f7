-- Invite links (R2.1.f, R2.1.l; SECURITY.md 20–25), join requests (R2.1.i) and the e-mail
-- outbox the portal sends from (invites, outcomes of requests).

-- A link into a target (the «Учительская» for staff roles, a class for students and
-- parents) for one role. Only the SHA-256 of the raw token is kept: the raw link is shown
-- once, to its creator.
create table invites (
    school_id uuid not null references schools (id),
    id uuid primary key,
    token_hash bytea not null unique,
    role text not null check (role in ('deputy', 'teacher', 'staff', 'student', 'parent')),
    class_id uuid not null,
    -- A parent slip: the child a parent joining by it is linked to.
    child_id uuid,
    -- What the link is for, as its creator wrote it («родительское собрание 5А»).
    purpose text not null default '',
    max_uses integer not null check (max_uses between 1 and 1000),
    uses integer not null default 0,
    needs_approval boolean not null,
    expires_at timestamptz not null,
    -- Slips printed together share a batch; a double-submitted form finds its batch.
    batch_id uuid,
    created_by uuid not null references accounts (id),
    created_at timestamptz not null default now(),
    last_used_at timestamptz,
    revoked_at timestamptz,
    revoked_by uuid references accounts (id),
    unique (school_id, id),
    foreign key (school_id, class_id) references classes (school_id, id),
    foreign key (school_id, child_id) references memberships (school_id, id),
    -- Redemption is one conditional UPDATE; the database refuses going over the limit too.
    check (uses between 0 and max_uses),
    check (child_id is null or (role = 'parent' and max_uses = 1))
);
create index invites_school on invites (school_id, created_at desc, id desc);
create index invites_batch on invites (school_id, batch_id) where batch_id is not null;

-- Joining by a link that needs approval creates a request; the administrator (or, for
-- their own class's students and parents, the class teacher) decides.
create table join_requests (
    school_id uuid not null references schools (id),
    id uuid primary key,
    invite_id uuid not null,
    account_id uuid not null references accounts (id),
    role text not null check (role in ('deputy', 'teacher', 'staff', 'student', 'parent')),
    class_id uuid not null,
    child_id uuid,
    -- What the requester wrote: a parent names their child.
    note text,
    status text not null default 'pending' check (status in ('pending', 'approved', 'rejected')),
    reason text,
    created_at timestamptz not null default now(),
    decided_at timestamptz,
    decided_by uuid references accounts (id),
    unique (school_id, id),
    foreign key (school_id, invite_id) references invites (school_id, id),
    foreign key (school_id, class_id) references classes (school_id, id),
    foreign key (school_id, child_id) references memberships (school_id, id),
    check (status <> 'rejected' or reason is not null),
    check ((status = 'pending') = (decided_at is null))
);
-- One pending request per person, role and target.
create unique index join_requests_one_pending on join_requests (school_id, account_id, role, class_id)
    where status = 'pending';
create index join_requests_queue on join_requests (school_id, created_at) where status = 'pending';
create index join_requests_account on join_requests (account_id, created_at desc);

-- Outgoing e-mail (ARCHITECTURE rule 8: no state in a process). A background sender takes
-- due messages with FOR UPDATE SKIP LOCKED, so any number of processes may run it, and
-- retries with back-off. The body of a sent (or abandoned) message is wiped: an invite's
-- e-mail carries its raw link, which must not stay in the database.
create table outbox (
    id uuid primary key,
    school_id uuid references schools (id),
    to_address text not null,
    subject text not null,
    body text not null,
    attempts integer not null default 0,
    next_attempt_at timestamptz not null default now(),
    sent_at timestamptz,
    last_error text,
    created_at timestamptz not null default now()
);
create index outbox_due on outbox (next_attempt_at) where sent_at is null;
