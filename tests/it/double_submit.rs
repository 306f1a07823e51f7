//! Every create-form is safe to send twice (SECURITY.md 18, issue 9 item 4): each form is
//! fetched as a browser would, its fields (the hidden form key among them) are read from
//! the page, it is sent twice at once and once more afterwards (Back and resend: the same
//! key again). Exactly one record exists and no answer is a 500.

use reqwest::StatusCode;
use scraper::{Html, Selector};
use sqlx::PgPool;

use crate::helpers::school::SchoolFixture;
use crate::helpers::{School, TestApp};
use school_portal::ids::{ClassId, MembershipId, SchoolId};

/// The fields a browser sends from the form posting to `action`: inputs (checked boxes
/// only), the selected option of each select (or its first), textareas.
fn form_fields(html: &str, action: &str) -> Vec<(String, String)> {
    let doc = Html::parse_document(html);
    let form_sel = Selector::parse(&format!("form[action=\"{action}\"]")).unwrap();
    let form = doc
        .select(&form_sel)
        .next()
        .unwrap_or_else(|| panic!("no form posting to {action}"));
    let mut out = Vec::new();
    let inputs = Selector::parse("input[name]").unwrap();
    for i in form.select(&inputs) {
        let v = i.value();
        let kind = v.attr("type").unwrap_or("text");
        if (kind == "checkbox" || kind == "radio") && v.attr("checked").is_none() {
            continue;
        }
        if kind == "file" || kind == "submit" {
            continue;
        }
        out.push((
            v.attr("name").unwrap().to_owned(),
            v.attr("value").unwrap_or("").to_owned(),
        ));
    }
    let selects = Selector::parse("select[name]").unwrap();
    let options = Selector::parse("option").unwrap();
    for s in form.select(&selects) {
        let opts: Vec<_> = s.select(&options).collect();
        let chosen = opts
            .iter()
            .find(|o| o.value().attr("selected").is_some())
            .or(opts.first());
        let value = chosen
            .map(|o| {
                o.value()
                    .attr("value")
                    .map(str::to_owned)
                    .unwrap_or_else(|| o.text().collect())
            })
            .unwrap_or_default();
        out.push((s.value().attr("name").unwrap().to_owned(), value));
    }
    let areas = Selector::parse("textarea[name]").unwrap();
    for t in form.select(&areas) {
        out.push((
            t.value().attr("name").unwrap().to_owned(),
            t.text().collect(),
        ));
    }
    out
}

/// Sets (or adds) the fields a person fills in.
fn fill(fields: &mut Vec<(String, String)>, values: &[(&str, &str)]) {
    for (name, value) in values {
        match fields.iter_mut().find(|(n, _)| n == name) {
            Some(f) => f.1 = (*value).to_owned(),
            None => fields.push(((*name).to_owned(), (*value).to_owned())),
        }
    }
}

fn has_key(fields: &[(String, String)]) -> bool {
    fields
        .iter()
        .any(|(n, v)| (n == "form_key" || n == "form_id" || n == "id") && !v.is_empty())
}

/// The form of `page` posting to `action`, filled with `values`: sent twice at once, then
/// once more. Answers the three responses' statuses and the last one's body.
async fn send_thrice(
    app: &TestApp,
    client: &reqwest::Client,
    page: &str,
    action: &str,
    values: &[(&str, &str)],
) -> (Vec<StatusCode>, String) {
    let res = app.get(client, page).await;
    assert_eq!(res.status(), 200, "{page}");
    let html = res.text().await.unwrap();
    let mut fields = form_fields(&html, action);
    assert!(has_key(&fields), "the form posting to {action} has no key");
    fill(&mut fields, values);
    let post = || client.post(app.url(action)).form(&fields).send();
    let (a, b) = tokio::join!(post(), post());
    let (a, b) = (a.unwrap(), b.unwrap());
    let c = post().await.unwrap();
    let statuses = vec![a.status(), b.status(), c.status()];
    let body = c.text().await.unwrap();
    for s in &statuses {
        assert!(!s.is_server_error(), "{action}: {statuses:?}\n{body}");
    }
    (statuses, body)
}

