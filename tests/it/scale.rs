//! Fast at a region's scale (issue 10): what the speed-ups must not change. The name
//! search by the school's trigram index still finds people by any part of the name,
//! ignoring case and ё, after a rename too, and never another school's; lists stay
//! bounded; the operator's list counts members from the kept aggregates, which follow
//! every insert, leave and delete; the region generator makes schools of the demo's shape
//! that people log in to; and a test's database is gone when the test ends.

use crate::helpers::school::SchoolFixture;
use crate::helpers::*;
use school_portal::ids::SchoolId;
use sqlx::{Connection, PgConnection};

async fn names_found(app: &TestApp, c: &reqwest::Client, s: SchoolId, q: &str) -> Vec<String> {
    let page = app
        .get(c, &format!("/s/{s}/people?q={}", urlencode(q)))
        .await
        .text()
        .await
        .unwrap();
    select_texts(&page, "main tbody td:first-child")
}

/// A school with its administrator and a parent called Ёлкина Мария (y@test.local).
async fn yolkina_s_school(app: &TestApp) -> SchoolFixture {
    School::new(app)
        .admin("admin@test.local")
        .member("y@test.local", "parent")
        .called("Ёлкина", "Мария")
        .build()
        .await
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[tokio::test]
async fn name_search_uses_the_school_s_normalised_names_and_follows_a_rename() {
    let app = TestApp::spawn().await;
    let w = yolkina_s_school(&app).await;
    let (s, yolkina) = (w.id, w.account("y@test.local"));
    // The same name in another school is never found from this one.
    School::new(&app)
        .named("Школа № 2")
        .member("twin@test.local", "parent")
        .called("Ёлкина", "Мария")
        .build()
        .await;
    let c = app.logged_in("admin@test.local").await;

    for q in ["елкин", "ЁЛКИНА", "лкина мар", "мария иван"] {
        assert_eq!(
            names_found(&app, &c, s, q).await,
            vec!["Ёлкина Мария Иванович"],
            "{q}"
        );
    }
    assert!(names_found(&app, &c, s, "%").await.is_empty());

    // A rename (the account's name, kept on each membership by a trigger) is found at once.
    sqlx::query("update accounts set surname = 'Берёзкина' where id = $1")
        .bind(yolkina)
        .execute(&app.db)
        .await
        .unwrap();
    assert!(names_found(&app, &c, s, "елкин").await.is_empty());
    assert_eq!(
        names_found(&app, &c, s, "березк").await,
        vec!["Берёзкина Мария Иванович"]
    );
}

/// The pool's connections plan each statement once (`db_plan_cache_mode`, issue 10); the
/// name search plans for the name typed inside its own transaction, and leaves no
/// connection of the pool changed.
#[tokio::test]
async fn the_portal_plans_its_statements_once_and_the_name_search_for_the_name_typed() {
    let app = TestApp::spawn().await;
    let w = yolkina_s_school(&app).await;
    let c = app.logged_in("admin@test.local").await;
    for _ in 0..3 {
        assert_eq!(
            names_found(&app, &c, w.id, "елкин").await,
            vec!["Ёлкина Мария Иванович"]
        );
    }
    let mut held = Vec::new();
    for _ in 0..app.state.db.size().max(1) {
        held.push(app.state.db.acquire().await.unwrap());
    }
    for conn in &mut held {
        let mode: String = sqlx::query_scalar("show plan_cache_mode")
            .fetch_one(&mut **conn)
            .await
            .unwrap();
        assert_eq!(mode, "force_generic_plan");
    }
}

async fn rows(app: &TestApp, c: &reqwest::Client, s: SchoolId, page: &str) -> usize {
    let html = app
        .get(c, &format!("/s/{s}/people?page={page}"))
        .await
        .text()
        .await
        .unwrap();
    select_texts(&html, "main tbody td:first-child").len()
}

#[tokio::test]
async fn the_people_list_is_paged_and_a_page_past_the_end_is_empty_not_an_error() {
    let app = TestApp::spawn().await;
    let mut school = School::new(&app).admin("admin@test.local");
    for i in 0..59 {
        school = school
            .member(&format!("p{i}@test.local"), "parent")
            .called(&format!("Фамилия{i:02}"), "Имя");
    }
    let s = school.build().await.id;
    let c = app.logged_in("admin@test.local").await;
    // 60 people: 50 on the first page, 10 on the second, none further on.
    assert_eq!(rows(&app, &c, s, "1").await, 50);
    assert_eq!(rows(&app, &c, s, "2").await, 10);
    assert_eq!(rows(&app, &c, s, "3").await, 0);
    assert_eq!(rows(&app, &c, s, "99999999999999999999").await, 0);
    assert_eq!(rows(&app, &c, s, "-4").await, 50);
}

async fn members_shown(app: &TestApp, c: &reqwest::Client, name: &str) -> String {
    let page = app.get(c, "/operator/schools").await.text().await.unwrap();
    let html = scraper::Html::parse_document(&page);
    let row = scraper::Selector::parse("main tbody tr").unwrap();
    html.select(&row)
        .map(|r| r.text().collect::<Vec<_>>().join(" "))
        .find(|t| t.contains(name))
        .unwrap_or_default()
}

#[tokio::test]
async fn the_operator_s_list_counts_active_members_from_kept_aggregates() {
    let app = TestApp::spawn().await;
    app.operator("op@test.local").await;
    let w = School::new(&app)
        .named("Школа № 7")
        .class("5А")
        .student("5А", "k0@test.local")
        .student("5А", "k1@test.local")
        .student("5А", "k2@test.local")
        .build()
        .await;
    let s = w.id;
    let people: Vec<_> = (0..3)
        .map(|i| w.member(&format!("k{i}@test.local")))
        .collect();
    let c = app.logged_in("op@test.local").await;
    assert!(
        members_shown(&app, &c, "Школа № 7")
            .await
            .contains("3 участника")
    );

    // Leaving, coming back, a bulk insert and a delete all move the kept count.
    sqlx::query("update memberships set status = 'left', left_at = now() where id = $1")
        .bind(people[0])
        .execute(&app.db)
        .await
        .unwrap();
    assert!(
        members_shown(&app, &c, "Школа № 7")
            .await
            .contains("2 участника")
    );
    sqlx::query(
        "insert into memberships (school_id, id, account_id, role, class_id)
         select $1, gen_random_uuid(), a.id, 'parent', null from accounts a
         where a.email like 'k%@test.local'",
    )
    .bind(s)
    .execute(&app.db)
    .await
    .unwrap();
    assert!(
        members_shown(&app, &c, "Школа № 7")
            .await
            .contains("5 участников")
    );
    sqlx::query("delete from memberships where id = $1")
        .bind(people[0])
        .execute(&app.db)
        .await
        .unwrap();
    sqlx::query("delete from memberships where id = $1")
        .bind(people[1])
        .execute(&app.db)
        .await
        .unwrap();
    assert!(
        members_shown(&app, &c, "Школа № 7")
            .await
            .contains("4 участника")
    );
    let drift: i64 = sqlx::query_scalar(
        "select count(*) from school_counts c
         where c.active_members <> (select count(*) from memberships m
                                    where m.school_id = c.school_id and m.status = 'active')",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(drift, 0);
}

#[tokio::test]
async fn the_operator_s_second_page_names_its_schools_members_and_administrators() {
    let app = TestApp::spawn().await;
    app.operator("op@test.local").await;
    School::new(&app)
        .named("Школа Я-последняя")
        .admin("last-admin@test.local")
        .called("Завучева", "Анна")
        .class("5А")
        .student("5А", "k0@test.local")
        .student("5А", "k1@test.local")
        .build()
        .await;
    // Fifty-five schools that sort before it (bytewise, as the list does).
    sqlx::query(
        "insert into schools (id, name)
         select gen_random_uuid(), 'Школа ' || lpad(n::text, 2, '0') from generate_series(1, 55) n",
    )
    .execute(&app.db)
    .await
    .unwrap();
    let c = app.logged_in("op@test.local").await;
    let rows = |html: String| {
        let doc = scraper::Html::parse_document(&html);
        let row = scraper::Selector::parse("main tbody tr").unwrap();
        doc.select(&row)
            .map(|r| r.text().collect::<Vec<_>>().join(" "))
            .collect::<Vec<_>>()
    };
    let first = rows(app.get(&c, "/operator/schools").await.text().await.unwrap());
    assert_eq!(first.len(), 50, "{first:?}");
    assert!(first[0].contains("Школа 01"), "{first:?}");
    assert!(first[49].contains("Школа 50"), "{first:?}");
    let second = rows(
        app.get(&c, "/operator/schools?page=2")
            .await
            .text()
            .await
            .unwrap(),
    );
    assert_eq!(second.len(), 6, "{second:?}");
    assert!(second[4].contains("Школа 55"), "{second:?}");
    let last = &second[5];
    assert!(last.contains("Школа Я-последняя"), "{last}");
    // The admin and the two pupils: three members; the administrator named.
    assert!(last.contains("3 участника"), "{last}");
    assert!(last.contains("Завучева Анна"), "{last}");
}

#[tokio::test]
async fn the_region_generator_makes_schools_of_the_demo_s_shape_once() {
    let app = TestApp::spawn().await;
    let report = school_portal::demo::create_region(&app.db, Some("region password 1".into()), 3)
        .await
        .unwrap();
    assert!(report.contains("Регион: 3 школ (2 создано"), "{report}");
    let shape: Vec<(i64, i64, i64)> = sqlx::query_as(
        "select (select count(*) from memberships m where m.school_id = s.id and m.role = 'student'),
                (select count(*) from classes c where c.school_id = s.id and c.kind = 'class'),
                (select count(*) from chats k where k.school_id = s.id)
         from schools s order by s.id",
    )
    .fetch_all(&app.db)
    .await
    .unwrap();
    assert_eq!(shape.len(), 3);
    assert!(shape.iter().all(|row| *row == shape[0]), "{shape:?}");
    assert_eq!(shape[0].0, 600);

    // Each school's logins work, and see their own school.
    let c = app.client();
    let res = app
        .login(&c, "director.2@region.local", "region password 1")
        .await;
    assert_eq!(res.status(), 303);
    let home = app
        .get(
            &c,
            &format!("/s/{}", school_portal::demo::region::school_id(2)),
        )
        .await;
    assert_eq!(home.status(), 200);
    assert!(home.text().await.unwrap().contains("№ 3"));

    // A second run makes nothing new; the kept counts agree with the memberships.
    let again = school_portal::demo::create_region(&app.db, Some("region password 1".into()), 3)
        .await
        .unwrap();
    assert!(again.contains("(0 создано сейчас"), "{again}");
    let drift: i64 = sqlx::query_scalar(
        "select count(*) from school_counts c
         where c.active_members <> (select count(*) from memberships m
                                    where m.school_id = c.school_id and m.status = 'active')",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(drift, 0);
}

#[tokio::test]
async fn a_test_s_database_is_dropped_when_the_test_is_done_with_it() {
    let app = TestApp::spawn().await;
    let name: String = sqlx::query_scalar("select current_database()")
        .fetch_one(&app.db)
        .await
        .unwrap();
    let admin_url = crate::helpers::db::with_database(&app.db_url, "postgres");
    // A second application on the same database keeps it alive after the first is gone.
    let second = TestApp::spawn_on(&app.db_url, Default::default()).await;
    drop(app);
    let exists = |name: String| {
        let admin_url = admin_url.clone();
        async move {
            let mut conn = PgConnection::connect(&admin_url).await.unwrap();
            sqlx::query_scalar::<_, bool>(
                "select exists(select 1 from pg_database where datname = $1)",
            )
            .bind(name)
            .fetch_one(&mut conn)
            .await
            .unwrap()
        }
    };
    assert!(exists(name.clone()).await);
    assert_eq!(second.get(&second.client(), "/login").await.status(), 200);
    drop(second);
    assert!(!exists(name).await);
}

/// The names of the people list's page `page`, and its «Найдено» line.
async fn list_page(
    app: &TestApp,
    c: &reqwest::Client,
    s: SchoolId,
    page: u32,
) -> (Vec<String>, String) {
    let html = app
        .get(c, &format!("/s/{s}/people?page={page}"))
        .await
        .text()
        .await
        .unwrap();
    (
        select_texts(&html, "main tbody td:first-child"),
        select_texts(&html, "main p[role=status]").join(" "),
    )
}

#[tokio::test]
async fn the_people_list_is_in_alphabetical_order_each_person_once_across_pages() {
    let app = TestApp::spawn().await;
    let mut school = School::new(&app).class("5А").admin("admin@test.local");
    // Case and ё do not move a name: «ёлкина» and «Ежова» sort as «е…», after «Дёмин».
    let named = [
        ("ya@test.local", "Яковлев", "Пётр"),
        ("el@test.local", "Ёлкина", "Мария"),
        ("ez@test.local", "Ежова", "Анна"),
        ("de@test.local", "Дёмин", "Олег"),
        ("ab@test.local", "абрамов", "Илья"),
        ("ki@test.local", "Ким", "Анна"),
        ("km@test.local", "Кимова", "Анна"),
    ];
    for (email, surname, given) in named {
        school = school.member(email, "parent").called(surname, given);
    }
    // A teacher who is also a parent is one person with two roles.
    school = school
        .teacher("both@test.local")
        .called("Борисова", "Вера")
        .also("parent");
    // And enough people to need a second page.
    for i in 0..45 {
        school = school
            .student("5А", &format!("m{i}@test.local"))
            .called(&format!("Морозов{i:02}"), "Иван");
    }
    let s = school.build().await.id;
    let c = app.logged_in("admin@test.local").await;
    let (first, found) = list_page(&app, &c, s, 1).await;
    let (second, _) = list_page(&app, &c, s, 2).await;
    // 7 named, the teacher-parent, 45 students and the administrator (Петров): 54 people.
    assert!(found.contains("54 человека"), "{found}");
    assert_eq!(first.len(), 50);
    assert_eq!(second.len(), 4);
    let all: Vec<String> = first.into_iter().chain(second).collect();
    let surnames: Vec<&str> = all.iter().filter_map(|n| n.split(' ').next()).collect();
    let mut expected = vec![
        "абрамов",
        "Борисова",
        "Дёмин",
        "Ежова",
        "Ёлкина",
        "Ким",
        "Кимова",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect::<Vec<_>>();
    expected.extend((0..45).map(|i| format!("Морозов{i:02}")));
    expected.extend(["Петров".to_owned(), "Яковлев".to_owned()]);
    assert_eq!(
        surnames, expected,
        "in the alphabet's order, each person once"
    );
}
