//! People belong to themselves (SECURITY.md 35, 36): school B, typing school A's e-mails and
//! phones into every form, import and join page, learns and changes nothing of A; a person
//! of A who accepts B's offer appears in B with their consent recorded; B's staff leaving
//! ends none of the person's sessions; registration by a link answers alike for a new and a
//! registered contact.

use crate::helpers::school::SchoolFixture;
use crate::helpers::*;
use school_portal::ids::{AccountId, ClassId, MembershipId, SchoolId};
use uuid::Uuid;

/// A's people: real names and contacts B must never see unless it typed them.
struct PersonA {
    account: AccountId,
    surname: &'static str,
    given: &'static str,
    email: &'static str,
    phone: &'static str,
}

struct World {
    app: TestApp,
    a: SchoolId,
    b: SchoolId,
    b_class: ClassId,
    /// School B, to add people to.
    fb: SchoolFixture,
    admin_b: reqwest::Client,
    people: Vec<PersonA>,
    /// A's people logged in before B acts.
    clients: Vec<reqwest::Client>,
}

async fn world() -> World {
    let app = TestApp::spawn_with(school_portal::config::WebConfig {
        join_per_ip_per_minute: 1000,
        invites_per_minute: 1000,
        ..Default::default()
    })
    .await;
    let a = School::new(&app)
        .named("Школа А")
        .class("5А")
        .admin("admin.a@test.local")
        .called("Админова", "Василиса")
        .phone("+79120000004")
        .student("5А", "pupil.a@test.local")
        .called("Ученикова", "Злата")
        .phone("+79120000001")
        .parent_of("parent.a@test.local", "pupil.a@test.local")
        .called("Родителева", "Марфа")
        .phone("+79120000002")
        .teacher("teacher.a@test.local")
        .called("Учителев", "Савелий")
        .phone("+79120000003")
        .build()
        .await;
    let b = School::new(&app)
        .named("Школа Б")
        .class("5А")
        .admin("admin.b@test.local")
        .build()
        .await;
    let person = |email, surname, given, phone| PersonA {
        account: a.account(email),
        surname,
        given,
        email,
        phone,
    };
    let people = vec![
        person("pupil.a@test.local", "Ученикова", "Злата", "+79120000001"),
        person("parent.a@test.local", "Родителева", "Марфа", "+79120000002"),
        person(
            "teacher.a@test.local",
            "Учителев",
            "Савелий",
            "+79120000003",
        ),
        person("admin.a@test.local", "Админова", "Василиса", "+79120000004"),
    ];
    let mut clients = Vec::new();
    for p in &people {
        clients.push(app.logged_in(p.email).await);
    }
    let admin_b = app.logged_in("admin.b@test.local").await;
    World {
        a: a.id,
        b: b.id,
        b_class: b.class("5А"),
        fb: b,
        app,
        admin_b,
        people,
        clients,
    }
}

impl World {
    fn accounts(&self) -> Vec<Uuid> {
        self.people.iter().map(|p| p.account.0).collect()
    }

