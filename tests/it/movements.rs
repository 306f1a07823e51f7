//! Movements of students and staff (R2.1.k): enrolment, transfer, leaving, a staff member
//! leaving once everything is handed over, the movements register with its filters, pages
//! and export, and the year-end rollover — all or nothing.

use crate::helpers::*;
use school_portal::demo::DEMO_SCHOOL;
use school_portal::ids::{ClassId, MembershipId, SchoolId};
use uuid::Uuid;

/// A school with classes 5А and 5Б and its administrator (logged in).
struct World {
    app: TestApp,
    school: SchoolId,
    five_a: ClassId,
    five_b: ClassId,
    admin: reqwest::Client,
}

async fn world() -> World {
    let app = TestApp::spawn().await;
    let s = School::new(&app)
        .class("5А")
        .class("5Б")
        .admin("admin@test.local")
        .build()
        .await;
    let admin = app.logged_in("admin@test.local").await;
    World {
        school: s.id,
        five_a: s.class("5А"),
        five_b: s.class("5Б"),
        app,
        admin,
    }
}

impl World {
    /// A student with a name of their own.
    async fn student(&self, surname: &str, given: &str, class: ClassId) -> MembershipId {
        let account = self
            .app
            .account(&format!("{}@test.local", Uuid::new_v4()), surname, given)
            .await;
        self.app
            .member(self.school, account, "student", Some(class))
            .await
    }

    async fn parent_of(
        &self,
        surname: &str,
        given: &str,
        children: &[MembershipId],
    ) -> MembershipId {
        let account = self
            .app
            .account(&format!("{}@test.local", Uuid::new_v4()), surname, given)
            .await;
        let parent = self.app.member(self.school, account, "parent", None).await;
        for child in children {
            sqlx::query(
                "insert into parent_links (school_id, parent_id, child_id) values ($1, $2, $3)",
            )
            .bind(self.school)
            .bind(parent)
            .bind(child)
            .execute(&self.app.db)
            .await
            .unwrap();
        }
        parent
    }

    fn path(&self, rest: &str) -> String {
        format!("/s/{}{rest}", self.school)
    }

    async fn page(&self, path: &str) -> String {
        let res = self.app.get(&self.admin, path).await;
        assert_eq!(res.status(), 200, "GET {path}");
        res.text().await.unwrap()
    }

    /// The form's idempotency key, from the page that shows the form.
    async fn key(&self, path: &str) -> String {
        let body = self.page(path).await;
        select_attr(&body, "input[name=key]", "value").remove(0)
    }

    async fn status_of(&self, m: MembershipId) -> String {
        sqlx::query_scalar("select status from memberships where id = $1")
            .bind(m)
            .fetch_one(&self.app.db)
            .await
            .unwrap()
    }

    async fn class_of(&self, m: MembershipId) -> ClassId {
        sqlx::query_scalar("select class_id from memberships where id = $1")
            .bind(m)
            .fetch_one(&self.app.db)
            .await
            .unwrap()
    }
}

async fn count(app: &TestApp, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(&app.db).await.unwrap()
}

// ---- enrolment ------------------------------------------------------------------------

#[tokio::test]
async fn enrolment_puts_the_student_in_the_class_under_the_order_r2_1_k() {
    let w = world().await;
    let key = w.key(&w.path("/movements/enrol")).await;
    let five_a = w.five_a.to_string();

    // Without the order: Russian errors next to the fields, what was typed kept.
    let res = w
        .app
        .post(
            &w.admin,
            &w.path("/movements/enrol"),
            &[
                ("key", &key),
                ("surname", "Соколова"),
                ("given_name", "Анна"),
                ("patronymic", "Игоревна"),
                ("class", &five_a),
                ("date", "2026-09-01"),
            ],
        )
        .await;
    assert_status(&res, 200);
    let body = res.text().await.unwrap();
    assert!(body.contains("Укажите номер приказа."));
    assert!(body.contains("Укажите дату приказа."));
    assert_eq!(
        select_attr(&body, "input[name=surname]", "value"),
        vec!["Соколова"]
    );
    assert_eq!(
        select_attr(&body, "select[name=class] option[selected]", "value"),
        vec![five_a.clone()]
    );
    assert_eq!(count(&w.app, "select count(*) from movements").await, 0);

    let form = [
        ("key", key.as_str()),
        ("surname", "Соколова"),
        ("given_name", "Анна"),
        ("patronymic", "Игоревна"),
        ("birth_date", "2015-03-14"),
        ("class", five_a.as_str()),
        ("order_number", "12-о"),
        ("order_date", "2026-08-30"),
        ("date", "2026-09-01"),
    ];
    let first = w
        .app
        .post(&w.admin, &w.path("/movements/enrol"), &form)
        .await;
    assert_status(&first, 303);
    // Sent twice: one student, one movement.
    let second = w
        .app
        .post(&w.admin, &w.path("/movements/enrol"), &form)
        .await;
    assert_status(&second, 303);
    assert_eq!(location(&first), location(&second));

    let (class, status, birth): (ClassId, String, time::Date) = sqlx::query_as(
        "select m.class_id, m.status, a.birth_date from memberships m join accounts a on a.id = m.account_id
         where m.role = 'student' and a.surname = 'Соколова'",
    )
    .fetch_one(&w.app.db)
    .await
    .unwrap();
    assert_eq!(class, w.five_a);
    assert_eq!(status, "active");
    assert_eq!(birth, time::macros::date!(2015 - 03 - 14));
    assert_eq!(count(&w.app, "select count(*) from movements").await, 1);

    let body = w.page(&location(&first)).await;
    assert!(body.contains(
        "Записано: зачисление — Соколова Анна Игоревна, 5А, приказ № 12-о от 30.08.2026."
    ));
    assert_eq!(select_texts(&body, "td.movement-kind"), vec!["зачисление"]);
    assert_eq!(
        select_texts(&body, "td.movement-order"),
        vec!["приказ № 12-о от 30.08.2026"]
    );
    assert_eq!(select_texts(&body, "td.movement-to"), vec!["5А"]);
    let audit: (String, String) =
        sqlx::query_as("select target, details from audit_log where action = 'movement.enrolment'")
            .fetch_one(&w.app.db)
            .await
            .unwrap();
    assert!(audit.0.starts_with("account:"));
    assert!(audit.1.contains("приказ № 12-о от 30.08.2026"));

    // The same name again is a possible duplicate: asked, not silently created.
    let key = w.key(&w.path("/movements/enrol")).await;
    let mut again = form.to_vec();
    again[0] = ("key", key.as_str());
    let body = w
        .app
        .post(&w.admin, &w.path("/movements/enrol"), &again)
        .await
        .text()
        .await
        .unwrap();
    assert!(body.contains("В школе уже есть ученик с такими ФИО"));
    assert!(body.contains("Соколова Анна Игоревна (5А)"));
    again.push(("not_duplicate", "1"));
    let res = w
        .app
        .post(&w.admin, &w.path("/movements/enrol"), &again)
        .await;
    assert_status(&res, 303);
    assert_eq!(count(&w.app, "select count(*) from movements").await, 2);

    // What people type is escaped in the register.
    let key = w.key(&w.path("/movements/enrol")).await;
    let res = w
        .app
        .post(
            &w.admin,
            &w.path("/movements/enrol"),
            &[
                ("key", &key),
                ("surname", "<script>alert(1)</script>"),
                ("given_name", "Икс"),
                ("class", &five_a),
                ("order_number", "<b>1</b>"),
                ("order_date", "01.09.2026"),
                ("date", "01.09.2026"),
            ],
        )
        .await;
    assert_status(&res, 303);
    let body = w.page(&w.path("/movements")).await;
    assert!(!body.contains("<script>alert(1)"));
    assert!(!body.contains("<b>1</b>"));
    assert!(body.contains("&lt;script&gt;") || body.contains("&#60;script&#62;"));
}

