//! Statistics after bulk data: `ANALYZE` of the tables a demo, an import or a rollover has
//! just filled, so the planner does not plan the next pages (the classes list above all)
//! for empty tables until autovacuum gets round to them, about a minute later (issue 9).
//! Run after the commit, so it sees the data; a failure only costs speed, so it is logged
//! and the request goes on.

use sqlx::PgPool;

/// The tables an applied import writes to.
pub const IMPORT_TABLES: &[&str] = &[
    "accounts",
    "memberships",
    "parent_links",
    "offers",
    "consents",
    "outbox",
    "classes",
    "chats",
    "chat_members",
];

/// The tables a rollover writes to.
pub const ROLLOVER_TABLES: &[&str] = &[
    "academic_years",
    "rollovers",
    "classes",
    "memberships",
    "movements",
    "class_teacher_assignments",
    "chats",
    "chat_members",
];

/// The tables the demo school fills.
pub const DEMO_TABLES: &[&str] = &[
    "schools",
    "academic_years",
    "accounts",
    "admin_grants",
    "memberships",
    "classes",
    "parent_links",
    "class_leadership_orders",
    "class_teacher_assignments",
    "subjects",
    "teaching_assignments",
    "regulation_editions",
    "rollovers",
    "movements",
    "chats",
    "chat_members",
    "invites",
    "join_requests",
    "audit_log",
];

/// `ANALYZE`s the given tables (names from the constants above, never user input).
/// Errors are logged at WARN and swallowed: the data is committed either way.
pub async fn analyze(pool: &PgPool, tables: &[&str]) {
    if tables.is_empty() {
        return;
    }
    let statement = format!("analyze {}", tables.join(", "));
    let started = std::time::Instant::now();
    match sqlx::query(&statement).execute(pool).await {
        Ok(_) => tracing::debug!(
            tables = tables.join(","),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "tables analysed"
        ),
        Err(e) => tracing::warn!(error = %e, tables = tables.join(","), "analyze failed"),
    }
}