async fn count(db: &PgPool, sql: &str, school: SchoolId) -> i64 {
    sqlx::query_scalar(sql)
        .bind(school)
        .fetch_one(db)
        .await
        .unwrap()
}

struct World {
    app: TestApp,
    s: SchoolId,
    class: ClassId,
    teacher: MembershipId,
    f: SchoolFixture,
}

async fn world() -> World {
    world_with(|s| s).await
}

/// 5А with its class teacher, the administrator and the director, and what `more` adds.
async fn world_with(more: impl for<'a> FnOnce(School<'a>) -> School<'a>) -> World {
    let app = TestApp::spawn().await;
    let f = more(
        School::new(&app)
            .class("5А")
            .admin("admin@test.local")
            .director("director@test.local")
            .class_teacher("5А", "teacher@test.local"),
    )
    .build()
    .await;
    World {
        s: f.id,
        class: f.class("5А"),
        teacher: f.member("teacher@test.local"),
        f,
        app,
    }
}

#[tokio::test]
async fn a_class_teacher_order_sent_twice_and_again_after_back_is_recorded_once() {
    let w = world().await;
    let admin = w.app.logged_in("admin@test.local").await;
    send_thrice(
        &w.app,
        &admin,
        &format!("/s/{}/class-teachers", w.s),
        &format!("/s/{}/class-teachers/orders", w.s),
        &[("order_number", "12-о"), ("order_date", "2026-08-30")],
    )
    .await;
    let n = count(
        &w.app.db,
        "select count(*) from class_leadership_orders where school_id = $1",
        w.s,
    )
    .await;
    assert_eq!(n, 1);
}

#[tokio::test]
async fn an_admin_rights_proposal_sent_twice_and_again_is_one_grant() {
    let w = world().await;
    let admin = w.app.logged_in("admin@test.local").await;
    send_thrice(
        &w.app,
        &admin,
        &format!("/s/{}/admin-rights", w.s),
        &format!("/s/{}/admin-rights", w.s),
        &[
            ("member", &w.teacher.to_string()),
            ("order_number", "77-о"),
            ("order_date", "2026-11-20"),
        ],
    )
    .await;
    let n = count(
        &w.app.db,
        "select count(*) from admin_grants g join accounts a on a.id = g.account_id
         where g.school_id = $1 and a.email = 'teacher@test.local'",
        w.s,
    )
    .await;
    assert_eq!(n, 1);
}

#[tokio::test]
async fn a_decision_on_admin_rights_sent_twice_says_it_is_already_taken() {
    let w = world().await;
    let admin = w.app.logged_in("admin@test.local").await;
    let path = format!("/s/{}/admin-rights", w.s);
    w.app
        .post(
            &admin,
            &path,
            &[
                ("member", &w.teacher.to_string()),
                ("order_number", "7"),
                ("order_date", "2026-11-01"),
            ],
        )
        .await;
    let grant: uuid::Uuid = sqlx::query_scalar(
        "select g.id from admin_grants g join accounts a on a.id = g.account_id
         where a.email = 'teacher@test.local'",
    )
    .fetch_one(&w.app.db)
    .await
    .unwrap();
    let director = w.app.logged_in("director@test.local").await;
    let approve = format!("{path}/{grant}/approve");
    let (a, b) = tokio::join!(
        w.app.post(&director, &approve, &[]),
        w.app.post(&director, &approve, &[])
    );
    let mut statuses = vec![a.status(), b.status()];
    statuses.sort();
    assert_eq!(statuses, vec![StatusCode::OK, StatusCode::SEE_OTHER]);
    let again = w.app.post(&director, &approve, &[]).await;
    assert_eq!(again.status(), 200);
    assert!(
        again
            .text()
            .await
            .unwrap()
            .contains("Решение по этим правам уже принято.")
    );
    let revoke = format!("{path}/{grant}/revoke");
    let confirm = [("confirm", "yes")];
    let first = w.app.post(&director, &revoke, &confirm).await;
    assert_eq!(first.status(), 303);
    let second = w.app.post(&director, &revoke, &confirm).await;
    assert_eq!(second.status(), 200);
    assert!(second.text().await.unwrap().contains("уже не действуют"));
    let audited = w
        .app
        .audit_actions()
        .await
        .iter()
        .filter(|a| *a == "admin_rights.approved")
        .count();
    assert_eq!(audited, 1);
}

