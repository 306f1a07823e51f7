//! The key to one school's data (ARCHITECTURE rule 1). Every query and domain function
//! that reads or writes a school's rows takes a [`Tenant`] (or the [`SchoolScope`] that
//! makes one), never a bare [`SchoolId`], so the compiler finds every place that could
//! reach another school. Only this module makes one, and each way names its proof:
//!
//! - [`SchoolScope::tenant`]: a member of the school in the URL, roles checked;
//! - [`Operator::tenant`](super::extract::Operator::tenant): the deployment operator, who
//!   keeps every school;
//! - [`Tenant::of_invite`]: the school of an invite found by its token
//!   (the token is the proof);
//! - [`Tenant::of_offer`]: the school of an offer found by its token;
//! - [`Tenant::for_region`]: the regional role's read-only view of a school's aggregates;
//! - [`Tenant::of_feed`]: the school of a calendar feed found by its token;
//! - [`Tenant::of_hook`]: the school of a platform webhook (hook id and secret are the proof);
//! - [`Tenant::for_job`]: the portal's own work (the demo, background jobs), never a request;
//! - `Tenant::for_tests`: the integration tests (feature `test-support`).

use super::extract::SchoolScope;
use crate::ids::SchoolId;

/// Proof-carrying school id: see the module docs for who may make one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tenant(SchoolId);

impl Tenant {
    /// The id to bind in queries.
    pub fn id(self) -> SchoolId {
        self.0
    }

    pub(super) fn new(school: SchoolId) -> Self {
        Self(school)
    }

    /// The school of an invite found by its token (the token is the proof).
    pub(crate) fn of_invite(school: SchoolId) -> Self {
        Self(school)
    }

    /// The school of an offer found by its token (the token is the proof).
    pub(crate) fn of_offer(school: SchoolId) -> Self {
        Self(school)
    }

    /// The regional role (issue 11): a read-only look at a school's aggregates by the
    /// operator or a regional specialist whose municipality the school is in
    /// (`RegionViewer::tenant` checks it).
    pub(super) fn for_region(school: SchoolId) -> Self {
        Self(school)
    }

    /// The school of a calendar feed found by its token (the token is the proof; the
    /// person's rights are re-checked on every fetch).
    pub(crate) fn of_feed(school: SchoolId) -> Self {
        Self(school)
    }

    /// The school of a platform webhook found by its unguessable hook id, the secret
    /// header checked (src/connector/webhook.rs).
    pub(crate) fn of_hook(school: SchoolId) -> Self {
        Self(school)
    }

    /// The portal's own work on a school: the demo, background jobs.
    pub(crate) fn for_job(school: SchoolId) -> Self {
        Self(school)
    }

    /// For the integration tests only.
    #[cfg(any(test, feature = "test-support"))]
    pub fn for_tests(school: SchoolId) -> Self {
        Self(school)
    }
}

impl SchoolScope {
    /// The key to this school's data.
    pub fn tenant(&self) -> Tenant {
        Tenant::new(self.school_id())
    }
}

impl std::fmt::Display for Tenant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// Who acts on a school's data, with the proof: the tenant, the account and where the
/// request came from (for the audit rows). Only a [`SchoolScope`] makes one.
#[derive(Debug, Clone, Copy)]
pub struct By<'a> {
    tenant: Tenant,
    actor: crate::ids::AccountId,
    meta: &'a super::extract::RequestMeta,
}

impl<'a> By<'a> {
    /// For the integration tests only.
    #[cfg(any(test, feature = "test-support"))]
    pub fn for_tests(
        tenant: Tenant,
        actor: crate::ids::AccountId,
        meta: &'a super::extract::RequestMeta,
    ) -> Self {
        By {
            tenant,
            actor,
            meta,
        }
    }
    pub fn tenant(&self) -> Tenant {
        self.tenant
    }
    /// The school's id, to bind in queries.
    pub fn school(&self) -> SchoolId {
        self.tenant.id()
    }
    pub fn actor(&self) -> crate::ids::AccountId {
        self.actor
    }
    pub fn meta(&self) -> &'a super::extract::RequestMeta {
        self.meta
    }
}

impl SchoolScope {
    /// The actor of this scope acting on its school.
    pub fn by<'a>(&self, meta: &'a super::extract::RequestMeta) -> By<'a> {
        By {
            tenant: self.tenant(),
            actor: self.actor().id(),
            meta,
        }
    }
}
