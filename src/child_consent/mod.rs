//! Consent for children (issue 13, item 7; R4.3, 152-FZ): for a pupil under 14 a linked
//! parent consents, through their own account, to the child's taking part in the class
//! chats (who, when, for which child: `child_consents`); a pupil of 14 or more gives their
//! own, and the linked parents are told by e-mail. The consent is shown on the child's
//! card, on the parent's start page and counted on the compliance page.
//!
//! A school setting (`schools.chats_need_parent_consent`) decides what happens without it:
//! off (the default), the pupil is added to the chats and shown as «нет согласия родителя»
//! where the class teacher sees their class; on, the pupil is kept out of the students' chat
//! — the `chat_expected_members` view (migrations/0024) leaves them out, so every sync (a
//! transfer, an enrolment, an import, a reconcile) does — and the parent's consent syncs
//! them in. A pupil whose birth date the school does not know is not counted as under 14.

pub mod pages;

use sqlx::PgConnection;

use crate::auth::extract::SchoolScope;
use crate::auth::permissions::Role;
use crate::ids::{AccountId, SchoolId};
use crate::web::Routes;
use crate::web::format;
use crate::web::once::FormKey;

pub fn routes(r: Routes) -> Routes {
    pages::routes(r)
}

/// The version of the notice the consent refers to (the personal-data notice on `/consent`).
pub use crate::offers::NOTICE_VERSION;

/// The age from which a pupil consents themselves.
pub const OWN_CONSENT_AGE: i32 = 14;

/// A pupil's consent as the pages say it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    /// A parent consented: who, when (in the school's time).
    Parent { by: String, at: String },
    /// The pupil of 14 or more consented themselves.
    Own { at: String },
    /// Under 14 and no parent's consent: «нет согласия родителя».
    Missing,
    /// 14 or more, or the birth date unknown: nothing is required of a parent.
    NotNeeded,
}

impl State {
    /// The words on the card and the lists.
    pub fn text(&self) -> String {
        match self {
            State::Parent { by, at } => {
                format!("согласие родителя на участие в чатах класса дано: {by}, {at}")
            }
            State::Own { at } => format!("согласие на участие в чатах класса дал сам ученик, {at}"),
            State::Missing => "нет согласия родителя".to_owned(),
            State::NotNeeded => {
                "согласие родителя не требуется (14 лет или больше, или дата рождения не указана)"
                    .to_owned()
            }
        }
    }
    pub fn missing(&self) -> bool {
        *self == State::Missing
    }
}

/// The consent facts of one pupil's membership, as one row.
struct Facts {
    under_14: bool,
    parent_by: Option<String>,
    parent_at: Option<time::OffsetDateTime>,
    own_at: Option<time::OffsetDateTime>,
}

fn state_of(f: Facts, tz: &str) -> State {
    if let Some(at) = f.parent_at {
        State::Parent {
            by: f.parent_by.unwrap_or_else(|| "—".to_owned()),
            at: format::datetime(at, tz),
        }
    } else if let Some(at) = f.own_at {
        State::Own {
            at: format::datetime(at, tz),
        }
    } else if f.under_14 {
        State::Missing
    } else {
        State::NotNeeded
    }
}

/// The consent of the school's pupil `account` (their active student membership), or
/// `None` when they are no pupil here.
pub async fn of_pupil(
    conn: &mut PgConnection,
    scope: &SchoolScope,
    account: AccountId,
) -> sqlx::Result<Option<State>> {
    let row = sqlx::query!(
        r#"select coalesce(a.birth_date > (current_date - interval '14 years')::date, false)
                    as "under_14!",
                  pc.given_at as "parent_at?",
                  pa.surname || ' ' || pa.given_name || coalesce(' ' || pa.patronymic, '') as "parent_by?",
                  oc.given_at as "own_at?"
           from memberships m
           join accounts a on a.id = m.account_id
           left join child_consents pc on pc.school_id = m.school_id and pc.child_id = m.id
                                      and pc.kind = 'parent'
           left join accounts pa on pa.id = pc.given_by
           left join child_consents oc on oc.school_id = m.school_id and oc.child_id = m.id
                                      and oc.kind = 'own'
           where m.school_id = $1 and m.account_id = $2 and m.role = 'student'
             and m.status = 'active'"#,
        scope.school_id() as SchoolId,
        account as AccountId
    )
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|r| {
        state_of(
            Facts {
                under_14: r.under_14,
                parent_by: r.parent_by,
                parent_at: r.parent_at,
                own_at: r.own_at,
            },
            scope.timezone(),
        )
    }))
}