// ---- transfer -------------------------------------------------------------------------

#[tokio::test]
async fn transfer_moves_the_student_and_records_the_order_r2_1_k() {
    let w = world().await;
    let s = w.student("Кузнецов", "Иван", w.five_a).await;

    let semyonov = w.student("Семёнов", "Артём", w.five_b).await;
    // «е» finds «ё».
    let body = w.page(&w.path("/movements/transfer?q=семенов+артем")).await;
    assert_eq!(
        select_attr(&body, ".student-results a", "href"),
        vec![w.path(&format!("/movements/transfer?student={semyonov}"))]
    );

    // Found by name, then picked.
    let body = w.page(&w.path("/movements/transfer?q=кузн")).await;
    assert_eq!(
        select_attr(&body, ".student-results a", "href"),
        vec![w.path(&format!("/movements/transfer?student={s}"))]
    );
    let body = w
        .page(&w.path(&format!("/movements/transfer?student={s}")))
        .await;
    assert!(body.contains("Кузнецов Иван"));
    // The class the student is in is not offered.
    let offered = select_attr(&body, "select[name=to_class] option", "value");
    assert!(offered.contains(&w.five_b.to_string()));
    assert!(!offered.contains(&w.five_a.to_string()));
    let key = select_attr(&body, "input[name=key]", "value").remove(0);

    let res = w
        .app
        .post(
            &w.admin,
            &w.path("/movements/transfer"),
            &[
                ("key", &key),
                ("student", &s.to_string()),
                ("to_class", &w.five_b.to_string()),
                ("order_number", "45-о"),
                ("order_date", "2026-10-01"),
                ("date", "2026-10-02"),
            ],
        )
        .await;
    assert_status(&res, 303);
    assert_eq!(w.class_of(s).await, w.five_b);

    let body = w.page(&location(&res)).await;
    assert!(body.contains(
        "Записано: перевод — Кузнецов Иван Иванович, 5А → 5Б, приказ № 45-о от 01.10.2026."
    ));
    assert_eq!(select_texts(&body, "td.movement-kind"), vec!["перевод"]);
    assert_eq!(select_texts(&body, "td.movement-from"), vec!["5А"]);
    assert_eq!(select_texts(&body, "td.movement-to"), vec!["5Б"]);
    let (target, details): (String, String) =
        sqlx::query_as("select target, details from audit_log where action = 'movement.transfer'")
            .fetch_one(&w.app.db)
            .await
            .unwrap();
    let account: Uuid = sqlx::query_scalar("select account_id from memberships where id = $1")
        .bind(s)
        .fetch_one(&w.app.db)
        .await
        .unwrap();
    assert_eq!(target, format!("account:{account}"));
    assert_eq!(details, "5А → 5Б, приказ № 45-о от 01.10.2026");
}

#[tokio::test]
async fn transfer_into_the_same_class_is_refused_r2_1_k() {
    let w = world().await;
    let s = w.student("Кузнецов", "Иван", w.five_a).await;
    let key = w
        .key(&w.path(&format!("/movements/transfer?student={s}")))
        .await;
    let res = w
        .app
        .post(
            &w.admin,
            &w.path("/movements/transfer"),
            &[
                ("key", &key),
                ("student", &s.to_string()),
                ("to_class", &w.five_a.to_string()),
                ("order_number", "45-о"),
                ("order_date", "2026-10-01"),
                ("date", "2026-10-02"),
            ],
        )
        .await;
    assert_status(&res, 200);
    let body = res.text().await.unwrap();
    assert!(body.contains("Ученик уже учится в этом классе."));
    assert_eq!(
        select_attr(&body, "input[name=order_number]", "value"),
        vec!["45-о"]
    );
    assert_eq!(w.class_of(s).await, w.five_a);
    assert_eq!(count(&w.app, "select count(*) from movements").await, 0);
}

// ---- leaving --------------------------------------------------------------------------

