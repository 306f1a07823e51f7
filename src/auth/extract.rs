//! The proofs a handler receives: [`Actor`] (someone is logged in) and [`SchoolScope`]
//! (that someone is a member of the school in the URL, with these roles). Their fields are
//! private and only this module makes them (ARCHITECTURE rule 1). The school always comes
//! from the URL and is checked against the person's memberships (SECURITY.md 12); a school
//! they are not in answers 404, the same as one that does not exist.

use std::collections::HashMap;

use axum::extract::{FromRequestParts, Path, Request, State};
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sqlx::PgConnection;

use super::permissions::{Action, Role, can};
use super::session::{self, CurrentSession};
use crate::AppState;
use crate::error::AppError;
use crate::ids::{AccountId, ClassId, SchoolId, SessionId};
/// Where a request came from; it lives in [`crate::web::request_meta`].
pub use crate::web::request_meta::RequestMeta;

/// Who is asking: a logged-in account.
#[derive(Debug, Clone)]
pub struct Actor {
    session: CurrentSession,
}

impl Actor {
    pub fn id(&self) -> AccountId {
        self.session.account_id
    }
    pub fn session_id(&self) -> SessionId {
        self.session.session_id
    }
    pub fn is_operator(&self) -> bool {
        self.session.is_operator
    }
    /// «Фамилия Имя Отчество».
    pub fn full_name(&self) -> String {
        crate::web::format::full_name(
            &self.session.surname,
            &self.session.given_name,
            self.session.patronymic.as_deref(),
        )
    }
    /// «Имя Отчество», for addressing the person.
    pub fn address_name(&self) -> String {
        match &self.session.patronymic {
            Some(p) if !p.is_empty() => format!("{} {}", self.session.given_name, p),
            _ => self.session.given_name.clone(),
        }
    }
}

/// Proof that the actor is a member of a school, with the roles they hold there.
#[derive(Debug, Clone)]
pub struct SchoolScope {
    actor: Actor,
    school_id: SchoolId,
    school_name: String,
    school_short: Option<String>,
    timezone: String,
    roles: Vec<Role>,
    /// The school's administrators' contacts (raw rows, see `web::layout::admin_contacts`).
    admins: Vec<String>,
    led: Vec<ClassId>,
    taught: Vec<ClassId>,
    review_queue: i64,
}

impl SchoolScope {
    pub fn actor(&self) -> &Actor {
        &self.actor
    }
    pub fn school_id(&self) -> SchoolId {
        self.school_id
    }
    pub fn school_name(&self) -> &str {
        &self.school_name
    }
    /// The school's short name for the page header; its full name when it has none.
    pub fn school_short_name(&self) -> &str {
        match self.school_short.as_deref().map(str::trim) {
            Some(short) if !short.is_empty() => short,
            _ => &self.school_name,
        }
    }
    pub fn timezone(&self) -> &str {
        &self.timezone
    }
    pub fn roles(&self) -> &[Role] {
        &self.roles
    }
    /// The school's administrators' contacts for the footer (R3.2): rows of «name\tphone\temail».
    pub fn admin_rows(&self) -> &[String] {
        &self.admins
    }
    pub fn has(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }
    pub fn can(&self, action: Action) -> bool {
        can(&self.roles, action)
    }
    /// 403 unless the permission table allows the action to one of the actor's roles.
    pub fn require(&self, action: Action) -> Result<(), AppError> {
        if self.can(action) {
            Ok(())
        } else {
            Err(AppError::Forbidden)
        }
    }

    /// Classes the actor leads now (class leadership).
    pub fn led_classes(&self) -> &[ClassId] {
        &self.led
    }
    /// Classes the actor teaches (teaching assignments).
    pub fn taught_classes(&self) -> &[ClassId] {
        &self.taught
    }
    /// Posts waiting for review, for the navigation's badge (0 unless the actor is the
    /// school's administrator).
    pub fn review_queue(&self) -> i64 {
        self.review_queue
    }
    /// Whether the actor is the class teacher of `class`.
    pub fn leads(&self, class: ClassId) -> bool {
        self.led.contains(&class)
    }
    /// Whether the actor teaches a subject in `class`.
    pub fn teaches(&self, class: ClassId) -> bool {
        self.taught.contains(&class)
    }

