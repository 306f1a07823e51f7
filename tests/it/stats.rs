//! Statistics (issue 11): the page's numbers against hand-written SQL for the demo school,
//! the snapshot job run twice and by two processes at once, «не участвует» records, who
//! sees what, the XLSX read back, the region view, the report printed to PDF on A4.

use school_portal::demo::DEMO_SCHOOL;
use school_portal::ids::{ClassId, SchoolId};
use scraper::{Html, Selector};
use uuid::Uuid;

use crate::helpers::*;

const DEMO_PASSWORD: &str = "demo password 123";

fn doc(html: &str) -> Html {
    Html::parse_document(html)
}

fn attr(html: &Html, css: &str, name: &str) -> i64 {
    let sel = Selector::parse(css).unwrap();
    let el = html
        .select(&sel)
        .next()
        .unwrap_or_else(|| panic!("no {css}"));
    el.value()
        .attr(name)
        .unwrap_or_else(|| panic!("{css} has no {name}"))
        .parse()
        .unwrap()
}

async fn scalar(app: &TestApp, sql: &str, school: SchoolId) -> i64 {
    sqlx::query_scalar(sql)
        .bind(school)
        .fetch_one(&app.db)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// The headline by hand: (A1 numerator, denominator, A2 …, A3 …, D2 …).
async fn headline_by_hand(app: &TestApp, school: SchoolId) -> [(i64, i64); 4] {
    // Students on the roster of the current year's live classes.
    let roster = "from memberships m
                  join classes c on c.school_id = m.school_id and c.id = m.class_id
                  join academic_years y on y.school_id = c.school_id and y.id = c.academic_year_id
                  join accounts a on a.id = m.account_id
                  where m.school_id = $1 and m.role = 'student' and m.status = 'active'
                    and c.kind = 'class' and c.archived_at is null and y.is_current";
    let students = scalar(app, &format!("select count(*) {roster}"), school).await;
    let connected = scalar(
        app,
        &format!(
            "select count(*) {roster} and (a.first_login_at is not null or m.id in (
               select cm.member_id from chat_members cm join chats k on k.id = cm.chat_id
               where cm.school_id = $1 and k.archived_at is null))"
        ),
        school,
    )
    .await;
    let with_parent = scalar(
        app,
        &format!(
            "select count(*) {roster} and m.id in (
               select l.child_id from parent_links l
               join memberships p on p.id = l.parent_id join accounts pa on pa.id = p.account_id
               where l.school_id = $1 and p.status = 'active' and pa.deactivated_at is null)"
        ),
        school,
    )
    .await;
    let staff = scalar(
        app,
        "select count(*) from memberships where school_id = $1 and status = 'active'
           and role in ('teacher', 'staff', 'deputy')",
        school,
    )
    .await;
    let staff_ok = scalar(
        app,
        "select count(*) from memberships m join classes c on c.id = m.class_id
         where m.school_id = $1 and m.status = 'active' and m.role in ('teacher', 'staff', 'deputy')
           and m.verification = 'verified' and c.kind = 'staffroom'",
        school,
    )
    .await;
    let classes = "from classes c join academic_years y on y.id = c.academic_year_id
                   where c.school_id = $1 and c.kind = 'class' and c.archived_at is null and y.is_current";
    let n_classes = scalar(app, &format!("select count(*) {classes}"), school).await;
    let all_chats = scalar(
        app,
        &format!(
            "select count(*) {classes} and (select count(distinct k.kind) from chats k
               where k.class_id = c.id and k.archived_at is null
                 and k.kind in ('class_students', 'class_parents', 'class_teachers')) = 3"
        ),
        school,
    )
    .await;
    [
        (connected, students),
        (staff_ok, staff),
        (with_parent, students),
        (all_chats, n_classes),
    ]
}

fn cards(html: &Html) -> [(i64, i64); 4] {
    let c = |id: &str| {
        (
            attr(html, &format!("#card-{id}"), "data-part"),
            attr(html, &format!("#card-{id}"), "data-whole"),
        )
    };
    [c("a1"), c("a2"), c("a3"), c("d2")]
}