#[tokio::test]
async fn leaving_marks_the_student_and_a_parent_with_no_other_child_as_left_r2_1_k() {
    let w = world().await;
    let leaver = w.student("Орлов", "Пётр", w.five_a).await;
    let sibling = w.student("Орлова", "Мария", w.five_b).await;
    let mother = w.parent_of("Орлова", "Ольга", &[leaver, sibling]).await;
    let father = w.parent_of("Сидоров", "Павел", &[leaver]).await;

    // The confirmation page says who leaves with the student.
    let body = w
        .page(&w.path(&format!("/movements/leave?student={leaver}")))
        .await;
    let leaving = select_texts(&body, ".parents-leaving");
    assert_eq!(leaving.len(), 1);
    assert!(leaving[0].contains("Сидоров Павел Иванович"));
    assert!(!leaving[0].contains("Орлова Ольга"));
    let key = select_attr(&body, "input[name=key]", "value").remove(0);
    let leaver_id = leaver.to_string();
    let mut form = vec![
        ("key", key.as_str()),
        ("student", leaver_id.as_str()),
        ("order_number", "50-о"),
        ("order_date", "2026-11-20"),
        ("date", "2026-11-21"),
        ("reason", "смена места жительства"),
    ];

    // Not confirmed: nothing happens.
    let res = w
        .app
        .post(&w.admin, &w.path("/movements/leave"), &form)
        .await;
    assert_status(&res, 200);
    assert!(res.text().await.unwrap().contains("Подтвердите выбытие"));
    assert_eq!(w.status_of(leaver).await, "active");

    form.push(("confirm", "1"));
    let res = w
        .app
        .post(&w.admin, &w.path("/movements/leave"), &form)
        .await;
    assert_status(&res, 303);
    assert_eq!(w.status_of(leaver).await, "left");
    assert_eq!(
        w.status_of(father).await,
        "left",
        "no other child in the school"
    );
    assert_eq!(
        w.status_of(mother).await,
        "active",
        "her daughter still studies here"
    );
    assert_eq!(w.status_of(sibling).await, "active");
    // The links stay as history.
    assert_eq!(count(&w.app, "select count(*) from parent_links").await, 3);
    let left_at: Option<time::OffsetDateTime> =
        sqlx::query_scalar("select left_at from memberships where id = $1")
            .bind(leaver)
            .fetch_one(&w.app.db)
            .await
            .unwrap();
    assert!(left_at.is_some());

    let body = w.page(&location(&res)).await;
    assert!(
        body.contains(
            "Записано: выбытие — Орлов Пётр Иванович, из 5А, приказ № 50-о от 20.11.2026."
        )
    );
    assert!(body.contains("они тоже отмечены выбывшими: Сидоров Павел Иванович."));
    assert_eq!(select_texts(&body, "td.movement-kind"), vec!["выбытие"]);
    assert!(body.contains("смена места жительства"));
    let actions = w.app.audit_actions().await;
    assert!(actions.contains(&"movement.leaving".to_owned()));
    assert!(actions.contains(&"membership.parent_left".to_owned()));

    // A student who left cannot leave or move again.
    let body = w
        .page(&w.path(&format!("/movements/transfer?student={leaver}")))
        .await;
    assert!(body.contains("уже выбыл"));
    assert!(select_attr(&body, "input[name=key]", "value").is_empty());
}

// ---- staff ----------------------------------------------------------------------------

#[tokio::test]
async fn staff_leaving_is_refused_while_they_lead_a_class_then_allowed_r2_1_k() {
    let w = world().await;
    let (_, teacher) = w
        .app
        .person(w.school, "teacher@test.local", "teacher", None)
        .await;
    w.app.class_teacher(w.school, w.five_a, teacher).await;
    let (_, successor) = w
        .app
        .person(w.school, "successor@test.local", "teacher", None)
        .await;

    let body = w
        .page(&w.path(&format!("/movements/staff-leave?member={teacher}")))
        .await;
    assert!(body.contains("Сначала передайте: классное руководство 5А."));
    let key = select_attr(&body, "input[name=key]", "value");
    assert!(
        key.is_empty(),
        "no form while something must be handed over"
    );

    let key = Uuid::now_v7().to_string();
    let form = [
        ("key", key.as_str()),
        ("member", &teacher.to_string()),
        ("order_number", "60-к"),
        ("order_date", "2026-11-20"),
        ("date", "2026-11-23"),
        ("reason", "по собственному желанию"),
        ("confirm", "1"),
    ];
    let res = w
        .app
        .post(&w.admin, &w.path("/movements/staff-leave"), &form)
        .await;
    assert_status(&res, 200);
    let body = res.text().await.unwrap();
    assert!(body.contains("Сначала передайте: классное руководство 5А."));
    assert_eq!(w.status_of(teacher).await, "active");

    // Class leadership passes to the successor; now the teacher may leave.
    sqlx::query("update class_teacher_assignments set ended_at = now() where teacher_id = $1")
        .bind(teacher)
        .execute(&w.app.db)
        .await
        .unwrap();
    w.app.class_teacher(w.school, w.five_a, successor).await;
    let res = w
        .app
        .post(&w.admin, &w.path("/movements/staff-leave"), &form)
        .await;
    assert_status(&res, 303);
    assert_eq!(w.status_of(teacher).await, "left");
    let body = w.page(&location(&res)).await;
    assert_eq!(
        select_texts(&body, "td.movement-kind"),
        vec!["выбытие сотрудника"]
    );
    assert!(body.contains("приказ № 60-к от 20.11.2026"));
    assert!(
        w.app
            .audit_actions()
            .await
            .contains(&"movement.staff_leaving".to_owned())
    );
    // The leaver no longer opens the school.
    let gone = w.app.logged_in("teacher@test.local").await;
    assert_eq!(
        w.app.get(&gone, &format!("/s/{}", w.school)).await.status(),
        404
    );

    // Admin rights and lessons are named too.
    let admin_member: MembershipId = sqlx::query_scalar(
        "select m.id from memberships m join accounts a on a.id = m.account_id where a.email = 'admin@test.local'",
    )
    .fetch_one(&w.app.db)
    .await
    .unwrap();
    let subject = Uuid::now_v7();
    sqlx::query(
        "insert into subjects (school_id, id, kind, name) values ($1, $2, 'subject', 'математика')",
    )
    .bind(w.school)
    .bind(subject)
    .execute(&w.app.db)
    .await
    .unwrap();
    for class in [w.five_a, w.five_b] {
        sqlx::query("insert into teaching_assignments (school_id, id, subject_id, class_id, teacher_id) values ($1, gen_random_uuid(), $2, $3, $4)")
            .bind(w.school)
            .bind(subject)
            .bind(class)
            .bind(admin_member)
            .execute(&w.app.db)
            .await
            .unwrap();
    }
    let body = w
        .page(&w.path(&format!("/movements/staff-leave?member={admin_member}")))
        .await;
    assert!(body.contains(
        "Сначала передайте: права администратора платформы; уроки: математика в 5А, 5Б."
    ));
}

