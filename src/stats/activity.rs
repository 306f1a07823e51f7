//! What happened in a period (STATISTICS.md C1–C5, E1) and the queues as they are now: the
//! invite funnel, link hygiene, join requests and status confirmation with their ages and
//! decision times, new members, movements. Only class-level and school-level counts: no
//! person is named here.

use sqlx::PgConnection;
use time::OffsetDateTime;

use crate::auth::tenant::Tenant;
use crate::ids::{AccountId, SchoolId};

/// A half-open period [from, to) in UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub from: OffsetDateTime,
    pub to: OffsetDateTime,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Activity {
    // C1: the invite funnel of links issued in the period.
    pub links_issued: i64,
    pub joins_by_link: i64,
    pub approved: i64,
    // C2: link hygiene now (and revoked in the period).
    pub links_live: i64,
    pub links_expiring: i64,
    pub links_expired_unused: i64,
    pub links_unused_days: i64,
    pub links_revoked: i64,
    // C3: join requests.
    pub requests_pending: i64,
    pub oldest_pending_hours: Option<f64>,
    pub decision_median_hours: Option<f64>,
    pub decision_p90_hours: Option<f64>,
    pub requests_approved: i64,
    pub requests_rejected: i64,
    /// The commonest reasons of rejection in the period, with their counts.
    pub reasons: Vec<(String, i64)>,
    // C4: status confirmation.
    pub verification_pending: i64,
    pub verification_median_days: Option<f64>,
    // C5: approved joins in the period by role.
    pub new_members: Vec<(String, i64)>,
    // E1: movements in the period and the orders behind them.
    pub enrolments: i64,
    pub transfers: i64,
    pub leavings: i64,
    pub orders: i64,
}