    /// Every row that belongs to A or to A's people, as JSON.
    async fn snapshot(&self) -> Vec<String> {
        let ids = self.accounts();
        let mut out = Vec::new();
        for sql in [
            "select to_jsonb(t)::text from accounts t where id = any($2) order by id",
            "select to_jsonb(t)::text from memberships t where school_id = $1 or account_id = any($2) order by id",
            "select to_jsonb(t)::text from sessions t where account_id = any($2) order by id",
            "select to_jsonb(t)::text from parent_links t where school_id = $1 order by parent_id, child_id",
            "select to_jsonb(t)::text from join_requests t where account_id = any($2) order by id",
            "select to_jsonb(t)::text from consents t where account_id = any($2) order by id",
            "select to_jsonb(t)::text from admin_grants t where school_id = $1 or account_id = any($2) order by id",
        ] {
            let rows: Vec<String> = sqlx::query_scalar(sql)
                .bind(self.a)
                .bind(&ids)
                .fetch_all(&self.app.db)
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e}"));
            out.push(format!("{sql}\n{}", rows.join("\n")));
        }
        out
    }

    /// B's pages never name A's people (their real names, nor contacts B did not type).
    fn assert_clean(&self, what: &str, body: &str, typed: &[&str]) {
        for p in &self.people {
            let mut secrets = vec![p.surname.to_owned(), p.given.to_owned()];
            if !typed.contains(&p.email) {
                secrets.push(p.email.to_owned());
            }
            if !typed.contains(&p.phone) {
                secrets.push(p.phone.to_owned());
                secrets.push(p.phone[2..].to_owned());
                secrets.push(school_portal::web::format::phone(p.phone));
            }
            for secret in secrets {
                assert!(
                    !body.contains(&secret),
                    "{what}: B's page shows «{secret}» of A's person"
                );
            }
        }
    }

    async fn b_page(&self, path: &str) -> String {
        let res = self.app.get(&self.admin_b, path).await;
        assert_eq!(res.status(), 200, "{path}");
        res.text().await.unwrap()
    }

    /// B's own lists after each attempt.
    async fn assert_b_lists_clean(&self, what: &str, typed: &[&str]) {
        for path in [
            format!("/s/{}/people", self.b),
            format!("/s/{}/offers", self.b),
            format!("/s/{}/verification", self.b),
            format!("/s/{}/audit", self.b),
        ] {
            let res = self.app.get(&self.admin_b, &path).await;
            let body = res.text().await.unwrap();
            self.assert_clean(&format!("{what}, {path}"), &body, typed);
        }
    }

    async fn upload(&self, kind: &str, text: &str) -> reqwest::Response {
        let part = reqwest::multipart::Part::bytes(text.as_bytes().to_vec())
            .file_name("список.csv")
            .mime_str("text/csv")
            .unwrap();
        let form = reqwest::multipart::Form::new()
            .text("kind", kind.to_owned())
            .part("file", part);
        self.admin_b
            .post(self.app.url(&format!("/s/{}/import", self.b)))
            .multipart(form)
            .send()
            .await
            .unwrap()
    }

    /// Uploads, previews and applies a file in B; returns the pages B saw.
    async fn import(&self, kind: &str, text: &str) -> Vec<String> {
        let res = self.upload(kind, text).await;
        assert_eq!(res.status(), 303, "{}", res.text().await.unwrap());
        let preview_path = location(&res);
        let preview = self.b_page(&preview_path).await;
        let res = self
            .app
            .post(&self.admin_b, &format!("{preview_path}/apply"), &[])
            .await;
        assert_eq!(res.status(), 303, "{}", res.text().await.unwrap());
        let after = self.b_page(&location(&res)).await;
        vec![preview, after]
    }

    /// A link of B's 5А for `role`, created through B's form.
    async fn b_link(&self, role: &str) -> String {
        let res = self
            .app
            .post(
                &self.admin_b,
                &format!("/s/{}/invites", self.b),
                &[("role", role), ("class_id", &self.b_class.to_string())],
            )
            .await;
        assert_eq!(res.status(), 200);
        let body = res.text().await.unwrap();
        select_attr(&body, "input#invite-link", "value")[0]
            .rsplit('/')
            .next()
            .unwrap()
            .to_owned()
    }
}

fn register_form<'a>(contact: &'a str, consent: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("mode", "register"),
        ("surname", "Выдумкина"),
        ("given_name", "Фея"),
        ("patronymic", ""),
        ("contact", contact),
        ("password", "a long enough password"),
        ("password2", "a long enough password"),
        ("child_name", "Выдумкин Петя"),
        ("consent", consent),
    ]
}

/// The part of a page that answers (the layout aside).
fn main_text(body: &str) -> String {
    select_texts(body, "main").join(" ")
}

