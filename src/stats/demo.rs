//! The demo school's past (issue 11, item 2): twelve weeks of daily snapshots growing to
//! today's figures, so that the sparklines and «change since last week» show something, and
//! two «не участвует» records. This past is made up for the demo only; a real school's past
//! is what the snapshot job wrote.

use sqlx::PgConnection;

use super::queries::{self, ClassRow, Headline};
use super::snapshots;
use crate::auth::tenant::Tenant;
use crate::ids::SchoolId;

/// Days of past the demo gets.
const DAYS: i64 = 84;

fn scaled(n: i64, f: f64) -> i64 {
    (n as f64 * f).round() as i64
}

pub async fn populate(conn: &mut PgConnection, tenant: Tenant) -> sqlx::Result<()> {
    // Two records in 7Б: a family that refused (reached by phone), a student without a
    // device (paper notices).
    sqlx::query!(
        r#"with kids as (
             select m.id, row_number() over (order by m.id) as n from memberships m
             join classes c on c.school_id = m.school_id and c.id = m.class_id
             where m.school_id = $1 and m.role = 'student' and m.status = 'active' and c.title = '7Б'
           )
           insert into participation_records (school_id, id, membership_id, kind, reason, channel)
           select $1, gen_random_uuid(), k.id,
                  case k.n when 1 then 'family' else 'student' end,
                  case k.n when 1 then 'refusal' else 'no_device' end,
                  case k.n when 1 then 'phone' else 'paper' end
           from kids k where k.n <= 2"#,
        tenant.id() as SchoolId
    )
    .execute(&mut *conn)
    .await?;

    let today = queries::today(conn, tenant).await?;
    let rows = queries::class_rows(conn, tenant, None).await?;
    let staff = queries::staff(conn, tenant).await?;
    let now = Headline::from_rows(&rows, staff);
    for ago in (1..=DAYS).rev() {
        // From about a third of today's figures twelve weeks ago to today's.
        let f = 0.35 + 0.65 * ((DAYS - ago) as f64 / DAYS as f64);
        let past: Vec<ClassRow> = rows
            .iter()
            .map(|r| ClassRow {
                connected: scaled(r.connected, f),
                with_parent: scaled(r.with_parent, f.max(0.6)),
                parents_in_chat: scaled(r.parents_in_chat, f),
                ..r.clone()
            })
            .collect();
        let h = Headline {
            connected: past.iter().map(|r| r.connected).sum(),
            with_parent: past.iter().map(|r| r.with_parent).sum(),
            staff_verified: scaled(now.staff_verified, f.max(0.7)),
            classes_all_chats: scaled(now.classes_all_chats, f.max(0.5)),
            ..now.clone()
        };
        snapshots::write_day(
            conn,
            tenant,
            today - time::Duration::days(ago),
            &h,
            &past,
            false,
        )
        .await?;
    }
    Ok(())
}
