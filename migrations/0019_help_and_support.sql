-- Issue 13: password recovery, support requests, the registration application and the
-- outbox's attachments.

-- Password recovery by e-mail: a short-lived, single-use token of its own purpose.
alter table one_time_tokens drop constraint one_time_tokens_purpose_check;
alter table one_time_tokens add constraint one_time_tokens_purpose_check
    check (purpose in ('setup', 'set_password', 'reset_password'));
create index one_time_tokens_account on one_time_tokens (account_id, purpose)
    where used_at is null;

-- Files sent with an outbox message (the registration application's appointment order).
-- Deleted with the message's body once it is delivered or abandoned.
create table outbox_attachments (
    outbox_id uuid not null references outbox (id) on delete cascade,
    position integer not null,
    filename text not null,
    content_type text not null,
    content bytea not null,
    primary key (outbox_id, position)
);

-- Requests to the platform's technical support (R3.2, R2.1.p): drafted by a member of a
-- school, sent through the outbox; its state is the outbox message's.
create table support_requests (
    school_id uuid not null references schools (id),
    id uuid not null,
    number bigint generated always as identity unique,
    account_id uuid references accounts (id) on delete set null,
    topic text not null,
    description text not null,
    contact text not null,
    outbox_id uuid references outbox (id) on delete set null,
    created_at timestamptz not null default now(),
    primary key (school_id, id)
);
create index support_requests_school on support_requests (school_id, created_at desc);

-- The school's application to be registered on the platform (R2.1.a), with the
-- appointment order as a PDF; sent through the outbox with the PDF attached.
create table registration_applications (
    school_id uuid not null references schools (id),
    id uuid not null,
    school_details text not null,
    admin_name text not null,
    admin_email text not null,
    admin_phone text not null,
    pdf bytea not null,
    pdf_name text not null,
    outbox_id uuid references outbox (id) on delete set null,
    sent_to text not null,
    created_by uuid references accounts (id) on delete set null,
    created_at timestamptz not null default now(),
    primary key (school_id, id)
);
create index registration_applications_school
    on registration_applications (school_id, created_at desc);