/// A class row by hand: students, connected, with a parent, linked parents, in the parents chat.
async fn class_by_hand(app: &TestApp, school: SchoolId, title: &str) -> [i64; 5] {
    let q = |sql: &str| {
        let sql = sql.to_owned();
        async move {
            sqlx::query_scalar::<_, i64>(&sql)
                .bind(school)
                .bind(title)
                .fetch_one(&app.db)
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e}"))
        }
    };
    let kids = "from memberships m join classes c on c.id = m.class_id join accounts a on a.id = m.account_id
                where m.school_id = $1 and c.title = $2 and m.role = 'student' and m.status = 'active'";
    [
        q(&format!("select count(*) {kids}")).await,
        q(&format!(
            "select count(*) {kids} and (a.first_login_at is not null or exists(
               select 1 from chat_members cm join chats k on k.id = cm.chat_id
               where cm.member_id = m.id and k.archived_at is null))"
        ))
        .await,
        q(&format!(
            "select count(*) {kids} and exists(select 1 from parent_links l
               join memberships p on p.id = l.parent_id join accounts pa on pa.id = p.account_id
               where l.child_id = m.id and p.status = 'active' and pa.deactivated_at is null)"
        ))
        .await,
        q(&format!(
            "select count(distinct l.parent_id) {kids0}
               join parent_links l on l.child_id = m.id
               join memberships p on p.id = l.parent_id join accounts pa on pa.id = p.account_id
               where m.school_id = $1 and c.title = $2 and m.role = 'student' and m.status = 'active'
                 and p.status = 'active' and pa.deactivated_at is null",
            kids0 = "from memberships m join classes c on c.id = m.class_id"
        ))
        .await,
        q("select count(distinct l.parent_id) from memberships m join classes c on c.id = m.class_id
             join parent_links l on l.child_id = m.id
             join memberships p on p.id = l.parent_id join accounts pa on pa.id = p.account_id
             join chats k on k.class_id = c.id and k.kind = 'class_parents' and k.archived_at is null
             join chat_members cm on cm.chat_id = k.id and cm.member_id = p.id
             where m.school_id = $1 and c.title = $2 and m.role = 'student' and m.status = 'active'
               and p.status = 'active' and pa.deactivated_at is null")
        .await,
    ]
}

fn class_row(html: &Html, title: &str) -> [i64; 5] {
    let css = format!("tr[data-class=\"{title}\"]");
    [
        attr(html, &css, "data-students"),
        attr(html, &css, "data-connected"),
        attr(html, &css, "data-with-parent"),
        attr(html, &css, "data-parents"),
        attr(html, &css, "data-parents-in-chat"),
    ]
}

async fn page(app: &TestApp, client: &reqwest::Client, path: &str) -> Html {
    let res = app.get(client, path).await;
    assert_eq!(res.status(), 200, "{path}");
    doc(&res.text().await.unwrap())
}

