//! Creating chats (R2.4.c–d, R2.5.c): the class's mandatory chats in one click, subject,
//! event and staff chats by the form. Safe to send twice (SECURITY.md 18): a mandatory chat
//! is one per class and kind (the unique index `chats_one_mandatory`; a race finds the
//! winner's chat), a chat by the form carries a [`FormKey`] and its second submit goes to
//! the chat the first made.

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use sqlx::PgConnection;

use super::Kind;
use super::members::fill_from_roster;
use super::rules::{live_class, may_create, staff_membership, valid_platform_url};
use crate::AppState;
use crate::audit::{self, Entry};
use crate::auth::extract::{RequestMeta, SchoolScope};
use crate::auth::objects::Target;
use crate::auth::permissions::Action;
use crate::auth::tenant::Tenant;
use crate::error::{AppError, AppResult};
use crate::ids::{AccountId, ChatId, ClassId, MembershipId, SchoolId, SubjectId};
use crate::web::form::FormErrors;
use crate::web::layout::Layout;
use crate::web::once::{self, FormKey};

pub struct NewChat<'a> {
    pub kind: Kind,
    pub title: &'a str,
    pub class: Option<ClassId>,
    pub subject: Option<SubjectId>,
    pub platform_url: Option<&'a str>,
    pub owner: MembershipId,
}

/// Creates a chat and fills its members: a mandatory chat from the roster (R2.4.c), any
/// chat with its owner. A second live mandatory chat of the same kind is never made: the
/// existing one is returned.
pub async fn create_chat(
    conn: &mut PgConnection,
    meta: &RequestMeta,
    tenant: Tenant,
    actor: AccountId,
    chat: &NewChat<'_>,
) -> sqlx::Result<ChatId> {
    let school = tenant.id();
    if chat.kind.is_mandatory() {
        let existing = sqlx::query_scalar!(
            r#"select id from chats where school_id = $1 and class_id = $2 and kind = $3
               and archived_at is null"#,
            school as SchoolId,
            chat.class as Option<ClassId>,
            chat.kind.code()
        )
        .fetch_optional(&mut *conn)
        .await?;
        if let Some(id) = existing {
            return Ok(ChatId(id));
        }
    }
    let id = ChatId::new();
    // Two clicks at once both find none: the unique index lets one in, the other waits for
    // it and then takes the chat it made.
    let inserted = sqlx::query_scalar!(
        r#"insert into chats (school_id, id, kind, title, owner_id, class_id, subject_id,
                              platform_url, created_by)
           values ($1, $2, $3, $4, $5, $6, $7, $8, $9)
           on conflict (school_id, class_id, kind)
             where archived_at is null and kind in ('class_students', 'class_parents', 'class_teachers')
             do nothing
           returning id"#,
        school as SchoolId,
        id as ChatId,
        chat.kind.code(),
        chat.title,
        chat.owner as MembershipId,
        chat.class as Option<ClassId>,
        chat.subject as Option<SubjectId>,
        chat.platform_url,
        actor as AccountId
    )
    .fetch_optional(&mut *conn)
    .await?;
    if inserted.is_none() {
        let winner = sqlx::query_scalar!(
            r#"select id from chats where school_id = $1 and class_id = $2 and kind = $3
               and archived_at is null"#,
            school as SchoolId,
            chat.class as Option<ClassId>,
            chat.kind.code()
        )
        .fetch_one(&mut *conn)
        .await?;
        return Ok(ChatId(winner));
    }
    sqlx::query!(
        r#"insert into chat_members (school_id, chat_id, member_id, role, added_by)
           values ($1, $2, $3, 'owner', $4)"#,
        school as SchoolId,
        id as ChatId,
        chat.owner as MembershipId,
        actor as AccountId
    )
    .execute(&mut *conn)
    .await?;
    let filled = fill_from_roster(&mut *conn, tenant, id, actor).await?;
    audit::record(
        conn,
        meta,
        Entry {
            actor: Some(actor),
            school: Some(school),
            action: "chat.created",
            target: Some(format!("chat:{id}")),
            details: Some(format!(
                "{}: «{}», участников из списка: {filled}",
                chat.kind.title(),
                chat.title
            )),
        },
    )
    .await?;
    Ok(id)
}

/// The class teacher's membership, if the class has one.
async fn class_teacher_of(
    conn: &mut PgConnection,
    tenant: Tenant,
    class: ClassId,
) -> sqlx::Result<Option<MembershipId>> {
    let school = tenant.id();
    sqlx::query_scalar!(
        r#"select a.teacher_id as "id: MembershipId" from class_teacher_assignments a
           join memberships m on m.school_id = a.school_id and m.id = a.teacher_id
           where a.school_id = $1 and a.class_id = $2 and a.ended_at is null
             and m.status = 'active'"#,
        school as SchoolId,
        class as ClassId
    )
    .fetch_optional(conn)
    .await
}