#[tokio::test]
async fn school_b_trying_every_form_with_school_a_contacts_learns_and_changes_nothing_of_a() {
    let w = world().await;
    let before = w.snapshot().await;
    let pupil = &w.people[0];
    let parent = &w.people[1];
    let teacher = &w.people[2];
    let admin = &w.people[3];

    // Everything B typed so far (B may see what it typed, nothing else).
    let mut typed: Vec<&str> = Vec::new();
    // «Добавить сотрудника» with the pupil's e-mail, then with the teacher's phone.
    for (email, phone) in [
        (pupil.email, ""),
        ("made.up@b.test", teacher.phone),
        (admin.email, parent.phone),
    ] {
        let res = w
            .app
            .post(
                &w.admin_b,
                &format!("/s/{}/people/new-staff", w.b),
                &[
                    ("surname", "Выдуманный"),
                    ("given_name", "Иван"),
                    ("patronymic", ""),
                    ("email", email),
                    ("phone", phone),
                    ("role", "teacher"),
                    ("position", ""),
                ],
            )
            .await;
        assert_eq!(res.status(), 303);
        assert_eq!(location(&res), format!("/s/{}/offers", w.b));
        typed.extend([email, phone]);
        w.assert_b_lists_clean("new staff", &typed).await;
        let list = w.b_page(&format!("/s/{}/offers", w.b)).await;
        assert!(list.contains("Выдуманный Иван") && list.contains("ожидает согласия"));
    }

    // Staff import with the parent's e-mail and the pupil's phone.
    let staff_csv = format!(
        "Фамилия,Имя,Роль,E-mail,Телефон\n\
         Выдумщикова,Ольга,учитель,{},\n\
         Придумкин,Пётр,сотрудник,,{}\n",
        parent.email, pupil.phone
    );
    typed.extend([parent.email, pupil.phone]);
    for page in w.import("staff", &staff_csv).await {
        w.assert_clean("staff import", &page, &typed);
    }
    w.assert_b_lists_clean("staff import", &typed).await;

    // Student import whose parents carry the teacher's e-mail and the admin's phone.
    let students_csv = format!(
        "Класс,Фамилия,Имя,Дата рождения,Родитель 1: ФИО,Родитель 1: E-mail,Родитель 2: ФИО,Родитель 2: Телефон\n\
         5А,Сочинёнов,Гоша,01.02.2015,Сочинёнова Ада,{},Сочинёнов Лев,{}\n",
        teacher.email, admin.phone
    );
    typed.extend([teacher.email, admin.phone]);
    for page in w.import("students", &students_csv).await {
        w.assert_clean("students import", &page, &typed);
    }
    w.assert_b_lists_clean("students import", &typed).await;

    // An enrolment (a movement): a new pupil, nobody of A.
    let res = w
        .app
        .post(
            &w.admin_b,
            &format!("/s/{}/movements/enrol", w.b),
            &[
                ("key", &Uuid::now_v7().to_string()),
                ("surname", "Зачисленный"),
                ("given_name", "Гоша"),
                ("patronymic", ""),
                ("birth_date", ""),
                ("class", &w.b_class.to_string()),
                ("order_number", "1-у"),
                ("order_date", "2026-11-20"),
                ("date", "2026-11-23"),
            ],
        )
        .await;
    assert!(res.status() == 303 || res.status() == 200);

    // The join page of a B link, registering with A's contacts.
    let token = w.b_link("parent").await;
    for contact in [pupil.email, teacher.phone, admin.email] {
        let anon = w.app.client();
        let res = w
            .app
            .post(
                &anon,
                &format!("/join/{token}"),
                &register_form(contact, "yes"),
            )
            .await;
        assert_eq!(res.status(), 200);
        let body = res.text().await.unwrap();
        w.assert_clean("join", &body, &[contact]);
        assert!(body.contains("Регистрация принята"));
    }

    // B's own log says nothing about the registered contacts either.
    let flagged: i64 = sqlx::query_scalar(
        "select count(*) from audit_log where school_id = $1 and action like '%existing%'",
    )
    .bind(w.b)
    .fetch_one(&w.app.db)
    .await
    .unwrap();
    assert_eq!(flagged, 0);

    let after = w.snapshot().await;
    for (b, a) in before.iter().zip(&after) {
        assert_eq!(b, a, "a row of A changed");
    }
    // A's people have no role in B, and A's clients still work.
    let in_b: i64 = sqlx::query_scalar(
        "select count(*) from memberships where school_id = $1 and account_id = any($2)",
    )
    .bind(w.b)
    .bind(w.accounts())
    .fetch_one(&w.app.db)
    .await
    .unwrap();
    assert_eq!(in_b, 0);
    for c in &w.clients {
        assert_eq!(w.app.get(c, &format!("/s/{}", w.a)).await.status(), 200);
    }
}

