//! Web plumbing shared by every area: the route table builder (each route declares its
//! [`Access`], which the permission docs and tests read back), page rendering, the page
//! layout, static assets and the middleware stack.

pub mod assets;
pub mod format;
pub mod layout;
pub mod middleware;
pub mod query;
pub mod request_id;

use askama::Template;
use axum::Router;
use axum::handler::Handler;
use axum::response::Html;
use axum::routing::{MethodRouter, get, post};

use crate::AppState;
use crate::auth::permissions::Access;
use crate::error::AppResult;

/// Renders a page. The one place templates become responses, so a template error is an
/// [`AppError`](crate::error::AppError), never a panic.
pub fn render<T: Template>(page: &T) -> AppResult<Html<String>> {
    Ok(Html(page.render()?))
}

/// One row of the route table.
#[derive(Debug, Clone)]
pub struct RouteRow {
    pub method: &'static str,
    pub path: &'static str,
    pub access: Access,
}

/// Builds the router and, beside it, the table of every route with its access rule. A route
/// cannot be added without one, and each gets the [`guard`](crate::auth::extract::guard)
/// for it.
pub struct Routes {
    state: AppState,
    router: Router<AppState>,
    rows: Vec<RouteRow>,
}

impl Routes {
    pub fn new(state: AppState) -> Self {
        Self {
            state,
            router: Router::new(),
            rows: Vec::new(),
        }
    }

    pub fn get<H, T>(self, path: &'static str, access: Access, handler: H) -> Self
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        self.add("GET", path, access, get(handler))
    }

    pub fn post<H, T>(self, path: &'static str, access: Access, handler: H) -> Self
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        self.add("POST", path, access, post(handler))
    }

    fn add(
        mut self,
        method: &'static str,
        path: &'static str,
        access: Access,
        route: MethodRouter<AppState>,
    ) -> Self {
        self.rows.push(RouteRow {
            method,
            path,
            access,
        });
        let guarded = route.route_layer(axum::middleware::from_fn_with_state(
            (self.state.clone(), access),
            crate::auth::extract::guard,
        ));
        self.router = self.router.route(path, guarded);
        self
    }

    pub fn finish(self) -> (Router<AppState>, Vec<RouteRow>) {
        (self.router, self.rows)
    }
}

/// `docs/permissions.md`, generated from the route table and the permission matrix (a
/// test keeps the committed file equal to this).
pub fn permissions_markdown(rows: &[RouteRow]) -> String {
    use crate::auth::permissions::{MATRIX, Role};
    let mut out = String::from(
        "# Permissions\n\n\
         Generated from `src/auth/permissions.rs` and the route table by the test \
         `access::permissions_doc_matches_the_code` (run it with `UPDATE_DOCS=1` to rewrite \
         this file). Deny by default: a role not marked is refused.\n\n\
         ## Roles × actions (inside a school)\n\n| Action |",
    );
    for role in Role::ALL {
        out.push_str(&format!(" {} |", role.title()));
    }
    out.push_str("\n|---|");
    for _ in Role::ALL {
        out.push_str("---|");
    }
    out.push('\n');
    for (action, roles) in MATRIX {
        out.push_str(&format!("| `{action:?}`: {} |", action.describe()));
        for role in Role::ALL {
            out.push_str(if roles.contains(&role) {
                " ✓ |"
            } else {
                " |"
            });
        }
        out.push('\n');
    }
    out.push_str(
        "\n## Routes\n\n\
         `public`: anyone; `logged in`: any account; `operator`: the deployment operator; \
         `school: Action`: a member of the school in the URL whose roles allow the action \
         (anonymous → login; member without the right → 403; not a member or another \
         school's object → 404).\n\n| Method | Path | Access |\n|---|---|---|\n",
    );
    for row in rows {
        out.push_str(&format!(
            "| {} | `{}` | {} |\n",
            row.method, row.path, row.access
        ));
    }
    out
}