// ---- the register ---------------------------------------------------------------------

/// Records a movement directly (for register tests that need many).
async fn movement(
    w: &World,
    kind: &str,
    who: MembershipId,
    to: Option<ClassId>,
    on: &str,
    order: &str,
) {
    sqlx::query(
        "insert into movements (school_id, id, kind, membership_id, to_class_id, order_number, order_date, happened_on)
         values ($1, $2, $3, $4, $5, $6, $7::date, $7::date)",
    )
    .bind(w.school)
    .bind(Uuid::now_v7())
    .bind(kind)
    .bind(who)
    .bind(to)
    .bind(order)
    .bind(on)
    .execute(&w.app.db)
    .await
    .unwrap();
}

#[tokio::test]
async fn register_filters_by_kind_class_and_date_and_exports_csv_r2_1_k() {
    let w = world().await;
    let a = w.student("Алексеев", "Антон", w.five_a).await;
    let b = w.student("Борисова", "Бэлла", w.five_b).await;
    movement(&w, "enrolment", a, Some(w.five_a), "2026-09-01", "1-о").await;
    movement(&w, "enrolment", b, Some(w.five_b), "2026-09-02", "2-о").await;
    movement(&w, "transfer", a, Some(w.five_b), "2026-10-15", "3-о").await;

    let body = w.page(&w.path("/movements")).await;
    assert_eq!(select_texts(&body, "td.movement-kind").len(), 3);

    let body = w.page(&w.path("/movements?kind=enrolment")).await;
    assert_eq!(
        select_texts(&body, "td.movement-person"),
        vec!["Борисова Бэлла Иванович", "Алексеев Антон Иванович"]
    );
    let body = w
        .page(&w.path(&format!("/movements?class={}", w.five_a)))
        .await;
    assert_eq!(
        select_texts(&body, "td.movement-order"),
        vec!["приказ № 1-о от 01.09.2026"]
    );
    let body = w
        .page(&w.path("/movements?from=2026-09-02&to=2026-10-01"))
        .await;
    assert_eq!(
        select_texts(&body, "td.movement-order"),
        vec!["приказ № 2-о от 02.09.2026"]
    );
    // A date that is not one is said so, and the rest still works.
    let body = w.page(&w.path("/movements?from=вчера")).await;
    assert!(body.contains("Дата в формате ДД.ММ.ГГГГ."));
    assert_eq!(select_texts(&body, "td.movement-kind").len(), 3);
    let body = w
        .page(&w.path("/movements?kind=transfer&class=&from=&to="))
        .await;
    assert_eq!(
        select_attr(&body, "select[name=kind] option[selected]", "value"),
        vec!["transfer"]
    );

    // The export: the same filters, UTF-8 with BOM, `;`, as an attachment, audited.
    let res = w
        .app
        .get(&w.admin, &w.path("/movements.csv?kind=enrolment"))
        .await;
    assert_status(&res, 200);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    assert!(
        res.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment;")
    );
    let bytes = res.bytes().await.unwrap();
    assert!(bytes.starts_with(&[0xEF, 0xBB, 0xBF]), "a BOM for Excel");
    let text = String::from_utf8(bytes[3..].to_vec()).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3);
    assert!(lines[0].starts_with("Дата;Движение;ФИО;Из класса;В класс;Приказ;"));
    assert!(lines[1].starts_with(
        "02.09.2026;зачисление;Борисова Бэлла Иванович;—;5Б;приказ № 2-о от 02.09.2026;"
    ));
    let details: String =
        sqlx::query_scalar("select details from audit_log where action = 'export.movements'")
            .fetch_one(&w.app.db)
            .await
            .unwrap();
    assert_eq!(details, "вид: зачисление; строк: 2");
}

#[tokio::test]
async fn register_shows_a_second_page_after_fifty_r2_1_k() {
    let w = world().await;
    let s = w.student("Петров", "Пётр", w.five_a).await;
    for i in 0..55 {
        movement(
            &w,
            "transfer",
            s,
            Some(w.five_b),
            "2026-10-01",
            &format!("{i}-о"),
        )
        .await;
    }
    let body = w.page(&w.path("/movements?kind=transfer")).await;
    assert_eq!(select_texts(&body, "td.movement-kind").len(), 50);
    let next = select_attr(&body, "a[rel=next]", "href");
    assert_eq!(next.len(), 1);
    assert!(next[0].contains("kind=transfer") && next[0].contains("after="));
    assert_eq!(
        select_texts(&body, "a[rel=next]"),
        vec!["Следующая страница →"]
    );
    let first: Vec<String> = select_texts(&body, "td.movement-order");

    let body = w.page(&next[0]).await;
    let second = select_texts(&body, "td.movement-order");
    assert_eq!(second.len(), 5);
    assert!(second.iter().all(|o| !first.contains(o)), "no row twice");
    assert!(select_attr(&body, "a[rel=next]", "href").is_empty());
    // Newest first: the first five recorded are on the second page.
    let mut all = first.clone();
    all.extend(second);
    let orders: Vec<String> = (0..55)
        .rev()
        .map(|i| format!("приказ № {i}-о от 01.10.2026"))
        .collect();
    assert_eq!(all, orders);
}

// ---- the rollover ---------------------------------------------------------------------

const DEMO_PASSWORD: &str = "demo password 123";

async fn demo() -> (TestApp, reqwest::Client) {
    let app = TestApp::spawn().await;
    school_portal::demo::create(&app.db, Some(DEMO_PASSWORD.into()))
        .await
        .unwrap();
    let admin = app.client();
    let res = app.login(&admin, "admin@demo.local", DEMO_PASSWORD).await;
    assert_status(&res, 303);
    (app, admin)
}

