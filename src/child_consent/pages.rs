//! The consent routes: a parent consents for their child, a pupil of 14 or more for
//! themselves, and «Согласия родителей»: the pupils under 14 of the classes one sees, with
//! their consent, and the school's setting. See the module doc for the rules.

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::{NOTICE_VERSION, OWN_CONSENT_AGE};
use crate::AppState;
use crate::audit;
use crate::auth::extract::{RequestMeta, SchoolScope};
use crate::auth::objects::Target;
use crate::auth::permissions::{Access, Action, Role};
use crate::error::{AppError, AppResult};
use crate::ids::{AccountId, ClassId, MembershipId, SchoolId};
use crate::web::Routes;
use crate::web::format;
use crate::web::layout::Layout;
use crate::web::once::{self, FormKey, KeyOnly};

pub fn routes(r: Routes) -> Routes {
    r.get(
        "/s/{school_id}/child-consents",
        Access::School(Action::ViewCompliance),
        list,
    )
    .post(
        "/s/{school_id}/child-consents/setting",
        Access::School(Action::EditSchoolProfile),
        setting,
    )
    .post(
        "/s/{school_id}/children/{account_id}/chat-consent",
        Access::School(Action::GiveChildConsent),
        parent_consents,
    )
    .post(
        "/s/{school_id}/my-chat-consent",
        Access::School(Action::GiveOwnConsent),
        own_consent,
    )
}

