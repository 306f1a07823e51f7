//! Class chats kept in step with the roster, and each class's compliance with the
//! regulation (issue 5: R2.3.d, R2.4.c–d, R2.5.c, R2.6.a–c, R2.7.a–b, R2.8.c–d).

use crate::helpers::*;
use school_portal::auth::extract::RequestMeta;
use school_portal::auth::tenant::Tenant;
use school_portal::ids::{AccountId, ClassId, MembershipId, SchoolId};
use school_portal::movements::domain::{self, By, MovementId, Order};
use uuid::Uuid;

pub struct World {
    pub app: TestApp,
    pub school: SchoolId,
    pub other: SchoolId,
    pub five_a: ClassId,
    pub five_b: ClassId,
    pub admin: AccountId,
    /// Class teacher of 5А (teacher@), of 5Б (teacher-b@); a subject teacher of 5А
    /// (subject@) who leads no class.
    pub teacher_a: MembershipId,
    pub teacher_b: MembershipId,
    pub subject_teacher: MembershipId,
    /// 5А: Аникин (parent Аникина), Борисов (parent Борисова); 5Б: Волков (parent Волкова).
    pub anikin: MembershipId,
    pub anikina: MembershipId,
    pub borisov: MembershipId,
    pub borisova: MembershipId,
    pub volkov: MembershipId,
    pub volkova: MembershipId,
}

pub async fn named(
    app: &TestApp,
    school: SchoolId,
    email: &str,
    surname: &str,
    role: &str,
    class: Option<ClassId>,
) -> MembershipId {
    let account = app.account(email, surname, "Иван").await;
    app.member(school, account, role, class).await
}

pub async fn world() -> World {
    world_on(TestApp::spawn().await).await
}

async fn world_on(app: TestApp) -> World {
    let s = School::new(&app)
        .class("5А")
        .class("5Б")
        .admin("admin@test.local")
        .director("director@test.local")
        .staff("staff@test.local")
        .teacher("teacher@test.local")
        .called("Александрова", "Иван")
        .teacher("teacher-b@test.local")
        .called("Белова", "Иван")
        .teacher("subject@test.local")
        .called("Сидорова", "Иван")
        .class_teacher("5А", "teacher@test.local")
        .class_teacher("5Б", "teacher-b@test.local")
        .teaches("subject@test.local", "Математика", "5А")
        .student("5А", "anikin@test.local")
        .called("Аникин", "Иван")
        .student("5А", "borisov@test.local")
        .called("Борисов", "Иван")
        .student("5Б", "volkov@test.local")
        .called("Волков", "Иван")
        .parent_of("anikina@test.local", "anikin@test.local")
        .called("Аникина", "Иван")
        .parent_of("borisova@test.local", "borisov@test.local")
        .called("Борисова", "Иван")
        .parent_of("volkova@test.local", "volkov@test.local")
        .called("Волкова", "Иван")
        .build()
        .await;
    let other = School::new(&app)
        .named("Школа № 2")
        .admin("other-admin@test.local")
        .build()
        .await
        .id;
    World {
        school: s.id,
        other,
        five_a: s.class("5А"),
        five_b: s.class("5Б"),
        admin: s.admin("admin@test.local"),
        teacher_a: s.member("teacher@test.local"),
        teacher_b: s.member("teacher-b@test.local"),
        subject_teacher: s.member("subject@test.local"),
        anikin: s.member("anikin@test.local"),
        anikina: s.member("anikina@test.local"),
        borisov: s.member("borisov@test.local"),
        borisova: s.member("borisova@test.local"),
        volkov: s.member("volkov@test.local"),
        volkova: s.member("volkova@test.local"),
        app,
    }
}

impl World {
    pub fn path(&self, p: &str) -> String {
        format!("/s/{}{p}", self.school)
    }

    /// One click: creates a mandatory chat as `login`; returns the response.
    pub async fn one_click(&self, login: &str, class: ClassId, kind: &str) -> reqwest::Response {
        let c = self.app.logged_in(login).await;
        self.app
            .post(
                &c,
                &self.path(&format!("/classes/{class}/chats/{kind}")),
                &[],
            )
            .await
    }

    pub async fn chat_of(&self, class: ClassId, kind: &str) -> Uuid {
        sqlx::query_scalar(
            "select id from chats where class_id = $1 and kind = $2 and archived_at is null",
        )
        .bind(class)
        .bind(kind)
        .fetch_one(&self.app.db)
        .await
        .unwrap()
    }

    pub async fn members(&self, chat: Uuid) -> Vec<MembershipId> {
        let mut v: Vec<MembershipId> =
            sqlx::query_scalar("select member_id from chat_members where chat_id = $1")
                .bind(chat)
                .fetch_all(&self.app.db)
                .await
                .unwrap();
        v.sort();
        v
    }
}

fn sorted(mut v: Vec<MembershipId>) -> Vec<MembershipId> {
    v.sort();
    v
}

// ---- clause 3: one click per mandatory chat ---------------------------------------------

