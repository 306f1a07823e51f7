-- Statistics (issue 11; STATISTICS.md): when an account first logged in (A1 counts a
-- student as connected once they have logged in or joined a class chat), the daily
-- snapshots the trends are drawn from, and the «не участвует» records of voluntary
-- participation.

-- Set by the trigger below on the first session of an account; sessions themselves are
-- deleted by the janitor, so the fact is kept here. Backfilled from the sessions there are.
alter table accounts add column first_login_at timestamptz;
update accounts a set first_login_at = s.first
from (select account_id, min(created_at) as first from sessions group by account_id) s
where s.account_id = a.id;

create function accounts_first_login() returns trigger language plpgsql as $$
begin
    update accounts set first_login_at = new.created_at
    where id = new.account_id and first_login_at is null;
    return new;
end $$;
create trigger sessions_first_login after insert on sessions
    for each row execute function accounts_first_login();

-- One row per school and day (the school's own calendar day). The job writes it once: the
-- primary key and ON CONFLICT DO NOTHING make a second writer (another process, a second
-- run) a no-op. `backfilled`: written late for a day the job missed, with the figures as
-- they were when it ran.
create table stats_school_days (
    school_id uuid not null references schools (id),
    day date not null,
    students integer not null,
    students_connected integer not null,
    students_refused integer not null,
    staff integer not null,
    staff_verified integer not null,
    students_with_parent integer not null,
    families_refused integer not null,
    classes integer not null,
    classes_all_chats integer not null,
    classes_verified_teacher integer not null,
    backfilled boolean not null default false,
    created_at timestamptz not null default now(),
    primary key (school_id, day)
);

create table stats_class_days (
    school_id uuid not null,
    day date not null,
    class_id uuid not null,
    students integer not null,
    students_connected integer not null,
    students_with_parent integer not null,
    parents integer not null,
    parents_in_chat integer not null,
    primary key (school_id, day, class_id),
    foreign key (school_id, class_id) references classes (school_id, id)
);

-- Joining the platform is voluntary: a student (or their family) recorded as not taking
-- part, why, and how the school reaches them instead. A record is withdrawn, never
-- deleted; at most one record in force per student and kind.
create table participation_records (
    school_id uuid not null references schools (id),
    id uuid primary key,
    membership_id uuid not null,
    -- 'student': the student does not take part; 'family': their parents do not.
    kind text not null check (kind in ('student', 'family')),
    reason text not null check (reason in ('refusal', 'no_device', 'no_account')),
    channel text not null check (channel in ('journal', 'phone', 'paper')),
    recorded_by uuid references accounts (id),
    recorded_at timestamptz not null default now(),
    withdrawn_at timestamptz,
    withdrawn_by uuid references accounts (id),
    unique (school_id, id),
    foreign key (school_id, membership_id) references memberships (school_id, id)
);
create unique index participation_in_force on participation_records (school_id, membership_id, kind)
    where withdrawn_at is null;
