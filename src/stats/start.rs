//! What the start page of the director, a deputy or the administrator shows from the
//! statistics (issue 11, item 7): the admin-rights proposals waiting for their decision,
//! and the school's three headline shares with the link to the statistics page.
//!
//! The shares are the statistics page's own figures (`queries::class_rows`, computed
//! live there), kept here for [`FRESH_FOR`] per school and process: the start page is
//! the page people return to all day, and the figures are a school-wide count over every
//! student, parent and chat (issue 10: they were most of the start page's price). The
//! page says when they were counted; the statistics page is always live.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};
use std::time::{Duration, Instant};

use sqlx::PgConnection;
use time::OffsetDateTime;

use super::queries::{self, Headline};
use super::sees_all;
use super::view::Share;
use crate::auth::extract::SchoolScope;
use crate::auth::permissions::Action;
use crate::ids::{AccountId, SchoolId};
use crate::web::clock::SchoolClock;

/// How long the start page's shares are shown before they are counted again.
pub const FRESH_FOR: Duration = Duration::from_secs(120);

/// At most this many schools are kept; past it, the stale ones are dropped first, then
/// all (a region has about 2,000 schools).
const MAX_SCHOOLS: usize = 4096;

#[derive(Clone, Copy)]
struct Counted {
    at: Instant,
    when: OffsetDateTime,
    a1: Share,
    a3: Share,
    d2: Share,
}

static COUNTED: LazyLock<Mutex<HashMap<SchoolId, Counted>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

fn recall(scope: &SchoolScope) -> Option<Counted> {
    let kept = COUNTED.lock().ok()?;
    kept.get(&scope.school_id())
        .copied()
        .filter(|c| c.at.elapsed() < FRESH_FOR)
}

fn keep(scope: &SchoolScope, counted: Counted) {
    if let Ok(mut kept) = COUNTED.lock() {
        if kept.len() >= MAX_SCHOOLS {
            kept.retain(|_, c| c.at.elapsed() < FRESH_FOR);
            if kept.len() >= MAX_SCHOOLS {
                kept.clear();
            }
        }
        kept.insert(scope.school_id(), counted);
    }
}

/// What the start page shows from the statistics.
pub struct StartNotes {
    /// Proposals of admin rights this person may approve (not their own).
    pub proposals: i64,
    pub a1: Share,
    pub a3: Share,
    pub d2: Share,
    pub show_summary: bool,
    /// When the shares were counted, in the school's zone: «14:37».
    pub counted_at: String,
}

/// `proposals` is the count when the caller has read it already (the start page does,
/// with the school summary: [`crate::home`]), `None` to count it here.
pub async fn start_notes(
    conn: &mut PgConnection,
    scope: &SchoolScope,
    proposals: Option<i64>,
) -> sqlx::Result<StartNotes> {
    let proposals = if let Some(n) = proposals {
        n
    } else if scope.can(Action::ApproveAdminRights) {
        sqlx::query_scalar!(
            r#"select count(*) as "n!" from admin_grants
               where school_id = $1 and approved_at is null and rejected_at is null
                 and revoked_at is null and account_id <> $2"#,
            scope.school_id() as SchoolId,
            scope.actor().id() as AccountId
        )
        .fetch_one(&mut *conn)
        .await?
    } else {
        0
    };
    let show_summary = scope.can(Action::ViewStatistics) && sees_all(scope);
    let mut notes = StartNotes {
        proposals,
        a1: Share::default(),
        a3: Share::default(),
        d2: Share::default(),
        show_summary,
        counted_at: String::new(),
    };
    if show_summary {
        let counted = match recall(scope) {
            Some(c) => c,
            None => {
                let rows = queries::class_rows(conn, scope.tenant(), None).await?;
                let h = Headline::from_rows(&rows, queries::Staff::default());
                let c = Counted {
                    at: Instant::now(),
                    when: OffsetDateTime::now_utc(),
                    a1: Share::new(h.connected, h.students),
                    a3: Share::new(h.with_parent, h.students),
                    d2: Share::new(h.classes_all_chats, h.classes),
                };
                keep(scope, c);
                c
            }
        };
        let local = SchoolClock::of(scope).local(counted.when);
        notes.a1 = counted.a1;
        notes.a3 = counted.a3;
        notes.d2 = counted.d2;
        notes.counted_at = format!("{:02}:{:02}", local.hour(), local.minute());
    }
    Ok(notes)
}