#[tokio::test]
async fn class_teacher_creates_the_parents_chat_in_one_click_from_the_roster_r2_4_c() {
    let w = world().await;
    let res = w
        .one_click("teacher@test.local", w.five_a, "class_parents")
        .await;
    assert_eq!(res.status(), 303);
    let chat = w.chat_of(w.five_a, "class_parents").await;
    // The chat's page, saying it was created (issue 14).
    assert_eq!(
        location(&res),
        w.path(&format!("/chats/{chat}?done=chat-created"))
    );
    assert_eq!(
        w.members(chat).await,
        sorted(vec![w.teacher_a, w.anikina, w.borisova])
    );
    let c = w.app.logged_in("teacher@test.local").await;
    let body = w.app.get(&c, &location(&res)).await.text().await.unwrap();
    let names = select_texts(&body, "td.member-name");
    assert_eq!(names.len(), 3);
    assert!(names[0].starts_with("Александрова"), "the owner first");
    assert!(names.iter().any(|n| n.starts_with("Аникина")));
    assert!(body.contains("Состав чата совпадает со списком класса"));
    // A second click does not make a second chat.
    let again = w
        .one_click("teacher@test.local", w.five_a, "class_parents")
        .await;
    assert_eq!(location(&again), location(&res));
    let n: i64 = sqlx::query_scalar("select count(*) from chats")
        .fetch_one(&w.app.db)
        .await
        .unwrap();
    assert_eq!(n, 1);
    assert!(
        w.app
            .audit_actions()
            .await
            .contains(&"chat.created".to_owned())
    );
}

#[tokio::test]
async fn students_and_teachers_chats_are_filled_from_the_roster_r2_4_c() {
    let w = world().await;
    assert_eq!(
        w.one_click("teacher@test.local", w.five_a, "class_students")
            .await
            .status(),
        303
    );
    assert_eq!(
        w.one_click("teacher@test.local", w.five_a, "class_teachers")
            .await
            .status(),
        303
    );
    let students = w.chat_of(w.five_a, "class_students").await;
    assert_eq!(
        w.members(students).await,
        sorted(vec![w.teacher_a, w.anikin, w.borisov])
    );
    let teachers = w.chat_of(w.five_a, "class_teachers").await;
    assert_eq!(
        w.members(teachers).await,
        sorted(vec![w.teacher_a, w.subject_teacher])
    );
    let owner: String =
        sqlx::query_scalar("select role from chat_members where chat_id = $1 and member_id = $2")
            .bind(teachers)
            .bind(w.teacher_a)
            .fetch_one(&w.app.db)
            .await
            .unwrap();
    assert_eq!(owner, "owner");
}

// ---- clause 2: who may create what ------------------------------------------------------

#[tokio::test]
async fn a_class_teacher_creates_chats_only_for_their_own_class_r2_4_c() {
    let w = world().await;
    assert_eq!(
        w.one_click("teacher@test.local", w.five_b, "class_students")
            .await
            .status(),
        403
    );
    // A teacher who leads no class, a student, a parent: none.
    for login in [
        "subject@test.local",
        "anikin@test.local",
        "anikina@test.local",
        "director@test.local",
    ] {
        assert_eq!(
            w.one_click(login, w.five_a, "class_students")
                .await
                .status(),
            403,
            "{login}"
        );
    }
    // The administrator: any class.
    assert_eq!(
        w.one_click("admin@test.local", w.five_b, "class_students")
            .await
            .status(),
        303
    );
    // Another school's class: not found.
    let other_class = w.app.class(w.other, 5, "А").await;
    assert_eq!(
        w.one_click("admin@test.local", other_class, "class_students")
            .await
            .status(),
        404
    );
    let n: i64 = sqlx::query_scalar("select count(*) from chats")
        .fetch_one(&w.app.db)
        .await
        .unwrap();
    assert_eq!(n, 1);
}

#[tokio::test]
async fn a_teacher_creates_subject_and_event_chats_for_classes_they_teach_r2_5_c() {
    let w = world().await;
    let subject: Uuid = sqlx::query_scalar("select id from subjects limit 1")
        .fetch_one(&w.app.db)
        .await
        .unwrap();
    let c = w.app.logged_in("subject@test.local").await;
    let five_a = w.five_a.to_string();
    let five_b = w.five_b.to_string();
    let subject = subject.to_string();
    let res = w
        .app
        .post(
            &c,
            &w.path("/chats/subject"),
            &[
                ("kind", "subject"),
                ("title", "Математика 5А"),
                ("class_id", &five_a),
                ("subject_id", &subject),
            ],
        )
        .await;
    assert_eq!(res.status(), 303);
    let res = w
        .app
        .post(
            &c,
            &w.path("/chats/subject"),
            &[
                ("kind", "event"),
                ("title", "Экскурсия"),
                ("class_id", &five_b),
            ],
        )
        .await;
    assert_eq!(res.status(), 403, "does not teach 5Б");
    // An error is shown next to the field, the typed values kept.
    let res = w
        .app
        .post(
            &c,
            &w.path("/chats/subject"),
            &[
                ("kind", "event"),
                ("title", "Экскурсия"),
                ("class_id", &five_a),
                ("platform_url", "http://x"),
            ],
        )
        .await;
    assert_eq!(res.status(), 200);
    let body = res.text().await.unwrap();
    assert!(select_texts(&body, "#platform_url-error")[0].contains("https://"));
    assert_eq!(select_attr(&body, "#title", "value"), vec!["Экскурсия"]);
    // A teacher creates no staff chat; students and parents nothing.
    assert_eq!(
        w.app
            .post(
                &c,
                &w.path("/chats/staff"),
                &[("kind", "staff"), ("title", "x")]
            )
            .await
            .status(),
        403
    );
    for login in ["anikin@test.local", "anikina@test.local"] {
        let c = w.app.logged_in(login).await;
        for route in ["/chats/class", "/chats/subject", "/chats/staff"] {
            let res = w
                .app
                .post(&c, &w.path(route), &[("kind", "other"), ("title", "x")])
                .await;
            assert_eq!(res.status(), 403, "{login} {route}");
        }
    }
}

