-- One definition of who holds which role in a school (issue 8, item 3). The scope loader,
-- the invite links' re-check at redemption and the start page read these views; every
-- "is this grant in force" condition reads active_admin_grants.

-- Admin-rights grants in force: approved, not revoked, not expired.
create view active_admin_grants as
select g.*
from admin_grants g
where g.approved_at is not null
  and g.revoked_at is null
  and (g.expires_at is null or g.expires_at > now());

-- Classes a person leads now (current class leadership of an active membership).
create view led_classes as
select c.school_id, m.account_id, c.class_id, m.id as membership_id
from class_teacher_assignments c
join memberships m on m.school_id = c.school_id and m.id = c.teacher_id
where c.ended_at is null and m.status = 'active';

-- Classes a person teaches (a teaching assignment of an active membership).
create view taught_classes as
select distinct t.school_id, m.account_id, t.class_id
from teaching_assignments t
join memberships m on m.school_id = t.school_id and m.id = t.teacher_id
where m.status = 'active';

-- A person's roles in a school, one row per role: the roles of their active memberships,
-- 'admin' for a grant in force, 'it_deputy' for the IT deputy flag, 'class_teacher' for
-- current class leadership. A deactivated account holds none.
create view school_roles as
select r.school_id, r.account_id, r.role
from (
    select m.school_id, m.account_id, m.role
    from memberships m where m.status = 'active'
    union
    select g.school_id, g.account_id, 'admin' from active_admin_grants g
    union
    select m.school_id, m.account_id, 'it_deputy'
    from memberships m where m.status = 'active' and m.is_it_deputy
    union
    select l.school_id, l.account_id, 'class_teacher' from led_classes l
) r
join accounts a on a.id = r.account_id and a.deactivated_at is null;

-- The janitor (SECURITY.md 40) looks for these.
create index sessions_expires on sessions (expires_at);
create index one_time_tokens_expires on one_time_tokens (expires_at);
create index imports_unapplied on imports (created_at) where applied_at is null;
create index memberships_left on memberships (left_at) where status = 'left';
