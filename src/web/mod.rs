//! Web plumbing shared by every area: the route table builder (each route declares its
//! [`Access`], which the permission docs and tests read back), the page
//! layout, static assets and the middleware stack.

pub mod assets;
pub mod clock;
pub mod csv;
pub mod form;
pub mod format;
pub mod guard;
pub mod here;
pub mod htmx;
pub mod input;
pub mod layout;
pub mod limit;
pub mod middleware;
pub mod once;
pub mod query;
pub mod request_id;
pub mod request_meta;
pub mod unique;

use axum::Router;
use axum::handler::Handler;
use axum::routing::{MethodRouter, get, post};

use crate::AppState;
use crate::auth::objects::{Rule, route_rules};
use crate::auth::permissions::Access;

/// One row of the route table.
#[derive(Debug, Clone)]
pub struct RouteRow {
    pub method: &'static str,
    pub path: &'static str,
    pub access: Access,
    /// The object rules checked against the object the path names (derived from the
    /// action and the path by [`route_rules`](crate::auth::objects::route_rules)).
    pub rules: &'static [Rule],
}

/// Builds the router and, beside it, the table of every route with its access rule. A route
/// cannot be added without one, and each gets the [`guard`](guard::guard)
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
        let rules = match access {
            Access::School(action) => route_rules(action, path),
            _ => &[],
        };
        self.rows.push(RouteRow {
            method,
            path,
            access,
            rules,
        });
        let guarded = route.route_layer(axum::middleware::from_fn_with_state(
            (self.state.clone(), access),
            guard::guard,
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
    use crate::auth::objects::actions_of;
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
        "\n## Object rules\n\n\
         Beside the roles, an action done to one object (a class, a chat, a join request, \
         an invite, a grant, a membership) asks the object rules of `src/auth/objects.rs`. \
         Failing one answers 403; another school's object is not found (404).\n\n\
         | Rule | Who passes | Actions |\n|---|---|---|\n",
    );
    for rule in Rule::ALL {
        let actions: Vec<String> = actions_of(rule)
            .iter()
            .map(|a| format!("`{a:?}`"))
            .collect();
        out.push_str(&format!(
            "| `{rule:?}` | {} | {} |\n",
            rule.describe(),
            actions.join(", ")
        ));
    }
    out.push_str(
        "\n## People and accounts\n\n\
         An account belongs to its person, not to a school (SECURITY.md 35; the rules in full \
         are in `src/offers/mod.rs`): a school sees a person only through its own membership; \
         a contact it types (adding staff, an import) makes an offer the person accepts, never \
         attaches, shows or changes an account; only the person changes their name, contacts \
         and password; a school changes its membership's class, role, status and position, and \
         its actions end no sessions. A person's card shows the password state and live \
         sessions only when the person belongs to that school alone. Parents' contacts on a \
         class's page: the administrator and that class's class teacher (SECURITY.md 36).\n",
    );
    out.push_str(
        "\n## Routes\n\n\
         `public`: anyone; `logged in`: any account; `operator`: the deployment operator; \
         `school: Action`: a member of the school in the URL whose roles allow the action \
         (anonymous → login; member without the right → 403; not a member or another \
         school's object → 404). «Object rules»: checked against the object the path \
         names (failing one → 403).\n\n| Method | Path | Access | Object rules |\n\
         |---|---|---|---|\n",
    );
    for row in rows {
        let rules: Vec<String> = row.rules.iter().map(|r| format!("`{r:?}`")).collect();
        out.push_str(&format!(
            "| {} | `{}` | {} | {} |\n",
            row.method,
            row.path,
            row.access,
            rules.join(", ")
        ));
    }
    out
}
