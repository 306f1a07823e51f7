-- The foundation: people's accounts, schools, academic years, classes, memberships,
-- parent-child links, class teachers, admin-rights grants, the audit log, sessions,
-- one-time links and throttling counters.
--
-- Tenant tables carry school_id, and foreign keys between tenant tables include it,
-- so the database itself refuses a link across schools (SECURITY.md 13).

-- A person. One account may hold roles in several schools (R1.4). Students and parents
-- imported by a school may have no login yet (no email/phone, no password).
create table accounts (
    id uuid primary key,
    surname text not null,
    given_name text not null,
    patronymic text,
    -- Stored normalised: email lower-cased, phone as +7XXXXXXXXXX.
    email text,
    phone text,
    password_hash text,
    -- The deployment operator runs the installation (creates schools, appoints their first
    -- administrators) and is not a member of any school.
    is_operator boolean not null default false,
    -- Changing it ends every session of the account (password change, "log out everywhere").
    security_stamp uuid not null,
    deactivated_at timestamptz,
    created_at timestamptz not null default now(),
    constraint accounts_email_key unique (email),
    constraint accounts_phone_key unique (phone),
    constraint accounts_email_normalised check (email is null or email = lower(email)),
    constraint accounts_name_present check (length(surname) > 0 and length(given_name) > 0)
);

create table schools (
    id uuid primary key,
    name text not null,
    short_name text,
    inn text,
    address text,
    phone text,
    email text,
    website text,
    director_name text,
    -- IANA zone; dates are shown in the school's own time (Russia spans eleven zones).
    timezone text not null default 'Europe/Moscow',
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    constraint schools_name_present check (length(name) > 0)
);

create table academic_years (
    school_id uuid not null references schools (id),
    id uuid primary key,
    -- 1 September .. 31 August, labelled «2025/2026».
    starts_on date not null,
    ends_on date not null,
    is_current boolean not null default false,
    unique (school_id, id),
    unique (school_id, starts_on),
    check (ends_on > starts_on)
);
create unique index academic_years_one_current on academic_years (school_id) where is_current;

-- A class («5А») or the school's staff room («Учительская», R2.1.d).
create table classes (
    school_id uuid not null references schools (id),
    id uuid primary key,
    kind text not null check (kind in ('class', 'staffroom')),
    -- Null for the staff room, which outlives academic years.
    academic_year_id uuid,
    grade smallint,
    letter text,
    title text not null,
    profile text,
    notes text,
    created_at timestamptz not null default now(),
    unique (school_id, id),
    foreign key (school_id, academic_year_id) references academic_years (school_id, id),
    check (
        (kind = 'staffroom' and grade is null and letter is null and academic_year_id is null)
        or (kind = 'class' and grade between 1 and 11 and letter is not null
            and academic_year_id is not null)
    )
);
-- Exactly one staff room per school.
create unique index classes_one_staffroom on classes (school_id) where kind = 'staffroom';
create unique index classes_unique_name on classes (school_id, academic_year_id, grade, letter)
    where kind = 'class';

-- The staff room cannot be deleted, nor turned into something else.
create function classes_protect_staffroom() returns trigger language plpgsql as $$
begin
    if tg_op = 'DELETE' and old.kind = 'staffroom' then
        raise exception 'the staff room of a school cannot be deleted' using errcode = 'P0001';
    end if;
    if tg_op = 'UPDATE' and old.kind = 'staffroom' and new.kind <> 'staffroom' then
        raise exception 'the staff room of a school cannot change its kind' using errcode = 'P0001';
    end if;
    return coalesce(new, old);
end $$;
create trigger classes_protect_staffroom before update or delete on classes
    for each row execute function classes_protect_staffroom();

-- A person's role in a school. One person may hold several roles (a teacher who is also a
-- parent) and belong to several schools.
create table memberships (
    school_id uuid not null references schools (id),
    id uuid primary key,
    account_id uuid not null references accounts (id),
    role text not null check (role in ('director', 'deputy', 'teacher', 'staff', 'student', 'parent')),
    -- «заместитель директора по ИТ»: may approve admin-rights grants (R2.1.q).
    is_it_deputy boolean not null default false,
    -- A student's class; for staff roles the school's staff room.
    class_id uuid,
    status text not null default 'active' check (status in ('invited', 'active', 'left')),
    -- Status confirmation for teachers, deputies and staff (R2.1.j, R2.3.b); null for others.
    verification text check (verification in ('unverified', 'verified', 'rejected')),
    joined_at timestamptz not null default now(),
    left_at timestamptz,
    unique (school_id, id),
    unique (school_id, account_id, role),
    foreign key (school_id, class_id) references classes (school_id, id),
    check (is_it_deputy = false or role = 'deputy')
);
create index memberships_account on memberships (account_id);
create index memberships_class on memberships (school_id, class_id);