    /// The scope from the row the session middleware read along with the session
    /// ([`session::lookup`]); `None` when the actor holds no role there.
    fn from_row(actor: Actor, row: &session::ScopeRow) -> Option<Self> {
        let roles = roles_from_view(&row.roles);
        if roles.is_empty() {
            return None;
        }
        Some(SchoolScope {
            actor,
            school_id: row.school_id,
            school_name: row.school_name.clone(),
            school_short: row.school_short.clone(),
            timezone: row.timezone.clone(),
            roles,
            admins: row.admins.clone(),
            led: row.led.clone(),
            taught: row.taught.clone(),
            review_queue: row.review_queue,
        })
    }

    /// Loads the actor's roles in a school, with the classes they lead and teach, in one
    /// query over the `school_roles`, `led_classes` and `taught_classes` views (the one
    /// definition, migrations/0007); `None` when they hold no role there (or the school
    /// does not exist).
    async fn load(
        conn: &mut PgConnection,
        actor: Actor,
        school_id: SchoolId,
    ) -> sqlx::Result<Option<Self>> {
        let row = sqlx::query!(
            r#"select s.name, s.short_name, s.timezone,
                 array(select r.role from school_roles r
                       where r.school_id = s.id and r.account_id = $2) as "roles!: Vec<String>",
                 array(select distinct a.surname || ' ' || a.given_name || coalesce(' ' || a.patronymic, '')
                              || E'\t' || coalesce(a.phone, '') || E'\t' || coalesce(a.email, '')
                       from active_admin_grants g join accounts a on a.id = g.account_id
                       where g.school_id = s.id and a.deactivated_at is null
                       order by 1) as "admins!: Vec<String>",
                 array(select l.class_id from led_classes l
                       where l.school_id = s.id and l.account_id = $2
                       order by l.class_id) as "led!: Vec<ClassId>",
                 array(select t.class_id from taught_classes t
                       where t.school_id = s.id and t.account_id = $2
                       order by t.class_id) as "taught!: Vec<ClassId>",
                 case when exists(select 1 from school_roles r
                                  where r.school_id = s.id and r.account_id = $2 and r.role = 'admin')
                      then (select count(*) from posts p
                            where p.school_id = s.id and p.state = 'submitted')
                      else 0 end as "review_queue!: i64"
               from schools s where s.id = $1"#,
            school_id as SchoolId,
            actor.id() as AccountId,
        )
        .fetch_optional(conn)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let roles = roles_from_view(&row.roles);
        if roles.is_empty() {
            return Ok(None);
        }
        Ok(Some(SchoolScope {
            actor,
            school_id,
            school_name: row.name,
            school_short: row.short_name,
            timezone: row.timezone,
            roles,
            admins: row.admins,
            led: row.led,
            taught: row.taught,
            review_queue: row.review_queue,
        }))
    }
}

/// A role as the `school_roles` view names it.
pub(crate) fn role_from_view(name: &str) -> Option<Role> {
    match name {
        "admin" => Some(Role::Admin),
        "it_deputy" => Some(Role::ItDeputy),
        "class_teacher" => Some(Role::ClassTeacher),
        other => Role::from_membership(other),
    }
}

/// The roles of `school_roles` rows, sorted, each once.
pub(crate) fn roles_from_view(names: &[String]) -> Vec<Role> {
    let mut roles: Vec<Role> = names.iter().filter_map(|r| role_from_view(r)).collect();
    roles.sort();
    roles.dedup();
    roles
}

/// The roles an account holds in a school right now, without a request: the invite
/// links re-check their creator's authority at redemption with it (SECURITY.md 24).
/// The same view as [`SchoolScope`]'s; a deactivated account holds none.
pub(crate) async fn roles_of(
    conn: &mut PgConnection,
    account: AccountId,
    school: SchoolId,
) -> sqlx::Result<Vec<Role>> {
    let names = sqlx::query_scalar!(
        r#"select role as "role!" from school_roles where school_id = $1 and account_id = $2"#,
        school as SchoolId,
        account as AccountId,
    )
    .fetch_all(conn)
    .await?;
    Ok(roles_from_view(&names))
}

fn login_required(parts: &Parts) -> AppError {
    let next = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "/".to_owned());
    AppError::LoginRequired { next }
}

impl FromRequestParts<AppState> for Actor {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, _state: &AppState) -> Result<Self, AppError> {
        match parts.extensions.get::<Option<CurrentSession>>() {
            Some(Some(session)) => Ok(Actor {
                session: session.clone(),
            }),
            _ => Err(login_required(parts)),
        }
    }
}

/// An optional actor, for public pages that look different to a logged-in person.
pub struct MaybeActor(pub Option<Actor>);

impl FromRequestParts<AppState> for MaybeActor {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(MaybeActor(
            match parts.extensions.get::<Option<CurrentSession>>() {
                Some(Some(session)) => Some(Actor {
                    session: session.clone(),
                }),
                _ => None,
            },
        ))
    }
}

