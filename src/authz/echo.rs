//! R18: echoes of member data. Wherever the API repeats what is stored about a
//! member outside the `Member` type (the audit trail's `before`/`after`, access
//! explanations, `whoCanAccess`), it is shown only as far as the caller may read
//! those fields of that member now; everything else is null and listed in
//! `extensions.redacted`. This module decides, field by field, what each echo
//! needs; the loading of what the caller holds on a page of subjects lives in
//! `domain::audit::readable` (a constant number of statements per page).
//!
//! An event's frame (time, actor, action, entity, entity id, request id) is not
//! content: who may see a frame at all is the audit log's own rule.
//!
//! Error messages follow the same rule by construction: every write that could
//! name member data first looks the member up through the row check (R11), so a
//! message can only repeat what the caller may read, and a member the caller may
//! not read answers exactly as a missing one.
use super::grants::Grants;
use super::members::MemberAccess;
use super::permission::{PermSet, Permission};
use super::units::can_see_unit;
use entity::org_unit;
use serde_json::Value;
use std::collections::HashMap;

/// `explainAccess` explains access to a member only to a caller who may read that
/// member (R11, R15, R17); to anyone else, whoever they are, the member does not
/// exist, exactly as a missing one.
pub fn may_explain_member(access: Option<&MemberAccess>) -> bool {
    access.is_some_and(MemberAccess::visible)
}

/// Explanations, `whoCanAccess` and `accessibleBy` name the unit of the office
/// behind a grant only to a caller who sees that unit (R14); `whoCanAccess` answers
/// about a unit the caller does not see as about a missing one.
pub fn may_name_unit(grants: &Grants, unit: &org_unit::Model) -> bool {
    can_see_unit(grants, unit)
}

/// What an echo is about, from the audit record's `entity` and `entity_id`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Subject {
    Member(i64),
    /// An application: the applicant's data, readable where the admissions list is.
    Admission(i64),
    /// An office of a member.
    Assignment(i64),
    /// A transfer of a member.
    Transfer(i64),
    OrgUnit(i64),
    User(i64),
    /// Permission groups, activities, levels, API tokens: no member data.
    Catalogue,
    /// Anything else: shown to nobody (deny by default).
    Unknown,
}

impl Subject {
    pub fn of(entity: &str, entity_id: &str) -> Subject {
        let id = entity_id.parse::<i64>().ok();
        match (entity, id) {
            ("member", Some(id)) => Subject::Member(id),
            ("admission", Some(id)) => Subject::Admission(id),
            ("assignment", Some(id)) => Subject::Assignment(id),
            ("transfer", Some(id)) => Subject::Transfer(id),
            ("org_unit", Some(id)) => Subject::OrgUnit(id),
            ("user", Some(id)) => Subject::User(id),
            ("permission_group" | "activity" | "level" | "api_token", _) => Subject::Catalogue,
            _ => Subject::Unknown,
        }
    }
}

/// Keys of member events that are bank data (R12: bank.read).
const BANK_KEYS: &[&str] =
    &["iban", "bic", "account_holder", "bank_account_deleted", "sepa_mandates_deleted"];
/// Keys of member events that are payment data (R12: payment.read).
const PAYMENT_KEYS: &[&str] = &["amount_cents", "currency", "paid_on", "payment_id", "payments_kept"];

/// The permission one field (`key`) of an event's content needs on its subject.
/// None: no member data, shown to whoever sees the frame.
pub fn field_needs(subject: Subject, action: &str, key: &str) -> Option<Permission> {
    match subject {
        Subject::Member(_) => {
            Some(if action.starts_with("bank_account.") || action.starts_with("sepa_mandate.") {
                Permission::BankRead
            } else if action.starts_with("payment.") {
                Permission::PaymentRead
            } else if BANK_KEYS.contains(&key) {
                Permission::BankRead
            } else if PAYMENT_KEYS.contains(&key) {
                Permission::PaymentRead
            } else {
                Permission::MemberRead
            })
        }
        Subject::Admission(_) => Some(Permission::AdmissionApprove),
        Subject::Assignment(_) | Subject::Transfer(_) | Subject::Unknown => Some(Permission::MemberRead),
        // R14: a unit's own data is shown where the unit is; `Readable` knows which
        // permission would show it.
        Subject::OrgUnit(_) => Some(Permission::MemberRead),
        Subject::User(_) => Some(Permission::UserManage),
        Subject::Catalogue => None,
    }
}

