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

use school_portal::ids::ClassId;
use uuid::Uuid;

use crate::helpers::*;
use crate::routes::{Who, World, world};

/// Routes sent twice by a test in `double_submit.rs` (its name says which), or in the
/// module named beside them.
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
    // Issue 13's corrections and consents, sent twice by the tests of their own modules:
    // helping::the_administrator_corrects_a_pupils_class_and_name_from_the_card_...,
    // consent::consenting_twice_records_one_consent,
    // consent::a_pupil_of_14_or_more_gives_their_own_consent_and_the_parent_is_told_by_mail,
    // consent::with_the_setting_on_a_pupil_under_14_..._by_a_transfer_... (the setting).
    "/s/{school_id}/people/{account_id}/correct",
    "/s/{school_id}/children/{account_id}/chat-consent",
    "/s/{school_id}/my-chat-consent",
    "/s/{school_id}/child-consents/setting",
    // The platform connector (issue 15), sent twice in `connector.rs` against the
    // stand-in platform: the settings and the removal in
    // `r2_1_l_r2_4_d_the_bot_shows_who_is_really_in_5as_parents_chat_and_removes_who_left`,
    // the check and the read in `the_token_never_appears_in_pages_or_the_audit_log_...`,
    // the match in `a_chat_the_link_does_not_find_is_matched_by_the_administrators_choice`,
    // the adoption in `a_chat_the_platform_made_itself_is_adopted_as_5as_students_chat`,
    // the leavers' setting in `r2_1_l_with_the_school_setting_on_those_who_left_are_...`.
    "/s/{school_id}/connector",
    "/s/{school_id}/connector/check",
    "/s/{school_id}/connector/chats/match",
    "/s/{school_id}/connector/chats/adopt",
    "/s/{school_id}/connector/leavers",
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
        "/forgot",
        "anonymous, and answers the same whether the login exists or not: there is no \
         account to keep a form key for, and each request mails a fresh link (throttled), \
         which is what someone who asks again wants",
    ),
    (
        "/offers/{token}",
        "a one-time letter link answered without an account: the first use consumes it, a \
         resend finds it used (the logged-in answer is walked as /my-offers/{offer_id})",
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

/// Tables that change without any form's doing (a request touches its session).
const CHANGING_ANYWAY: &[&str] = &[
    "_sqlx_migrations",
    "sessions",
    "login_throttle",
    "rate_limits",
    "form_keys",
    "replaced_sessions",
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

/// What a walked form sends.
enum Body {
    Form(Vec<(String, String)>),
    /// Multipart fields: name, value, and the file name when the field is a file.
    Multipart(Vec<(String, String, Option<&'static str>)>),
}

/// One walked route.
struct Case {
    route: &'static str,
    path: String,
    /// Who sends it (the route's own user: the author, the operator, a parent...).
    client: reqwest::Client,
    body: Body,
    /// SQL run just before: puts the object in the state the form is for (a post on
    /// review before «вернуть», say), as the person would find it.
    prep: Option<String>,
    /// The first answer shows a secret once (a login link, a calendar address): a resend
    /// makes no second one and goes where that form's key leads instead.
    shows_once: bool,
}

impl Case {
    async fn send(&self, w: &World) -> reqwest::Response {
        let req = self.client.post(w.app.url(&self.path));
        let req = match &self.body {
            Body::Form(pairs) => req.form(pairs),
            Body::Multipart(parts) => {
                let mut form = reqwest::multipart::Form::new();
                for (name, value, file) in parts {
                    form = match file {
                        None => form.text(name.clone(), value.clone()),
                        Some(file_name) => form.part(
                            name.clone(),
                            reqwest::multipart::Part::bytes(value.clone().into_bytes())
                                .file_name(*file_name)
                                .mime_str("application/pdf")
                                .unwrap(),
                        ),
                    };
                }
                req.multipart(form)
            }
        };
        req.send().await.unwrap()
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

async fn sql(w: &World, q: &str) {
    sqlx::raw_sql(q).execute(&w.app.db).await.expect(q);
}

/// A new invite link of `class` (as the administrator), `age_days` old.
async fn invite_of(w: &World, class: ClassId, age_days: i32) -> Uuid {
    let id = Uuid::now_v7();
    sqlx::query(
        "insert into invites (school_id, id, token_hash, role, class_id, max_uses, needs_approval,
                              expires_at, created_by, created_at)
         values ($1, $2, $3, 'parent', $4, 100, true, now() + interval '7 days', $5,
                 now() - make_interval(days => $6))",
    )
    .bind(w.school)
    .bind(id)
    .bind(school_portal::auth::session::token_hash(
        &school_portal::auth::session::new_token(),
    ))
    .bind(class)
    .bind(w.admin)
    .bind(age_days)
    .execute(&w.app.db)
    .await
    .unwrap();
    id
}

/// The walked routes, in the order sent (a route that ends an object comes after the ones
/// that use it).
async fn cases(w: &mut World) -> Vec<Case> {
    School::new(&w.app)
        // A class nobody is in, to delete; another for a class teacher to be assigned to.
        .class("9Я")
        .class("10В")
        // The people the movements move, and the one who changes their password.
        .student("5А", "mover@test.local")
        .student("5А", "leaver@test.local")
        .staff("staff-leaver@test.local")
        .teacher("changer@test.local")
        // Someone with an account, not in the school yet, who joins by the parents' link.
        .account("joiner@test.local")
        .called("Вступов", "Иван")
        .account("regional@test.local")
        .called("Регионова", "Римма")
        // A pupil's request the bulk approval takes.
        .account("pupil@test.local")
        .called("Ученикова", "Юля")
        .add_to(&mut w.fixture)
        .await;
    let w = &*w;
    let school = w.school;
    let s = |p: &str| p.replace("{school_id}", &school.to_string());
    let fill = |p: &str| w.fill(p, None, None).unwrap();
    let people = |i: usize| w.people[i].client.clone();
    let (parent, deputy, director, admin, operator, other_admin) = (
        people(2),
        people(6),
        people(7),
        people(8),
        people(9),
        people(10),
    );
    assert_eq!(w.people[6].who, Who::Deputy);
    assert_eq!(w.people[7].who, Who::Director);
    assert_eq!(w.people[8].who, Who::Admin);
    assert_eq!(w.people[9].who, Who::Operator);
    let f = &w.fixture;
    let (empty, ten_v) = (f.class("9Я"), f.class("10В"));
    let teacher = membership_of(w, "teacher@test.local").await;
    let spare = w.spare_teacher.to_string();
    let mover = f.member("mover@test.local");
    let leaver = f.member("leaver@test.local");
    let staff_leaver = f.member("staff-leaver@test.local");
    let changer = w.app.logged_in("changer@test.local").await;
    let joiner = w.app.logged_in("joiner@test.local").await;
    let pupil = f.account("pupil@test.local");
    let pupil_request = Uuid::now_v7();
    sqlx::query(
        "insert into join_requests (school_id, id, invite_id, account_id, role, class_id)
         values ($1, $2, $3, $4, 'student', $5)",
    )
    .bind(school)
    .bind(pupil_request)
    .bind(w.invite)
    .bind(pupil)
    .bind(w.five_a)
    .execute(&w.app.db)
    .await
    .unwrap();
    // A link of 5Б to revoke with its class; an old unused one to deactivate.
    invite_of(w, w.five_b, 0).await;
    invite_of(w, w.five_a, 100).await;
    // A class-leadership order; a subject to archive; a channel to archive.
    let order = Uuid::now_v7();
    sqlx::query(
        "insert into class_leadership_orders (school_id, id, academic_year_id, order_number,
                                              order_date, created_by)
         select $1, $2, y.id, '15-о', date '2025-08-29', $3 from academic_years y
         where y.school_id = $1 and y.is_current",
    )
    .bind(school)
    .bind(order)
    .bind(w.admin)
    .execute(&w.app.db)
    .await
    .unwrap();
    let drawing = Uuid::now_v7();
    let old_channel = Uuid::now_v7();
    sql(
        w,
        &format!(
            "insert into subjects (school_id, id, kind, name) values
                 ('{school}', '{drawing}', 'subject', 'Черчение');
             insert into channels (school_id, id, title, created_by) values
                 ('{school}', '{old_channel}', 'Старый канал', '{}')",
            w.admin
        ),
    )
    .await;
    let post = format!("/s/{school}/posts/{}", w.post);
    let on_review = Some(format!(
        "update posts set state = 'submitted' where id = '{}'",
        w.post
    ));
    let broadcast = format!("/s/{school}/broadcasts/{}", w.broadcast);
    // Dates the forms ask for: today (movements), a Monday-independent day ahead.
    let today = time::OffsetDateTime::now_utc().date();
    let ymd = |d: time::Date| format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day());
    let in_days = |n: i64| ymd(today + time::Duration::days(n));
    let order_date = ymd(today - time::Duration::days(1));
    let date = ymd(today);
    let kid_member = w.chat_member.to_string();
    let f = |pairs: &[(&str, &str)]| {
        let mut v: Vec<(String, String)> = pairs
            .iter()
            .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
            .collect();
        v.push(("form_key".into(), Uuid::now_v7().to_string()));
        Body::Form(v)
    };
    let key = || Uuid::now_v7().to_string();
    let case = |route: &'static str, path: String, client: &reqwest::Client, body: Body| Case {
        route,
        path,
        client: client.clone(),
        body,
        prep: None,
        shows_once: false,
    };
    let once = |mut c: Case| {
        c.shows_once = true;
        c
    };
    let prepped = |mut c: Case, prep: &Option<String>| {
        c.prep = prep.clone();
        c
    };
    let offer_of_other_admin = w
        .fill("/my-offers/{offer_id}", None, w.people[10].account)
        .unwrap();
    vec![
        // Before the parents' link is revoked below.
        case(
            "/join/{token}",
            fill("/join/{token}"),
            &joiner,
            f(&[("mode", "current"), ("child_name", "Вступов Пётр")]),
        ),
        case(
            "/s/{school_id}/join-requests/bulk",
            s("/s/{school_id}/join-requests/bulk"),
            &admin,
            f(&[("ids", &pupil_request.to_string())]),
        ),
        case(
            "/s/{school_id}/chats/{chat_id}/members/{member_id}/remove",
            fill("/s/{school_id}/chats/{chat_id}/members/{member_id}/remove"),
            &admin,
            f(&[("confirm", "yes")]),
        ),
        case(
            "/s/{school_id}/chats/{chat_id}/handover",
            fill("/s/{school_id}/chats/{chat_id}/handover"),
            &admin,
            f(&[("member_id", &teacher)]),
        ),
        case(
            "/s/{school_id}/chats/{chat_id}/edit",
            fill("/s/{school_id}/chats/{chat_id}/edit"),
            &admin,
            f(&[("title", "Ученики 5А (новое)"), ("platform_url", "")]),
        ),
        case(
            "/s/{school_id}/chats/{chat_id}/members",
            fill("/s/{school_id}/chats/{chat_id}/members"),
            &admin,
            f(&[("member_id", &kid_member), ("role", "member")]),
        ),
        case(
            "/s/{school_id}/chats/{chat_id}/reconcile",
            fill("/s/{school_id}/chats/{chat_id}/reconcile"),
            &admin,
            f(&[]),
        ),
        case(
            "/s/{school_id}/chats/{chat_id}/archive",
            fill("/s/{school_id}/chats/{chat_id}/archive"),
            &admin,
            f(&[("confirm", "yes")]),
        ),
        case(
            "/s/{school_id}/chats/class",
            s("/s/{school_id}/chats/class"),
            &admin,
            f(&[
                ("kind", "other"),
                ("class_id", &w.five_b.to_string()),
                ("title", "Экскурсия 5Б"),
                ("platform_url", ""),
            ]),
        ),
        case(
            "/s/{school_id}/teaching/{assignment_id}/delete",
            fill("/s/{school_id}/teaching/{assignment_id}/delete"),
            &admin,
            f(&[]),
        ),
        case(
            "/s/{school_id}/subjects/{subject_id}/teaching",
            fill("/s/{school_id}/subjects/{subject_id}/teaching"),
            &admin,
            f(&[("class", &w.five_b.to_string()), ("teacher", &teacher)]),
        ),
        case(
            "/s/{school_id}/subjects/{subject_id}/archive",
            format!("/s/{school}/subjects/{drawing}/archive"),
            &admin,
            f(&[("confirm", "yes")]),
        ),
        case(
            "/s/{school_id}/class-teachers",
            s("/s/{school_id}/class-teachers"),
            &admin,
            f(&[
                ("order", &order.to_string()),
                (&format!("class_{ten_v}"), &spare),
            ]),
        ),
        case(
            "/s/{school_id}/classes/{class_id}/delete",
            format!("/s/{school}/classes/{empty}/delete"),
            &admin,
            f(&[]),
        ),
        case(
            "/s/{school_id}/classes/{class_id}",
            fill("/s/{school_id}/classes/{class_id}"),
            &admin,
            f(&[("grade", "5"), ("letter", "А"), ("profile", "физмат")]),
        ),
        case(
            "/s/{school_id}/invites/share/email",
            fill("/s/{school_id}/invites/share/email"),
            &admin,
            f(&[
                ("token", &w.invite_token),
                ("email", "parents-5a@test.local"),
            ]),
        ),
        case(
            "/s/{school_id}/invites/deactivate-unused",
            s("/s/{school_id}/invites/deactivate-unused"),
            &admin,
            f(&[("days", "30"), ("confirm", "yes")]),
        ),
        case(
            "/s/{school_id}/invites/revoke-class",
            s("/s/{school_id}/invites/revoke-class"),
            &admin,
            f(&[("class_id", &w.five_b.to_string()), ("confirm", "yes")]),
        ),
        case(
            "/s/{school_id}/invites/{invite_id}/revoke",
            fill("/s/{school_id}/invites/{invite_id}/revoke"),
            &admin,
            f(&[("confirm", "yes")]),
        ),
        case(
            "/s/{school_id}/verification/{membership_id}",
            fill("/s/{school_id}/verification/{membership_id}"),
            &admin,
            f(&[("decision", "verify")]),
        ),
        case(
            "/s/{school_id}/admin-rights/{grant_id}/reject",
            fill("/s/{school_id}/admin-rights/{grant_id}/reject"),
            &director,
            f(&[("reason", "Нет приказа о назначении.")]),
        ),
        case(
            "/s/{school_id}/profile",
            s("/s/{school_id}/profile"),
            &admin,
            f(&[
                ("name", "Школа № 1 имени А. С. Пушкина"),
                ("short_name", "Школа № 1"),
                ("inn", "6601234567"),
                ("address", "г. Екатеринбург, ул. Ленина, 1"),
                ("phone", "+7 (343) 123-45-67"),
                ("email", "school1@test.local"),
                ("website", "https://school1.test"),
                ("director_name", "Директорова Дарья Дмитриевна"),
                ("timezone", "Asia/Yekaterinburg"),
                ("municipality", "Екатеринбург"),
            ]),
        ),
        case(
            "/s/{school_id}/registration",
            s("/s/{school_id}/registration"),
            &admin,
            Body::Multipart(vec![
                ("form_key".into(), key(), None),
                (
                    "school_details".into(),
                    "МАОУ СОШ № 1, ИНН 6601234567, г. Екатеринбург, ул. Ленина, 1".into(),
                    None,
                ),
                ("admin_name".into(), "Админова Анна Андреевна".into(), None),
                ("admin_email".into(), "admin@test.local".into(), None),
                ("admin_phone".into(), "+7 912 345-67-89".into(), None),
                ("pdf".into(), "%PDF-1.4\n%%EOF\n".into(), Some("prikaz.pdf")),
            ]),
        ),
        case(
            "/s/{school_id}/support",
            s("/s/{school_id}/support"),
            &admin,
            f(&[
                ("topic", "Не приходит письмо"),
                ("description", "Родитель не получил письмо с приглашением."),
                ("contact", "admin@test.local"),
            ]),
        ),
        once(case(
            "/s/{school_id}/people/{account_id}/login-link",
            fill("/s/{school_id}/people/{account_id}/login-link"),
            &admin,
            f(&[("delivery", "show")]),
        )),
        case(
            "/s/{school_id}/stats/classes/{class_id}/participation",
            fill("/s/{school_id}/stats/classes/{class_id}/participation"),
            &admin,
            f(&[
                ("membership_id", &kid_member),
                ("kind", "family"),
                ("reason", "no_device"),
                ("channel", "journal"),
                ("action", "record"),
            ]),
        ),
        case(
            "/operator/regional-specialists",
            "/operator/regional-specialists".to_owned(),
            &operator,
            f(&[
                ("email", "regional@test.local"),
                ("municipality", "Екатеринбург"),
            ]),
        ),
        // Channels and posts: the deputy's draft through its states.
        case(
            "/s/{school_id}/channels",
            s("/s/{school_id}/channels"),
            &admin,
            f(&[
                ("title", "Родителям"),
                ("audience", "родители учеников"),
                ("address", ""),
                ("submitters", "deputies"),
            ]),
        ),
        case(
            "/s/{school_id}/channels/{channel_id}/archive",
            format!("/s/{school}/channels/{old_channel}/archive"),
            &admin,
            f(&[]),
        ),
        case(
            "/s/{school_id}/posts",
            s("/s/{school_id}/posts"),
            &admin,
            f(&[
                ("channel", &w.channel.to_string()),
                ("title", "Каникулы"),
                ("body", "Осенние каникулы с 27 октября."),
            ]),
        ),
        case(
            "/s/{school_id}/posts/{post_id}/attachments/{attachment_id}/delete",
            format!("{post}/attachments/{}/delete", w.attachment),
            &deputy,
            f(&[]),
        ),
        case(
            "/s/{school_id}/posts/{post_id}/attachments",
            format!("{post}/attachments"),
            &deputy,
            Body::Multipart(vec![
                ("form_key".into(), key(), None),
                ("file".into(), "%PDF-1.4\n%%EOF\n".into(), Some("plan.pdf")),
            ]),
        ),
        case(
            "/s/{school_id}/posts/{post_id}/edit",
            format!("{post}/edit"),
            &deputy,
            f(&[("title", "Черновик (правка)"), ("body", "Текст публикации.")]),
        ),
        case(
            "/s/{school_id}/posts/{post_id}/submit",
            format!("{post}/submit"),
            &deputy,
            f(&[]),
        ),
        case(
            "/s/{school_id}/posts/{post_id}/recall",
            format!("{post}/recall"),
            &deputy,
            f(&[]),
        ),
        prepped(
            case(
                "/s/{school_id}/posts/{post_id}/return",
                format!("{post}/return"),
                &admin,
                f(&[("reason", "Добавьте дату.")]),
            ),
            &on_review,
        ),
        prepped(
            case(
                "/s/{school_id}/posts/{post_id}/decline",
                format!("{post}/decline"),
                &admin,
                f(&[("reason", "Не для этого канала.")]),
            ),
            &on_review,
        ),
        prepped(
            case(
                "/s/{school_id}/posts/{post_id}/schedule",
                format!("{post}/schedule"),
                &admin,
                f(&[("publish_at", &format!("{}T12:00", in_days(2)))]),
            ),
            &on_review,
        ),
        case(
            "/s/{school_id}/posts/{post_id}/publish",
            format!("{post}/publish"),
            &admin,
            f(&[("platform_url", "https://max.ru/news/123")]),
        ),
        case(
            "/s/{school_id}/posts/{post_id}/withdraw",
            format!("{post}/withdraw"),
            &admin,
            f(&[]),
        ),
        // Broadcasts: a new one, then the world's through its changes.
        case(
            "/s/{school_id}/broadcasts",
            s("/s/{school_id}/broadcasts"),
            &admin,
            f(&[
                ("kind", "meeting"),
                ("title", "Педсовет"),
                ("starts_at", &format!("{}T15:00", in_days(3))),
                ("duration", "60"),
                ("staffroom", "yes"),
            ]),
        ),
        case(
            "/s/{school_id}/broadcasts/{broadcast_id}/edit",
            format!("{broadcast}/edit"),
            &admin,
            f(&[
                ("kind", "event"),
                ("title", "Линейка"),
                ("starts_at", &format!("{}T10:00", in_days(2))),
                ("duration", "30"),
                ("weekly_until", &in_days(60)),
                ("whole_school", "yes"),
            ]),
        ),
        case(
            "/s/{school_id}/broadcasts/{broadcast_id}/exceptions",
            format!("{broadcast}/exceptions"),
            &admin,
            f(&[("on_date", &in_days(9))]),
        ),
        case(
            "/s/{school_id}/broadcasts/{broadcast_id}/held",
            format!("{broadcast}/held"),
            &admin,
            f(&[]),
        ),
        case(
            "/s/{school_id}/broadcasts/{broadcast_id}/cancel",
            format!("{broadcast}/cancel"),
            &admin,
            f(&[]),
        ),
        once(case(
            "/s/{school_id}/calendar/feed",
            s("/s/{school_id}/calendar/feed"),
            &parent,
            f(&[]),
        )),
        // An offer another school's administrator accepts from «Мои приглашения».
        case(
            "/my-offers/{offer_id}",
            offer_of_other_admin,
            &other_admin,
            f(&[("mode", "accept"), ("consent", "yes")]),
        ),
        case(
            "/profile/password",
            "/profile/password".to_owned(),
            &changer,
            f(&[
                ("current", PASSWORD),
                ("password", "Новый-длинный-пароль-2026"),
                ("password2", "Новый-длинный-пароль-2026"),
            ]),
        ),
        // Movements, the import and the rollover last: they move the world's people.
        case(
            "/s/{school_id}/movements/enrol",
            s("/s/{school_id}/movements/enrol"),
            &admin,
            f(&[
                ("key", &key()),
                ("surname", "Новенький"),
                ("given_name", "Никита"),
                ("patronymic", "Петрович"),
                ("birth_date", "2015-03-01"),
                ("class", &w.five_a.to_string()),
                ("order_number", "12-у"),
                ("order_date", &order_date),
                ("date", &date),
            ]),
        ),
        case(
            "/s/{school_id}/movements/transfer",
            s("/s/{school_id}/movements/transfer"),
            &admin,
            f(&[
                ("key", &key()),
                ("student", &mover.to_string()),
                ("to_class", &w.five_b.to_string()),
                ("order_number", "13-у"),
                ("order_date", &order_date),
                ("date", &date),
            ]),
        ),
        case(
            "/s/{school_id}/movements/leave",
            s("/s/{school_id}/movements/leave"),
            &admin,
            f(&[
                ("key", &key()),
                ("student", &leaver.to_string()),
                ("order_number", "14-у"),
                ("order_date", &order_date),
                ("date", &date),
                ("reason", "смена места жительства"),
                ("confirm", "yes"),
            ]),
        ),
        case(
            "/s/{school_id}/movements/staff-leave",
            s("/s/{school_id}/movements/staff-leave"),
            &admin,
            f(&[
                ("key", &key()),
                ("member", &staff_leaver.to_string()),
                ("order_number", "15-к"),
                ("order_date", &order_date),
                ("date", &date),
                ("reason", "по собственному желанию"),
                ("confirm", "yes"),
            ]),
        ),
        prepped(
            case(
                "/s/{school_id}/import/{import_id}/apply",
                fill("/s/{school_id}/import/{import_id}/apply"),
                &admin,
                f(&[]),
            ),
            &Some(format!(
                "update imports set content = convert_to(E'Класс;Фамилия;Имя\\r\\n5А;Импортова;Ирина\\r\\n', 'UTF8')
                 where id = '{}'",
                w.import
            )),
        ),
        case(
            "/s/{school_id}/rollover",
            s("/s/{school_id}/rollover"),
            &admin,
            f(&[
                ("order_number", "20-у"),
                ("order_date", &order_date),
                ("confirm", "yes"),
                ("early_confirm", "yes"),
            ]),
        ),
    ]
}

#[tokio::test]
async fn every_post_route_sent_again_shows_the_first_result_and_changes_nothing() {
    let mut w = world().await;
    let cases = cases(&mut w).await;

    // The lists cover the route table exactly: a new POST route fails here until it is
    // walked, sent twice by a named test, or exempted with a reason.
    let posts: BTreeSet<&str> = school_portal::route_table(&w.app.state)
        .iter()
        .filter(|r| r.method == "POST")
        .map(|r| r.path)
        .collect();
    let mut listed: Vec<&str> = cases.iter().map(|c| c.route).collect();
    listed.extend(SENT_TWICE_ELSEWHERE);
    listed.extend(EXEMPT.iter().map(|e| e.0));
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
    for case in &cases {
        let route = case.route;
        if let Some(prep) = &case.prep {
            sql(&w, prep).await;
        }
        let before = digest(&w.app).await;
        let (a, b) = tokio::join!(case.send(&w), case.send(&w));
        let after_first = digest(&w.app).await;
        let c = case.send(&w).await;
        let after_again = digest(&w.app).await;
        let answers = [&a, &b, &c];
        if answers.iter().any(|r| r.status().is_server_error()) {
            failures.push(format!("{route}: a 5xx {:?}", answers.map(|r| r.status())));
            continue;
        }
        let mut places: Vec<String> = answers.iter().map(|r| leads(r)).collect();
        if case.shows_once {
            // Exactly one of the two sent at once shows it; the rest lead to one place.
            let shown = places[..2].iter().filter(|p| *p == "status 200").count();
            if shown != 1 {
                failures.push(format!("{route}: shown {shown} times: {places:?}"));
            }
            places.retain(|p| p != "status 200");
        }
        if places.iter().any(|p| p != &places[0] || p == "status 404") {
            failures.push(format!("{route}: answers lead apart: {places:?}"));
        }
        if changed(&before, &after_first).is_empty() {
            failures.push(format!(
                "{route}: the first submit changed nothing: {places:?}"
            ));
        }
        let again = changed(&after_first, &after_again);
        if !again.is_empty() {
            let audit: Vec<String> =
                sqlx::query_scalar("select action from audit_log order by id desc limit 3")
                    .fetch_all(&w.app.db)
                    .await
                    .unwrap();
            failures.push(format!(
                "{route}: the resend changed {again:?} (the last audit rows: {audit:?})"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
