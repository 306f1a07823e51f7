-- The school's structure and people (issue: classes, subjects, people, verification,
-- class teachers, movements, rollover, import, admin rights, audit, regulation editions).

-- Students are told apart by birth date when names repeat (imports match on it).
alter table accounts add column birth_date date;

-- A class of a past year stays (history), archived once its year is over or it graduated.
alter table classes add column archived_at timestamptz;

-- Status confirmation (R2.1.j): who decided, when, and why a rejection.
alter table memberships
    add column verification_reason text,
    add column verified_at timestamptz,
    add column verified_by uuid references accounts (id),
    -- A student promoted conditionally at the last rollover («условно переведён»).
    add column conditional_promotion boolean not null default false,
    -- A staff member's position as the school writes it («учитель математики»).
    add column position text;

-- Curriculum subjects and extracurricular activities (R1.5).
create table subjects (
    school_id uuid not null references schools (id),
    id uuid primary key,
    kind text not null check (kind in ('subject', 'activity')),
    name text not null check (length(name) > 0),
    archived_at timestamptz,
    created_at timestamptz not null default now(),
    unique (school_id, id)
);
create unique index subjects_unique_name on subjects (school_id, kind, lower(name))
    where archived_at is null;

-- Which teacher teaches which subject in which class.
create table teaching_assignments (
    school_id uuid not null,
    id uuid primary key,
    subject_id uuid not null,
    class_id uuid not null,
    teacher_id uuid not null,
    created_at timestamptz not null default now(),
    unique (school_id, subject_id, class_id, teacher_id),
    foreign key (school_id, subject_id) references subjects (school_id, id),
    foreign key (school_id, class_id) references classes (school_id, id),
    foreign key (school_id, teacher_id) references memberships (school_id, id)
);
create index teaching_by_class on teaching_assignments (school_id, class_id);
create index teaching_by_teacher on teaching_assignments (school_id, teacher_id);

-- The director's approved distribution of class leadership (R2.1.h):
-- «приказ о распределении классного руководства».
create table class_leadership_orders (
    school_id uuid not null references schools (id),
    id uuid primary key,
    academic_year_id uuid not null,
    order_number text not null check (length(order_number) > 0),
    order_date date not null,
    created_by uuid references accounts (id),
    created_at timestamptz not null default now(),
    unique (school_id, id),
    foreign key (school_id, academic_year_id) references academic_years (school_id, id)
);
alter table class_teacher_assignments
    add column order_id uuid,
    add column assigned_by uuid references accounts (id),
    add constraint class_teacher_assignments_order_fkey
        foreign key (school_id, order_id) references class_leadership_orders (school_id, id);

-- Year-end rollovers: one row per rollover applied.
create table rollovers (
    school_id uuid not null references schools (id),
    id uuid primary key,
    from_year_id uuid not null,
    to_year_id uuid not null,
    order_number text,
    order_date date,
    performed_by uuid references accounts (id),
    performed_at timestamptz not null default now(),
    summary text,
    unique (school_id, id),
    foreign key (school_id, from_year_id) references academic_years (school_id, id),
    foreign key (school_id, to_year_id) references academic_years (school_id, id)
);

-- Movements of students and staff (R2.1.k), each with the order behind it.
create table movements (
    school_id uuid not null references schools (id),
    id uuid primary key,
    kind text not null check (kind in ('enrolment', 'transfer', 'leaving', 'staff_leaving',
                                       'graduation', 'promotion', 'repeat')),
    membership_id uuid not null,
    from_class_id uuid,
    to_class_id uuid,
    order_number text,
    order_date date,
    reason text,
    happened_on date not null default current_date,
    rollover_id uuid,
    recorded_by uuid references accounts (id),
    recorded_at timestamptz not null default now(),
    foreign key (school_id, membership_id) references memberships (school_id, id),
    foreign key (school_id, from_class_id) references classes (school_id, id),
    foreign key (school_id, to_class_id) references classes (school_id, id),
    foreign key (school_id, rollover_id) references rollovers (school_id, id)
);
create index movements_school on movements (school_id, recorded_at desc, id desc);
create index movements_membership on movements (school_id, membership_id);

-- Uploaded import files, kept between preview and apply (all-or-nothing).
create table imports (
    school_id uuid not null references schools (id),
    id uuid primary key,
    kind text not null check (kind in ('students', 'staff')),
    filename text not null,
    content bytea not null,
    created_by uuid references accounts (id),
    created_at timestamptz not null default now(),
    applied_at timestamptz,
    summary text,
    unique (school_id, id)
);

-- Admin-rights proposals the director (or IT deputy) rejected.
alter table admin_grants
    add column rejected_at timestamptz,
    add column rejected_by uuid references accounts (id),
    add column rejection_reason text;

-- The school's regulation, edition by edition (R1.3, R4.1–4.2).
create table regulation_editions (
    school_id uuid not null references schools (id),
    id uuid primary key,
    edition text not null check (length(edition) > 0),
    order_number text not null check (length(order_number) > 0),
    order_date date not null,
    effective_from date not null,
    body text,
    pdf bytea,
    pdf_name text,
    created_by uuid references accounts (id),
    created_at timestamptz not null default now(),
    unique (school_id, id),
    check (body is not null or pdf is not null)
);
create index regulation_editions_school on regulation_editions (school_id, effective_from desc);

-- The audit log is read by target (a person's history) and by action.
create index audit_log_target on audit_log (school_id, target, id desc);
