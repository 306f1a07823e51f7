//! Parent slips (R2.1.f, R2.7.a): for a class, one single-use parent link per student,
//! printed as a sheet of slips (the child's name, the QR code and the link, cut lines) to
//! hand out at a parent meeting. A parent who joins by a slip is linked to that child at
//! once. The tokens exist only in the response that prints the sheet.

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::links::{MessagePage, class_choices};
use super::{InviteId, class_limit, issue, join_url, qr_svg};
use crate::AppState;
use crate::auth::extract::{RequestMeta, SchoolScope};
use crate::auth::permissions::{Access, Action};
use crate::error::AppResult;
use crate::ids::{ClassId, MembershipId, SchoolId};
use crate::web::Routes;
use crate::web::form::FormErrors;
use crate::web::format::{self, count};
use crate::web::layout::Layout;

pub fn routes(r: Routes) -> Routes {
    r.get(
        "/s/{school_id}/invites/slips/new",
        Access::School(Action::CreateInvites),
        new_page,
    )
    .post(
        "/s/{school_id}/invites/slips",
        Access::School(Action::CreateInvites),
        create,
    )
}

/// How long slips live by default, and at most.
const DEFAULT_DAYS: i64 = 30;
const MAX_DAYS: i64 = 90;

#[derive(Deserialize, Default, Debug)]
struct SlipsForm {
    #[serde(default)]
    form_id: String,
    #[serde(default)]
    class_id: String,
    #[serde(default)]
    days: String,
    /// "on": only students with no parent on the portal yet.
    #[serde(default)]
    only_unlinked: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "invites/slips_new.html")]
struct NewPage {
    layout: Layout,
    school_id: SchoolId,
    form: SlipsForm,
    errors: FormErrors,
    classes: Vec<(ClassId, String)>,
}

/// `?class_id=` from a class's page.
#[derive(Deserialize, Default)]
struct NewQuery {
    #[serde(default)]
    class_id: String,
}

async fn new_page(
    State(state): State<AppState>,
    scope: SchoolScope,
    axum::extract::Query(q): axum::extract::Query<NewQuery>,
) -> AppResult<Response> {
    scope.require(Action::CreateInvites)?;
    let mut conn = state.db.acquire().await?;
    let limit = class_limit(&scope);
    let classes = class_choices(&mut conn, &scope, &limit).await?;
    let asked = classes
        .iter()
        .find(|(id, _)| id.to_string() == q.class_id.trim());
    let class_id = match (asked, classes.as_slice()) {
        (Some((id, _)), _) | (None, [(id, _)]) => id.to_string(),
        _ => String::new(),
    };
    Ok(NewPage {
        layout: Layout::for_scope(&scope),
        school_id: scope.school_id(),
        form: SlipsForm {
            form_id: InviteId::new().to_string(),
            class_id,
            days: DEFAULT_DAYS.to_string(),
            only_unlinked: "on".to_owned(),
        },
        errors: FormErrors::default(),
        classes,
    }
    .into_response())
}

struct Slip {
    child: String,
    link: super::ShortLink,
    /// Server-built SVG markup.
    qr: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "invites/slips.html")]
struct SheetPage {
    school_id: SchoolId,
    school_name: String,
    class_title: String,
    expires: String,
    slips: Vec<Slip>,
    count: String,
}

async fn create(
    State(state): State<AppState>,
    scope: SchoolScope,
    meta: RequestMeta,
    Form(form): Form<SlipsForm>,
) -> AppResult<Response> {
    scope.require(Action::CreateInvites)?;
    let mut conn = state.db.acquire().await?;
    let limit = class_limit(&scope);
    let classes = class_choices(&mut conn, &scope, &limit).await?;
    let mut errors = FormErrors::default();
    let class = form
        .class_id
        .parse::<ClassId>()
        .ok()
        .and_then(|c| classes.iter().find(|(id, _)| *id == c).cloned());
    if class.is_none() {
        errors.add("class_id", "Выберите класс из списка.");
    }
    let days = form
        .days
        .trim()
        .parse::<i64>()
        .ok()
        .filter(|d| (1..=MAX_DAYS).contains(d));
    if days.is_none() {
        errors.add("days", "Срок — от 1 до 90 дней.");
    }
    let (Some((class, class_title)), Some(days)) = (class, days) else {
        return Ok(NewPage {
            layout: Layout::for_scope(&scope),
            school_id: scope.school_id(),
            form,
            errors,
            classes,
        }
        .into_response());
    };
    let batch = form
        .form_id
        .parse::<InviteId>()
        .unwrap_or_else(|_| InviteId::new());
    let only_unlinked = form.only_unlinked == "on";
    let students = sqlx::query!(
        r#"select m.id as "id: MembershipId", a.surname, a.given_name, a.patronymic
           from memberships m join accounts a on a.id = m.account_id
           where m.school_id = $1 and m.class_id = $2 and m.role = 'student' and m.status = 'active'
             and (not $3 or not exists(
                   select 1 from parent_links l
                   join memberships p on p.school_id = l.school_id and p.id = l.parent_id
                   join accounts pa on pa.id = p.account_id
                   where l.school_id = m.school_id and l.child_id = m.id and p.status = 'active'
                     and pa.password_hash is not null))
           order by a.surname collate "ru-RU-x-icu", a.given_name collate "ru-RU-x-icu", m.id"#,
        scope.school_id() as SchoolId,
        class as ClassId,
        only_unlinked
    )
    .fetch_all(&mut *conn)
    .await?;
    drop(conn);
    if students.is_empty() {
        return Ok(SheetPage {
            school_id: scope.school_id(),
            school_name: scope.school_name().to_owned(),
            class_title,
            expires: String::new(),
            count: count(0, "приглашение", "приглашения", "приглашений"),
            slips: Vec::new(),
        }
        .into_response());
    }
    let request = issue::Request {
        id: batch,
        role: "parent".to_owned(),
        class,
        chat: None,
        children: Some(students.iter().map(|s| s.id).collect()),
        purpose: "приглашение для родителя".to_owned(),
        max_uses: 1,
        needs_approval: false,
        days,
    };
    let (links, expires_at) = match issue::issue(
        &state,
        &scope,
        &meta,
        request,
        "invite.slips_created",
    )
    .await?
    {
        issue::Outcome::Issued { links, expires_at } => (links, Some(expires_at)),
        issue::Outcome::AlreadyIssued => {
            return Ok(MessagePage {
                    layout: Layout::for_scope(&scope),
                    title: "Приглашения уже созданы",
                    message: "Эта форма уже была отправлена, и приглашения по ней созданы. Листок показывают только один раз: если он потерялся, отзовите приглашения класса в реестре и создайте новые.",
                    back: format!("/s/{}/invites", scope.school_id()),
                    back_label: "К реестру приглашений",
                }
                .into_response());
        }
    };
    let slips: Vec<Slip> = links
        .iter()
        .zip(&students)
        .map(|(l, s)| {
            let link = join_url(&state.public_url, &l.token);
            Slip {
                child: format::full_name(&s.surname, &s.given_name, s.patronymic.as_deref()),
                qr: qr_svg(&link),
                link: super::short_link(&state.public_url, &l.token),
            }
        })
        .collect();
    let expires = expires_at
        .map(|t| format::datetime(t, scope.timezone()))
        .unwrap_or_default();
    Ok(SheetPage {
        school_id: scope.school_id(),
        school_name: scope.school_name().to_owned(),
        class_title,
        expires,
        count: count(
            slips.len() as i64,
            "приглашение",
            "приглашения",
            "приглашений",
        ),
        slips,
    }
    .into_response())
}
