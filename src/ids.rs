//! Id newtypes, so that a class id cannot be passed where a school id is expected. Every
//! id type is made here by `id_type!`, the one way to make one: parsing (`FromStr`) trims
//! surrounding whitespace, so a value pasted into a form with a stray space still parses;
//! serde and sqlx see the bare `Uuid` (`transparent`).

use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! id_type {
    ($($name:ident),* $(,)?) => {$(
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, sqlx::Type)]
        #[sqlx(transparent)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            /// A new time-ordered id.
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }

        impl std::str::FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s.trim()).map(Self)
            }
        }
    )*};
}

id_type!(
    AccountId,
    SchoolId,
    ClassId,
    MembershipId,
    AcademicYearId,
    SessionId,
    GrantId,
    ChatId,
    InviteId,
    ChannelId,
    PostId,
    BroadcastId,
    SubjectId,
    EditionId,
    AssignmentId,
    JoinRequestId,
    OfferId,
    MessageId,
    ImportId,
    MovementId,
    RolloverId,
    LeadershipOrderId,
    AttachmentId,
    SpecialistId,
);