#[tokio::test]
async fn a_regulation_edition_sent_twice_and_again_is_one_edition() {
    let w = world().await;
    let admin = w.app.logged_in("admin@test.local").await;
    let html = w
        .app
        .get(&admin, &format!("/s/{}/regulation/new", w.s))
        .await
        .text()
        .await
        .unwrap();
    let action = format!("/s/{}/regulation", w.s);
    let mut fields = form_fields(&html, &action);
    assert!(has_key(&fields));
    fill(
        &mut fields,
        &[
            ("edition", "редакция № 1"),
            ("order_number", "3-о"),
            ("order_date", "2026-09-01"),
            ("effective_from", "2026-09-01"),
            ("body", "Текст Положения."),
        ],
    );
    let post = || {
        let mut form = reqwest::multipart::Form::new();
        for (n, v) in &fields {
            form = form.text(n.clone(), v.clone());
        }
        admin.post(w.app.url(&action)).multipart(form).send()
    };
    let (a, b) = tokio::join!(post(), post());
    let c = post().await.unwrap();
    for s in [a.unwrap().status(), b.unwrap().status(), c.status()] {
        assert_eq!(s, 303);
    }
    let n = count(
        &w.app.db,
        "select count(*) from regulation_editions where school_id = $1",
        w.s,
    )
    .await;
    assert_eq!(n, 1);
}

#[tokio::test]
async fn a_staff_chat_and_a_subject_chat_sent_twice_and_again_are_one_chat_each() {
    let w = world_with(|s| s.subject("Математика")).await;
    let subject = w.f.subject("Математика");
    let teacher = w.app.logged_in("teacher@test.local").await;
    let admin = w.app.logged_in("admin@test.local").await;
    let (_, last) = send_thrice(
        &w.app,
        &admin,
        &format!("/s/{}/chats/new?kind=staff", w.s),
        &format!("/s/{}/chats/staff", w.s),
        &[("title", "Педсовет")],
    )
    .await;
    let _ = last;
    send_thrice(
        &w.app,
        &teacher,
        &format!("/s/{}/chats/new?kind=subject&class={}", w.s, w.class),
        &format!("/s/{}/chats/subject", w.s),
        &[
            ("title", "Математика 5А"),
            ("class_id", &w.class.to_string()),
            ("subject_id", &subject.to_string()),
        ],
    )
    .await;
    for kind in ["staff", "subject"] {
        let n: i64 =
            sqlx::query_scalar("select count(*) from chats where school_id = $1 and kind = $2")
                .bind(w.s)
                .bind(kind)
                .fetch_one(&w.app.db)
                .await
                .unwrap();
        assert_eq!(n, 1, "{kind}");
    }
}

