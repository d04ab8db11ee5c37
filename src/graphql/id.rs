//! Relay global ids (`base64("OrgUnit:12")`) and opaque cursors.
use super::error::{ApiError, gql};
use async_graphql::ID;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;

macro_rules! kinds {
    ($($kind:ident),+ $(,)?) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum Kind { $($kind,)+ }

        impl Kind {
            fn as_str(self) -> &'static str {
                match self { $(Kind::$kind => stringify!($kind),)+ }
            }

            fn parse(s: &str) -> Option<Self> {
                match s {
                    $(stringify!($kind) => Some(Kind::$kind),)+
                    _ => None,
                }
            }
        }
    };
}

kinds!(
    OrgUnit,
    Member,
    User,
    Assignment,
    PermissionGroup,
    ApiToken,
    Activity,
    Level,
    SepaMandate,
    Payment,
    Admission,
    Transfer,
    AuditEvent,
);

pub fn encode(kind: Kind, id: i64) -> ID {
    ID(B64.encode(format!("{}:{id}", kind.as_str())))
}

/// Any global id; `field` names the argument in the error.
pub fn decode_any(id: &ID, field: &str) -> async_graphql::Result<(Kind, i64)> {
    let bad = || gql(ApiError::bad_input(field, "not a valid id"));
    let bytes = B64.decode(id.as_str()).map_err(|_| bad())?;
    let text = std::str::from_utf8(&bytes).map_err(|_| bad())?;
    let (kind, raw) = text.split_once(':').ok_or_else(bad)?;
    let kind = Kind::parse(kind).ok_or_else(bad)?;
    let raw = raw.parse::<i64>().map_err(|_| bad())?;
    Ok((kind, raw))
}

/// A global id of one kind.
pub fn decode(id: &ID, kind: Kind, field: &str) -> async_graphql::Result<i64> {
    match decode_any(id, field)? {
        (k, raw) if k == kind => Ok(raw),
        _ => Err(gql(ApiError::bad_input(field, format!("not an id of a {}", kind.as_str())))),
    }
}

/// A unit's id given as text (an import's `homeUnit`), or None if it is none.
pub fn org_unit_id(text: &str) -> Option<i64> {
    decode(&ID(text.trim().to_owned()), Kind::OrgUnit, "homeUnit").ok()
}

pub fn cursor(id: i64) -> String {
    B64.encode(format!("c:{id}"))
}

pub fn decode_cursor(cursor: &str, field: &str) -> async_graphql::Result<i64> {
    let bad = || gql(ApiError::bad_input(field, "not a valid cursor"));
    let bytes = B64.decode(cursor).map_err(|_| bad())?;
    let text = std::str::from_utf8(&bytes).map_err(|_| bad())?;
    text.strip_prefix("c:").and_then(|n| n.parse().ok()).ok_or_else(bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_reject_garbage() {
        let id = encode(Kind::OrgUnit, 42);
        assert_eq!(decode(&id, Kind::OrgUnit, "id").ok(), Some(42));
        assert!(decode(&ID("nope".into()), Kind::OrgUnit, "id").is_err());
        assert!(decode(&ID(B64.encode("Member:1")), Kind::OrgUnit, "id").is_err());
        assert!(decode(&ID(B64.encode("Spaceship:1")), Kind::OrgUnit, "id").is_err());
        assert_eq!(decode_cursor(&cursor(7), "after").ok(), Some(7));
        assert_eq!(org_unit_id(encode(Kind::OrgUnit, 9).as_str()), Some(9));
        assert_eq!(org_unit_id("Stamm Isar"), None);
        assert!(decode_cursor("x", "after").is_err());
    }
}