/// A class of the demo school's current year by title.
async fn demo_class(app: &TestApp, title: &str) -> ClassId {
    sqlx::query_scalar(
        "select c.id from classes c join academic_years y on y.id = c.academic_year_id
         where c.school_id = $1 and y.is_current and c.title = $2",
    )
    .bind(DEMO_SCHOOL)
    .bind(title)
    .fetch_one(&app.db)
    .await
    .unwrap()
}

async fn students_of(app: &TestApp, class: ClassId) -> Vec<MembershipId> {
    sqlx::query_scalar(
        "select id from memberships where class_id = $1 and role = 'student' and status = 'active' order by id",
    )
    .bind(class)
    .fetch_all(&app.db)
    .await
    .unwrap()
}

#[tokio::test]
async fn rollover_on_the_demo_school_moves_every_class_up_and_graduates_the_11th_r2_1_k() {
    let (app, admin) = demo().await;
    let path = format!("/s/{DEMO_SCHOOL}/rollover");
    let (year, starts): (Uuid, time::Date) = sqlx::query_as(
        "select id, starts_on from academic_years where school_id = $1 and is_current",
    )
    .bind(DEMO_SCHOOL)
    .fetch_one(&app.db)
    .await
    .unwrap();
    let (y, next) = (starts.year(), starts.year() + 1);

    // The preview.
    let res = app.get(&admin, &path).await;
    assert_status(&res, 200);
    let body = res.text().await.unwrap();
    assert!(body.contains(&format!("Учебный год {y}/{next} → {next}/{}", next + 1)));
    let summaries = select_texts(&body, "details.rollover-class summary");
    let classes = count(&app, "select count(*) from classes where kind = 'class'").await;
    assert_eq!(summaries.len() as i64, classes);
    let five_a = demo_class(&app, "5А").await;
    assert!(
        summaries
            .iter()
            .any(|s| s.starts_with("5А → 6А (") && s.ends_with("ученика)")
                || s.ends_with("учеников)"))
    );
    assert!(summaries.iter().any(|s| s.starts_with("11А → выпуск (")));
    assert!(body.contains("Оставленные на повторное обучение перейдут в 5А нового учебного года."));

    // Before: the classes with their grades, the 11th's students.
    let before: Vec<(ClassId, i16, String)> = sqlx::query_as(
        "select id, grade, letter from classes where school_id = $1 and kind = 'class' order by id",
    )
    .bind(DEMO_SCHOOL)
    .fetch_all(&app.db)
    .await
    .unwrap();
    let eleven_a = demo_class(&app, "11А").await;
    let graduates: i64 = sqlx::query_scalar(
        "select count(*) from memberships m join classes c on c.id = m.class_id
         where c.school_id = $1 and c.grade = 11 and m.role = 'student' and m.status = 'active'",
    )
    .bind(DEMO_SCHOOL)
    .fetch_one(&app.db)
    .await
    .unwrap();
    let all_students = count(
        &app,
        "select count(*) from memberships where role = 'student' and status = 'active'",
    )
    .await;
    let four_a = demo_class(&app, "4А").await;
    let repeater = students_of(&app, five_a).await[3];
    let one_b = demo_class(&app, "1Б").await;
    let first_grader = students_of(&app, one_b).await[0];
    let six_b = demo_class(&app, "6Б").await;
    let conditional = students_of(&app, six_b).await[0];

    // A first-grade repeater needs a class picked: the new year has no 1Б.
    let mut form: Vec<(String, String)> = vec![
        ("repeat".into(), repeater.to_string()),
        ("repeat".into(), first_grader.to_string()),
        ("conditional".into(), conditional.to_string()),
        ("order_number".into(), "88-о".into()),
        ("order_date".into(), format!("{next}-05-30")),
        ("confirm".into(), "1".into()),
        ("early_confirm".into(), "1".into()),
    ];
    let post = |form: Vec<(String, String)>| {
        let app = &app;
        let admin = &admin;
        let path = path.clone();
        async move {
            let refs: Vec<(&str, &str)> =
                form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            app.post(admin, &path, &refs).await
        }
    };
    let res = post(form.clone()).await;
    assert_status(&res, 200);
    let body = res.text().await.unwrap();
    assert!(body.contains("Выберите класс, в котором ученик будет учиться повторно."));
    assert_eq!(
        count(
            &app,
            "select count(*) from rollovers where performed_at > now() - interval '1 hour'"
        )
        .await,
        0
    );
    // The marks are kept.
    let checked = select_attr(&body, "input[name=repeat][checked]", "value");
    assert_eq!(checked.len(), 2);
    // The new year's 1st-grade class for them: the old 1А, which will be 2А — the
    // administrator's choice; here the class that becomes 2В.
    let one_v = demo_class(&app, "1В").await;
    form.push((format!("target_{first_grader}"), one_v.to_string()));

    let res = post(form.clone()).await;
    assert_eq!(
        res.status(),
        303,
        "{}",
        res.text().await.unwrap_or_default()
    );
    let done = location(&res);
    assert!(done.starts_with(&format!("/s/{DEMO_SCHOOL}/rollover?done=")));

    // Every class 1–10 moved up a grade into the new current year, keeping its id.
    let new_year: (Uuid, time::Date) = sqlx::query_as(
        "select id, starts_on from academic_years where school_id = $1 and is_current",
    )
    .bind(DEMO_SCHOOL)
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_ne!(new_year.0, year);
    assert_eq!(
        new_year.1,
        time::Date::from_calendar_date(next, time::Month::September, 1).unwrap()
    );
    assert_eq!(
        count(&app, "select count(*) from academic_years where is_current").await,
        1
    );
    for (id, grade, letter) in &before {
        let (g, title, y, archived): (i16, String, Uuid, bool) = sqlx::query_as(
            "select grade, title, academic_year_id, archived_at is not null from classes where id = $1",
        )
        .bind(id)
        .fetch_one(&app.db)
        .await
        .unwrap();
        if *grade < 11 {
            assert_eq!(g, grade + 1);
            assert_eq!(title, format!("{}{letter}", grade + 1));
            assert_eq!(y, new_year.0);
            assert!(!archived);
        } else {
            assert_eq!(g, 11);
            assert_eq!(y, year, "a graduated class stays in its year");
            assert!(archived);
        }
    }
    // The 11th graduated: students left, movements written, class leadership ended.
    assert_eq!(students_of(&app, eleven_a).await.len(), 0);
    let graduated = count(
        &app,
        "select count(*) from movements where kind = 'graduation'",
    )
    .await;
    assert_eq!(graduated, graduates);
    let open: i64 = sqlx::query_scalar(
        "select count(*) from class_teacher_assignments where class_id = $1 and ended_at is null",
    )
    .bind(eleven_a)
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(open, 0);
    let promoted = count(
        &app,
        "select count(*) from movements where kind = 'promotion'",
    )
    .await;
    assert_eq!(promoted, all_students - graduates - 2);
    assert_eq!(
        count(&app, "select count(*) from movements where kind = 'repeat'").await,
        2
    );
    // The 5А repeater is in the new 5А (the old 4А).
    let mut conn = app.db.acquire().await.unwrap();
    let (class, title): (ClassId, String) = sqlx::query_as(
        "select c.id, c.title from memberships m join classes c on c.id = m.class_id where m.id = $1",
    )
    .bind(repeater)
    .fetch_one(&mut *conn)
    .await
    .unwrap();
    assert_eq!(class, four_a);
    assert_eq!(title, "5А");
    let class: ClassId = sqlx::query_scalar("select class_id from memberships where id = $1")
        .bind(first_grader)
        .fetch_one(&mut *conn)
        .await
        .unwrap();
    assert_eq!(class, one_v);
    let flags: Vec<MembershipId> =
        sqlx::query_scalar("select id from memberships where conditional_promotion")
            .fetch_all(&mut *conn)
            .await
            .unwrap();
    assert_eq!(flags, vec![conditional]);
    drop(conn);
    assert_eq!(
        count(
            &app,
            "select count(*) from rollovers where performed_at > now() - interval '1 hour'"
        )
        .await,
        1
    );
    assert!(
        app.audit_actions()
            .await
            .contains(&"rollover.applied".to_owned())
    );

    // The register shows the promotion with the titles as they were: 5А → 6А.
    let body = app
        .get(
            &admin,
            &format!("/s/{DEMO_SCHOOL}/movements?kind=promotion&class={five_a}"),
        )
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(select_texts(&body, "td.movement-from")[0], "5А");
    assert_eq!(select_texts(&body, "td.movement-to")[0], "6А");
    assert!(select_texts(&body, "td.movement-order")[0].starts_with("приказ № 88-о от 30.05."));

    // The done page says what happened; a second rollover is refused.
    let body = app.get(&admin, &done).await.text().await.unwrap();
    assert!(body.contains("Перевод выполнен"));
    assert!(body.contains("выпущено 2 класса"));
    assert!(body.contains("Перевод сейчас невозможен."));
    let res = post(form).await;
    assert_status(&res, 200);
    assert!(res.text().await.unwrap().contains("ещё не начался"));
    assert_eq!(
        count(
            &app,
            "select count(*) from rollovers where performed_at > now() - interval '1 hour'"
        )
        .await,
        1
    );
}

