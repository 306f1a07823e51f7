//! The movement forms sent as an administrator sends them: the form's page is opened for
//! its one-time key, then the form is posted with the confirmation ticked. Tests that check
//! what a movement does elsewhere (chats, the bot) go through these, not the domain functions.

use reqwest::{Client, Response};
use school_portal::ids::{ClassId, MembershipId, SchoolId};

use super::{TestApp, assert_status, select_attr};

/// The one-time key of the form on `path` (a page the client may open).
pub async fn form_key(app: &TestApp, client: &Client, path: &str) -> String {
    let res = app.get(client, path).await;
    assert_status(&res, 200);
    let body = res.text().await.expect("body");
    select_attr(&body, "input[name=key]", "value")
        .into_iter()
        .next()
        .unwrap_or_else(|| panic!("no form key on {path}"))
}

/// «Зачисление ученика»: a new student `surname given` in `class` under order `number`.
pub async fn enrol_student(
    app: &TestApp,
    admin: &Client,
    school: SchoolId,
    (surname, given): (&str, &str),
    class: ClassId,
    number: &str,
) -> Response {
    let path = format!("/s/{school}/movements/enrol");
    let key = form_key(app, admin, &path).await;
    let class = class.to_string();
    app.post(
        admin,
        &path,
        &[
            ("key", &key),
            ("surname", surname),
            ("given_name", given),
            ("patronymic", "Иванович"),
            ("birth_date", "2015-03-14"),
            ("class", &class),
            ("order_number", number),
            ("order_date", "2026-08-30"),
            ("date", "2026-09-01"),
        ],
    )
    .await
}

/// «Выбытие ученика», confirmed, under order `number`.
pub async fn student_leaves(
    app: &TestApp,
    admin: &Client,
    school: SchoolId,
    student: MembershipId,
    number: &str,
) -> Response {
    let key = form_key(
        app,
        admin,
        &format!("/s/{school}/movements/leave?student={student}"),
    )
    .await;
    let student = student.to_string();
    app.post(
        admin,
        &format!("/s/{school}/movements/leave"),
        &[
            ("key", &key),
            ("student", &student),
            ("order_number", number),
            ("order_date", "2026-11-20"),
            ("date", "2026-11-20"),
            ("reason", "смена места жительства"),
            ("confirm", "1"),
        ],
    )
    .await
}

/// «Выбытие сотрудника», confirmed, under order `number` (the form is there only once
/// nothing is left to hand over).
pub async fn staff_leaves(
    app: &TestApp,
    admin: &Client,
    school: SchoolId,
    member: MembershipId,
    number: &str,
) -> Response {
    let key = form_key(
        app,
        admin,
        &format!("/s/{school}/movements/staff-leave?member={member}"),
    )
    .await;
    let member = member.to_string();
    app.post(
        admin,
        &format!("/s/{school}/movements/staff-leave"),
        &[
            ("key", &key),
            ("member", &member),
            ("order_number", number),
            ("order_date", "2026-11-20"),
            ("date", "2026-11-23"),
            ("reason", "по собственному желанию"),
            ("confirm", "1"),
        ],
    )
    .await
}