create table parent_links (
    school_id uuid not null,
    parent_id uuid not null,
    child_id uuid not null,
    created_at timestamptz not null default now(),
    primary key (school_id, parent_id, child_id),
    foreign key (school_id, parent_id) references memberships (school_id, id),
    foreign key (school_id, child_id) references memberships (school_id, id)
);
create index parent_links_child on parent_links (school_id, child_id);

-- Class leadership (R2.1.h): who leads a class, under which order; history is kept
-- (ended_at set on re-assignment).
create table class_teacher_assignments (
    school_id uuid not null,
    id uuid primary key,
    class_id uuid not null,
    teacher_id uuid not null,
    order_number text,
    order_date date,
    assigned_at timestamptz not null default now(),
    ended_at timestamptz,
    foreign key (school_id, class_id) references classes (school_id, id),
    foreign key (school_id, teacher_id) references memberships (school_id, id)
);
create unique index class_teacher_current on class_teacher_assignments (school_id, class_id)
    where ended_at is null;
create index class_teacher_by_teacher on class_teacher_assignments (school_id, teacher_id)
    where ended_at is null;

-- Platform-administrator rights (R2.1.g, R2.1.q, R2.2). A grant takes effect only once
-- approved, and the approver is never the grantee.
create table admin_grants (
    school_id uuid not null references schools (id),
    id uuid primary key,
    account_id uuid not null references accounts (id),
    granted_by uuid not null references accounts (id),
    approved_by uuid references accounts (id),
    approved_at timestamptz,
    -- The director's order behind the grant: «приказ № 12-о от 01.09.2025».
    order_number text not null,
    order_date date not null,
    expires_at timestamptz,
    revoked_at timestamptz,
    revoked_by uuid references accounts (id),
    created_at timestamptz not null default now(),
    check (approved_by is null or approved_by <> account_id),
    check ((approved_by is null) = (approved_at is null))
);
create index admin_grants_account on admin_grants (account_id);
create index admin_grants_school on admin_grants (school_id);

-- The audit log (SECURITY.md 26). Rows are never changed or removed by the application:
-- the trigger below refuses it.
create table audit_log (
    id bigint generated always as identity primary key,
    at timestamptz not null default now(),
    actor_id uuid references accounts (id),
    school_id uuid references schools (id),
    action text not null,
    target text,
    details text,
    request_id text,
    ip text
);
create index audit_log_school on audit_log (school_id, id desc);
create index audit_log_actor on audit_log (actor_id, id desc);

create function audit_log_append_only() returns trigger language plpgsql as $$
begin
    raise exception 'the audit log is append-only' using errcode = 'P0001';
end $$;
create trigger audit_log_append_only before update or delete on audit_log
    for each row execute function audit_log_append_only();
create trigger audit_log_no_truncate before truncate on audit_log
    for each statement execute function audit_log_append_only();

-- Sessions live here, not in a process (ARCHITECTURE rule 8). Only the SHA-256 of the
-- cookie's value is kept.
create table sessions (
    id uuid primary key,
    token_hash bytea not null unique,
    account_id uuid not null references accounts (id),
    -- The account's security stamp at login; when the account's stamp changes the
    -- session is dead.
    security_stamp uuid not null,
    created_at timestamptz not null default now(),
    last_seen_at timestamptz not null default now(),
    expires_at timestamptz not null,
    ip text,
    user_agent text
);
create index sessions_account on sessions (account_id);

-- One-time links: the operator's first-run setup and "set your password" for appointed
-- administrators. Only the SHA-256 is kept.
create table one_time_tokens (
    token_hash bytea primary key,
    purpose text not null check (purpose in ('setup', 'set_password')),
    account_id uuid references accounts (id),
    created_at timestamptz not null default now(),
    expires_at timestamptz not null,
    used_at timestamptz,
    check (purpose = 'setup' or account_id is not null)
);

-- Failed-login counters per account (or per unknown login name, so both look the same);
-- in PostgreSQL so they survive restarts and are shared by every process (SECURITY.md 8).
create table login_throttle (
    key text primary key,
    failures integer not null default 0,
    locked_until timestamptz,
    last_failure_at timestamptz not null default now()
);

-- Fixed-window request counters (per IP and so on).
create table rate_limits (
    key text primary key,
    window_start timestamptz not null,
    hits integer not null
);