/// The deployment operator (SECURITY.md: deny by default; 403 for anyone else).
pub struct Operator(Actor);

impl Operator {
    pub fn actor(&self) -> &Actor {
        &self.0
    }
    /// The operator keeps every school: the key to the one they act on.
    pub fn tenant(&self, school: SchoolId) -> super::tenant::Tenant {
        super::tenant::Tenant::new(school)
    }
}

impl FromRequestParts<AppState> for Operator {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        let actor = Actor::from_request_parts(parts, state).await?;
        if actor.is_operator() {
            Ok(Operator(actor))
        } else {
            Err(AppError::Forbidden)
        }
    }
}

impl FromRequestParts<AppState> for SchoolScope {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        // The guard may already have proved it for this request.
        if let Some(scope) = parts.extensions.get::<SchoolScope>() {
            return Ok(scope.clone());
        }
        let actor = Actor::from_request_parts(parts, state).await?;
        let Path(params) = Path::<HashMap<String, String>>::from_request_parts(parts, state)
            .await
            .map_err(|_| AppError::NotFound)?;
        let school_id: SchoolId = params
            .get("school_id")
            .and_then(|s| s.parse().ok())
            .ok_or(AppError::NotFound)?;
        // Usually read with the session already (one round trip per request).
        let scope = match parts.extensions.get::<Preloaded>() {
            Some(p) if p.school == school_id => p
                .row
                .as_ref()
                .and_then(|row| SchoolScope::from_row(actor, row)),
            _ => {
                let mut conn = state.db.acquire().await?;
                SchoolScope::load(&mut conn, actor, school_id).await?
            }
        }
        .ok_or(AppError::NotFound)?;
        parts.extensions.insert(scope.clone());
        Ok(scope)
    }
}

/// The school scope read with the session, for the school the path names (`row` is
/// `None` when that school does not exist).
#[derive(Clone)]
struct Preloaded {
    school: SchoolId,
    row: Option<session::ScopeRow>,
}

/// The school of a `/s/{school_id}/…` path, if the path is one.
fn school_in_path(path: &str) -> Option<SchoolId> {
    let rest = path.strip_prefix("/s/")?;
    let id = rest.split('/').next()?;
    id.parse().ok()
}

/// Finds the session behind the request's cookie, for every request that may need one,
/// and for a school's page the actor's scope there, in one query.
pub async fn load_session(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let path = req.uri().path();
    let school = school_in_path(path);
    // Probes and assets never need a session (and /healthz must work without a database).
    let skip = path.starts_with("/static/") || path == "/healthz" || path == "/readyz";
    let token = if skip {
        None
    } else {
        session::token_from_headers(req.headers(), &state.config)
    };
    let is_post = req.method() == axum::http::Method::POST;
    let current = match token {
        None => None,
        Some(token) => {
            let found = async {
                let mut conn = state.db.acquire().await?;
                let found = session::lookup(&mut conn, &state.config, &token, school).await?;
                // The twin of a form sent twice at once, carrying the id the first one
                // replaced: where the first led, not the login form (SECURITY.md 2, 18).
                let replaced = match (&found, is_post) {
                    (None, true) => session::replaced_leads_to(&mut conn, &token).await?,
                    _ => None,
                };
                Ok::<_, sqlx::Error>((found, replaced))
            }
            .await;
            match found {
                Ok((_, Some(to))) => return axum::response::Redirect::to(&to).into_response(),
                Ok((found, None)) => found,
                Err(e) => return AppError::Db(e).into_response(),
            }
        }
    };
    let mut frame_scope = None;
    let current = match current {
        Some((session, scope)) => {
            if let Some(school) = school {
                frame_scope.clone_from(&scope);
                req.extensions_mut()
                    .insert(Preloaded { school, row: scope });
            }
            Some(session)
        }
        None => None,
    };
    req.extensions_mut().insert(current.clone());
    let mut res = next.run(req).await;
    // An error page keeps the logged-in frame (the menu, the name, «Выйти»): the
    // error-page middleware renders it with this layout.
    let status = res.status();
    if let Some(session) = current
        && (status.is_client_error() || status.is_server_error())
    {
        let actor = Actor { session };
        let layout = match frame_scope.and_then(|row| SchoolScope::from_row(actor.clone(), &row)) {
            Some(scope) => crate::web::layout::Layout::for_scope(&scope),
            None => crate::web::layout::Layout::for_actor(&actor),
        };
        res.extensions_mut().insert(layout);
    }
    res
}