#[tokio::test]
async fn demo_school_headline_and_class_rows_equal_hand_written_sql_and_move_after_a_join() {
    let app = TestApp::spawn().await;
    school_portal::demo::create(&app.db, Some(DEMO_PASSWORD.into()))
        .await
        .unwrap();
    let school = DEMO_SCHOOL;
    let admin = app.client();
    assert_eq!(
        app.login(&admin, "admin@demo.local", DEMO_PASSWORD)
            .await
            .status(),
        303
    );
    let path = format!("/s/{school}/stats");
    let html = page(&app, &admin, &path).await;
    let by_hand = headline_by_hand(&app, school).await;
    assert_eq!(cards(&html), by_hand);
    assert!(
        by_hand[0].0 > 0 && by_hand[0].0 < by_hand[0].1,
        "{by_hand:?}"
    );
    for title in ["5А", "7Б", "11А"] {
        assert_eq!(
            class_row(&html, title),
            class_by_hand(&app, school, title).await,
            "{title}"
        );
    }
    // The demo's past: a week ago is a snapshot, so the change is said.
    let text = html.root_element().text().collect::<String>();
    assert!(text.contains("за неделю"), "change since last week");
    assert!(text.contains("нет данных: нужен бот платформы"));
    assert!(text.contains("Данные на "));

    // A student joins 5А by a link that needs approval; the administrator approves.
    let five_a: ClassId = sqlx::query_scalar(
        "select id from classes where school_id = $1 and title = '5А' and kind = 'class'",
    )
    .bind(school)
    .fetch_one(&app.db)
    .await
    .unwrap();
    let admin_id: Uuid =
        sqlx::query_scalar("select id from accounts where email = 'admin@demo.local'")
            .fetch_one(&app.db)
            .await
            .unwrap();
    let invite = Uuid::now_v7();
    sqlx::query(
        "insert into invites (school_id, id, token_hash, role, class_id, max_uses, needs_approval,
                              expires_at, created_by, uses)
         values ($1, $2, $3, 'student', $4, 10, true, now() + interval '7 days', $5, 1)",
    )
    .bind(school)
    .bind(invite)
    .bind(school_portal::auth::session::token_hash(
        &Uuid::new_v4().to_string(),
    ))
    .bind(five_a)
    .bind(admin_id)
    .execute(&app.db)
    .await
    .unwrap();
    let newcomer = app.account("newcomer@test.local", "Новиков", "Ной").await;
    // They have logged in (a session of their own).
    let mut conn = app.db.acquire().await.unwrap();
    school_portal::auth::session::create(&mut conn, &app.state.config, newcomer, None, None)
        .await
        .unwrap();
    drop(conn);
    let request = Uuid::now_v7();
    sqlx::query(
        "insert into join_requests (school_id, id, invite_id, account_id, role, class_id)
         values ($1, $2, $3, $4, 'student', $5)",
    )
    .bind(school)
    .bind(request)
    .bind(invite)
    .bind(newcomer)
    .bind(five_a)
    .execute(&app.db)
    .await
    .unwrap();
    let res = app
        .post(
            &admin,
            &format!("/s/{school}/join-requests/{request}"),
            &[("decision", "approve")],
        )
        .await;
    assert_eq!(res.status(), 303);
    let after = page(&app, &admin, &path).await;
    let by_hand_after = headline_by_hand(&app, school).await;
    assert_eq!(cards(&after), by_hand_after);
    assert_eq!(by_hand_after[0].0, by_hand[0].0 + 1, "one more connected");
    assert_eq!(
        by_hand_after[0].1,
        by_hand[0].1 + 1,
        "one more on the roster"
    );
    let before_5a = class_row(&html, "5А");
    let after_5a = class_row(&after, "5А");
    assert_eq!(after_5a[0], before_5a[0] + 1);
    assert_eq!(after_5a, class_by_hand(&app, school, "5А").await);
}

/// A school with 5А (a class teacher, three students, one with a parent), 5Б (another
/// class teacher, one student), and the administrator.
struct Small {
    app: TestApp,
    school: SchoolId,
    five_a: ClassId,
    kids: Vec<school_portal::ids::MembershipId>,
}

async fn small() -> Small {
    let app = TestApp::spawn().await;
    let w = School::new(&app)
        .named("Школа № 7")
        .class("5А")
        .class("5Б")
        .admin("admin@test.local")
        .director("director@test.local")
        .class_teacher("5А", "ct-a@test.local")
        .class_teacher("5Б", "ct-b@test.local")
        .teacher("teacher@test.local")
        .student("5А", "kid0@test.local")
        .student("5А", "kid1@test.local")
        .student("5А", "kid2@test.local")
        .student("5Б", "kid-b@test.local")
        .parent_of("parent@test.local", "kid0@test.local")
        .build()
        .await;
    let kids = ["kid0", "kid1", "kid2"]
        .map(|k| w.member(&format!("{k}@test.local")))
        .to_vec();
    Small {
        school: w.id,
        five_a: w.class("5А"),
        kids,
        app,
    }
}