/// The period's activity, for every class or only those `only_led_by` leads.
pub async fn activity(
    conn: &mut PgConnection,
    tenant: Tenant,
    span: Span,
    only_led_by: Option<AccountId>,
    unused_days: i32,
) -> sqlx::Result<Activity> {
    let school = tenant.id();
    let only = only_led_by.map(|a| a.0);
    let links = sqlx::query!(
        r#"with mine as (
             select i.* from invites i
             where i.school_id = $1
               and ($4::uuid is null or exists(select 1 from led_classes l where l.school_id = i.school_id
                                               and l.class_id = i.class_id and l.account_id = $4))
           )
           select
             count(*) filter (where created_at >= $2 and created_at < $3) as "issued!",
             coalesce(sum(uses) filter (where created_at >= $2 and created_at < $3), 0)::bigint as "joins!",
             coalesce(sum(uses) filter (where created_at >= $2 and created_at < $3 and not needs_approval), 0)::bigint
               + (select count(*) from join_requests r join mine m on m.id = r.invite_id
                  where r.school_id = $1 and r.status = 'approved'
                    and m.created_at >= $2 and m.created_at < $3) as "approved!",
             count(*) filter (where revoked_at is null and expires_at > now() and uses < max_uses) as "live!",
             count(*) filter (where revoked_at is null and expires_at > now() and uses < max_uses
                              and expires_at < now() + interval '7 days') as "expiring!",
             count(*) filter (where revoked_at is null and expires_at <= now() and uses = 0) as "expired_unused!",
             count(*) filter (where revoked_at is null and expires_at > now() and uses < max_uses
                              and coalesce(last_used_at, created_at) < now() - make_interval(days => $5)) as "unused!",
             count(*) filter (where revoked_at >= $2 and revoked_at < $3) as "revoked!"
           from mine"#,
        school as SchoolId,
        span.from,
        span.to,
        only,
        unused_days
    )
    .fetch_one(&mut *conn)
    .await?;
    let req = sqlx::query!(
        r#"with mine as (
             select r.* from join_requests r
             where r.school_id = $1
               and ($4::uuid is null or (r.role in ('student', 'parent') and exists(
                     select 1 from led_classes l where l.school_id = r.school_id
                       and l.class_id = r.class_id and l.account_id = $4)))
           ),
           decided as (
             select extract(epoch from decided_at - created_at) / 3600.0 as hours, status
             from mine where decided_at >= $2 and decided_at < $3
           )
           select
             (select count(*) from mine where status = 'pending') as "pending!",
             (select extract(epoch from now() - min(created_at)) / 3600.0 from mine
              where status = 'pending')::float8 as "oldest_hours",
             (select percentile_cont(0.5) within group (order by hours) from decided)::float8 as "median",
             (select percentile_cont(0.9) within group (order by hours) from decided)::float8 as "p90",
             (select count(*) from decided where status = 'approved') as "approved!",
             (select count(*) from decided where status = 'rejected') as "rejected!""#,
        school as SchoolId,
        span.from,
        span.to,
        only
    )
    .fetch_one(&mut *conn)
    .await?;
    let reasons = sqlx::query!(
        r#"select r.reason as "reason!", count(*) as "n!" from join_requests r
           where r.school_id = $1 and r.status = 'rejected' and r.decided_at >= $2 and r.decided_at < $3
             and ($4::uuid is null or (r.role in ('student', 'parent') and exists(
                   select 1 from led_classes l where l.school_id = r.school_id
                     and l.class_id = r.class_id and l.account_id = $4)))
           group by r.reason order by count(*) desc, r.reason limit 3"#,
        school as SchoolId,
        span.from,
        span.to,
        only
    )
    .fetch_all(&mut *conn)
    .await?;
    let new_members = sqlx::query!(
        r#"select r.role as "role!", count(*) as "n!" from join_requests r
           where r.school_id = $1 and r.status = 'approved' and r.decided_at >= $2 and r.decided_at < $3
             and ($4::uuid is null or (r.role in ('student', 'parent') and exists(
                   select 1 from led_classes l where l.school_id = r.school_id
                     and l.class_id = r.class_id and l.account_id = $4)))
           group by r.role order by r.role"#,
        school as SchoolId,
        span.from,
        span.to,
        only
    )
    .fetch_all(&mut *conn)
    .await?;
    // Status confirmation and movements are the school's, not a class's: the leadership's.
    let ver = sqlx::query!(
        r#"select
             count(*) filter (where verification = 'unverified' and status = 'active') as "pending!",
             (percentile_cont(0.5) within group (order by extract(epoch from verified_at - joined_at) / 86400.0)
                filter (where verified_at >= $2 and verified_at < $3))::float8 as "median_days"
           from memberships where school_id = $1 and role in ('teacher', 'staff', 'deputy')"#,
        school as SchoolId,
        span.from,
        span.to
    )
    .fetch_one(&mut *conn)
    .await?;
    let mov = sqlx::query!(
        r#"select
             count(*) filter (where kind = 'enrolment') as "enrolments!",
             count(*) filter (where kind = 'transfer') as "transfers!",
             count(*) filter (where kind in ('leaving', 'staff_leaving')) as "leavings!",
             count(distinct (order_number, order_date)) filter (where order_number is not null
               and kind in ('enrolment', 'transfer', 'leaving', 'staff_leaving')) as "orders!"
           from movements where school_id = $1 and recorded_at >= $2 and recorded_at < $3"#,
        school as SchoolId,
        span.from,
        span.to
    )
    .fetch_one(&mut *conn)
    .await?;
    let leadership = only.is_none();
    Ok(Activity {
        links_issued: links.issued,
        joins_by_link: links.joins,
        approved: links.approved,
        links_live: links.live,
        links_expiring: links.expiring,
        links_expired_unused: links.expired_unused,
        links_unused_days: links.unused,
        links_revoked: links.revoked,
        requests_pending: req.pending,
        oldest_pending_hours: req.oldest_hours,
        decision_median_hours: req.median,
        decision_p90_hours: req.p90,
        requests_approved: req.approved,
        requests_rejected: req.rejected,
        reasons: reasons.into_iter().map(|r| (r.reason, r.n)).collect(),
        verification_pending: if leadership { ver.pending } else { 0 },
        verification_median_days: ver.median_days.filter(|_| leadership),
        new_members: new_members.into_iter().map(|r| (r.role, r.n)).collect(),
        enrolments: if leadership { mov.enrolments } else { 0 },
        transfers: if leadership { mov.transfers } else { 0 },
        leavings: if leadership { mov.leavings } else { 0 },
        orders: if leadership { mov.orders } else { 0 },
    })
}