#[tokio::test]
async fn a_mandatory_class_chat_clicked_twice_at_once_and_again_is_one_chat() {
    let w = world().await;
    let admin = w.app.logged_in("admin@test.local").await;
    let path = format!("/s/{}/classes/{}/chats/class_students", w.s, w.class);
    let (a, b) = tokio::join!(
        w.app.post(&admin, &path, &[]),
        w.app.post(&admin, &path, &[])
    );
    let c = w.app.post(&admin, &path, &[]).await;
    let places: Vec<String> = [&a, &b, &c]
        .iter()
        .map(|r| {
            assert_eq!(r.status(), 303);
            crate::helpers::location(r)
        })
        .collect();
    // All three answers lead to the one chat.
    assert!(places.iter().all(|p| p == &places[0]), "{places:?}");
    let n = count(
        &w.app.db,
        "select count(*) from chats where school_id = $1 and kind = 'class_students'",
        w.s,
    )
    .await;
    assert_eq!(n, 1);
}

#[tokio::test]
async fn the_operators_appointment_sent_twice_and_again_is_one_admin_and_gives_the_link_again() {
    let w = world().await;
    w.app.operator("op@test.local").await;
    let op = w.app.logged_in("op@test.local").await;
    let (_, last) = send_thrice(
        &w.app,
        &op,
        &format!("/operator/schools/{}", w.s),
        &format!("/operator/schools/{}/admins", w.s),
        &[
            ("surname", "Новикова"),
            ("given_name", "Анна"),
            ("email", "novikova@test.local"),
            ("position", "deputy"),
            ("order_number", "15-к"),
            ("order_date", "2026-09-01"),
        ],
    )
    .await;
    // The answer a browser shows after a double click still carries a working link.
    assert!(last.contains("/password/"), "{last}");
    let accounts = count(
        &w.app.db,
        "select count(*) from accounts where email = 'novikova@test.local' and $1::uuid is not null",
        w.s,
    )
    .await;
    assert_eq!(accounts, 1);
    let grants = count(
        &w.app.db,
        "select count(*) from admin_grants g join accounts a on a.id = g.account_id
         where g.school_id = $1 and a.email = 'novikova@test.local'",
        w.s,
    )
    .await;
    assert_eq!(grants, 1);
}

#[tokio::test]
async fn two_operators_appointing_one_new_person_at_once_make_one_account_without_a_500() {
    let w = world().await;
    let other = School::new(&w.app).named("Школа № 2").build().await.id;
    w.app.operator("op@test.local").await;
    let op = w.app.logged_in("op@test.local").await;
    let fields = || {
        vec![
            ("surname", "Новикова".to_owned()),
            ("given_name", "Анна".to_owned()),
            ("email", "novikova@test.local".to_owned()),
            ("position", "staff".to_owned()),
            ("order_number", "15-к".to_owned()),
            ("order_date", "2026-09-01".to_owned()),
            ("form_key", uuid::Uuid::now_v7().to_string()),
        ]
    };
    let (f1, f2) = (fields(), fields());
    let (a, b) = tokio::join!(
        op.post(w.app.url(&format!("/operator/schools/{}/admins", w.s)))
            .form(&f1)
            .send(),
        op.post(w.app.url(&format!("/operator/schools/{other}/admins")))
            .form(&f2)
            .send()
    );
    for r in [a.unwrap(), b.unwrap()] {
        assert_eq!(r.status(), 200);
    }
    let accounts: i64 =
        sqlx::query_scalar("select count(*) from accounts where email = 'novikova@test.local'")
            .fetch_one(&w.app.db)
            .await
            .unwrap();
    assert_eq!(accounts, 1);
    let grants: i64 = sqlx::query_scalar(
        "select count(*) from admin_grants g join accounts a on a.id = g.account_id
         where a.email = 'novikova@test.local'",
    )
    .fetch_one(&w.app.db)
    .await
    .unwrap();
    assert_eq!(grants, 2);
}

#[tokio::test]
async fn adding_staff_sent_twice_and_again_makes_one_offer() {
    let w = world().await;
    let admin = w.app.logged_in("admin@test.local").await;
    send_thrice(
        &w.app,
        &admin,
        &format!("/s/{}/people/new-staff", w.s),
        &format!("/s/{}/people/new-staff", w.s),
        &[
            ("surname", "Смирнова"),
            ("given_name", "Ольга"),
            ("email", "smirnova@test.local"),
            ("role", "teacher"),
        ],
    )
    .await;
    let n = count(
        &w.app.db,
        "select count(*) from offers where school_id = $1 and email = 'smirnova@test.local'",
        w.s,
    )
    .await;
    assert_eq!(n, 1);
}

