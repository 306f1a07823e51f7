-- People belong to themselves (SECURITY.md 35, 36): a school that types the contact of
-- someone who is not its member yet creates an offer, never attaches or changes an account;
-- registration and accepting an offer record consent to the processing of personal data.

-- An invitation of one person (known to the school only by what it typed) to one school,
-- in one role (and class or child where the role needs one). The token travels by e-mail;
-- only its SHA-256 is kept. The matching account is found when the person answers (by
-- their own login), never when the school asks: the school cannot learn whether the
-- contact is registered.
create table offers (
    school_id uuid not null references schools (id),
    id uuid primary key,
    token_hash bytea not null unique,
    -- Exactly what the school typed.
    surname text not null check (length(surname) > 0),
    given_name text not null check (length(given_name) > 0),
    patronymic text,
    email text check (email is null or email = lower(email)),
    phone text,
    role text not null check (role in ('student', 'parent', 'teacher', 'staff', 'deputy', 'director')),
    class_id uuid,
    child_id uuid,
    position text,
    -- Where it came from: a form, an import, a movement.
    source text not null check (source in ('staff_form', 'import', 'movement')),
    status text not null default 'pending' check (status in ('pending', 'accepted', 'declined')),
    created_by uuid references accounts (id),
    created_at timestamptz not null default now(),
    expires_at timestamptz not null,
    decided_at timestamptz,
    -- The account that answered (set only once the person answers).
    decided_by uuid references accounts (id),
    check (email is not null or phone is not null),
    check ((status = 'pending') = (decided_at is null)),
    unique (school_id, id),
    foreign key (school_id, class_id) references classes (school_id, id),
    foreign key (school_id, child_id) references memberships (school_id, id)
);
create index offers_by_school on offers (school_id, created_at desc);
create index offers_by_email on offers (email) where status = 'pending';
create index offers_by_phone on offers (phone) where status = 'pending';

-- Consent to the processing of personal data (152-FZ art. 9): who, which notice version,
-- when, and on what occasion (joining by a link, accepting an offer). Rows are never
-- updated; a withdrawal would be a new row.
create table consents (
    id uuid primary key,
    account_id uuid not null references accounts (id),
    school_id uuid references schools (id),
    notice_version text not null check (length(notice_version) > 0),
    given_at timestamptz not null default now(),
    occasion text not null check (occasion in ('join', 'offer')),
    offer_id uuid references offers (id)
);
create index consents_by_account on consents (account_id, given_at desc);