/// A parent consents for their own linked child (under 14, or whose age the school does
/// not know); the child is synced into the class chats at once.
async fn parent_consents(
    State(state): State<AppState>,
    scope: SchoolScope,
    meta: RequestMeta,
    Path((_, child)): Path<(SchoolId, AccountId)>,
    Form(form): Form<KeyOnly>,
) -> AppResult<Response> {
    scope.require(Action::GiveChildConsent)?;
    let school = scope.school_id();
    let home = format!("/s/{school}?done=consent");
    let mut tx = state.db.begin().await?;
    if let Some(url) = form.form_key.seen(&mut tx, scope.actor().id()).await? {
        return Ok(once::again(&url));
    }
    // Only the actor's own child: anybody else's is not found.
    let kid = sqlx::query!(
        r#"select k.id as "id: MembershipId",
                  coalesce(ka.birth_date <= (current_date - interval '14 years')::date, false)
                    as "adult!"
           from memberships p
           join parent_links l on l.school_id = p.school_id and l.parent_id = p.id
           join memberships k on k.school_id = l.school_id and k.id = l.child_id
           join accounts ka on ka.id = k.account_id
           where p.school_id = $1 and p.account_id = $2 and p.role = 'parent'
             and p.status = 'active' and k.account_id = $3 and k.role = 'student'
             and k.status = 'active'"#,
        school as SchoolId,
        scope.actor().id() as AccountId,
        child as AccountId
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(AppError::NotFound)?;
    if kid.adult {
        return Err(AppError::BadRequest(crate::ru!(
            "Ребёнку уже исполнилось 14 лет: согласие на участие в чатах он даёт сам, на своей главной странице."
        )));
    }
    let given = sqlx::query!(
        r#"insert into child_consents (school_id, id, child_id, kind, given_by, notice_version)
           values ($1, $2, $3, 'parent', $4, $5) on conflict do nothing"#,
        school as SchoolId,
        uuid::Uuid::now_v7(),
        kid.id as MembershipId,
        scope.actor().id() as AccountId,
        NOTICE_VERSION
    )
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if given > 0 {
        audit::in_school(
            &mut tx,
            &meta,
            &scope,
            "consent.parent_given",
            Some(format!("account:{child}")),
            Some(format!(
                "согласие родителя на участие в чатах класса (редакция уведомления {NOTICE_VERSION})"
            )),
        )
        .await?;
        crate::chats::sync::sync_people(
            &mut tx,
            &meta,
            scope.tenant(),
            scope.actor().id(),
            &[kid.id],
        )
        .await?;
    }
    form.form_key
        .done(&mut tx, scope.actor().id(), &home)
        .await?;
    tx.commit().await?;
    Ok(Redirect::to(&home).into_response())
}

/// A pupil of 14 or more consents themselves; the linked parents with an e-mail are told.
async fn own_consent(
    State(state): State<AppState>,
    scope: SchoolScope,
    meta: RequestMeta,
    Form(form): Form<KeyOnly>,
) -> AppResult<Response> {
    scope.require(Action::GiveOwnConsent)?;
    let school = scope.school_id();
    let me = scope.actor().id();
    let home = format!("/s/{school}?done=own-consent");
    let mut tx = state.db.begin().await?;
    if let Some(url) = form.form_key.seen(&mut tx, me).await? {
        return Ok(once::again(&url));
    }
    let pupil = sqlx::query!(
        r#"select m.id as "id: MembershipId",
                  coalesce(a.birth_date <= (current_date - make_interval(years => $3))::date, false)
                    as "adult!"
           from memberships m join accounts a on a.id = m.account_id
           where m.school_id = $1 and m.account_id = $2 and m.role = 'student'
             and m.status = 'active'"#,
        school as SchoolId,
        me as AccountId,
        OWN_CONSENT_AGE
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(AppError::NotFound)?;
    if !pupil.adult {
        return Err(AppError::BadRequest(crate::ru!(
            "До 14 лет согласие на участие в чатах даёт родитель (законный представитель) — в своём кабинете на портале."
        )));
    }
    let given = sqlx::query!(
        r#"insert into child_consents (school_id, id, child_id, kind, given_by, notice_version)
           values ($1, $2, $3, 'own', $4, $5) on conflict do nothing"#,
        school as SchoolId,
        uuid::Uuid::now_v7(),
        pupil.id as MembershipId,
        me as AccountId,
        NOTICE_VERSION
    )
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if given > 0 {
        audit::in_school(
            &mut tx,
            &meta,
            &scope,
            "consent.own_given",
            Some(format!("account:{me}")),
            Some(format!(
                "ученик сам дал согласие на участие в чатах класса (редакция уведомления {NOTICE_VERSION})"
            )),
        )
        .await?;
        let parents = sqlx::query!(
            r#"select distinct pa.email as "email!", pa.given_name, pa.patronymic
               from parent_links l
               join memberships p on p.school_id = l.school_id and p.id = l.parent_id
               join accounts pa on pa.id = p.account_id
               where l.school_id = $1 and l.child_id = $2 and p.status = 'active'
                 and pa.email is not null and pa.deactivated_at is null"#,
            school as SchoolId,
            pupil.id as MembershipId
        )
        .fetch_all(&mut *tx)
        .await?;
        let child = scope.actor().full_name();
        for p in parents {
            let address = match p.patronymic.as_deref() {
                Some(pat) if !pat.is_empty() => format!("{} {pat}", p.given_name),
                _ => p.given_name.clone(),
            };
            let body = format!(
                "Здравствуйте, {address}!\n\n\
                 Сообщаем: {child}, ученик школы «{}», сам дал согласие на участие в чатах класса \
                 на Школьном портале (с 14 лет ученик даёт его сам, а родителю сообщают).\n\n\
                 Если у вас есть вопросы, обратитесь к классному руководителю или администратору школы.\n",
                scope.school_name()
            );
            crate::mail::enqueue(
                &mut tx,
                Some(scope.tenant()),
                &p.email,
                "Ваш ребёнок дал согласие на участие в чатах класса",
                &body,
            )
            .await?;
        }
    }
    form.form_key.done(&mut tx, me, &home).await?;
    tx.commit().await?;
    Ok(Redirect::to(&home).into_response())
}

#[derive(Deserialize)]
struct SettingForm {
    #[serde(default)]
    form_key: FormKey,
    /// «on» when the checkbox is ticked.
    #[serde(default)]
    strict: String,
}

fn setting_title(on: bool) -> &'static str {
    if on {
        "не добавлять в чат учеников без согласия родителя"
    } else {
        "добавлять и отмечать «нет согласия родителя»"
    }
}

async fn setting(
    State(state): State<AppState>,
    scope: SchoolScope,
    meta: RequestMeta,
    Form(form): Form<SettingForm>,
) -> AppResult<Response> {
    scope.require(Action::EditSchoolProfile)?;
    let school = scope.school_id();
    let to = format!("/s/{school}/child-consents?done=setting");
    let on = form.strict == "on";
    let mut tx = state.db.begin().await?;
    if let Some(url) = form.form_key.seen(&mut tx, scope.actor().id()).await? {
        return Ok(once::again(&url));
    }
    let was = sqlx::query_scalar!(
        "select chats_need_parent_consent from schools where id = $1 for update",
        school as SchoolId
    )
    .fetch_one(&mut *tx)
    .await?;
    if was != on {
        sqlx::query!(
            "update schools set chats_need_parent_consent = $2, updated_at = now() where id = $1",
            school as SchoolId,
            on
        )
        .execute(&mut *tx)
        .await?;
        audit::in_school(
            &mut tx,
            &meta,
            &scope,
            "school.consent_setting",
            Some(format!("school:{school}")),
            Some(format!(
                "ученики младше 14 лет без согласия родителя: {} → {}",
                setting_title(was),
                setting_title(on)
            )),
        )
        .await?;
    }
    form.form_key.done(&mut tx, scope.actor().id(), &to).await?;
    tx.commit().await?;
    Ok(Redirect::to(&to).into_response())
}

struct PupilRow {
    class: String,
    account: AccountId,
    name: String,
    birth_date: String,
    state: String,
    missing: bool,
    /// The linked parents, with contacts where the viewer may see them (SECURITY.md 36).
    parents: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "child_consent/list.html")]
struct ListPage {
    layout: Layout,
    school_id: SchoolId,
    pupils: Vec<PupilRow>,
    missing: String,
    unknown_age: String,
    strict: bool,
    can_set: bool,
    can_open_cards: bool,
    form_key: FormKey,
    done: bool,
}