/// Every row of the tables the rollover touches, as text.
async fn snapshot(app: &TestApp) -> Vec<String> {
    let mut out = Vec::new();
    for table in [
        "academic_years",
        "classes",
        "memberships",
        "movements",
        "rollovers",
        "class_teacher_assignments",
        "parent_links",
        "accounts",
        "audit_log",
    ] {
        let rows: String = sqlx::query_scalar(&format!(
            "select coalesce(string_agg(t::text, E'\\n' order by t::text), '') from {table} t"
        ))
        .fetch_one(&app.db)
        .await
        .unwrap();
        out.push(format!("{table}:\n{rows}"));
    }
    out
}

#[tokio::test]
async fn rollover_failure_half_way_leaves_everything_as_it_was_r2_1_k() {
    let (app, admin) = demo().await;
    // A real failure half-way: after the promotions, at the first graduation.
    sqlx::query(
        "create function fail_graduation() returns trigger language plpgsql as $$
         begin raise exception 'injected failure'; end $$",
    )
    .execute(&app.db)
    .await
    .unwrap();
    sqlx::query(
        "create trigger fail_graduation before insert on movements for each row
         when (new.kind = 'graduation') execute function fail_graduation()",
    )
    .execute(&app.db)
    .await
    .unwrap();
    let before = snapshot(&app).await;
    assert!(before[1].contains("11А"));

    let five_a = demo_class(&app, "5А").await;
    let repeater = students_of(&app, five_a).await[0].to_string();
    let res = app
        .post(
            &admin,
            &format!("/s/{DEMO_SCHOOL}/rollover"),
            &[
                ("repeat", repeater.as_str()),
                ("confirm", "1"),
                ("early_confirm", "1"),
            ],
        )
        .await;
    assert_status(&res, 500);
    assert!(res.text().await.unwrap().contains("Что-то пошло не так"));

    let after = snapshot(&app).await;
    for (b, a) in before.iter().zip(after.iter()) {
        assert!(b == a, "changed: {}", b.lines().next().unwrap_or(""));
    }

    // Without the failure the same rollover goes through.
    sqlx::query("drop trigger fail_graduation on movements")
        .execute(&app.db)
        .await
        .unwrap();
    let res = app
        .post(
            &admin,
            &format!("/s/{DEMO_SCHOOL}/rollover"),
            &[
                ("repeat", repeater.as_str()),
                ("confirm", "1"),
                ("early_confirm", "1"),
            ],
        )
        .await;
    assert_status(&res, 303);
}