#[tokio::test]
async fn staff_create_staff_chats_r2_8_c_r2_3_d() {
    let w = world().await;
    let c = w.app.logged_in("staff@test.local").await;
    let res = w
        .app
        .post(
            &c,
            &w.path("/chats/staff"),
            &[
                ("kind", "staff"),
                ("title", "Бухгалтерия"),
                ("platform_url", "https://sferum.ru/chat/1"),
            ],
        )
        .await;
    assert_eq!(res.status(), 303);
    let body = w.app.get(&c, &location(&res)).await.text().await.unwrap();
    assert!(body.contains("Бухгалтерия"));
    assert!(body.contains("https://sferum.ru/chat/1"));
}

// ---- clause 4: in step with the roster --------------------------------------------------

#[tokio::test]
async fn transfer_from_5a_to_5b_moves_only_them_between_the_chats_in_one_transaction_r2_4_d() {
    let w = world().await;
    for class in [w.five_a, w.five_b] {
        for kind in ["class_students", "class_parents"] {
            assert_eq!(
                w.one_click("admin@test.local", class, kind).await.status(),
                303
            );
        }
    }
    let a_students = w.chat_of(w.five_a, "class_students").await;
    let b_students = w.chat_of(w.five_b, "class_students").await;
    let a_parents = w.chat_of(w.five_a, "class_parents").await;
    let b_parents = w.chat_of(w.five_b, "class_parents").await;
    let before_a = w.members(a_students).await;

    let meta = RequestMeta {
        request_id: None,
        ip: None,
        user_agent: None,
    };
    let by = By::for_tests(Tenant::for_tests(w.school), w.admin, &meta);
    let mut tx = w.app.db.begin().await.unwrap();
    domain::transfer(
        &mut tx,
        &by,
        MovementId::new(),
        w.anikin,
        w.five_b,
        &Order {
            number: "45-о".into(),
            date: time::macros::date!(2026 - 10 - 01),
        },
        time::macros::date!(2026 - 10 - 02),
    )
    .await
    .unwrap();
    // Inside the transaction the chats have changed; outside, nothing yet.
    let inside: Vec<MembershipId> =
        sqlx::query_scalar("select member_id from chat_members where chat_id = $1 order by 1")
            .bind(b_students)
            .fetch_all(&mut *tx)
            .await
            .unwrap();
    assert!(inside.contains(&w.anikin));
    assert_eq!(
        w.members(a_students).await,
        before_a,
        "not visible before commit"
    );
    tx.rollback().await.unwrap();
    assert_eq!(
        w.members(a_students).await,
        before_a,
        "rolled back together"
    );

    let mut tx = w.app.db.begin().await.unwrap();
    domain::transfer(
        &mut tx,
        &by,
        MovementId::new(),
        w.anikin,
        w.five_b,
        &Order {
            number: "45-о".into(),
            date: time::macros::date!(2026 - 10 - 01),
        },
        time::macros::date!(2026 - 10 - 02),
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();

    assert_eq!(
        w.members(a_students).await,
        sorted(vec![w.teacher_a, w.borisov])
    );
    assert_eq!(
        w.members(b_students).await,
        sorted(vec![w.teacher_b, w.volkov, w.anikin])
    );
    assert_eq!(
        w.members(a_parents).await,
        sorted(vec![w.teacher_a, w.borisova])
    );
    assert_eq!(
        w.members(b_parents).await,
        sorted(vec![w.teacher_b, w.volkova, w.anikina])
    );
}

/// Leaving and enrolment sent through the movement forms, as the administrator sends them:
/// the leaver and their parent leave the class chats, the newcomer joins the students' chat.
#[tokio::test]
async fn leaving_and_enrolment_by_the_forms_update_the_class_chats_r2_4_d() {
    use crate::helpers::movements::{enrol_student, student_leaves};
    let w = world().await;
    for kind in ["class_students", "class_parents"] {
        assert_status(
            &w.one_click("teacher@test.local", w.five_a, kind).await,
            303,
        );
    }
    let students = w.chat_of(w.five_a, "class_students").await;
    let parents = w.chat_of(w.five_a, "class_parents").await;
    let admin = w.app.logged_in("admin@test.local").await;

    let res = student_leaves(&w.app, &admin, w.school, w.borisov, "46-о").await;
    assert_status(&res, 303);
    assert_eq!(
        w.members(students).await,
        sorted(vec![w.teacher_a, w.anikin])
    );
    assert_eq!(
        w.members(parents).await,
        sorted(vec![w.teacher_a, w.anikina])
    );

    let res = enrol_student(
        &w.app,
        &admin,
        w.school,
        ("Григорьев", "Глеб"),
        w.five_a,
        "47-о",
    )
    .await;
    assert_status(&res, 303);
    let newcomer: MembershipId = sqlx::query_scalar(
        "select m.id from memberships m join accounts a on a.id = m.account_id
         where m.role = 'student' and a.surname = 'Григорьев'",
    )
    .fetch_one(&w.app.db)
    .await
    .unwrap();
    assert_eq!(
        w.members(students).await,
        sorted(vec![w.teacher_a, w.anikin, newcomer])
    );
    assert_eq!(
        w.members(parents).await,
        sorted(vec![w.teacher_a, w.anikina]),
        "the newcomer has no parent in the school yet"
    );
}

/// A staff member leaving through the form leaves the class chats the roster put them in:
/// the subject teacher, once her lessons are handed over, is out of 5А's teachers' chat.
#[tokio::test]
async fn a_staff_member_leaving_by_the_form_leaves_the_class_teachers_chat_r2_4_d() {
    use crate::helpers::movements::staff_leaves;
    let w = world().await;
    assert_status(
        &w.one_click("teacher@test.local", w.five_a, "class_teachers")
            .await,
        303,
    );
    let teachers = w.chat_of(w.five_a, "class_teachers").await;
    assert_eq!(
        w.members(teachers).await,
        sorted(vec![w.teacher_a, w.subject_teacher])
    );
    let admin = w.app.logged_in("admin@test.local").await;
    // Her lessons in 5А end (handed over): nothing is left to hand over.
    sqlx::query("delete from teaching_assignments where teacher_id = $1")
        .bind(w.subject_teacher)
        .execute(&w.app.db)
        .await
        .unwrap();

    let res = staff_leaves(&w.app, &admin, w.school, w.subject_teacher, "61-к").await;
    assert_status(&res, 303);
    let status: String = sqlx::query_scalar("select status from memberships where id = $1")
        .bind(w.subject_teacher)
        .fetch_one(&w.app.db)
        .await
        .unwrap();
    assert_eq!(status, "left");
    assert_eq!(w.members(teachers).await, vec![w.teacher_a]);
}

#[tokio::test]
async fn the_chat_page_shows_who_should_not_be_and_who_is_missing_and_reconciles_r2_4_d() {
    let w = world().await;
    w.one_click("teacher@test.local", w.five_a, "class_students")
        .await;
    let chat = w.chat_of(w.five_a, "class_students").await;
    // Someone added who never was in 5А; someone dropped who is.
    sqlx::query("insert into chat_members (school_id, chat_id, member_id, role) values ($1, $2, $3, 'member')")
        .bind(w.school)
        .bind(chat)
        .bind(w.volkov)
        .execute(&w.app.db)
        .await
        .unwrap();
    sqlx::query("delete from chat_members where chat_id = $1 and member_id = $2")
        .bind(chat)
        .bind(w.borisov)
        .execute(&w.app.db)
        .await
        .unwrap();
    let c = w.app.logged_in("teacher@test.local").await;
    let page = w.path(&format!("/chats/{chat}"));
    let body = w.app.get(&c, &page).await.text().await.unwrap();
    assert_eq!(
        select_texts(&body, ".unexpected"),
        vec!["не должен быть: не был(а) в этом классе"]
    );
    let missing = select_texts(&body, "ul.missing li");
    assert_eq!(missing.len(), 1);
    assert!(missing[0].starts_with("Борисов"));
    // Another class's teacher may not reconcile; the class teacher may.
    let b = w.app.logged_in("teacher-b@test.local").await;
    assert_eq!(
        w.app
            .post(&b, &w.path(&format!("/chats/{chat}/reconcile")), &[])
            .await
            .status(),
        403
    );
    let res = w
        .app
        .post(&c, &w.path(&format!("/chats/{chat}/reconcile")), &[])
        .await;
    assert_eq!(res.status(), 303);
    assert_eq!(
        w.members(chat).await,
        sorted(vec![w.teacher_a, w.anikin, w.borisov])
    );
    let body = w.app.get(&c, &page).await.text().await.unwrap();
    assert!(body.contains("Состав чата совпадает со списком класса"));
    assert!(
        w.app
            .audit_actions()
            .await
            .contains(&"chat.reconciled".to_owned())
    );
}

// ---- clause 6: the teacher's view -------------------------------------------------------

#[tokio::test]
async fn members_are_added_and_removed_the_chat_handed_over_and_archived_r2_4_d() {
    let w = world().await;
    w.one_click("teacher@test.local", w.five_a, "class_teachers")
        .await;
    let chat = w.chat_of(w.five_a, "class_teachers").await;
    let c = w.app.logged_in("teacher@test.local").await;
    let base = w.path(&format!("/chats/{chat}"));
    // Adding someone not offered is refused next to the field.
    let res = w
        .app
        .post(
            &c,
            &format!("{base}/members"),
            &[("member_id", &Uuid::new_v4().to_string())],
        )
        .await;
    assert_eq!(res.status(), 200);
    assert!(!select_texts(&res.text().await.unwrap(), "#member_id-error").is_empty());
    let res = w
        .app
        .post(
            &c,
            &format!("{base}/members"),
            &[("member_id", &w.teacher_b.to_string()), ("role", "admin")],
        )
        .await;
    assert_eq!(res.status(), 303);
    assert!(w.members(chat).await.contains(&w.teacher_b));
    // Removing asks for confirmation.
    let remove = format!("{base}/members/{}/remove", w.teacher_b);
    assert_eq!(w.app.post(&c, &remove, &[]).await.status(), 200);
    assert!(w.members(chat).await.contains(&w.teacher_b));
    assert_eq!(
        w.app
            .post(&c, &remove, &[("confirm", "yes")])
            .await
            .status(),
        303
    );
    assert!(!w.members(chat).await.contains(&w.teacher_b));
    // A subject teacher in the chat is a plain member: may not manage it.
    let s = w.app.logged_in("subject@test.local").await;
    assert_eq!(
        w.app
            .post(&s, &format!("{base}/reconcile"), &[])
            .await
            .status(),
        403
    );
    // Hand over to the subject teacher.
    let res = w
        .app
        .post(
            &c,
            &format!("{base}/handover"),
            &[("member_id", &w.subject_teacher.to_string())],
        )
        .await;
    assert_eq!(res.status(), 303);
    let owner: MembershipId = sqlx::query_scalar("select owner_id from chats where id = $1")
        .bind(chat)
        .fetch_one(&w.app.db)
        .await
        .unwrap();
    assert_eq!(owner, w.subject_teacher);
    // Archive: confirmation first.
    assert_eq!(
        w.app
            .post(&s, &format!("{base}/archive"), &[])
            .await
            .status(),
        200
    );
    assert_eq!(
        w.app
            .post(&s, &format!("{base}/archive"), &[("confirm", "yes")])
            .await
            .status(),
        303
    );
    let archived: bool =
        sqlx::query_scalar("select archived_at is not null from chats where id = $1")
            .bind(chat)
            .fetch_one(&w.app.db)
            .await
            .unwrap();
    assert!(archived);
    // The list shows it in the archive; a new teachers chat can be made again.
    let body = w.app.get(&c, &w.path("/chats")).await.text().await.unwrap();
    assert!(body.contains("в архиве"));
    let actions = w.app.audit_actions().await;
    for a in [
        "chat.member_added",
        "chat.member_removed",
        "chat.handed_over",
        "chat.archived",
    ] {
        assert!(actions.contains(&a.to_owned()), "{a}");
    }
}

#[tokio::test]
async fn students_and_parents_see_their_chats_with_the_platform_link_r2_6_a_r2_7_a() {
    let w = world().await;
    w.one_click("teacher@test.local", w.five_a, "class_parents")
        .await;
    let chat = w.chat_of(w.five_a, "class_parents").await;
    sqlx::query("update chats set platform_url = 'https://sferum.ru/?p=5a' where id = $1")
        .bind(chat)
        .execute(&w.app.db)
        .await
        .unwrap();
    let p = w.app.logged_in("anikina@test.local").await;
    let body = w
        .app
        .get(&p, &w.path("/my-chats"))
        .await
        .text()
        .await
        .unwrap();
    assert!(body.contains("5А — родители"));
    assert_eq!(
        select_attr(&body, ".my-chats a", "href"),
        vec!["https://sferum.ru/?p=5a"]
    );
    let s = w.app.logged_in("volkov@test.local").await;
    let body = w
        .app
        .get(&s, &w.path("/my-chats"))
        .await
        .text()
        .await
        .unwrap();
    assert!(body.contains("Вас пока не добавили"));
    // The start page points there.
    let body = w.app.get(&p, &w.path("")).await.text().await.unwrap();
    assert!(select_attr(&body, "a", "href").contains(&w.path("/my-chats")));
}

// ---- clause 7: compliance per class -----------------------------------------------------

/// The compliance numbers, written out again by hand in plain SQL (independently of the
/// portal's query), per class title.
async fn hand_written_check(
    app: &TestApp,
    school: SchoolId,
) -> Vec<(String, i64, i64, i64, i64, i64)> {
    sqlx::query_as(
        "select c.title,
           (select count(*) from memberships s where s.class_id = c.id and s.role = 'student' and s.status = 'active'),
           (select count(*) from memberships s
              join chats k on k.class_id = c.id and k.kind = 'class_students' and k.archived_at is null
              join chat_members cm on cm.chat_id = k.id and cm.member_id = s.id
              where s.class_id = c.id and s.role = 'student' and s.status = 'active'),
           (select count(*) from memberships s where s.class_id = c.id and s.role = 'student' and s.status = 'active'
              and s.id in (select l.child_id from parent_links l join memberships p on p.id = l.parent_id where p.status = 'active')),
           (select count(distinct p.id) from memberships s join parent_links l on l.child_id = s.id
              join memberships p on p.id = l.parent_id
              where s.class_id = c.id and s.role = 'student' and s.status = 'active' and p.status = 'active'),
           (select count(distinct p.id) from memberships s join parent_links l on l.child_id = s.id
              join memberships p on p.id = l.parent_id
              join chats k on k.class_id = c.id and k.kind = 'class_parents' and k.archived_at is null
              join chat_members cm on cm.chat_id = k.id and cm.member_id = p.id
              where s.class_id = c.id and s.role = 'student' and s.status = 'active' and p.status = 'active')
         from classes c join academic_years y on y.id = c.academic_year_id and y.is_current
         where c.school_id = $1 and c.kind = 'class' and c.archived_at is null
         order by c.grade, c.letter",
    )
    .bind(school)
    .fetch_all(&app.db)
    .await
    .unwrap()
}

pub async fn assert_matches_hand_written_check(app: &TestApp, school: SchoolId, body: &str) {
    let expected = hand_written_check(app, school).await;
    let titles = select_texts(body, "table.compliance tbody th");
    let students = select_texts(body, "td.students-share");
    let with_parent = select_texts(body, "td.with-parent-share");
    let parents = select_texts(body, "td.parents-share");
    assert_eq!(titles.len(), expected.len());
    let share = |p: i64, w: i64| {
        if w == 0 {
            "—".to_owned()
        } else {
            format!("{p} из {w} ({} %)", p * 100 / w)
        }
    };
    for (i, (title, st, st_in, st_par, par, par_in)) in expected.into_iter().enumerate() {
        assert_eq!(titles[i], title);
        assert_eq!(students[i], share(st_in, st), "{title}: students in chat");
        assert_eq!(
            with_parent[i],
            share(st_par, st),
            "{title}: students with a parent"
        );
        assert_eq!(parents[i], share(par_in, par), "{title}: parents in chat");
    }
}

#[tokio::test]
async fn compliance_numbers_match_a_hand_written_sql_check_r2_4_c_r2_6_r2_7() {
    let w = world().await;
    w.one_click("teacher@test.local", w.five_a, "class_students")
        .await;
    w.one_click("teacher@test.local", w.five_a, "class_parents")
        .await;
    let students = w.chat_of(w.five_a, "class_students").await;
    sqlx::query("delete from chat_members where chat_id = $1 and member_id = $2")
        .bind(students)
        .bind(w.borisov)
        .execute(&w.app.db)
        .await
        .unwrap();
    // A student without a parent in 5Б.
    named(
        &w.app,
        w.school,
        "orphan@test.local",
        "Гусев",
        "student",
        Some(w.five_b),
    )
    .await;
    let c = w.app.logged_in("director@test.local").await;
    let body = w
        .app
        .get(&c, &w.path("/compliance"))
        .await
        .text()
        .await
        .unwrap();
    assert_matches_hand_written_check(&w.app, w.school, &body).await;
    assert_eq!(select_texts(&body, "td.students-share")[0], "1 из 2 (50 %)");
    assert_eq!(
        select_texts(&body, "td.with-parent-share")[1],
        "1 из 2 (50 %)"
    );
    // No teachers chat anywhere: every row and the school are red.
    assert_eq!(
        select_texts(&body, "td.row-light"),
        vec!["не соответствует"; 2]
    );
    assert_eq!(
        select_texts(&body, "#school-light"),
        vec!["не соответствует"]
    );
}

#[tokio::test]
async fn a_row_turns_green_when_everything_is_in_place_r2_4_c() {
    let w = world().await;
    for kind in ["class_students", "class_parents", "class_teachers"] {
        w.one_click("teacher@test.local", w.five_a, kind).await;
    }
    let c = w.app.logged_in("teacher@test.local").await;
    let body = w
        .app
        .get(&c, &w.path("/compliance"))
        .await
        .text()
        .await
        .unwrap();
    // A class teacher sees their own class only.
    assert_eq!(select_texts(&body, "table.compliance tbody th"), vec!["5А"]);
    assert_eq!(select_texts(&body, "td.row-light"), vec!["соответствует"]);
    assert_eq!(
        select_texts(&body, "td.chat-class_parents .light"),
        vec!["есть"]
    );
}

#[tokio::test]
async fn compliance_exports_to_csv_r2_4_c() {
    let w = world().await;
    w.one_click("teacher@test.local", w.five_a, "class_students")
        .await;
    let c = w.app.logged_in("admin@test.local").await;
    let res = w.app.get(&c, &w.path("/compliance.csv")).await;
    assert_eq!(res.status(), 200);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let body = res.text().await.unwrap();
    let lines: Vec<&str> = body.trim_start_matches('\u{feff}').lines().collect();
    assert_eq!(lines.len(), 3);
    assert!(lines[0].starts_with("Класс;Классный руководитель"));
    assert!(lines[1].starts_with("5А;Александрова Иван Иванович;да;да;нет;нет;2;2;2;2;0;"));
    assert!(lines[2].starts_with("5Б;"));
}

// ---- access: every new route ------------------------------------------------------------

#[tokio::test]
async fn chat_routes_answer_anonymous_wrong_role_other_school_and_right_role() {
    let w = world().await;
    w.one_click("teacher@test.local", w.five_a, "class_students")
        .await;
    let chat = w.chat_of(w.five_a, "class_students").await;
    let s = w.school;
    let a = w.five_a;
    let m = w.anikin;
    let gets = [
        (format!("/s/{s}/chats"), true),
        (format!("/s/{s}/chats/new"), true),
        (format!("/s/{s}/chats/{chat}"), true),
        (format!("/s/{s}/compliance"), true),
        (format!("/s/{s}/compliance.csv"), true),
        (format!("/s/{s}/my-chats"), false),
    ];
    let posts = [
        format!("/s/{s}/chats/class"),
        format!("/s/{s}/chats/subject"),
        format!("/s/{s}/chats/staff"),
        format!("/s/{s}/classes/{a}/chats/class_parents"),
        format!("/s/{s}/chats/{chat}/members"),
        format!("/s/{s}/chats/{chat}/members/{m}/remove"),
        format!("/s/{s}/chats/{chat}/reconcile"),
        format!("/s/{s}/chats/{chat}/handover"),
        format!("/s/{s}/chats/{chat}/archive"),
        format!("/s/{s}/chats/{chat}/invite"),
        format!("/s/{s}/chats/{chat}/edit"),
    ];
    let anon = w.app.client();
    let student = w.app.logged_in("anikin@test.local").await;
    let other = w.app.logged_in("other-admin@test.local").await;
    let admin = w.app.logged_in("admin@test.local").await;
    for (path, staff_only) in &gets {
        assert_login_redirect(&w.app.get(&anon, path).await);
        if *staff_only {
            assert_eq!(w.app.get(&student, path).await.status(), 403, "{path}");
        }
        assert_eq!(w.app.get(&other, path).await.status(), 404, "{path}");
        assert_eq!(w.app.get(&admin, path).await.status(), 200, "{path}");
    }
    for path in &posts {
        assert_login_redirect(&w.app.post(&anon, path, &[]).await);
        assert_eq!(
            w.app.post(&student, path, &[]).await.status(),
            403,
            "{path}"
        );
        assert_eq!(w.app.post(&other, path, &[]).await.status(), 404, "{path}");
    }
    // Another school's chat id in this school's URL: not found.
    let oc = w.app.class(w.other, 5, "А").await;
    let oc_chat = {
        let c = w.app.logged_in("other-admin@test.local").await;
        let res = w
            .app
            .post(
                &c,
                &format!("/s/{}/classes/{oc}/chats/class_students", w.other),
                &[],
            )
            .await;
        assert_eq!(res.status(), 303);
        let to = location(&res);
        let path = to.split('?').next().unwrap();
        path.rsplit('/').next().unwrap().to_owned()
    };
    assert_eq!(
        w.app
            .get(&admin, &format!("/s/{s}/chats/{oc_chat}"))
            .await
            .status(),
        404
    );
    assert_eq!(
        w.app
            .post(&admin, &format!("/s/{s}/chats/{oc_chat}/reconcile"), &[])
            .await
            .status(),
        404
    );
    // The chat page: a teacher of another class who is not in the chat may not see it.
    let b = w.app.logged_in("teacher-b@test.local").await;
    assert_eq!(
        w.app
            .get(&b, &format!("/s/{s}/chats/{chat}"))
            .await
            .status(),
        403
    );
    // The class teacher of 5Б sees only 5Б in the compliance table.
    let body = w
        .app
        .get(&b, &format!("/s/{s}/compliance"))
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(select_texts(&body, "table.compliance tbody th"), vec!["5Б"]);
}

// ---- clause 8: the demo ----------------------------------------------------------------

#[tokio::test]
async fn the_demo_schools_compliance_page_shows_every_light_and_matches_the_sql_check() {
    let app = TestApp::spawn().await;
    school_portal::demo::create(&app.db, Some("demo password 123".into()))
        .await
        .unwrap();
    let school = school_portal::demo::DEMO_SCHOOL;
    let c = app.client();
    assert_eq!(
        app.login(&c, "director@demo.local", "demo password 123")
            .await
            .status(),
        303
    );
    let body = app
        .get(&c, &format!("/s/{school}/compliance"))
        .await
        .text()
        .await
        .unwrap();
    let lights = select_texts(&body, "td.row-light");
    for light in ["соответствует", "есть замечания", "не соответствует"]
    {
        assert!(lights.iter().any(|l| l == light), "{light}: {lights:?}");
    }
    assert_matches_hand_written_check(&app, school, &body).await;
    // 5А: students and teachers chats, not yet the parents chat.
    let row = |cls: &str| select_texts(&body, &format!("tr[data-class='5А'] td.{cls} .light"));
    assert_eq!(row("chat-class_students"), vec!["есть"]);
    assert_eq!(row("chat-class_parents"), vec!["нет"]);
    // The demo student finds the 5А students chat among their chats.
    let p = app.client();
    app.login(&p, "student@demo.local", "demo password 123")
        .await;
    let body = app
        .get(&p, &format!("/s/{school}/my-chats"))
        .await
        .text()
        .await
        .unwrap();
    assert!(body.contains("5А — ученики"));
}

// ---- clause 5: joining by link ----------------------------------------------------------

#[tokio::test]
async fn joining_by_a_class_link_puts_the_newcomer_in_the_class_chat_r2_6_a() {
    let w = world().await;
    w.one_click("teacher@test.local", w.five_a, "class_students")
        .await;
    let chat = w.chat_of(w.five_a, "class_students").await;
    let admin = w.app.logged_in("admin@test.local").await;
    let five_a = w.five_a.to_string();
    let res = w
        .app
        .post(
            &admin,
            &w.path("/invites"),
            &[("role", "student"), ("class_id", &five_a)],
        )
        .await;
    assert_eq!(res.status(), 200);
    let body = res.text().await.unwrap();
    let token = select_attr(&body, "input#invite-link", "value")[0]
        .rsplit('/')
        .next()
        .unwrap()
        .to_owned();
    let c = w.app.client();
    let res = w
        .app
        .post(
            &c,
            &format!("/join/{token}"),
            &[
                ("mode", "register"),
                ("surname", "Новикова"),
                ("given_name", "Ольга"),
                ("patronymic", "Петровна"),
                ("contact", "new.student@test.local"),
                ("password", "a long enough password"),
                ("password2", "a long enough password"),
                ("child_name", ""),
                ("consent", "yes"),
            ],
        )
        .await;
    // One neutral answer (SECURITY.md 35); the newcomer then logs in.
    assert_eq!(res.status(), 200);
    let login = w
        .app
        .login(&c, "new.student@test.local", "a long enough password")
        .await;
    assert_eq!(login.status(), 303);
    let member: MembershipId = sqlx::query_scalar(
        "select m.id from memberships m join accounts a on a.id = m.account_id where a.email = 'new.student@test.local'",
    )
    .fetch_one(&w.app.db)
    .await
    .unwrap();
    assert!(w.members(chat).await.contains(&member));
    let body = w
        .app
        .get(&c, &w.path("/my-chats"))
        .await
        .text()
        .await
        .unwrap();
    assert!(body.contains("5А — ученики"));
}

#[tokio::test]
async fn rollover_keeps_the_promoted_classs_chats_and_archives_the_graduates_r2_4_d() {
    let w = world().await;
    let eleven = w.app.class(w.school, 11, "А").await;
    let grad = named(
        &w.app,
        w.school,
        "grad@test.local",
        "Дмитриев",
        "student",
        Some(eleven),
    )
    .await;
    w.app
        .class_teacher(w.school, eleven, w.subject_teacher)
        .await;
    w.one_click("teacher@test.local", w.five_a, "class_students")
        .await;
    w.one_click("admin@test.local", eleven, "class_students")
        .await;
    let five = w.chat_of(w.five_a, "class_students").await;
    let old = w.chat_of(eleven, "class_students").await;
    assert!(w.members(old).await.contains(&grad));
    let meta = RequestMeta {
        request_id: None,
        ip: None,
        user_agent: None,
    };
    let by = By::for_tests(Tenant::for_tests(w.school), w.admin, &meta);
    let mut tx = w.app.db.begin().await.unwrap();
    domain::rollover_apply(
        &mut tx,
        &by,
        &domain::RolloverInput {
            order: None,
            repeat: Default::default(),
            conditional: Default::default(),
            early_confirmed: true,
        },
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(
        w.members(five).await,
        sorted(vec![w.teacher_a, w.anikin, w.borisov])
    );
    let archived: bool =
        sqlx::query_scalar("select archived_at is not null from chats where id = $1")
            .bind(old)
            .fetch_one(&w.app.db)
            .await
            .unwrap();
    assert!(archived, "the graduates' chat is archived with their class");
    let title: String = sqlx::query_scalar("select title from chats where id = $1")
        .bind(five)
        .fetch_one(&w.app.db)
        .await
        .unwrap();
    assert_eq!(
        title, "6А — ученики",
        "the chat follows its class's new name"
    );
}

#[tokio::test]
async fn a_chat_invite_link_brings_someone_already_in_the_class_back_into_the_chat_r2_6_a() {
    let w = world().await;
    w.one_click("teacher@test.local", w.five_a, "class_students")
        .await;
    let chat = w.chat_of(w.five_a, "class_students").await;
    sqlx::query("delete from chat_members where chat_id = $1 and member_id = $2")
        .bind(chat)
        .bind(w.borisov)
        .execute(&w.app.db)
        .await
        .unwrap();
    let invite = w.path(&format!("/chats/{chat}/invite"));
    // Only the class teacher (or the administrator) makes one.
    let b = w.app.logged_in("teacher-b@test.local").await;
    assert_eq!(w.app.post(&b, &invite, &[]).await.status(), 403);
    let t = w.app.logged_in("teacher@test.local").await;
    let page = w
        .app
        .get(&t, &w.path(&format!("/chats/{chat}")))
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(
        select_attr(&page, "form[action$='/invite']", "action"),
        vec![invite.clone()]
    );
    let res = w.app.post(&t, &invite, &[]).await;
    assert_eq!(res.status(), 200);
    let body = res.text().await.unwrap();
    let token = select_attr(&body, "input#invite-link", "value")[0]
        .rsplit('/')
        .next()
        .unwrap()
        .to_owned();
    let stored: Option<Uuid> =
        sqlx::query_scalar("select chat_id from invites where token_hash = $1")
            .bind(school_portal::auth::session::token_hash(&token))
            .fetch_one(&w.app.db)
            .await
            .unwrap();
    assert_eq!(stored, Some(chat), "only the hash is kept, with the chat");
    let s = w.app.logged_in("borisov@test.local").await;
    let res = w
        .app
        .post(&s, &format!("/join/{token}"), &[("mode", "current")])
        .await;
    assert_eq!(res.status(), 303);
    assert!(w.members(chat).await.contains(&w.borisov));
}

#[tokio::test]
async fn the_class_teacher_sets_the_platform_link_that_my_chats_shows_r2_6_a_r2_7_a() {
    let w = world().await;
    w.one_click("teacher@test.local", w.five_a, "class_parents")
        .await;
    let chat = w.chat_of(w.five_a, "class_parents").await;
    let t = w.app.logged_in("teacher@test.local").await;
    let edit = w.path(&format!("/chats/{chat}/edit"));
    // A wrong address: the error next to the field, what was typed kept.
    let res = w
        .app
        .post(
            &t,
            &edit,
            &[("title", "Родители 5А"), ("platform_url", "ftp://x")],
        )
        .await;
    assert_eq!(res.status(), 200);
    let body = res.text().await.unwrap();
    assert!(!select_texts(&body, "#platform_url-error").is_empty());
    let res = w
        .app
        .post(
            &t,
            &edit,
            &[
                ("title", "Родители 5А"),
                ("platform_url", "https://sferum.ru/?join=abc"),
            ],
        )
        .await;
    assert_eq!(res.status(), 303);
    // A parent in the chat (not its manager) may not edit it.
    let p = w.app.logged_in("anikina@test.local").await;
    assert_eq!(w.app.post(&p, &edit, &[("title", "x")]).await.status(), 403);
    let body = w
        .app
        .get(&p, &w.path("/my-chats"))
        .await
        .text()
        .await
        .unwrap();
    assert!(body.contains("Родители 5А"));
    assert_eq!(
        select_attr(&body, ".my-chats a", "href"),
        vec!["https://sferum.ru/?join=abc"]
    );
    assert!(
        w.app
            .audit_actions()
            .await
            .contains(&"chat.edited".to_owned())
    );
}

/// Chat links are made the one way every invite is (SECURITY.md 25): the per-person
/// creation limit counts them with the ordinary form's links.
#[tokio::test]
async fn chat_invite_links_count_against_the_invite_creation_limit_r2_1_f() {
    let app = TestApp::spawn_with(school_portal::config::WebConfig {
        invites_per_minute: 2,
        ..school_portal::config::WebConfig::default()
    })
    .await;
    let w = world_on(app).await;
    w.one_click("teacher@test.local", w.five_a, "class_parents")
        .await;
    let chat = w.chat_of(w.five_a, "class_parents").await;
    let t = w.app.logged_in("teacher@test.local").await;
    let invite = w.path(&format!("/chats/{chat}/invite"));
    assert_eq!(w.app.post(&t, &invite, &[]).await.status(), 200);
    let five_a = w.five_a.to_string();
    let res = w
        .app
        .post(
            &t,
            &w.path("/invites"),
            &[("role", "student"), ("class_id", &five_a)],
        )
        .await;
    assert_eq!(res.status(), 200, "the ordinary form's link is the second");
    let res = w.app.post(&t, &invite, &[]).await;
    assert_eq!(res.status(), 429, "the third link in a minute is refused");
    assert!(res.headers().get("retry-after").is_some());
    let made: i64 = sqlx::query_scalar("select count(*) from invites where school_id = $1")
        .bind(w.school)
        .fetch_one(&w.app.db)
        .await
        .unwrap();
    assert_eq!(made, 2);
    // The chat's parent link goes through a join request, like every parent class link.
    let approval: bool =
        sqlx::query_scalar("select needs_approval from invites where chat_id = $1")
            .bind(chat)
            .fetch_one(&w.app.db)
            .await
            .unwrap();
    assert!(approval);
}