// ---- one click per mandatory chat -----------------------------------------------------

pub(super) async fn create_mandatory(
    State(state): State<AppState>,
    scope: SchoolScope,
    meta: RequestMeta,
    Path((_, class_id, kind)): Path<(String, ClassId, String)>,
) -> AppResult<Response> {
    scope.require(Action::CreateClassChats)?;
    let kind = Kind::from_code(&kind)
        .filter(|k| k.is_mandatory())
        .ok_or(AppError::NotFound)?;
    let mut tx = state.db.begin().await?;
    let title = live_class(&mut tx, scope.tenant(), class_id)
        .await?
        .ok_or(AppError::NotFound)?;
    may_create(&mut tx, &scope, kind, Some(class_id)).await?;
    // The class teacher owns the class's chats; without one, whoever creates it.
    let owner = match class_teacher_of(&mut tx, scope.tenant(), class_id).await? {
        Some(t) => t,
        None => staff_membership(&mut tx, scope.tenant(), scope.actor().id())
            .await?
            .ok_or(AppError::Forbidden)?,
    };
    let id = create_chat(
        &mut tx,
        &meta,
        scope.tenant(),
        scope.actor().id(),
        &NewChat {
            kind,
            title: &kind.default_title(&title),
            class: Some(class_id),
            subject: None,
            platform_url: None,
            owner,
        },
    )
    .await?;
    tx.commit().await?;
    Ok(Redirect::to(&format!(
        "/s/{}/chats/{id}?done=chat-created",
        scope.school_id()
    ))
    .into_response())
}

// ---- creating a chat by the form ------------------------------------------------------

#[derive(Deserialize, Default, Debug)]
pub(super) struct ChatForm {
    #[serde(default)]
    form_key: FormKey,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    title: String,
    #[serde(default)]
    class_id: String,
    #[serde(default)]
    subject_id: String,
    #[serde(default)]
    platform_url: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "chats/new.html")]
struct NewPage {
    layout: Layout,
    school_id: SchoolId,
    kinds: Vec<(&'static str, &'static str)>,
    kind: Option<(&'static str, &'static str)>,
    route: &'static str,
    needs_class: bool,
    needs_subject: bool,
    classes: Vec<(ClassId, String)>,
    subjects: Vec<(SubjectId, String)>,
    form: ChatForm,
    errors: FormErrors,
}

#[derive(Deserialize, Default)]
pub(super) struct NewQuery {
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    class: Option<String>,
}

async fn new_form(
    conn: &mut PgConnection,
    scope: &SchoolScope,
    kind: Option<Kind>,
    form: ChatForm,
    errors: FormErrors,
) -> AppResult<Response> {
    let kinds: Vec<(&'static str, &'static str)> = Kind::ALL
        .into_iter()
        .filter(|k| !k.is_mandatory() && scope.can(k.create_action()))
        .map(|k| (k.code(), k.title()))
        .collect();
    if kinds.is_empty() {
        return Err(AppError::Forbidden);
    }
    // The classes the object rules let this kind of chat be created in.
    let facts = scope.facts();
    let action = kind.map_or(Action::CreateClassChats, Kind::create_action);
    let classes = sqlx::query!(
        r#"select c.id as "id: ClassId", c.title from classes c
           join academic_years y on y.school_id = c.school_id and y.id = c.academic_year_id
           where c.school_id = $1 and c.kind = 'class' and c.archived_at is null and y.is_current
           order by c.grade, c.letter"#,
        scope.school_id() as SchoolId
    )
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .filter(|r| facts.can_on(action, &Target::Class(r.id)))
    .map(|r| (r.id, r.title))
    .collect();
    let subjects = sqlx::query!(
        r#"select id, name from subjects where school_id = $1 and archived_at is null
           order by kind, name"#,
        scope.school_id() as SchoolId
    )
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .map(|r| (SubjectId(r.id), r.name))
    .collect();
    Ok(NewPage {
        layout: Layout::for_scope(scope),
        school_id: scope.school_id(),
        kinds,
        kind: kind.map(|k| (k.code(), k.title())),
        route: kind.map_or("class", Kind::route),
        needs_class: kind.is_some_and(|k| k != Kind::Staff),
        needs_subject: kind == Some(Kind::Subject),
        classes,
        subjects,
        form,
        errors,
    }
    .into_response())
}