#[tokio::test]
async fn rollover_asks_for_confirmation_first_r2_1_k() {
    let w = world().await;
    w.student("Петров", "Пётр", w.five_a).await;
    let res = w.app.post(&w.admin, &w.path("/rollover"), &[]).await;
    assert_status(&res, 200);
    let body = res.text().await.unwrap();
    assert!(body.contains("Я проверил(а) список и подтверждаю перевод"));
    assert!(body.contains("Отметьте «Я проверил(а) список и подтверждаю перевод»."));
    assert_eq!(count(&w.app, "select count(*) from rollovers").await, 0);
    assert_eq!(
        count(&w.app, "select count(*) from academic_years").await,
        1
    );

    // A year that started a month ago: asked again before anything happens.
    let set_start = |days: i32| {
        let db = w.app.db.clone();
        async move {
            sqlx::query(
                "update academic_years set starts_on = current_date - $1, ends_on = current_date - $1 + 364",
            )
            .bind(days)
            .execute(&db)
            .await
            .unwrap();
        }
    };
    set_start(30).await;
    let res = w
        .app
        .post(&w.admin, &w.path("/rollover"), &[("confirm", "1")])
        .await;
    assert_status(&res, 200);
    let body = res.text().await.unwrap();
    assert!(body.contains("Учебный год начался меньше полугода назад: подтвердите"));
    assert_eq!(count(&w.app, "select count(*) from rollovers").await, 0);

    // Ten months into the year the confirmation of the list is enough.
    set_start(300).await;
    let res = w
        .app
        .post(&w.admin, &w.path("/rollover"), &[("confirm", "1")])
        .await;
    assert_status(&res, 303);
    assert_eq!(count(&w.app, "select count(*) from rollovers").await, 1);
    let (title, conditional): (String, bool) = sqlx::query_as(
        "select c.title, m.conditional_promotion from memberships m join classes c on c.id = m.class_id where m.role = 'student'",
    )
    .fetch_one(&w.app.db)
    .await
    .unwrap();
    assert_eq!((title.as_str(), conditional), ("6А", false));
}

// ---- access -----------------------------------------------------------------------------

const GETS: [&str; 7] = [
    "/movements",
    "/movements.csv",
    "/movements/enrol",
    "/movements/transfer",
    "/movements/leave",
    "/movements/staff-leave",
    "/rollover",
];
const POSTS: [&str; 5] = [
    "/movements/enrol",
    "/movements/transfer",
    "/movements/leave",
    "/movements/staff-leave",
    "/rollover",
];

#[tokio::test]
async fn movement_pages_answer_by_role_r2_1_k() {
    let w = world().await;
    let other = w.app.school("Школа № 2").await;
    w.app.admin(other, "other-admin@test.local").await;
    let (_, teacher) = w
        .app
        .person(w.school, "teacher@test.local", "teacher", None)
        .await;
    w.app.class_teacher(w.school, w.five_a, teacher).await;
    w.app
        .person(w.school, "director@test.local", "director", None)
        .await;

    let anon = w.app.client();
    for p in GETS {
        assert_login_redirect(&w.app.get(&anon, &w.path(p)).await);
    }
    for p in POSTS {
        assert_login_redirect(&w.app.post(&anon, &w.path(p), &[]).await);
    }

    let teacher = w.app.logged_in("teacher@test.local").await;
    for p in GETS {
        assert_eq!(w.app.get(&teacher, &w.path(p)).await.status(), 403, "{p}");
    }
    for p in POSTS {
        assert_eq!(
            w.app.post(&teacher, &w.path(p), &[]).await.status(),
            403,
            "{p}"
        );
    }

    // The director reads the register and exports it, but records nothing.
    let director = w.app.logged_in("director@test.local").await;
    for p in ["/movements", "/movements.csv"] {
        assert_eq!(w.app.get(&director, &w.path(p)).await.status(), 200, "{p}");
    }
    let body = w
        .app
        .get(&director, &w.path("/movements"))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        !body.contains("/movements/enrol"),
        "no links to forms they cannot use"
    );
    for p in &GETS[2..] {
        assert_eq!(w.app.get(&director, &w.path(p)).await.status(), 403, "{p}");
    }

    let other_admin = w.app.logged_in("other-admin@test.local").await;
    for p in GETS {
        assert_eq!(
            w.app.get(&other_admin, &w.path(p)).await.status(),
            404,
            "{p}"
        );
    }
    for p in POSTS {
        assert_eq!(
            w.app.post(&other_admin, &w.path(p), &[]).await.status(),
            404,
            "{p}"
        );
    }

    for (p, text) in [
        ("/movements", "Движение учеников и сотрудников"),
        ("/movements/enrol", "Зачисление ученика"),
        ("/movements/transfer", "Перевод ученика в другой класс"),
        ("/movements/leave", "Выбытие ученика"),
        ("/movements/staff-leave", "Выбытие сотрудника"),
        ("/rollover", "Перевод на следующий учебный год"),
    ] {
        let body = w.page(&w.path(p)).await;
        assert!(body.contains(text), "{p}");
    }
}

