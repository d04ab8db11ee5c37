//! R12: a field the caller may not read resolves to `null` without an error (common
//! clients drop a whole response on any error) and its path is listed in the
//! response's `extensions.redacted`, capped, with the total count. No guard is used
//! for this: a failing guard would null the parent object.
use crate::authz::Permission;
use async_graphql::{Context, Name, Value};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// At most this many paths are listed; `total` counts all of them.
pub const MAX_LISTED: usize = 100;

/// One request's redacted fields.
#[derive(Debug, Default)]
pub struct Redactions {
    listed: Mutex<Vec<(Value, Permission)>>,
    total: AtomicUsize,
    /// Every redaction, listed or not, per permission (for the denial metrics).
    counts: Mutex<std::collections::BTreeMap<Permission, usize>>,
}

impl Redactions {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn record(&self, path: Value, needs: Permission) {
        if let Ok(mut counts) = self.counts.lock() {
            *counts.entry(needs).or_default() += 1;
        }
        let n = self.total.fetch_add(1, Ordering::Relaxed);
        if n < MAX_LISTED
            && let Ok(mut listed) = self.listed.lock()
        {
            listed.push((path, needs));
        }
    }

    pub fn total(&self) -> usize {
        self.total.load(Ordering::Relaxed)
    }

    /// The permission each redaction lacked, one entry per redacted field (all of
    /// them, not only the listed ones), for the denial metrics.
    pub fn permissions(&self) -> Vec<Permission> {
        self.counts
            .lock()
            .map(|c| c.iter().flat_map(|(p, n)| std::iter::repeat_n(*p, *n)).collect())
            .unwrap_or_default()
    }

    /// `{ total, truncated, fields: [{ path, needs }] }`, or None when nothing was
    /// redacted.
    pub fn to_extension(&self) -> Option<Value> {
        let total = self.total();
        if total == 0 {
            return None;
        }
        let mut fields: Vec<(Value, Permission)> = self.listed.lock().map(|l| l.clone()).unwrap_or_default();
        // Resolvers run concurrently: list in a stable order.
        fields.sort_by_key(|(path, _)| path.to_string());
        let fields: Vec<Value> = fields
            .into_iter()
            .map(|(path, needs)| {
                Value::Object(
                    [
                        (Name::new("path"), path),
                        (Name::new("needs"), Value::String(needs.as_str().to_owned())),
                    ]
                    .into_iter()
                    .collect(),
                )
            })
            .collect();
        Some(Value::Object(
            [
                (Name::new("total"), Value::Number(total.into())),
                (Name::new("truncated"), Value::Boolean(total > fields.len())),
                (Name::new("fields"), Value::List(fields)),
            ]
            .into_iter()
            .collect(),
        ))
    }
}

/// The members whose bank data (bank account, SEPA mandates) one request returned,
/// for the audit trail: who read whose bank data, and when.
#[derive(Debug, Default)]
pub struct BankReads {
    members: Mutex<std::collections::BTreeSet<i64>>,
    /// Reads audited already, in the statement that read them.
    audited: Mutex<std::collections::BTreeSet<i64>>,
}

impl BankReads {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn record(&self, member_id: i64) {
        if let Ok(mut m) = self.members.lock() {
            m.insert(member_id);
        }
    }

    /// Reads of these members were audited when they were loaded.
    pub fn audited(&self, member_ids: &[i64]) {
        if let Ok(mut a) = self.audited.lock() {
            a.extend(member_ids.iter().copied());
        }
    }

    /// The members whose bank data the response holds and whose reads are still to
    /// be audited.
    pub fn members(&self) -> Vec<i64> {
        let audited = self.audited.lock().map(|a| a.clone()).unwrap_or_default();
        self.members
            .lock()
            .map(|m| m.iter().copied().filter(|id| !audited.contains(id)).collect())
            .unwrap_or_default()
    }
}

/// Notes that the current request returns `member_id`'s bank data.
pub fn bank_read(ctx: &Context<'_>, member_id: i64) {
    if let Some(r) = ctx.data_opt::<std::sync::Arc<BankReads>>() {
        r.record(member_id);
    }
}

/// The current field's response path, as in `errors[].path`.
pub fn current_path(ctx: &Context<'_>) -> Value {
    let mut segments = Vec::new();
    if let Some(node) = ctx.path_node {
        for n in std::iter::once(&node).chain(node.parents()) {
            segments.push(match n.segment {
                async_graphql::QueryPathSegment::Name(name) => Value::String(name.to_owned()),
                async_graphql::QueryPathSegment::Index(i) => Value::Number(i.into()),
            });
        }
    }
    segments.reverse();
    Value::List(segments)
}

/// Records that the current field is withheld for lack of `needs`; the resolver then
/// returns `Ok(None)`.
pub fn redact(ctx: &Context<'_>, needs: Permission) {
    if let Some(r) = ctx.data_opt::<std::sync::Arc<Redactions>>() {
        r.record(current_path(ctx), needs);
    }
}

/// Records that the field `key` inside the current (JSON) field is withheld for
/// lack of `needs` (R18: the audit trail's content, field by field); the resolver
/// returns it as null.
pub fn redact_within(ctx: &Context<'_>, key: &str, needs: Permission) {
    if let Some(r) = ctx.data_opt::<std::sync::Arc<Redactions>>() {
        let mut path = current_path(ctx);
        if let Value::List(segments) = &mut path
            && !key.is_empty()
        {
            segments.push(Value::String(key.to_owned()));
        }
        r.record(path, needs);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_at_most_the_cap_and_counts_everything() {
        let r = Redactions::new();
        assert!(r.to_extension().is_none(), "nothing redacted, no extension");
        for i in 0..(MAX_LISTED + 5) {
            r.record(Value::List(vec![Value::Number(i.into())]), Permission::BankRead);
        }
        let Some(Value::Object(ext)) = r.to_extension() else { panic!("object") };
        assert_eq!(ext.get("total"), Some(&Value::Number((MAX_LISTED + 5).into())));
        assert_eq!(ext.get("truncated"), Some(&Value::Boolean(true)));
        let Some(Value::List(fields)) = ext.get("fields") else { panic!("list") };
        assert_eq!(fields.len(), MAX_LISTED);
        assert_eq!(r.permissions().len(), MAX_LISTED + 5, "metrics count every redaction");
    }
}
