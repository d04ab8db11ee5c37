//! Enumerated values, stored as text so that both backends agree.
use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

macro_rules! text_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
        #[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
        #[serde(rename_all = "SCREAMING_SNAKE_CASE")]
        pub enum $name {
            $(#[sea_orm(string_value = $text)] $variant,)+
        }

        impl $name {
            pub const fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $text,)+ }
            }
        }
    };
}

text_enum!(
    /// Lifecycle of an organisation unit; ARCHIVED units are read-only.
    OrgUnitStatus { Draft = "DRAFT", Active = "ACTIVE", Ended = "ENDED", Archived = "ARCHIVED" }
);
text_enum!(
    /// Who may see a unit (R14).
    Visibility { Public = "PUBLIC", Internal = "INTERNAL", Restricted = "RESTRICTED", Hidden = "HIDDEN" }
);
text_enum!(
    MemberStatus { Applicant = "APPLICANT", Active = "ACTIVE", Inactive = "INACTIVE", Left = "LEFT" }
);
text_enum!(
    /// MEMBERSHIP groups are scoped to units; SYSTEM groups are unscoped (R7, R8).
    GroupKind { Membership = "MEMBERSHIP", System = "SYSTEM" }
);
text_enum!(
    /// Only ACTIVE assignments can be effective (R5).
    AssignmentStatus { Active = "ACTIVE", Requested = "REQUESTED", Waitlist = "WAITLIST", ToDelete = "TO_DELETE" }
);
text_enum!(
    MandateStatus { Active = "ACTIVE", Revoked = "REVOKED", Expired = "EXPIRED" }
);
text_enum!(
    AdmissionStatus { Pending = "PENDING", Approved = "APPROVED", Rejected = "REJECTED" }
);
text_enum!(
    TransferStatus { Pending = "PENDING", Accepted = "ACCEPTED", Rejected = "REJECTED", Cancelled = "CANCELLED" }
);