pub(super) async fn new_page(
    State(state): State<AppState>,
    scope: SchoolScope,
    Query(q): Query<NewQuery>,
) -> AppResult<Response> {
    scope.require(Action::ViewChats)?;
    if !Kind::ALL
        .into_iter()
        .any(|k| !k.is_mandatory() && scope.can(k.create_action()))
    {
        // Nothing this person may create (the director): the chats themselves, not a 403.
        return Ok(Redirect::to(&format!("/s/{}/chats", scope.school_id())).into_response());
    }
    let kind = q
        .kind
        .as_deref()
        .and_then(Kind::from_code)
        .filter(|k| !k.is_mandatory() && scope.can(k.create_action()));
    let mut conn = state.db.acquire().await?;
    let form = ChatForm {
        kind: kind.map(Kind::code).unwrap_or_default().to_owned(),
        class_id: q.class.unwrap_or_default(),
        ..ChatForm::default()
    };
    new_form(&mut conn, &scope, kind, form, FormErrors::default()).await
}

pub(super) async fn create_class_chat(
    state: State<AppState>,
    scope: SchoolScope,
    meta: RequestMeta,
    form: Form<ChatForm>,
) -> AppResult<Response> {
    scope.require(Action::CreateClassChats)?;
    create_by_form(state, scope, meta, form, Action::CreateClassChats).await
}

pub(super) async fn create_subject_chat(
    state: State<AppState>,
    scope: SchoolScope,
    meta: RequestMeta,
    form: Form<ChatForm>,
) -> AppResult<Response> {
    scope.require(Action::CreateSubjectChats)?;
    create_by_form(state, scope, meta, form, Action::CreateSubjectChats).await
}

pub(super) async fn create_staff_chat(
    state: State<AppState>,
    scope: SchoolScope,
    meta: RequestMeta,
    form: Form<ChatForm>,
) -> AppResult<Response> {
    scope.require(Action::CreateStaffChats)?;
    create_by_form(state, scope, meta, form, Action::CreateStaffChats).await
}

async fn create_by_form(
    State(state): State<AppState>,
    scope: SchoolScope,
    meta: RequestMeta,
    Form(form): Form<ChatForm>,
    action: Action,
) -> AppResult<Response> {
    let kind = Kind::from_code(&form.kind)
        .filter(|k| !k.is_mandatory() && k.create_action() == action)
        .ok_or(AppError::BadRequest(crate::ru!(
            "Такой чат здесь не создаётся."
        )))?;
    let mut tx = state.db.begin().await?;
    if let Some(url) = form.form_key.seen(&mut tx, scope.actor().id()).await? {
        return Ok(once::again(&url));
    }
    let mut errors = FormErrors::default();
    let title = form.title.trim();
    if title.is_empty() || title.chars().count() > 200 {
        errors.add("title", "Укажите название чата (до 200 знаков).");
    }
    let url = match valid_platform_url(&form.platform_url) {
        Ok(u) => u,
        Err(e) => {
            errors.add("platform_url", e);
            None
        }
    };
    let mut class = None;
    if kind != Kind::Staff {
        match form.class_id.parse::<ClassId>() {
            Ok(c) if live_class(&mut tx, scope.tenant(), c).await?.is_some() => class = Some(c),
            _ => errors.add("class_id", "Выберите класс."),
        }
    }
    let mut subject = None;
    if kind == Kind::Subject {
        let found = match form.subject_id.parse::<SubjectId>() {
            Ok(s) => sqlx::query_scalar!(
                "select id from subjects where school_id = $1 and id = $2 and archived_at is null",
                scope.school_id() as SchoolId,
                s as SubjectId
            )
            .fetch_optional(&mut *tx)
            .await?,
            Err(_) => None,
        };
        match found {
            Some(s) => subject = Some(SubjectId(s)),
            None => errors.add("subject_id", "Выберите предмет."),
        }
    }
    if errors.is_empty() {
        may_create(&mut tx, &scope, kind, class).await?;
    }
    if !errors.is_empty() {
        return new_form(&mut tx, &scope, Some(kind), form, errors).await;
    }
    let owner = staff_membership(&mut tx, scope.tenant(), scope.actor().id())
        .await?
        .ok_or(AppError::Forbidden)?;
    let id = create_chat(
        &mut tx,
        &meta,
        scope.tenant(),
        scope.actor().id(),
        &NewChat {
            kind,
            title,
            class,
            subject,
            platform_url: url,
            owner,
        },
    )
    .await?;
    let url = format!("/s/{}/chats/{id}?done=chat-created", scope.school_id());
    form.form_key
        .done(&mut tx, scope.actor().id(), &url)
        .await?;
    tx.commit().await?;
    Ok(Redirect::to(&url).into_response())
}
