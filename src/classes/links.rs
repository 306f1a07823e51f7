//! What a class's page links to besides its people (issue 14): the class's chats, its
//! invite links, its row of the compliance table and its parent slips — each only for
//! whom the page it opens lets in.

use sqlx::PgConnection;

use crate::auth::extract::SchoolScope;
use crate::auth::objects::Target;
use crate::auth::permissions::Action;
use crate::ids::{ChatId, ClassId, SchoolId};

/// One of the class's chats.
pub struct ClassChat {
    pub id: ChatId,
    pub title: String,
}

/// The links of a class's page.
#[derive(Default)]
pub struct ClassLinks {
    /// The class's chats the actor may open (empty when none, or none they may).
    pub chats: Vec<ClassChat>,
    /// The invite registry, filtered to the class, and «create an invite».
    pub invites: bool,
    /// Parent slips for the class.
    pub slips: bool,
    /// The class's row in «Соответствие Положению».
    pub compliance: bool,
}

impl ClassLinks {
    pub fn any(&self) -> bool {
        !self.chats.is_empty() || self.invites || self.slips || self.compliance
    }
}

pub async fn for_class(
    conn: &mut PgConnection,
    scope: &SchoolScope,
    class: ClassId,
) -> sqlx::Result<ClassLinks> {
    let on_class = Target::Class(class);
    let as_leader = Target::Chat {
        class: Some(class),
        member: false,
        manager: false,
    };
    let chats = if scope.can_on(Action::ViewChats, &as_leader) {
        sqlx::query!(
            r#"select id, title from chats
               where school_id = $1 and class_id = $2 and archived_at is null
               order by kind, title collate "ru-RU-x-icu""#,
            scope.school_id() as SchoolId,
            class as ClassId,
        )
        .fetch_all(&mut *conn)
        .await?
        .into_iter()
        .map(|r| ClassChat {
            id: ChatId(r.id),
            title: r.title,
        })
        .collect()
    } else {
        Vec::new()
    };
    let leads_or_admin = scope.leads(class) || scope.has(crate::auth::permissions::Role::Admin);
    Ok(ClassLinks {
        chats,
        invites: leads_or_admin
            && scope.can(Action::ViewInvites)
            && scope.can_on(Action::ViewInvites, &on_class),
        slips: leads_or_admin && scope.can(Action::CreateInvites),
        compliance: scope.can(Action::ViewCompliance),
    })
}