#[tokio::test]
async fn a_class_and_a_subject_sent_twice_and_again_are_created_once() {
    let w = world().await;
    let admin = w.app.logged_in("admin@test.local").await;
    let (statuses, _) = send_thrice(
        &w.app,
        &admin,
        &format!("/s/{}/classes/new", w.s),
        &format!("/s/{}/classes", w.s),
        &[("grade", "7"), ("letter", "Б")],
    )
    .await;
    // Each answer leads to the class, none says it already exists.
    assert!(statuses.iter().all(|s| *s == 303), "{statuses:?}");
    let (statuses, _) = send_thrice(
        &w.app,
        &admin,
        &format!("/s/{}/subjects", w.s),
        &format!("/s/{}/subjects", w.s),
        &[("name", "Астрономия"), ("kind", "subject")],
    )
    .await;
    assert!(statuses.iter().all(|s| *s == 303), "{statuses:?}");
    let classes = count(
        &w.app.db,
        "select count(*) from classes where school_id = $1 and title = '7Б'",
        w.s,
    )
    .await;
    let subjects = count(
        &w.app.db,
        "select count(*) from subjects where school_id = $1 and name = 'Астрономия'",
        w.s,
    )
    .await;
    assert_eq!((classes, subjects), (1, 1));
}

#[tokio::test]
async fn an_invite_and_parent_slips_sent_twice_and_again_are_issued_once() {
    let w = world_with(|s| s.student("5А", "student@test.local")).await;
    let admin = w.app.logged_in("admin@test.local").await;
    send_thrice(
        &w.app,
        &admin,
        &format!("/s/{}/invites/new", w.s),
        &format!("/s/{}/invites", w.s),
        &[
            ("role", "student"),
            ("class_id", &w.class.to_string()),
            ("purpose", "собрание"),
        ],
    )
    .await;
    let links = count(
        &w.app.db,
        "select count(*) from invites where school_id = $1 and purpose = 'собрание'",
        w.s,
    )
    .await;
    assert_eq!(links, 1);
    let teacher = w.app.logged_in("teacher@test.local").await;
    send_thrice(
        &w.app,
        &teacher,
        &format!("/s/{}/invites/slips/new", w.s),
        &format!("/s/{}/invites/slips", w.s),
        &[("class_id", &w.class.to_string())],
    )
    .await;
    let batches = count(
        &w.app.db,
        "select count(distinct batch_id) from invites where school_id = $1 and batch_id is not null",
        w.s,
    )
    .await;
    assert_eq!(batches, 1);
}

#[tokio::test]
async fn a_new_school_sent_twice_and_again_is_one_school() {
    let w = world().await;
    w.app.operator("op@test.local").await;
    let op = w.app.logged_in("op@test.local").await;
    send_thrice(
        &w.app,
        &op,
        "/operator/schools/new",
        "/operator/schools",
        &[("name", "Лицей № 9")],
    )
    .await;
    let n = count(
        &w.app.db,
        "select count(*) from schools where name = 'Лицей № 9' and $1::uuid is not null",
        w.s,
    )
    .await;
    assert_eq!(n, 1);
}

#[tokio::test]
async fn a_chat_invite_sent_twice_makes_one_link_and_says_so() {
    let w = world().await;
    let admin = w.app.logged_in("admin@test.local").await;
    let res = w
        .app
        .post(
            &admin,
            &format!("/s/{}/classes/{}/chats/class_students", w.s, w.class),
            &[],
        )
        .await;
    let location = crate::helpers::location(&res);
    let chat = location.split('?').next().unwrap().to_owned();
    let (_, last) = send_thrice(&w.app, &admin, &chat, &format!("{chat}/invite"), &[]).await;
    assert!(last.contains("Приглашение уже создано"), "{last}");
    let n = count(
        &w.app.db,
        "select count(*) from invites where school_id = $1 and purpose like 'чат%'",
        w.s,
    )
    .await;
    assert_eq!(n, 1);
}