async fn offer_token_sent_to(app: &TestApp, to: &str) -> String {
    let body: String = sqlx::query_scalar(
        "select body from outbox where to_address = $1 and body like '%/offers/%' order by created_at desc limit 1",
    )
    .bind(to)
    .fetch_one(&app.db)
    .await
    .unwrap();
    let at = body.find("/offers/").unwrap() + "/offers/".len();
    body[at..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect()
}

#[tokio::test]
async fn a_person_of_school_a_who_accepts_school_bs_offer_appears_in_b_with_consent_recorded() {
    let w = world().await;
    let teacher = &w.people[2];
    let res = w
        .app
        .post(
            &w.admin_b,
            &format!("/s/{}/people/new-staff", w.b),
            &[
                ("surname", "Как-Записали"),
                ("given_name", "Савва"),
                ("email", teacher.email),
                ("role", "teacher"),
                ("position", "учитель физики"),
            ],
        )
        .await;
    assert_eq!(res.status(), 303);
    let token = offer_token_sent_to(&w.app, teacher.email).await;
    assert_eq!(token.len(), 43, "32 random bytes, base64url");
    let hashes: i64 = sqlx::query_scalar("select count(*) from offers where token_hash = $1")
        .bind(school_portal::auth::session::token_hash(&token))
        .fetch_one(&w.app.db)
        .await
        .unwrap();
    assert_eq!(hashes, 1, "only the hash is kept");

    // Anonymous: the page offers login and asks nothing of A.
    let anon = w.app.client();
    let page = w
        .app
        .get(&anon, &format!("/offers/{token}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains(&format!("/login?next=/offers/{token}")));
    let res = w
        .app
        .post(&anon, &format!("/offers/{token}"), &[("mode", "accept")])
        .await;
    assert_login_redirect(&res);

    // The teacher, logged in, sees which school asks and in which role.
    let c = &w.clients[2];
    let page = w
        .app
        .get(c, &format!("/offers/{token}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("Школа Б") && page.contains("учитель") && page.contains("учитель физики")
    );
    assert!(page.contains("Я даю согласие на обработку персональных данных"));
    // Without consent: a field error, nothing created.
    let res = w
        .app
        .post(c, &format!("/offers/{token}"), &[("mode", "accept")])
        .await;
    assert_eq!(res.status(), 200);
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("Без согласия на обработку персональных данных")
    );
    let res = w
        .app
        .post(
            c,
            &format!("/offers/{token}"),
            &[("mode", "accept"), ("consent", "yes")],
        )
        .await;
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), format!("/s/{}", w.b));

    let (role, position, verification): (String, Option<String>, Option<String>) =
        sqlx::query_as(
            "select role, position, verification from memberships where school_id = $1 and account_id = $2",
        )
        .bind(w.b)
        .bind(teacher.account)
        .fetch_one(&w.app.db)
        .await
        .unwrap();
    assert_eq!(
        (role.as_str(), position.as_deref(), verification.as_deref()),
        ("teacher", Some("учитель физики"), Some("unverified"))
    );
    let (version, occasion, school, offer_status): (String, String, SchoolId, String) =
        sqlx::query_as(
            "select c.notice_version, c.occasion, c.school_id, o.status from consents c
             join offers o on o.id = c.offer_id where c.account_id = $1",
        )
        .bind(teacher.account)
        .fetch_one(&w.app.db)
        .await
        .unwrap();
    assert_eq!(version, school_portal::offers::NOTICE_VERSION);
    assert_eq!(
        (occasion.as_str(), school, offer_status.as_str()),
        ("offer", w.b, "accepted")
    );
    assert!(
        w.app
            .audit_actions()
            .await
            .contains(&"offer.accepted".to_owned())
    );
    // The teacher works in B now, and still in A.
    assert_eq!(w.app.get(c, &format!("/s/{}", w.b)).await.status(), 200);
    assert_eq!(w.app.get(c, &format!("/s/{}", w.a)).await.status(), 200);
    // B's card of a person who is in A too: no login state, no sessions, nothing of A.
    let card = w
        .b_page(&format!("/s/{}/people/{}", w.b, teacher.account))
        .await;
    assert!(card.contains("Учителев Савелий"));
    assert!(!card.contains("Вход в портал") && !card.contains("сеанс"));
    assert!(!card.contains("Школа А"));
    // The token is spent.
    assert_eq!(
        w.app.get(c, &format!("/offers/{token}")).await.status(),
        404
    );
}

#[tokio::test]
async fn staff_leaving_in_school_b_does_not_end_the_persons_sessions_in_school_a() {
    let mut w = world().await;
    let (email, account) = (w.people[2].email, w.people[2].account);
    School::new(&w.app)
        .known(email, account)
        .teacher(email)
        .add_to(&mut w.fb)
        .await;
    let member_b: MembershipId = w.fb.member(email);
    let teacher = &w.people[2];
    let c = &w.clients[2];
    assert_eq!(w.app.get(c, &format!("/s/{}", w.b)).await.status(), 200);
    let before = w.snapshot().await;
    let res = w
        .app
        .post(
            &w.admin_b,
            &format!("/s/{}/movements/staff-leave", w.b),
            &[
                ("key", &Uuid::now_v7().to_string()),
                ("member", &member_b.to_string()),
                ("order_number", "60-к"),
                ("order_date", "2026-11-20"),
                ("date", "2026-11-23"),
                ("reason", ""),
                ("confirm", "1"),
            ],
        )
        .await;
    assert_eq!(res.status(), 303, "{}", res.text().await.unwrap());
    // Left B at once; A's work goes on with the same session.
    assert_eq!(w.app.get(c, &format!("/s/{}", w.b)).await.status(), 404);
    assert_eq!(w.app.get(c, &format!("/s/{}", w.a)).await.status(), 200);
    let stamp_changed: bool = sqlx::query_scalar(
        "select security_stamp <> (select security_stamp from sessions where account_id = $1 limit 1) from accounts where id = $1",
    )
    .bind(teacher.account)
    .fetch_one(&w.app.db)
    .await
    .unwrap();
    assert!(!stamp_changed);
    // Nothing of A changed (sessions aside: the requests above touched them).
    let after = w.snapshot().await;
    assert_eq!(before[0], after[0], "the account");
}

#[tokio::test]
async fn registration_by_link_answers_the_same_for_a_registered_and_a_new_contact() {
    let w = world().await;
    let pupil = &w.people[0];
    let parent = &w.people[1];
    let token = w.b_link("student").await;

    // Consent is required.
    let anon = w.app.client();
    let res = w
        .app
        .post(
            &anon,
            &format!("/join/{token}"),
            &register_form("new.one@b.test", ""),
        )
        .await;
    let body = res.text().await.unwrap();
    assert!(body.contains("Без согласия на обработку персональных данных"));
    assert!(body.contains("value=\"new.one@b.test\""), "values kept");
    // The message is tied to the box (the form macro's checkbox).
    assert_eq!(select_attr(&body, "#consent", "aria-invalid"), ["true"]);
    assert!(
        select_texts(&body, "#consent-error")[0].starts_with("Без согласия на обработку"),
        "{body}"
    );

    let mut answers = Vec::new();
    for contact in ["new.one@b.test", pupil.email, parent.phone, "+79125550000"] {
        let anon = w.app.client();
        let res = w
            .app
            .post(
                &anon,
                &format!("/join/{token}"),
                &register_form(contact, "yes"),
            )
            .await;
        let status = res.status();
        let cookies = set_cookies(res.headers()).len();
        let body = res.text().await.unwrap();
        answers.push((status, cookies, main_text(&body)));
    }
    for a in &answers[1..] {
        assert_eq!(a, &answers[0], "the same answer for every contact");
    }
    let uses: i32 = sqlx::query_scalar("select uses from invites where token_hash = $1")
        .bind(school_portal::auth::session::token_hash(&token))
        .fetch_one(&w.app.db)
        .await
        .unwrap();
    assert_eq!(uses, 2, "only the two new contacts used the link");

    // The owners were asked by e-mail to log in (the phone's owner at their own address).
    for to in [pupil.email, parent.email] {
        let n: i64 = sqlx::query_scalar(
            "select count(*) from outbox where to_address = $1 and body like '%/join/%'",
        )
        .bind(to)
        .fetch_one(&w.app.db)
        .await
        .unwrap();
        assert_eq!(n, 1, "a letter to {to}");
    }
    // The newcomer has an account with consent recorded, and logs in with it.
    let (id, version): (AccountId, String) = sqlx::query_as(
        "select a.id, c.notice_version from accounts a join consents c on c.account_id = a.id
         where a.email = 'new.one@b.test' and c.occasion = 'join' and c.school_id = $1",
    )
    .bind(w.b)
    .fetch_one(&w.app.db)
    .await
    .unwrap();
    assert_eq!(version, school_portal::offers::NOTICE_VERSION);
    let c = w.app.client();
    assert_eq!(
        w.app
            .login(&c, "new.one@b.test", "a long enough password")
            .await
            .status(),
        303
    );
    let member: i64 = sqlx::query_scalar(
        "select count(*) from memberships where school_id = $1 and account_id = $2 and role = 'student'",
    )
    .bind(w.b)
    .bind(id)
    .fetch_one(&w.app.db)
    .await
    .unwrap();
    assert_eq!(member, 1);
    // The registered pupil's password still works.
    assert_eq!(
        w.app
            .login(&w.app.client(), pupil.email, PASSWORD)
            .await
            .status(),
        303
    );
}

#[tokio::test]
async fn a_newcomer_registers_through_an_offer_with_consent() {
    let w = world().await;
    let res = w
        .app
        .post(
            &w.admin_b,
            &format!("/s/{}/people/new-staff", w.b),
            &[
                ("surname", "Новенькая"),
                ("given_name", "Нина"),
                ("email", "nina@b.test"),
                ("role", "staff"),
            ],
        )
        .await;
    assert_eq!(res.status(), 303);
    let token = offer_token_sent_to(&w.app, "nina@b.test").await;
    let anon = w.app.client();
    let form = |consent: &'static str| {
        vec![
            ("mode", "register"),
            ("surname", "Новенькая"),
            ("given_name", "Нина"),
            ("password", "a long enough password"),
            ("password2", "a long enough password"),
            ("consent", consent),
        ]
    };
    let body = w
        .app
        .post(&anon, &format!("/offers/{token}"), &form(""))
        .await
        .text()
        .await
        .unwrap();
    assert!(body.contains("Без согласия на обработку персональных данных"));
    assert_eq!(
        select_attr(&body, "#consent", "aria-describedby")[0]
            .split_whitespace()
            .collect::<Vec<_>>(),
        ["consent-error"]
    );
    let res = w
        .app
        .post(&anon, &format!("/offers/{token}"), &form("yes"))
        .await;
    assert_eq!(res.status(), 200);
    assert!(res.text().await.unwrap().contains("Регистрация принята"));
    let occasion: String = sqlx::query_scalar(
        "select c.occasion from consents c join accounts a on a.id = c.account_id
         join memberships m on m.account_id = a.id and m.school_id = $1 and m.role = 'staff'
         where a.email = 'nina@b.test'",
    )
    .bind(w.b)
    .fetch_one(&w.app.db)
    .await
    .unwrap();
    assert_eq!(occasion, "offer");
    let list = w.b_page(&format!("/s/{}/offers", w.b)).await;
    assert!(list.contains("принято"));
}