#[derive(Deserialize, Default)]
struct DoneQuery {
    #[serde(default)]
    done: String,
}

/// The pupils under 14 of the current year's classes the viewer sees (the leadership all,
/// a class teacher their own), with their consent.
async fn list(
    State(state): State<AppState>,
    scope: SchoolScope,
    Query(q): Query<DoneQuery>,
) -> AppResult<Response> {
    scope.require(Action::ViewCompliance)?;
    let school = scope.school_id();
    let all = [Role::Admin, Role::Director, Role::Deputy, Role::ItDeputy]
        .iter()
        .any(|r| scope.has(*r));
    let mut conn = state.db.acquire().await?;
    let strict = sqlx::query_scalar!(
        "select chats_need_parent_consent from schools where id = $1",
        school as SchoolId
    )
    .fetch_one(&mut *conn)
    .await?;
    let rows = sqlx::query!(
        r#"select c.id as "class_id: ClassId", c.title as class, a.id as "account: AccountId",
                  a.surname, a.given_name, a.patronymic, a.birth_date,
                  a.birth_date is not null
                    and a.birth_date > (current_date - interval '14 years')::date as "under_14!",
                  pc.given_at as "parent_at?",
                  pa.surname || ' ' || pa.given_name || coalesce(' ' || pa.patronymic, '') as "parent_by?",
                  array(select pp.surname || ' ' || pp.given_name || coalesce(' ' || pp.patronymic, '')
                               || coalesce(', ' || pp.phone, '') || coalesce(', ' || pp.email, '')
                        from parent_links l
                        join memberships p on p.school_id = l.school_id and p.id = l.parent_id
                        join accounts pp on pp.id = p.account_id
                        where l.school_id = m.school_id and l.child_id = m.id and p.status = 'active'
                        order by 1) as "parents_contacts!: Vec<String>",
                  array(select pp.surname || ' ' || pp.given_name || coalesce(' ' || pp.patronymic, '')
                        from parent_links l
                        join memberships p on p.school_id = l.school_id and p.id = l.parent_id
                        join accounts pp on pp.id = p.account_id
                        where l.school_id = m.school_id and l.child_id = m.id and p.status = 'active'
                        order by 1) as "parents!: Vec<String>"
           from memberships m
           join accounts a on a.id = m.account_id
           join classes c on c.school_id = m.school_id and c.id = m.class_id and c.kind = 'class'
                         and c.archived_at is null
           join academic_years y on y.school_id = c.school_id and y.id = c.academic_year_id
                                and y.is_current
           left join child_consents pc on pc.school_id = m.school_id and pc.child_id = m.id
                                      and pc.kind = 'parent'
           left join accounts pa on pa.id = pc.given_by
           where m.school_id = $1 and m.role = 'student' and m.status = 'active'
             and ($2 or c.id = any($3))
           order by c.grade, c.letter, a.surname collate "ru-RU-x-icu", a.given_name collate "ru-RU-x-icu""#,
        school as SchoolId,
        all,
        scope.led_classes() as &[ClassId]
    )
    .fetch_all(&mut *conn)
    .await?;
    let tz = scope.timezone();
    let facts = scope.facts();
    let unknown = rows.iter().filter(|r| r.birth_date.is_none()).count() as i64;
    let mut pupils = Vec::new();
    for r in rows.into_iter().filter(|r| r.under_14) {
        let contacts = facts.can_on(Action::ViewClassContacts, &Target::Class(r.class_id));
        let (state_text, missing) = match (r.parent_at, r.parent_by) {
            (Some(at), by) => (
                format!(
                    "согласие дано: {}, {}",
                    by.unwrap_or_else(|| "—".into()),
                    format::datetime(at, tz)
                ),
                false,
            ),
            (None, _) => ("нет согласия родителя".to_owned(), true),
        };
        let parents = if contacts {
            r.parents_contacts
        } else {
            r.parents
        };
        pupils.push(PupilRow {
            class: r.class,
            account: r.account,
            name: format::full_name(&r.surname, &r.given_name, r.patronymic.as_deref()),
            birth_date: r.birth_date.map(format::date).unwrap_or_default(),
            state: state_text,
            missing,
            parents: if parents.is_empty() {
                "родитель не связан".to_owned()
            } else {
                parents.join("; ")
            },
        });
    }
    let missing = pupils.iter().filter(|p| p.missing).count() as i64;
    Ok(ListPage {
        layout: Layout::for_scope(&scope),
        school_id: school,
        missing: Role::Student.count(missing),
        unknown_age: format::count(unknown, "ученика", "учеников", "учеников"),
        pupils,
        strict,
        can_set: scope.can(Action::EditSchoolProfile),
        can_open_cards: scope.can(Action::ViewPeople),
        form_key: FormKey::default(),
        done: q.done == "setting",
    }
    .into_response())
}
