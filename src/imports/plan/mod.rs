//! What an import would do (R2.1.k): every row of a [`Table`] checked against the school's
//! people, loaded once into memory (2 000 rows must not mean 2 000 queries), and turned into
//! a [`Plan`]: per row «будет создан», «будет обновлён», «без изменений» or refused with
//! a reason naming row and column (SECURITY.md 19). The same plan, built again inside the
//! applying transaction, is what [`apply`] writes: all of it or, with any error, nothing.
//!
//! Matching, so that the same file twice creates no one twice:
//! - a student is the active student of this school with the same surname, given name and
//!   patronymic (case and ё/е aside) and the same birth date (or both without one);
//! - a parent is the school's member with the file's e-mail, else its phone, else a parent
//!   already linked to that child with the same full name;
//! - a staff member is the school's member with the file's e-mail, else its phone, else the
//!   school's staff member with the same full name.
//!
//! Only this school's members are matched (SECURITY.md 35): a contact of anyone else, on
//! the portal or not, plans the same «будет создан» and becomes an offer (see
//! [`crate::offers`]) when applied; people without a contact get a new account. An import
//! never changes an account's name, e-mail or phone (only the person does); it says when
//! the file differs.
//!
//! One file a step: [`snapshot`] loads what the school has; [`check`] reads a row's people
//! and resolves them to accounts, with the [`RowContext`](check::RowContext) every row's
//! check carries; [`students`] and [`staff`] plan one row of each list; this module holds
//! the plan's types and [`build`], which runs the rows.

mod check;
mod snapshot;
mod staff;
mod students;

use std::collections::{HashMap, HashSet};

use self::check::{Errors, RowContext, SeenInFile};
use self::staff::staff_row;
use self::students::student_row;
use super::parse::{Kind, RowError, Table};
use crate::ids::{AccountId, ClassId, MembershipId};
use crate::people::NewPerson;
use crate::web::format;

pub use snapshot::{Snapshot, load};

/// What happens to a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Create,
    Update,
    Unchanged,
    Refused,
}

impl Outcome {
    pub fn label(self) -> &'static str {
        match self {
            Outcome::Create => "будет создан",
            Outcome::Update => "будет обновлён",
            Outcome::Unchanged => "без изменений",
            Outcome::Refused => "ошибка",
        }
    }
    /// For the badge's style.
    pub fn css(self) -> &'static str {
        match self {
            Outcome::Create => "outcome-create",
            Outcome::Update => "outcome-update",
            Outcome::Unchanged => "outcome-unchanged",
            Outcome::Refused => "outcome-refused",
        }
    }
}

/// One row of the preview.
#[derive(Debug, Clone)]
pub struct RowPlan {
    pub number: usize,
    /// «Фамилия Имя Отчество».
    pub person: String,
    /// The class («5А») or the role («учитель»).
    pub place: String,
    /// The parents, or the position.
    pub details: String,
    pub outcome: Outcome,
    pub notes: Vec<String>,
}

/// The preview's numbers. For a staff list only the first four count.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counts {
    pub create: i64,
    pub update: i64,
    pub unchanged: i64,
    pub refused: i64,
    /// New parent accounts.
    pub parents_new: i64,
    /// New parent–child links (to new or known parents).
    pub links_new: i64,
}

/// A person the plan refers to: on the portal already, or the n-th to create.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum Who {
    Existing(AccountId),
    New(usize),
}

pub(super) struct StaffWrite {
    pub(super) who: Who,
    pub(super) role: &'static str,
    /// Set the membership's position to this.
    pub(super) position: Option<String>,
}

/// The writes a plan makes, in order.
#[derive(Default)]
pub(super) struct Writes {
    pub(super) new_people: Vec<NewPerson>,
    /// Students to enrol into a class, or to move to it.
    pub(super) enrol: Vec<(Who, ClassId)>,
    /// Parent → child links to make.
    pub(super) links: Vec<(Who, Who)>,
    pub(super) staff: Vec<StaffWrite>,
    /// Student memberships already there, by account.
    pub(super) students: HashMap<AccountId, MembershipId>,
}

pub struct Plan {
    pub kind: Kind,
    pub rows: Vec<RowPlan>,
    /// Every refused cell, in row order.
    pub errors: Vec<RowError>,
    pub counts: Counts,
    pub(super) writes: Writes,
}

impl Plan {
    /// «Учеников: создано 2 000, обновлено 0, без изменений 0. Новых родителей 3 000 …»
    /// (a new parent or staff member with a contact is invited by an offer).
    pub fn summary(&self) -> String {
        let c = &self.counts;
        let n = |v: i64| format::number(v);
        match self.kind {
            Kind::Students => format!(
                "Учеников: создано {}, обновлено {}, без изменений {}. Новых родителей {}, \
                 связей «родитель — ученик» {}; у кого указан контакт, получат приглашение.",
                n(c.create),
                n(c.update),
                n(c.unchanged),
                n(c.parents_new),
                n(c.links_new)
            ),
            Kind::Staff => format!(
                "Сотрудников: новых {}, обновлено {}, без изменений {}; у кого указан контакт, \
                 получат приглашение.",
                n(c.create),
                n(c.update),
                n(c.unchanged)
            ),
        }
    }
}

/// Checks every row and plans the writes. `may_appoint_director`: whether the person
/// importing may give someone the director's role (only a director may: SECURITY.md 14).
pub fn build(table: &Table, snap: &Snapshot, may_appoint_director: bool) -> Plan {
    let mut plan = Plan {
        kind: table.kind,
        rows: Vec::with_capacity(table.rows.len()),
        errors: Vec::new(),
        counts: Counts::default(),
        writes: Writes::default(),
    };
    let malformed: HashSet<usize> = table.errors.iter().map(|e| e.row).collect();
    let mut cx = RowContext {
        table,
        snap,
        seen: SeenInFile::default(),
        first_row: HashMap::new(),
        may_appoint_director,
    };
    for row in &table.rows {
        let mut errs = Errors {
            table,
            row: row.number,
            list: Vec::new(),
        };
        let mut rp = match table.kind {
            Kind::Students => student_row(&mut cx, row, &mut plan, &mut errs),
            Kind::Staff => staff_row(&mut cx, row, &mut plan.writes, &mut errs),
        };
        if !errs.list.is_empty() || malformed.contains(&row.number) {
            rp.outcome = Outcome::Refused;
        }
        match rp.outcome {
            Outcome::Create => plan.counts.create += 1,
            Outcome::Update => plan.counts.update += 1,
            Outcome::Unchanged => plan.counts.unchanged += 1,
            Outcome::Refused => plan.counts.refused += 1,
        }
        plan.errors.extend(errs.list);
        plan.rows.push(rp);
    }
    plan.errors.extend(table.errors.iter().cloned());
    plan.errors
        .sort_by_key(|e| (e.row, table.position(&e.column)));
    plan
}
