//! Right after bulk data arrives (issue 9, item 3): the demo is created exactly as the
//! `demo` command does it, and at once 64 logged-in requests at the same time go over the
//! heavy pages — classes, people, compliance, the start page, join requests — as the demo
//! administrator and a class teacher. No answer is a 5xx (statuses only: not a timed test).

use school_portal::demo::DEMO_SCHOOL;

use crate::helpers::*;

const DEMO_PASSWORD: &str = "demo password 123";

async fn demo_login(app: &TestApp, login: &str) -> reqwest::Client {
    let client = app.client();
    let res = app.login(&client, login, DEMO_PASSWORD).await;
    assert_eq!(res.status(), 303, "login as {login} failed");
    client
}

#[tokio::test]
async fn sixty_four_users_right_after_demo_get_no_server_error() {
    let app = TestApp::spawn().await;
    // What `school-portal demo` runs (src/main.rs), ANALYZE at its end included.
    school_portal::demo::create(&app.db, Some(DEMO_PASSWORD.into()))
        .await
        .unwrap();
    let class_teacher: String = sqlx::query_scalar(
        "select a.email from class_teacher_assignments t
         join memberships m on m.school_id = t.school_id and m.id = t.teacher_id
         join accounts a on a.id = m.account_id
         where t.school_id = $1 and t.ended_at is null and a.email is not null
         order by a.email limit 1",
    )
    .bind(DEMO_SCHOOL)
    .fetch_one(&app.db)
    .await
    .unwrap();
    let admin = demo_login(&app, "admin@demo.local").await;
    let teacher = demo_login(&app, &class_teacher).await;
    let s = DEMO_SCHOOL;
    let pages = [
        format!("/s/{s}/classes"),
        format!("/s/{s}/people"),
        format!("/s/{s}/compliance"),
        format!("/s/{s}"),
        format!("/s/{s}/join-requests"),
    ];
    // First, each page answers 200 to whoever may see it: a broken page cannot pass.
    for page in &pages {
        let res = app.get(&admin, page).await;
        assert_eq!(res.status(), 200, "{page} as the administrator");
    }
    let mut requests = tokio::task::JoinSet::new();
    for i in 0..64 {
        let client = if i % 2 == 0 {
            admin.clone()
        } else {
            teacher.clone()
        };
        let page = pages[(i / 2) % pages.len()].clone();
        let url = app.url(&page);
        requests.spawn(async move {
            let res = client.get(url).send().await.unwrap();
            (page, i % 2 == 0, res.status())
        });
    }
    let answers = requests.join_all().await;
    assert_eq!(answers.len(), 64);
    let failed: Vec<_> = answers
        .iter()
        .filter(|(_, _, status)| status.is_server_error())
        .collect();
    assert!(failed.is_empty(), "server errors: {failed:?}");
    // The class teacher's pages are real pages too, not all refusals.
    let teacher_ok = answers
        .iter()
        .filter(|(_, admin, status)| !admin && *status == 200)
        .count();
    assert!(teacher_ok > 0, "{answers:?}");
}
