//! Broadcasts, «Мои трансляции» and the iCalendar feed (issue 12; R2.1.n, R2.3.d, R2.4.d,
//! R2.5.d, R2.6.b–c, R2.7.b, R3.4): who plans what, who sees what, the feed's bytes, UIDs,
//! SEQUENCE, STATUS:CANCELLED, folding and escaping, the token's rotation and the rights
//! re-checked at every fetch, and the change and cancellation e-mails.

use school_portal::config::WebConfig;
use school_portal::ids::{ClassId, SchoolId};
use uuid::Uuid;

use crate::helpers::smtp::SmtpServer;
use crate::helpers::*;

struct World {
    app: TestApp,
    school: SchoolId,
    five_a: ClassId,
    five_b: ClassId,
    teacher: reqwest::Client,
    class_teacher: reqwest::Client,
    deputy: reqwest::Client,
    admin: reqwest::Client,
    parent_a: reqwest::Client,
    parent_a_member: Uuid,
}

async fn world() -> World {
    let app = TestApp::spawn_with(WebConfig::default()).await;
    let w = School::new(&app)
        .named("Школа № 3")
        .class("5А")
        .class("5Б")
        .admin("admin@test.local")
        .teaches("teacher@test.local", "Математика", "5А")
        .class_teacher("5А", "ct@test.local")
        .deputy("deputy@test.local")
        .student("5А", "kid-a@test.local")
        .parent_of("parent-a@test.local", "kid-a@test.local")
        .student("5Б", "kid-b@test.local")
        .parent_of("parent-b@test.local", "kid-b@test.local")
        .build()
        .await;
    let (school, five_a, five_b) = (w.id, w.class("5А"), w.class("5Б"));
    World {
        teacher: app.logged_in("teacher@test.local").await,
        class_teacher: app.logged_in("ct@test.local").await,
        deputy: app.logged_in("deputy@test.local").await,
        admin: app.logged_in("admin@test.local").await,
        parent_a: app.logged_in("parent-a@test.local").await,
        parent_a_member: w.member("parent-a@test.local").0,
        app,
        school,
        five_a,
        five_b,
    }
}

/// Next Monday (school date) at `hm`, as the form's field, and that date.
fn next_monday(hm: &str) -> (String, time::Date) {
    let today = (time::OffsetDateTime::now_utc())
        .to_offset(time::UtcOffset::from_hms(3, 0, 0).unwrap())
        .date();
    let d = today.next_occurrence(time::Weekday::Monday);
    (
        format!(
            "{:04}-{:02}-{:02}T{hm}",
            d.year(),
            u8::from(d.month()),
            d.day()
        ),
        d,
    )
}