/// What the caller holds on the subjects of a page of echoes, now.
#[derive(Debug, Clone, Default)]
pub struct Readable {
    /// Per subject, the permissions that show its content; a subject missing here
    /// shows nothing.
    held: HashMap<Subject, PermSet>,
    /// Units the caller does not see (R14), with what would show them.
    hidden_units: HashMap<i64, Permission>,
}

impl Readable {
    /// The caller holds `permissions` on `subject` (for a member: exactly its
    /// `MemberAccess` permissions when it is visible, else nothing).
    pub fn grant(&mut self, subject: Subject, permissions: PermSet) {
        *self.held.entry(subject).or_default() |= permissions;
    }

    /// A unit the caller sees (R14): its data is shown.
    pub fn unit_visible(&mut self, unit_id: i64) {
        self.grant(Subject::OrgUnit(unit_id), PermSet::of(Permission::MemberRead));
    }

    /// A unit the caller does not see: showing it would need `needs`.
    pub fn unit_hidden(&mut self, unit_id: i64, needs: Permission) {
        self.hidden_units.insert(unit_id, needs);
    }

    /// None: the field is shown; Some(p): withheld for lack of `p`.
    pub fn withheld(&self, subject: Subject, action: &str, key: &str) -> Option<Permission> {
        let needs = field_needs(subject, action, key)?;
        if self.held.get(&subject).is_some_and(|held| held.contains(needs)) {
            return None;
        }
        Some(match subject {
            Subject::OrgUnit(id) => self.hidden_units.get(&id).copied().unwrap_or(needs),
            _ => needs,
        })
    }