#[tokio::test]
async fn another_schools_people_and_classes_cannot_be_moved_r2_1_k() {
    let w = world().await;
    let other = w.app.school("Школа № 2").await;
    let their_class = w.app.class(other, 5, "В").await;
    let (_, their_student) = w
        .app
        .person(
            other,
            "their-student@test.local",
            "student",
            Some(their_class),
        )
        .await;
    let (_, their_teacher) = w
        .app
        .person(other, "their-teacher@test.local", "teacher", None)
        .await;
    let ours = w.student("Наш", "Ученик", w.five_a).await;

    for p in [
        format!("/movements/transfer?student={their_student}"),
        format!("/movements/leave?student={their_student}"),
        format!("/movements/staff-leave?member={their_teacher}"),
        "/movements/transfer?student=not-an-id".to_owned(),
    ] {
        assert_eq!(w.app.get(&w.admin, &w.path(&p)).await.status(), 404, "{p}");
    }
    let order = [
        ("order_number", "1"),
        ("order_date", "2026-11-01"),
        ("date", "2026-11-01"),
        ("confirm", "1"),
    ];
    let key = Uuid::now_v7().to_string();
    let s = their_student.to_string();
    let mut f = vec![("key", key.as_str()), ("student", s.as_str())];
    f.extend(order);
    let wc = w.five_b.to_string();
    let mut t = f.clone();
    t.push(("to_class", wc.as_str()));
    assert_eq!(
        w.app
            .post(&w.admin, &w.path("/movements/transfer"), &t)
            .await
            .status(),
        404
    );
    assert_eq!(
        w.app
            .post(&w.admin, &w.path("/movements/leave"), &f)
            .await
            .status(),
        404
    );
    let m = their_teacher.to_string();
    let mut sl = vec![("key", key.as_str()), ("member", m.as_str())];
    sl.extend(order);
    assert_eq!(
        w.app
            .post(&w.admin, &w.path("/movements/staff-leave"), &sl)
            .await
            .status(),
        404
    );

    // Our student into their class: a field error, nothing moves.
    let o = ours.to_string();
    let tc = their_class.to_string();
    let mut t = vec![
        ("key", key.as_str()),
        ("student", o.as_str()),
        ("to_class", tc.as_str()),
    ];
    t.extend(order);
    let res = w
        .app
        .post(&w.admin, &w.path("/movements/transfer"), &t)
        .await;
    assert_status(&res, 200);
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("Выберите класс из списка.")
    );
    let mut e = vec![
        ("key", key.as_str()),
        ("surname", "Чужой"),
        ("given_name", "Класс"),
        ("class", tc.as_str()),
    ];
    e.extend(order);
    let res = w.app.post(&w.admin, &w.path("/movements/enrol"), &e).await;
    assert_status(&res, 200);
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("Выберите класс из списка.")
    );
    // A rollover mark for their student is not taken.
    let res = w
        .app
        .post(
            &w.admin,
            &w.path("/rollover"),
            &[
                ("repeat", s.as_str()),
                ("confirm", "1"),
                ("early_confirm", "1"),
            ],
        )
        .await;
    assert_status(&res, 200);
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("Некоторых отмеченных учеников уже нет в списке")
    );

    assert_eq!(w.class_of(ours).await, w.five_a);
    assert_eq!(w.class_of(their_student).await, their_class);
    assert_eq!(w.status_of(their_student).await, "active");
    assert_eq!(w.status_of(their_teacher).await, "active");
    assert_eq!(count(&w.app, "select count(*) from movements").await, 0);
    assert_eq!(count(&w.app, "select count(*) from rollovers").await, 0);
}

#[tokio::test]
async fn rollover_into_a_year_prepared_ahead_keeps_its_classes_r2_1_k() {
    let w = world().await;
    let school = w.school;
    let one_a = w.app.class(school, 1, "А").await;
    let first = w.student("Первоклассников", "Иван", one_a).await;
    let repeater = w.student("Второгодников", "Пётр", one_a).await;
    let flagged = w.student("Условный", "Семён", w.five_a).await;
    sqlx::query("update memberships set conditional_promotion = true where id = $1")
        .bind(flagged)
        .execute(&w.app.db)
        .await
        .unwrap();
    // Ten months into the year; the next year exists already with its new 1А and a 6А.
    sqlx::query(
        "update academic_years set starts_on = current_date - 300, ends_on = current_date + 64",
    )
    .execute(&w.app.db)
    .await
    .unwrap();
    let next: Uuid = sqlx::query_scalar(
        "insert into academic_years (school_id, id, starts_on, ends_on)
         select school_id, gen_random_uuid(), make_date(extract(year from starts_on)::int + 1, 9, 1),
                make_date(extract(year from starts_on)::int + 2, 8, 31)
         from academic_years where school_id = $1 returning id",
    )
    .bind(school)
    .fetch_one(&w.app.db)
    .await
    .unwrap();
    let new_first = ClassId(Uuid::now_v7());
    let six_a = ClassId(Uuid::now_v7());
    for (id, grade) in [(new_first, 1i16), (six_a, 6)] {
        sqlx::query(
            "insert into classes (school_id, id, kind, academic_year_id, grade, letter, title)
             values ($1, $2, 'class', $3, $4, 'А', $4::text || 'А')",
        )
        .bind(school)
        .bind(id)
        .bind(next)
        .bind(grade)
        .execute(&w.app.db)
        .await
        .unwrap();
    }

    // 5А cannot become 6А while the next year has one: refused, and said why.
    let body = w.page(&w.path("/rollover")).await;
    assert!(body.contains("уже есть класс 6А: класс 5А не может стать 6А"));
    let form = [
        ("repeat", repeater.to_string()),
        ("confirm", "1".to_owned()),
    ];
    let refs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let res = w.app.post(&w.admin, &w.path("/rollover"), &refs).await;
    assert_status(&res, 200);
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("Перевод сейчас невозможен.")
    );
    assert_eq!(count(&w.app, "select count(*) from rollovers").await, 0);

    sqlx::query("delete from classes where id = $1")
        .bind(six_a)
        .execute(&w.app.db)
        .await
        .unwrap();
    let body = w.page(&w.path("/rollover")).await;
    assert!(body.contains("Оставленные на повторное обучение перейдут в 1А нового учебного года."));
    let res = w.app.post(&w.admin, &w.path("/rollover"), &refs).await;
    assert_status(&res, 303);

    // The prepared year became current; the repeater is in its 1А, the rest moved up.
    let current: Uuid =
        sqlx::query_scalar("select id from academic_years where school_id = $1 and is_current")
            .bind(school)
            .fetch_one(&w.app.db)
            .await
            .unwrap();
    assert_eq!(current, next);
    assert_eq!(w.class_of(repeater).await, new_first);
    assert_eq!(w.class_of(first).await, one_a);
    let title: String = sqlx::query_scalar("select title from classes where id = $1")
        .bind(one_a)
        .fetch_one(&w.app.db)
        .await
        .unwrap();
    assert_eq!(title, "2А");
    // Last year's conditional promotion is cleared when nobody marks it again.
    let flag: bool =
        sqlx::query_scalar("select conditional_promotion from memberships where id = $1")
            .bind(flagged)
            .fetch_one(&w.app.db)
            .await
            .unwrap();
    assert!(!flag);
    let repeat: (String, String) = sqlx::query_as(
        "select from_class_title, to_class_title from movements where kind = 'repeat'",
    )
    .fetch_one(&w.app.db)
    .await
    .unwrap();
    assert_eq!(repeat, ("1А".to_owned(), "1А".to_owned()));
}