fn iso(d: time::Date) -> String {
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

impl World {
    fn path(&self, rest: &str) -> String {
        format!("/s/{}{rest}", self.school)
    }

    async fn plan(&self, who: &reqwest::Client, form: &[(&str, &str)]) -> reqwest::Response {
        self.app.post(who, &self.path("/broadcasts"), form).await
    }

    async fn id_of(&self, title: &str) -> Uuid {
        sqlx::query_scalar("select id from broadcasts where title = $1")
            .bind(title)
            .fetch_one(&self.app.db)
            .await
            .unwrap()
    }

    /// The parent's feed address (a new one each call).
    async fn feed_url(&self, who: &reqwest::Client) -> String {
        let res = self.app.post(who, &self.path("/calendar/feed"), &[]).await;
        assert_eq!(res.status(), 200);
        let page = res.text().await.unwrap();
        let url = select_texts(&page, "#feed-url")
            .pop()
            .expect("the address, once");
        url.strip_prefix(&self.app.base).unwrap().to_owned()
    }
}

fn uids(ics: &str) -> Vec<String> {
    ics.replace("\r\n ", "")
        .lines()
        .filter_map(|l| l.strip_prefix("UID:").map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn r2_4_d_r2_5_d_r2_6_b_r2_7_b_a_parent_of_5a_sees_5as_lessons_and_meeting_in_my_broadcasts_and_the_feed_and_not_5bs()
 {
    let w = world().await;
    let smtp = SmtpServer::start().await;
    let a = w.five_a.to_string();
    let b = w.five_b.to_string();
    let (monday, monday_date) = next_monday("09:00");
    let until = iso(monday_date + time::Duration::weeks(3));
    let title = "Математика, 5А; повторение дробей и задач на движение для всего класса";
    let lesson = [
        ("kind", "lesson"),
        ("title", title),
        ("starts_at", monday.as_str()),
        ("duration", "40"),
        ("weekly_until", until.as_str()),
        ("join_url", "https://max.ru/call/math-5a"),
        ("aud", &format!("{a}:student")),
        ("aud", &format!("{a}:parent")),
    ];
    assert_eq!(
        w.plan(&w.teacher, &lesson).await.status(),
        303,
        "a teacher plans lessons of a class they teach"
    );
    // Not for a class they do not teach, and no parents' meeting.
    let res = w
        .plan(
            &w.teacher,
            &[
                ("kind", "lesson"),
                ("title", "Чужой"),
                ("starts_at", monday.as_str()),
                ("duration", "40"),
                ("aud", &format!("{b}:student")),
            ],
        )
        .await;
    assert_eq!(res.status(), 422);
    assert!(select_texts(&res.text().await.unwrap(), "#audience-error")[0].contains("учитель"));
    let (thursday, _) = next_monday("18:00");
    assert_eq!(
        w.plan(
            &w.class_teacher,
            &[
                ("kind", "parents_meeting"),
                ("title", "Родительское собрание 5А"),
                ("starts_at", thursday.as_str()),
                ("duration", "60"),
                ("aud", &format!("{a}:parent"))
            ],
        )
        .await
        .status(),
        303
    );
    assert_eq!(
        w.plan(
            &w.admin,
            &[
                ("kind", "lesson"),
                ("title", "Литература, 5Б"),
                ("starts_at", monday.as_str()),
                ("duration", "40"),
                ("aud", &format!("{b}:student")),
                ("aud", &format!("{b}:parent"))
            ],
        )
        .await
        .status(),
        303
    );
    assert_eq!(
        w.plan(
            &w.deputy,
            &[
                ("kind", "webinar"),
                ("title", "Вебинар для учителей"),
                ("starts_at", monday.as_str()),
                ("duration", "45"),
                ("staffroom", "yes")
            ],
        )
        .await
        .status(),
        303,
        "a deputy plans a staff webinar (R3.4)"
    );

    let mine = w
        .app
        .get(&w.parent_a, &w.path("/broadcasts"))
        .await
        .text()
        .await
        .unwrap();
    let seen = select_texts(&mine, ".broadcast-link");
    assert_eq!(
        seen.iter().filter(|t| *t == title).count(),
        4,
        "four weekly lessons: {seen:?}"
    );
    assert!(seen.contains(&"Родительское собрание 5А".to_owned()));
    assert!(
        !seen
            .iter()
            .any(|t| t.contains("5Б") || t.contains("Вебинар"))
    );

    // The feed: the same, twice byte-identical, ETag and 304.
    let feed = w.feed_url(&w.parent_a).await;
    let first = w.app.get(&w.app.client(), &feed).await;
    assert_eq!(first.status(), 200);
    assert_eq!(
        first.headers()["content-type"],
        "text/calendar; charset=utf-8"
    );
    let tag = first.headers()["etag"].to_str().unwrap().to_owned();
    let first = first.text().await.unwrap();
    let again = w
        .app
        .get(&w.app.client(), &feed)
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(first, again, "two fetches, identical bytes");
    let not_modified = w
        .app
        .client()
        .get(w.app.url(&feed))
        .header("if-none-match", &tag)
        .send()
        .await
        .unwrap();
    assert_eq!(not_modified.status(), 304);
    let unfolded = first.replace("\r\n ", "");
    assert!(unfolded.contains("Родительское собрание 5А"));
    assert!(!unfolded.contains("5Б") && !unfolded.contains("Вебинар"));
    assert!(unfolded.contains("X-WR-TIMEZONE:Europe/Moscow"));
    assert!(!unfolded.contains("TZID"));
    // Escaping: the title's comma and semicolon.
    assert!(unfolded.contains("SUMMARY:Урок: Математика\\, 5А\\; повторение"));
    // Folding: no line over 75 octets, and the long Cyrillic summary was folded.
    for line in first.split("\r\n") {
        assert!(line.len() <= 75, "{} octets: {line}", line.len());
    }
    assert!(first.split("\r\n").any(|l| l.starts_with(' ')));
    let before = uids(&first);
    assert_eq!(before.len(), 5);
    assert!(
        before
            .iter()
            .all(|u| u.starts_with("broadcast-") && u.ends_with("@127.0.0.1"))
    );
    assert!(first.contains("SEQUENCE:0\r\n") && !first.contains("SEQUENCE:1\r\n"));

    // An edit by the teacher: the same UIDs, SEQUENCE bumped.
    let lesson_id = w.id_of(title).await;
    let mut edited = lesson.to_vec();
    edited[5] = ("join_url", "https://max.ru/call/math-5a-new");
    let res = w
        .app
        .post(
            &w.teacher,
            &w.path(&format!("/broadcasts/{lesson_id}/edit")),
            &edited,
        )
        .await;
    assert_eq!(res.status(), 303);
    let after = w
        .app
        .get(&w.app.client(), &feed)
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(uids(&after), before, "stable UIDs across an edit");
    assert!(after.contains("SEQUENCE:1\r\n"));
    assert!(after.contains("math-5a-new"));
    // One lesson cancelled: still there, with STATUS:CANCELLED.
    let second_week = iso(monday_date + time::Duration::weeks(1));
    let res = w
        .app
        .post(
            &w.teacher,
            &w.path(&format!("/broadcasts/{lesson_id}/exceptions")),
            &[("on_date", second_week.as_str())],
        )
        .await;
    assert_eq!(res.status(), 303);
    let after = w
        .app
        .get(&w.app.client(), &feed)
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(uids(&after), before);
    assert_eq!(after.matches("STATUS:CANCELLED").count(), 1);
    let cancelled_uid = format!(
        "broadcast-{lesson_id}-{}@127.0.0.1",
        second_week.replace('-', "")
    );
    let block = after
        .split("BEGIN:VEVENT")
        .find(|e| e.contains(&cancelled_uid))
        .unwrap();
    assert!(block.contains("STATUS:CANCELLED") && block.contains("SEQUENCE:2"));
    // A single event downloads as .ics too.
    let ics = w
        .app
        .get(
            &w.parent_a,
            &w.path(&format!("/broadcasts/{lesson_id}/ics")),
        )
        .await;
    assert!(
        ics.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .contains(".ics")
    );
    assert_eq!(uids(&ics.text().await.unwrap()).len(), 4);

    // The change and the cancellation went by e-mail to the audience with e-mail: the
    // 5А parent and student, not 5Б's, not the teacher who made them.
    school_portal::mail::send_due(&w.app.db, &smtp.config())
        .await
        .unwrap();
    let mails = smtp.received();
    let to_parent: Vec<String> = mails
        .iter()
        .filter(|m| m.to == vec!["<parent-a@test.local>"])
        .map(|m| m.body_text())
        .collect();
    assert_eq!(to_parent.len(), 2);
    assert!(to_parent[0].contains("изменения"));
    assert!(to_parent[1].contains("отменено"));
    assert!(mails.iter().any(|m| m.to == vec!["<kid-a@test.local>"]));
    assert!(
        !mails
            .iter()
            .any(|m| m.to == vec!["<parent-b@test.local>"] || m.to == vec!["<teacher@test.local>"])
    );

    // A rotated feed's old address answers 404; the new one works.
    let newer = w.feed_url(&w.parent_a).await;
    assert_eq!(w.app.get(&w.app.client(), &feed).await.status(), 404);
    assert_eq!(w.app.get(&w.app.client(), &newer).await.status(), 200);
    // After leaving the school the feed is empty.
    sqlx::query("update memberships set status = 'left', left_at = now() where id = $1")
        .bind(w.parent_a_member)
        .execute(&w.app.db)
        .await
        .unwrap();
    let empty = w
        .app
        .get(&w.app.client(), &newer)
        .await
        .text()
        .await
        .unwrap();
    assert!(empty.starts_with("BEGIN:VCALENDAR\r\n"));
    assert!(!empty.contains("BEGIN:VEVENT"));
}

#[tokio::test]
async fn r2_1_n_r2_3_d_cancelling_a_broadcast_keeps_it_in_the_calendar_and_who_plans_what_is_enforced()
 {
    let w = world().await;
    let (monday, _) = next_monday("15:00");
    let a = w.five_a.to_string();
    // A deputy plans meetings and webinars, not lessons.
    let res = w
        .plan(
            &w.deputy,
            &[
                ("kind", "lesson"),
                ("title", "Урок"),
                ("starts_at", monday.as_str()),
                ("duration", "40"),
                ("aud", &format!("{a}:student")),
            ],
        )
        .await;
    assert_eq!(res.status(), 422);
    let res = w
        .plan(
            &w.deputy,
            &[
                ("kind", "meeting"),
                ("title", "Совещание"),
                ("starts_at", monday.as_str()),
                ("duration", "30"),
                ("staffroom", "yes"),
            ],
        )
        .await;
    assert_eq!(res.status(), 303);
    let id = w.id_of("Совещание").await;
    // Someone else's broadcast: the teacher may not cancel it.
    let res = w
        .app
        .post(
            &w.teacher,
            &w.path(&format!("/broadcasts/{id}/cancel")),
            &[],
        )
        .await;
    assert_eq!(res.status(), 403);
    let res = w
        .app
        .post(&w.deputy, &w.path(&format!("/broadcasts/{id}/cancel")), &[])
        .await;
    assert_eq!(res.status(), 303);
    let state: String = sqlx::query_scalar("select state from broadcasts where id = $1")
        .bind(id)
        .fetch_one(&w.app.db)
        .await
        .unwrap();
    assert_eq!(state, "cancelled");
    let feed = w.feed_url(&w.teacher).await;
    let ics = w
        .app
        .get(&w.app.client(), &feed)
        .await
        .text()
        .await
        .unwrap();
    assert!(ics.contains("SUMMARY:Совещание: Совещание"));
    assert!(ics.contains("STATUS:CANCELLED"));
    // The school's calendar, week and month.
    for view in ["week", "month"] {
        let page = w
            .app
            .get(
                &w.teacher,
                &w.path(&format!("/calendar?view={view}&date={}", &monday[..10])),
            )
            .await;
        assert_eq!(page.status(), 200);
        assert!(page.text().await.unwrap().contains("Совещание"));
    }
    // Parents have no school calendar.
    assert_eq!(
        w.app.get(&w.parent_a, &w.path("/calendar")).await.status(),
        403
    );
}

#[tokio::test]
async fn r2_1_n_the_planner_chooses_who_runs_a_broadcast_and_the_host_may_change_it() {
    let w = world().await;
    let (monday, _) = next_monday("18:00");
    let account = |email: &'static str| {
        let db = w.app.db.clone();
        async move {
            sqlx::query_scalar::<_, Uuid>("select id from accounts where email = $1")
                .bind(email)
                .fetch_one(&db)
                .await
                .unwrap()
        }
    };
    let (teacher, ct) = (
        account("teacher@test.local").await,
        account("ct@test.local").await,
    );
    // The form offers the school's staff.
    let form = w
        .app
        .get(&w.admin, &w.path("/broadcasts/new"))
        .await
        .text()
        .await
        .unwrap();
    assert!(form.contains(&format!("<option value=\"{ct}\"")));
    // Someone of another school cannot be made the host.
    let stranger = School::new(&w.app)
        .named("Школа № 4")
        .teacher("stranger@test.local")
        .build()
        .await
        .account("stranger@test.local")
        .to_string();
    let parents = format!("{}:parent", w.five_a);
    let base = [
        ("kind", "parents_meeting"),
        ("title", "Собрание 5А"),
        ("starts_at", monday.as_str()),
        ("duration", "45"),
        ("aud", parents.as_str()),
    ];
    let with = |host: &str| {
        let mut f: Vec<(&str, String)> = base.iter().map(|(k, v)| (*k, v.to_string())).collect();
        f.push(("host", host.to_owned()));
        f
    };
    let send = |who: &reqwest::Client, path: String, form: Vec<(&str, String)>| {
        let req = who.post(w.app.url(&path)).form(&form);
        async move { req.send().await.unwrap() }
    };
    let res = send(&w.admin, w.path("/broadcasts"), with(&stranger)).await;
    assert_eq!(res.status(), 422);
    let html = res.text().await.unwrap();
    assert!(
        select_texts(&html, "#host-error")
            .iter()
            .any(|e| e.contains("сотрудника этой школы"))
    );
    let none: i64 = sqlx::query_scalar("select count(*) from broadcasts")
        .fetch_one(&w.app.db)
        .await
        .unwrap();
    assert_eq!(none, 0, "nothing planned");
    // The administrator plans it; the class teacher runs it.
    let res = send(&w.admin, w.path("/broadcasts"), with(&ct.to_string())).await;
    assert_eq!(res.status(), 303);
    let id = w.id_of("Собрание 5А").await;
    let host_and_planner = || {
        let db = w.app.db.clone();
        async move {
            sqlx::query_as::<_, (Uuid, Uuid)>(
                "select host_id, created_by from broadcasts where id = $1",
            )
            .bind(id)
            .fetch_one(&db)
            .await
            .unwrap()
        }
    };
    let (host, planner) = host_and_planner().await;
    assert_eq!(host, ct);
    assert_ne!(planner, ct);
    // The host may change it (and keeps hosting it); another teacher may not.
    let edit = w.path(&format!("/broadcasts/{id}/edit"));
    let mut later = with(&ct.to_string());
    later.retain(|(k, _)| *k != "duration");
    later.push(("duration", "60".into()));
    assert_eq!(
        send(&w.class_teacher, edit.clone(), later.clone())
            .await
            .status(),
        303
    );
    assert_eq!(send(&w.teacher, edit.clone(), later).await.status(), 403);
    assert_eq!(host_and_planner().await.0, ct);
    // The planner hands it to someone else.
    let res = send(&w.admin, edit, with(&teacher.to_string())).await;
    assert_eq!(res.status(), 303);
    assert_eq!(host_and_planner().await.0, teacher);
}