#[tokio::test]
async fn a_join_request_decided_twice_at_once_and_again_is_decided_once_and_says_so() {
    let w = world_with(|s| s.account("new@test.local").called("Новиков", "Иван")).await;
    let admin_id = w.f.admin("admin@test.local");
    let newcomer = w.f.account("new@test.local");
    let invite = uuid::Uuid::now_v7();
    sqlx::query(
        "insert into invites (school_id, id, token_hash, role, class_id, max_uses, needs_approval,
                              expires_at, created_by)
         values ($1, $2, $3, 'student', $4, 10, true, now() + interval '7 days', $5)",
    )
    .bind(w.s)
    .bind(invite)
    .bind(invite.as_bytes().to_vec())
    .bind(w.class)
    .bind(admin_id)
    .execute(&w.app.db)
    .await
    .unwrap();
    let request = uuid::Uuid::now_v7();
    sqlx::query(
        "insert into join_requests (school_id, id, invite_id, account_id, role, class_id)
         values ($1, $2, $3, $4, 'student', $5)",
    )
    .bind(w.s)
    .bind(request)
    .bind(invite)
    .bind(newcomer)
    .bind(w.class)
    .execute(&w.app.db)
    .await
    .unwrap();
    let admin = w.app.logged_in("admin@test.local").await;
    let path = format!("/s/{}/join-requests/{request}", w.s);
    let approve = [("decision", "approve")];
    let (a, b) = tokio::join!(
        w.app.post(&admin, &path, &approve),
        w.app.post(&admin, &path, &approve)
    );
    let c = w.app.post(&admin, &path, &approve).await;
    for s in [a.status(), b.status(), c.status()] {
        assert!(s == 200 || s == 303, "{s}");
    }
    assert!(
        c.text()
            .await
            .unwrap()
            .contains("Эта заявка уже рассмотрена.")
    );
    let members = count(
        &w.app.db,
        "select count(*) from memberships m join accounts a on a.id = m.account_id
         where m.school_id = $1 and a.email = 'new@test.local'",
        w.s,
    )
    .await;
    assert_eq!(members, 1);
}

#[tokio::test]
async fn the_janitor_deletes_everyones_form_keys_older_than_a_day_and_keeps_fresh_ones() {
    let app = TestApp::spawn().await;
    let (a, b) = (uuid::Uuid::now_v7(), uuid::Uuid::now_v7());
    for (account, age) in [
        (a, "2 days"),
        (a, "1 hour"),
        (b, "25 hours"),
        (b, "0 seconds"),
    ] {
        sqlx::query(&format!(
            "insert into form_keys (account_id, key, url, created_at)
             values ($1, gen_random_uuid(), '/', now() - interval '{age}')"
        ))
        .bind(account)
        .execute(&app.db)
        .await
        .unwrap();
    }
    let report = school_portal::janitor::run_once(&app.db, &app.state.config)
        .await
        .unwrap();
    assert_eq!(report.form_keys, 2, "{report:?}");
    let left: Vec<(uuid::Uuid, bool)> = sqlx::query_as(
        "select account_id, created_at > now() - interval '1 day' from form_keys order by account_id",
    )
    .fetch_all(&app.db)
    .await
    .unwrap();
    assert_eq!(left.len(), 2, "one fresh key of each person stays");
    assert!(left.iter().all(|(_, fresh)| *fresh));
    assert!(
        app.audit_actions()
            .await
            .iter()
            .any(|x| x == "janitor.form_keys")
    );
}