    /// An event's `before` or `after` as the caller may see it: every top-level
    /// field the caller may not read becomes null, and is returned with the
    /// permission it needs. A value that is not an object is one field (key "").
    pub fn redact(
        &self,
        subject: Subject,
        action: &str,
        content: &Value,
    ) -> (Value, Vec<(String, Permission)>) {
        let mut withheld = Vec::new();
        let shown = match content {
            Value::Object(fields) => Value::Object(
                fields
                    .iter()
                    .map(|(key, value)| match self.withheld(subject, action, key) {
                        Some(needs) => {
                            withheld.push((key.clone(), needs));
                            (key.clone(), Value::Null)
                        }
                        None => (key.clone(), value.clone()),
                    })
                    .collect(),
            ),
            other => match self.withheld(subject, action, "") {
                Some(needs) => {
                    withheld.push((String::new(), needs));
                    Value::Null
                }
                None => other.clone(),
            },
        };
        (shown, withheld)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Permission::*;
    use serde_json::json;

    fn member_with(perms: &[Permission]) -> Readable {
        let mut r = Readable::default();
        r.grant(Subject::Member(7), PermSet::from_iter(perms.iter().copied()));
        r
    }

    #[test]
    fn r18_member_content_follows_the_fields_permissions() {
        let update = json!({ "first_name": "Ursula", "city": "Fulda" });
        let r = member_with(&[MemberRead]);
        assert_eq!(r.redact(Subject::Member(7), "member.update", &update).0, update);
        let (shown, withheld) = Readable::default().redact(Subject::Member(7), "member.update", &update);
        assert_eq!(shown, json!({ "first_name": null, "city": null }));
        assert_eq!(withheld.len(), 2);
        assert!(withheld.iter().all(|(_, p)| *p == MemberRead));
    }

    #[test]
    fn r18_payment_amounts_need_payment_read_and_bank_data_bank_read() {
        let payment =
            json!({ "payment_id": 3, "amount_cents": 4800, "currency": "EUR", "paid_on": "2026-01-02" });
        let writer = member_with(&[MemberRead, MemberWrite]);
        let (shown, withheld) = writer.redact(Subject::Member(7), "payment.record", &payment);
        assert!(shown.as_object().expect("object").values().all(Value::is_null), "{shown}");
        assert!(withheld.iter().all(|(_, p)| *p == PaymentRead));
        let treasurer = member_with(&[MemberRead, PaymentRead]);
        assert_eq!(treasurer.redact(Subject::Member(7), "payment.record", &payment).0, payment);

        let bank = json!({ "iban": "DE89****3000" });
        assert_eq!(
            writer.redact(Subject::Member(7), "bank_account.set", &bank).1,
            vec![("iban".into(), BankRead)]
        );
        // Bank keys in other member events need bank.read too.
        let anonymized =
            json!({ "anonymized_at": "2026-01-01", "bank_account_deleted": true, "payments_kept": 3 });
        let (shown, _) = writer.redact(Subject::Member(7), "member.anonymize", &anonymized);
        assert_eq!(
            shown,
            json!({ "anonymized_at": "2026-01-01", "bank_account_deleted": null, "payments_kept": null })
        );
    }

    #[test]
    fn r18_another_members_permissions_do_not_carry_over() {
        let r = member_with(&[MemberRead, BankRead, PaymentRead]);
        let (shown, _) = r.redact(Subject::Member(8), "member.update", &json!({ "last_name": "Jung" }));
        assert_eq!(shown, json!({ "last_name": null }));
    }

    #[test]
    fn r18_catalogue_content_is_no_member_data_and_unknown_content_is_shown_to_nobody() {
        let group = json!({ "key": "treasurer", "permissions": ["member.read"] });
        assert_eq!(
            Readable::default().redact(Subject::Catalogue, "permission_group.update", &group).0,
            group
        );
        let (shown, _) =
            Readable::default().redact(Subject::of("something_new", "1"), "x.y", &json!({ "a": 1 }));
        assert_eq!(shown, json!({ "a": null }));
    }

    #[test]
    fn r18_units_name_what_would_show_them_and_users_need_user_manage() {
        let mut r = Readable::default();
        r.unit_hidden(4, UnitWrite);
        r.unit_visible(5);
        assert_eq!(r.withheld(Subject::OrgUnit(4), "org_unit.update", "name"), Some(UnitWrite));
        assert_eq!(r.withheld(Subject::OrgUnit(5), "org_unit.update", "name"), None);
        assert_eq!(r.withheld(Subject::User(1), "user.create", "email"), Some(UserManage));
        r.grant(Subject::User(1), PermSet::of(UserManage));
        assert_eq!(r.withheld(Subject::User(1), "user.create", "email"), None);
    }

    #[test]
    fn r18_only_readable_members_are_explained() {
        let readable = MemberAccess { permissions: PermSet::of(MemberRead), is_self: false };
        let invisible = MemberAccess { permissions: PermSet::of(BankRead), is_self: false };
        assert!(may_explain_member(Some(&readable)));
        assert!(!may_explain_member(Some(&invisible)), "bank.read without member.read shows nothing");
        assert!(!may_explain_member(None), "missing");
    }

    #[test]
    fn subjects_come_from_entity_and_id() {
        assert_eq!(Subject::of("member", "12"), Subject::Member(12));
        assert_eq!(Subject::of("member", "x"), Subject::Unknown);
        assert_eq!(Subject::of("api_token", "3"), Subject::Catalogue);
        assert_eq!(Subject::of("transfer", "3"), Subject::Transfer(3));
    }
}