#[tokio::test]
async fn an_offer_made_with_only_a_phone_reaches_its_person_by_their_own_login() {
    let w = world().await;
    let teacher = &w.people[2];
    let csv = format!(
        "Фамилия,Имя,Роль,Телефон\nКак-Записали,Савва,учитель,{}\n",
        teacher.phone
    );
    w.import("staff", &csv).await;
    // The phone is the teacher's login: the letter goes to the teacher's own address.
    assert_eq!(offer_token_sent_to(&w.app, teacher.email).await.len(), 43);
    let offer: Uuid = sqlx::query_scalar("select id from offers where phone = $1")
        .bind(teacher.phone)
        .fetch_one(&w.app.db)
        .await
        .unwrap();

    // Somebody else neither sees nor answers it.
    let pupil = &w.clients[0];
    let page = w.app.get(pupil, "/my-offers").await.text().await.unwrap();
    assert!(page.contains("Приглашений нет"));
    let res = w
        .app
        .post(
            pupil,
            &format!("/my-offers/{offer}"),
            &[("mode", "accept"), ("consent", "yes")],
        )
        .await;
    assert_eq!(res.status(), 404);

    let c = &w.clients[2];
    let page = w.app.get(c, "/my-offers").await.text().await.unwrap();
    assert!(page.contains("Школа Б") && page.contains("учитель"));
    let res = w
        .app
        .post(c, &format!("/my-offers/{offer}"), &[("mode", "accept")])
        .await;
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("Без согласия на обработку персональных данных")
    );
    let res = w
        .app
        .post(
            c,
            &format!("/my-offers/{offer}"),
            &[("mode", "accept"), ("consent", "yes")],
        )
        .await;
    assert_eq!(res.status(), 303);
    let consents: i64 = sqlx::query_scalar(
        "select count(*) from consents where account_id = $1 and offer_id = $2 and school_id = $3",
    )
    .bind(teacher.account)
    .bind(offer)
    .bind(w.b)
    .fetch_one(&w.app.db)
    .await
    .unwrap();
    assert_eq!(consents, 1);
    assert_eq!(w.app.get(c, &format!("/s/{}", w.b)).await.status(), 200);
}