#[tokio::test]
async fn the_snapshot_job_writes_one_snapshot_per_day_run_twice_or_by_two_processes_at_once() {
    let s = small().await;
    let other = s.app.school("Школа № 8").await;
    // Two processes: two pools on the same database, at the same moment.
    let second = TestApp::spawn_on(&s.app.db_url, Default::default()).await;
    let (a, b) = tokio::join!(
        school_portal::stats::snapshots::run_once(&s.app.db),
        school_portal::stats::snapshots::run_once(&second.db)
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    // Each school written once between them (yesterday: the first snapshot of a school).
    assert_eq!(a.days + b.days, 2, "{a:?} {b:?}");
    let again = school_portal::stats::snapshots::run_once(&s.app.db)
        .await
        .unwrap();
    assert_eq!(again.days, 0);
    for school in [s.school, other] {
        let days: Vec<(time::Date, i64)> = sqlx::query_as(
            "select day, count(*) over () from stats_school_days where school_id = $1",
        )
        .bind(school)
        .fetch_all(&s.app.db)
        .await
        .unwrap();
        assert_eq!(days.len(), 1);
    }
    let class_rows = scalar(
        &s.app,
        "select count(*) from stats_class_days where school_id = $1",
        s.school,
    )
    .await;
    assert_eq!(class_rows, 2, "one per class");
    let students = scalar(
        &s.app,
        "select students::int8 from stats_school_days where school_id = $1",
        s.school,
    )
    .await;
    assert_eq!(students, 4);

    // Missed days are filled on the next run, and marked.
    sqlx::query("delete from stats_class_days where school_id = $1")
        .bind(s.school)
        .execute(&s.app.db)
        .await
        .unwrap();
    sqlx::query("update stats_school_days set day = day - 4 where school_id = $1")
        .bind(s.school)
        .execute(&s.app.db)
        .await
        .unwrap();
    school_portal::stats::snapshots::run_once(&s.app.db)
        .await
        .unwrap();
    let filled: Vec<bool> = sqlx::query_scalar(
        "select backfilled from stats_school_days where school_id = $1 order by day",
    )
    .bind(s.school)
    .fetch_all(&s.app.db)
    .await
    .unwrap();
    assert_eq!(filled, vec![false, true, true, true, false]);
}

#[tokio::test]
async fn a_recorded_refusal_moves_the_figure_without_refusals_only_and_is_audited() {
    let s = small().await;
    let ct = s.app.logged_in("ct-a@test.local").await;
    let class_page = format!("/s/{}/stats/classes/{}", s.school, s.five_a);
    let html = page(&s.app, &ct, &class_page).await;
    let text = html.root_element().text().collect::<String>();
    assert!(text.contains("Ученики без связанного родителя"));
    let key = {
        let sel = Selector::parse(&format!(
            "tr[data-membership=\"{}\"] input[name=form_key]",
            s.kids[1]
        ))
        .unwrap();
        html.select(&sel)
            .next()
            .unwrap()
            .value()
            .attr("value")
            .unwrap()
            .to_owned()
    };
    let stats = format!("/s/{}/stats", s.school);
    let before = page(&s.app, &ct, &stats).await;
    let row = "tr[data-class=\"5А\"]";
    assert_eq!(attr(&before, row, "data-with-parent-excl"), 1);
    assert_eq!(attr(&before, row, "data-students-excl-family"), 3);
    let form = [
        ("form_key", key.as_str()),
        ("membership_id", &s.kids[1].to_string()),
        ("kind", "family"),
        ("reason", "refusal"),
        ("channel", "phone"),
        ("action", "record"),
    ];
    let path = format!("{class_page}/participation");
    let res = s.app.post(&ct, &path, &form).await;
    assert_eq!(res.status(), 303);
    // Sent again: the first result, nothing changes twice.
    let res = s.app.post(&ct, &path, &form).await;
    assert_eq!(res.status(), 303);
    let n = scalar(
        &s.app,
        "select count(*) from participation_records where school_id = $1",
        s.school,
    )
    .await;
    assert_eq!(n, 1);
    let after = page(&s.app, &ct, &stats).await;
    assert_eq!(
        attr(&after, row, "data-with-parent"),
        1,
        "the figure itself"
    );
    assert_eq!(attr(&after, row, "data-students"), 3);
    assert_eq!(attr(&after, row, "data-with-parent-excl"), 1);
    assert_eq!(
        attr(&after, row, "data-students-excl-family"),
        2,
        "without refusals"
    );
    let text = after.root_element().text().collect::<String>();
    assert!(text.contains("без отказавшихся — 1 из 2 (50 %)"), "{text}");
    assert!(
        s.app
            .audit_actions()
            .await
            .contains(&"participation.recorded".to_owned())
    );
    let list = page(&s.app, &ct, &class_page).await;
    let text = list.root_element().text().collect::<String>();
    assert!(
        text.contains("семья не участвует (отказ); связь: телефон"),
        "{text}"
    );

    // A bad choice is a message on the page, not an error.
    let res = s
        .app
        .post(
            &ct,
            &path,
            &[
                ("membership_id", &s.kids[2].to_string()),
                ("kind", "family"),
                ("reason", "x"),
            ],
        )
        .await;
    assert_eq!(res.status(), 200);
    assert!(res.text().await.unwrap().contains("Выберите причину."));
    // Withdrawn: audited, and the figure is back.
    let res = s
        .app
        .post(
            &ct,
            &path,
            &[
                ("membership_id", &s.kids[1].to_string()),
                ("kind", "family"),
                ("action", "withdraw"),
            ],
        )
        .await;
    assert_eq!(res.status(), 303);
    let back = page(&s.app, &ct, &stats).await;
    assert_eq!(attr(&back, row, "data-students-excl-family"), 3);
    assert!(
        s.app
            .audit_actions()
            .await
            .contains(&"participation.withdrawn".to_owned())
    );
}

#[tokio::test]
async fn who_sees_which_statistics() {
    let s = small().await;
    let app = &s.app;
    let stats = format!("/s/{}/stats", s.school);
    // The class teacher: their class only, and its list.
    let ct = app.logged_in("ct-a@test.local").await;
    let html = page(app, &ct, &stats).await;
    let rows: Vec<String> = html
        .select(&Selector::parse("#classes tbody tr").unwrap())
        .map(|r| r.value().attr("data-class").unwrap().to_owned())
        .collect();
    assert_eq!(rows, vec!["5А"]);
    assert_eq!(attr(&html, "#card-a1", "data-whole"), 3);
    assert_eq!(
        app.get(&ct, &format!("/s/{}/stats/report", s.school))
            .await
            .status(),
        403
    );
    let five_b: ClassId = sqlx::query_scalar("select id from classes where title = '5Б'")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(
        app.get(&ct, &format!("{stats}/classes/{five_b}"))
            .await
            .status(),
        403
    );
    // Student, parent, a teacher without a class: 403.
    for login in ["kid0@test.local", "parent@test.local", "teacher@test.local"] {
        let c = app.logged_in(login).await;
        assert_eq!(app.get(&c, &stats).await.status(), 403, "{login}");
        assert_eq!(app.get(&c, &format!("{stats}.xlsx")).await.status(), 403);
    }
    // The director: every class, the report; not the lists of children.
    let director = app.logged_in("director@test.local").await;
    let html = page(app, &director, &stats).await;
    assert_eq!(
        html.select(&Selector::parse("#classes tbody tr").unwrap())
            .count(),
        2
    );
    assert_eq!(attr(&html, "#card-a1", "data-whole"), 4);
    assert_eq!(
        app.get(&director, &format!("{stats}/classes/{}", s.five_a))
            .await
            .status(),
        403
    );
    // Another school's administrator: 404.
    let other = app.school("Школа № 9").await;
    app.admin(other, "other@test.local").await;
    let stranger = app.logged_in("other@test.local").await;
    assert_eq!(app.get(&stranger, &stats).await.status(), 404);
    assert_eq!(
        app.get(&stranger, &format!("{stats}/classes/{}", s.five_a))
            .await
            .status(),
        404
    );
    // The operator: aggregates only, never a child's name.
    app.operator("operator@test.local").await;
    let op = app.logged_in("operator@test.local").await;
    assert_eq!(app.get(&op, &stats).await.status(), 404);
    let res = app
        .get(&op, &format!("/region/schools/{}/stats", s.school))
        .await;
    assert_eq!(res.status(), 200);
    let body = res.text().await.unwrap();
    assert!(body.contains("5А") && !body.contains("Петров"), "no names");
    assert!(!body.contains("/stats/classes/"), "no list links");
}

#[tokio::test]
async fn xlsx_and_csv_exports_read_back_with_russian_headers_and_numeric_percentages() {
    use calamine::{Data, Reader, Xlsx};
    let s = small().await;
    let admin = s.app.logged_in("admin@test.local").await;
    let res = s
        .app
        .get(&admin, &format!("/s/{}/stats.xlsx", s.school))
        .await;
    assert_eq!(res.status(), 200);
    let bytes = res.bytes().await.unwrap().to_vec();
    let mut book: Xlsx<_> = Xlsx::new(std::io::Cursor::new(bytes)).unwrap();
    let range = book.worksheet_range("Классы").unwrap();
    let rows: Vec<Vec<Data>> = range.rows().map(|r| r.to_vec()).collect();
    let header = rows
        .iter()
        .position(|r| r.first() == Some(&Data::String("Класс".into())))
        .expect("header row");
    let head = &rows[header];
    let col = |name: &str| {
        head.iter()
            .position(|c| c == &Data::String(name.into()))
            .unwrap_or_else(|| panic!("{name}"))
    };
    let five_a = rows
        .iter()
        .find(|r| r.first() == Some(&Data::String("5А".into())))
        .unwrap();
    assert_eq!(five_a[col("Учеников")], Data::Float(3.0));
    match &five_a[col("Доля со связанным родителем")] {
        Data::Float(f) => assert!((f - 1.0 / 3.0).abs() < 1e-9, "{f}"),
        other => panic!("a number, not {other:?}"),
    }
    assert!(
        rows.iter()
            .any(|r| matches!(r.first(), Some(Data::String(s)) if s.starts_with("Данные на ")))
    );

    let res = s
        .app
        .get(&admin, &format!("/s/{}/stats.csv", s.school))
        .await;
    let body = res.text().await.unwrap();
    assert!(body.starts_with('\u{feff}'));
    assert!(body.contains("Класс;Учеников;На платформе;Доля на платформе"));
    assert!(body.contains("\r\n5А;3;"));
    let audit = s.app.audit_actions().await;
    assert_eq!(audit.iter().filter(|a| *a == "stats.exported").count(), 2);
    assert_eq!(
        school_portal::web::csv::guard("=HYPERLINK(\"x\")"),
        "'=HYPERLINK(\"x\")"
    );
    assert_eq!(school_portal::web::csv::guard("-1"), "'-1");
    assert_eq!(school_portal::web::csv::guard("5А"), "5А");
}

#[tokio::test]
async fn the_region_view_lists_schools_from_snapshots_with_bands_and_exports() {
    let s = small().await;
    let app = &s.app;
    sqlx::query("update schools set municipality = 'Городской округ Демо' where id = $1")
        .bind(s.school)
        .execute(&app.db)
        .await
        .unwrap();
    let empty = app.school("Школа без людей").await;
    school_portal::stats::snapshots::run_once(&app.db)
        .await
        .unwrap();
    app.operator("operator@test.local").await;
    let op = app.logged_in("operator@test.local").await;
    let html = page(app, &op, "/region/stats").await;
    // A6: the small school is connected, the empty one is not.
    assert_eq!(attr(&html, "#a6", "data-part"), 1);
    assert_eq!(attr(&html, "#a6", "data-whole"), 2);
    let row = format!("tr[data-school=\"{}\"]", s.school);
    assert_eq!(attr(&html, &row, "data-a1-whole"), 4);
    assert!(
        html.select(&Selector::parse(&format!("tr[data-school=\"{empty}\"]")).unwrap())
            .next()
            .is_some()
    );
    let filtered = page(
        app,
        &op,
        "/region/stats?municipality=%D0%93%D0%BE%D1%80%D0%BE%D0%B4%D1%81%D0%BA%D0%BE%D0%B9+%D0%BE%D0%BA%D1%80%D1%83%D0%B3+%D0%94%D0%B5%D0%BC%D0%BE",
    )
    .await;
    assert_eq!(attr(&filtered, "#a6", "data-whole"), 1);
    let res = app.get(&op, "/region/stats.xlsx").await;
    assert_eq!(res.status(), 200);
    assert!(
        app.audit_actions()
            .await
            .contains(&"stats.region_exported".to_owned())
    );
    // Nobody else.
    let admin = app.logged_in("admin@test.local").await;
    assert_eq!(app.get(&admin, "/region/stats").await.status(), 403);
}

/// The pages of a PDF (`/Type /Page` objects, not `/Pages`).
fn pdf_pages(pdf: &[u8]) -> usize {
    let text = String::from_utf8_lossy(pdf);
    text.match_indices("/Type /Page")
        .filter(|(i, m)| !text[i + m.len()..].starts_with('s'))
        .count()
}

#[tokio::test]
#[ignore = "needs chromedriver"]
async fn the_directors_report_prints_on_a4_in_a_browser() {
    use crate::browser::Browser;
    use fantoccini::wd::{PrintConfiguration, PrintSize};
    let app = TestApp::spawn().await;
    school_portal::demo::create(&app.db, Some(DEMO_PASSWORD.into()))
        .await
        .unwrap();
    let school = DEMO_SCHOOL;
    // The same numbers as the page.
    let director = app.client();
    app.login(&director, "director@demo.local", DEMO_PASSWORD)
        .await;
    let html = page(&app, &director, &format!("/s/{school}/stats")).await;
    let a1 = html
        .select(&Selector::parse("#card-a1 .card-value").unwrap())
        .next()
        .unwrap()
        .text()
        .collect::<String>();
    let share = a1.split(" (").next().unwrap().to_owned();
    let res = app
        .get(&director, &format!("/s/{school}/stats/report?download=1"))
        .await;
    assert!(
        res.headers()
            .get("content-disposition")
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("attachment")
    );
    let file = res.text().await.unwrap();
    assert!(file.contains("<style>") && file.contains("@page { size: A4"));
    assert!(file.contains("СПРАВКА") && file.contains(&share), "{share}");
    assert!(file.contains("Исполнитель: администратор платформы Лебедева Ирина Сергеевна"));

    let browser = Browser::start().await;
    browser.client.goto(&app.url("/login")).await.unwrap();
    browser
        .fill("input[name=login]", "director@demo.local")
        .await;
    browser.fill("input[name=password]", DEMO_PASSWORD).await;
    browser
        .click("form[action='/login'] button[type=submit]")
        .await;
    browser
        .wait_for_url(&app.url(&format!("/s/{school}")))
        .await;
    let report = app.url(&format!("/s/{school}/stats/report?period=year"));
    browser.client.goto(&report).await.unwrap();
    let title = browser.text(".doc-title").await;
    assert_eq!(title, "СПРАВКА");
    let pdf = browser
        .client
        .print(
            PrintConfiguration::builder()
                .size(PrintSize::A4)
                .build()
                .unwrap(),
        )
        .await
        .unwrap();
    assert!(pdf.starts_with(b"%PDF"));
    let pages = pdf_pages(&pdf);
    assert!(
        (1..=2).contains(&pages),
        "the report is one A4 document: {pages} pages"
    );
    let text = String::from_utf8_lossy(&pdf);
    assert!(
        text.contains("/MediaBox [0 0 595") || text.contains("/MediaBox [0 0 594"),
        "A4"
    );
    browser.close().await;
}

#[tokio::test]
async fn a_regional_specialist_sees_their_municipality_only_and_changes_nothing() {
    let s = small().await;
    let app = &s.app;
    sqlx::query("update schools set municipality = 'Северный район' where id = $1")
        .bind(s.school)
        .execute(&app.db)
        .await
        .unwrap();
    let south = app.school("Школа Южного района").await;
    sqlx::query("update schools set municipality = 'Южный район' where id = $1")
        .bind(south)
        .execute(&app.db)
        .await
        .unwrap();
    school_portal::stats::snapshots::run_once(&app.db)
        .await
        .unwrap();
    app.operator("operator@test.local").await;
    let op = app.logged_in("operator@test.local").await;
    app.account("spec@region.local", "Регионова", "Рита").await;
    let spec = app.logged_in("spec@region.local").await;
    assert_eq!(
        app.get(&spec, "/region/stats").await.status(),
        403,
        "not yet"
    );
    // The operator appoints them for the northern district.
    let res = app
        .post(
            &op,
            "/operator/regional-specialists",
            &[
                ("email", "spec@region.local"),
                ("municipality", "Северный район"),
            ],
        )
        .await;
    assert_eq!(res.status(), 303);
    let res = app
        .post(
            &op,
            "/operator/regional-specialists",
            &[("email", "nobody@x.ru")],
        )
        .await;
    assert_eq!(res.status(), 200);
    let body = res.text().await.unwrap();
    // The message is next to the address, tied to it, and what was typed is kept.
    assert!(
        select_texts(&body, "#email-error")[0].starts_with("Учётной записи с таким адресом нет"),
        "{body}"
    );
    assert_eq!(select_attr(&body, "#email", "aria-invalid"), ["true"]);
    assert_eq!(
        select_attr(&body, "#email", "aria-describedby")[0]
            .split_whitespace()
            .collect::<Vec<_>>(),
        ["email-error"]
    );
    assert_eq!(select_attr(&body, "#email", "value"), ["nobody@x.ru"]);
    assert!(
        app.audit_actions()
            .await
            .contains(&"region.specialist_appointed".to_owned())
    );
    // The start page leads there.
    let res = app.get(&spec, "/").await;
    assert_eq!(location(&res), "/region/stats");
    let html = page(app, &spec, "/region/stats").await;
    assert_eq!(attr(&html, "#a6", "data-whole"), 1, "their district only");
    let row = format!("tr[data-school=\"{}\"]", s.school);
    assert_eq!(attr(&html, &row, "data-a1-whole"), 4);
    // Even asking for another district shows theirs.
    let html = page(
        app,
        &spec,
        "/region/stats?municipality=%D0%AE%D0%B6%D0%BD%D1%8B%D0%B9+%D1%80%D0%B0%D0%B9%D0%BE%D0%BD",
    )
    .await;
    assert_eq!(attr(&html, "#a6", "data-whole"), 1);
    let res = app
        .get(&spec, &format!("/region/schools/{}/stats", s.school))
        .await;
    assert_eq!(res.status(), 200);
    assert!(!res.text().await.unwrap().contains("Петров"), "no names");
    assert_eq!(
        app.get(&spec, &format!("/region/schools/{south}/stats"))
            .await
            .status(),
        404
    );
    // Read-only: no school page inside the school, no operator pages.
    assert_eq!(
        app.get(&spec, &format!("/s/{}/stats", s.school))
            .await
            .status(),
        404
    );
    assert_eq!(
        app.get(&spec, "/operator/regional-specialists")
            .await
            .status(),
        403
    );
    assert_eq!(app.get(&spec, "/region/stats.xlsx").await.status(), 200);
}

#[tokio::test]
async fn start_pages_lead_to_work() {
    let s = small().await;
    let app = &s.app;
    app.person(s.school, "deputy@test.local", "deputy", None)
        .await;
    let (candidate, _) = app.person(s.school, "cand@test.local", "staff", None).await;
    let admin: Uuid =
        sqlx::query_scalar("select id from accounts where email = 'admin@test.local'")
            .fetch_one(&app.db)
            .await
            .unwrap();
    sqlx::query(
        "insert into admin_grants (school_id, id, account_id, granted_by, order_number, order_date)
         values ($1, gen_random_uuid(), $2, $3, '9-о', date '2025-09-01')",
    )
    .bind(s.school)
    .bind(candidate)
    .bind(admin)
    .execute(&app.db)
    .await
    .unwrap();
    let home = format!("/s/{}", s.school);
    let director = app.logged_in("director@test.local").await;
    let html = page(app, &director, &home).await;
    let waiting = html
        .select(&Selector::parse("#proposals-waiting a").unwrap())
        .next()
        .expect("proposals to approve");
    assert_eq!(
        waiting.value().attr("href"),
        Some(format!("{home}/admin-rights").as_str())
    );
    let summary = html
        .select(&Selector::parse("#stats-summary").unwrap())
        .next()
        .expect("statistics summary")
        .text()
        .collect::<String>();
    assert!(summary.contains("Ученики на платформе:"), "{summary}");
    assert!(summary.contains("из 4"), "{summary}");
    // The deputy: the summary, no approval (not the IT deputy).
    let deputy = app.logged_in("deputy@test.local").await;
    let html = page(app, &deputy, &home).await;
    assert!(
        html.select(&Selector::parse("#stats-summary a").unwrap())
            .next()
            .is_some()
    );
    assert!(
        html.select(&Selector::parse("#proposals-waiting").unwrap())
            .next()
            .is_none()
    );
    // A class teacher: neither.
    let ct = app.logged_in("ct-a@test.local").await;
    let html = page(app, &ct, &home).await;
    assert!(
        html.select(&Selector::parse("#stats-summary").unwrap())
            .next()
            .is_none()
    );
}

fn summary_text(html: &Html) -> String {
    html.select(&Selector::parse("#stats-summary").unwrap())
        .next()
        .expect("statistics summary")
        .text()
        .collect::<String>()
}

#[tokio::test]
async fn the_start_pages_shares_say_when_they_were_counted_and_the_statistics_page_is_live() {
    let s = small().await;
    let app = &s.app;
    let home = format!("/s/{}", s.school);
    let director = app.logged_in("director@test.local").await;
    let first = summary_text(&page(app, &director, &home).await);
    assert!(first.contains("из 4"), "{first}");
    let at = first
        .split("Данные на ")
        .nth(1)
        .and_then(|t| t.get(..5))
        .expect("the time they were counted");
    assert!(
        at.as_bytes()[2] == b':' && at[..2].parse::<u8>().is_ok() && at[3..].parse::<u8>().is_ok(),
        "{at}"
    );
    // A fifth student: the start page keeps the count it made (for two minutes, and
    // says so), the statistics page counts them at once.
    let five_b: Uuid =
        sqlx::query_scalar("select id from classes where school_id = $1 and letter = 'Б'")
            .bind(s.school)
            .fetch_one(&app.db)
            .await
            .unwrap();
    app.person(
        s.school,
        "kid-new@test.local",
        "student",
        Some(ClassId(five_b)),
    )
    .await;
    let again = summary_text(&page(app, &director, &home).await);
    assert!(
        again.contains("из 4") && again.contains(&format!("Данные на {at}")),
        "{again}"
    );
    let stats = page(app, &director, &format!("/s/{}/stats", s.school)).await;
    let live = stats.root_element().text().collect::<String>();
    assert!(
        live.contains("из 5"),
        "the statistics page counts the new student"
    );
}