/// One child on the parent's start page.
pub struct ChildConsent {
    pub account: AccountId,
    pub name: String,
    pub state: State,
    /// The parent may consent here (under 14 or age unknown, and not given yet).
    pub can_give: bool,
}

/// What the start page says about consents: a parent's children, a pupil's own.
pub struct HomeNotes {
    pub children: Vec<ChildConsent>,
    /// A pupil of 14 or more who has not consented yet.
    pub own_needed: bool,
    /// The pupil's own consent, once given.
    pub own: Option<String>,
    /// The school keeps pupils without the consent out of the students' chat.
    pub strict: bool,
    pub form_key: FormKey,
}

pub async fn home_notes(conn: &mut PgConnection, scope: &SchoolScope) -> sqlx::Result<HomeNotes> {
    let school = scope.school_id();
    let me = scope.actor().id();
    let strict = sqlx::query_scalar!(
        "select chats_need_parent_consent from schools where id = $1",
        school as SchoolId
    )
    .fetch_one(&mut *conn)
    .await?;
    let mut children = Vec::new();
    if scope.has(Role::Parent) {
        let rows = sqlx::query!(
            r#"select ka.id as "id: AccountId", ka.surname, ka.given_name,
                      coalesce(ka.birth_date > (current_date - interval '14 years')::date, true)
                        as "maybe_under_14!",
                      ka.birth_date is not null
                        and ka.birth_date > (current_date - interval '14 years')::date as "under_14!",
                      pc.given_at as "parent_at?",
                      pa.surname || ' ' || pa.given_name || coalesce(' ' || pa.patronymic, '') as "parent_by?",
                      oc.given_at as "own_at?"
               from memberships p
               join parent_links l on l.school_id = p.school_id and l.parent_id = p.id
               join memberships k on k.school_id = l.school_id and k.id = l.child_id
                                 and k.role = 'student' and k.status = 'active'
               join accounts ka on ka.id = k.account_id
               left join child_consents pc on pc.school_id = k.school_id and pc.child_id = k.id
                                          and pc.kind = 'parent'
               left join accounts pa on pa.id = pc.given_by
               left join child_consents oc on oc.school_id = k.school_id and oc.child_id = k.id
                                          and oc.kind = 'own'
               where p.school_id = $1 and p.account_id = $2 and p.role = 'parent'
                 and p.status = 'active'
               order by ka.surname collate "ru-RU-x-icu", ka.given_name collate "ru-RU-x-icu""#,
            school as SchoolId,
            me as AccountId
        )
        .fetch_all(&mut *conn)
        .await?;
        for r in rows {
            let can_give = r.parent_at.is_none() && r.own_at.is_none() && r.maybe_under_14;
            children.push(ChildConsent {
                account: r.id,
                name: format!("{} {}", r.surname, r.given_name),
                state: state_of(
                    Facts {
                        under_14: r.under_14,
                        parent_by: r.parent_by,
                        parent_at: r.parent_at,
                        own_at: r.own_at,
                    },
                    scope.timezone(),
                ),
                can_give,
            });
        }
    }
    let (own_needed, own) = if scope.has(Role::Student) {
        let r = sqlx::query!(
            r#"select coalesce(a.birth_date <= (current_date - interval '14 years')::date, false)
                        as "adult!",
                      (select c.given_at from child_consents c where c.school_id = m.school_id
                         and c.child_id = m.id and c.kind = 'own') as "own_at?"
               from memberships m join accounts a on a.id = m.account_id
               where m.school_id = $1 and m.account_id = $2 and m.role = 'student'
                 and m.status = 'active'"#,
            school as SchoolId,
            me as AccountId
        )
        .fetch_optional(&mut *conn)
        .await?;
        match r {
            Some(r) => (
                r.adult && r.own_at.is_none(),
                r.own_at.map(|t| format::datetime(t, scope.timezone())),
            ),
            None => (false, None),
        }
    } else {
        (false, None)
    };
    Ok(HomeNotes {
        children,
        own_needed,
        own,
        strict,
        form_key: FormKey::default(),
    })
}
