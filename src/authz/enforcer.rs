//! The Casbin enforcer over the same effective lines as the compiled grants. It is
//! the reference the compiled form is proven against (property test) and answers
//! single decisions where speed does not matter.
use super::catalogue::Catalogue;
use super::effective::{Line, Scope};
use super::permission::Permission;
use casbin::prelude::*;

pub const MODEL: &str = include_str!("../../policies/model.conf");

pub fn subject(user_id: i64) -> String {
    format!("user:{user_id}")
}

fn group(group_id: i64) -> String {
    format!("group:{group_id}")
}

/// The grouping domain of a line (see policies/model.conf).
pub fn domain(scope: &Scope) -> String {
    match scope {
        Scope::AtUnit { path, .. } => path.clone(),
        Scope::BelowUnit { path, .. } => format!("{path}+"),
        Scope::Everywhere => "*".to_owned(),
    }
}

/// Does a grouping domain (`pattern`) apply to a requested unit path? `*` applies
/// everywhere; `/1/4/+` to units strictly below `/1/4/` (the trailing slash keeps
/// `/1/40/` out); a plain path only to itself.
pub fn unit_domain_matches(request: &str, pattern: &str) -> bool {
    if pattern == "*" {
        return true;
    }
    match pattern.strip_suffix('+') {
        Some(base) => request.len() > base.len() && request.starts_with(base) && !request.ends_with('+'),
        None => request == pattern,
    }
}

/// Builds an enforcer for the given users' lines. Links are built once after all
/// lines are added (bulk loading).
pub async fn build(catalogue: &Catalogue, subjects: &[(i64, Vec<Line>)]) -> casbin::Result<Enforcer> {
    let model = DefaultModel::from_str(MODEL).await?;
    let mut enforcer = Enforcer::new(model, MemoryAdapter::default()).await?;
    enforcer.get_role_manager().write().matching_fn(None, Some(unit_domain_matches));
    enforcer.enable_auto_build_role_links(false);
    let policies: Vec<Vec<String>> = catalogue
        .groups()
        .flat_map(|g| g.permissions.iter().map(move |p| vec![group(g.id), p.as_str().to_owned()]))
        .collect();
    if !policies.is_empty() {
        enforcer.add_policies(policies).await?;
    }
    let mut grouping: Vec<Vec<String>> = subjects
        .iter()
        .flat_map(|(user_id, lines)| {
            lines.iter().map(move |l| vec![subject(*user_id), group(l.group_id), domain(&l.scope)])
        })
        .collect();
    grouping.sort();
    grouping.dedup();
    if !grouping.is_empty() {
        enforcer.add_grouping_policies(grouping).await?;
    }
    enforcer.enable_auto_build_role_links(true);
    enforcer.build_role_links()?;
    Ok(enforcer)
}

/// The enforcer for every user in the database on `today`: the stored catalogue
/// (groups changed at runtime included) and each user's effective lines. Facts are
/// loaded in one batch.
pub async fn build_from_db<C: sea_orm::ConnectionTrait>(
    conn: &C,
    today: chrono::NaiveDate,
) -> std::result::Result<(Catalogue, Enforcer), BuildError> {
    use sea_orm::{EntityTrait, QuerySelect};
    let catalogue = Catalogue::load(conn).await?;
    let user_ids: Vec<i64> = entity::user::Entity::find()
        .select_only()
        .column(entity::user::Column::Id)
        .into_tuple::<i64>()
        .all(conn)
        .await?;
    let subjects: Vec<(i64, Vec<Line>)> = super::facts::SubjectFacts::load_many(conn, &user_ids)
        .await?
        .iter()
        .map(|f| (f.user.id, super::effective::effective_lines(f, &catalogue, today)))
        .collect();
    let enforcer = build(&catalogue, &subjects).await?;
    Ok((catalogue, enforcer))
}

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("database: {0}")]
    Db(#[from] sea_orm::DbErr),
    #[error("casbin: {0}")]
    Casbin(#[from] casbin::Error),
}

/// One decision: does `user_id` hold `permission` at the unit with `path`?
/// SYSTEM permissions are asked in the `*` domain.
pub fn decide(enforcer: &Enforcer, user_id: i64, path: &str, permission: Permission) -> casbin::Result<bool> {
    let domain = match permission.kind() {
        entity::GroupKind::System => "*",
        entity::GroupKind::Membership => path,
    };
    enforcer.enforce((subject(user_id), domain, permission.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains_match_by_path_boundary() {
        assert!(unit_domain_matches("/1/4/", "/1/4/"));
        assert!(!unit_domain_matches("/1/4/", "/1/4/+"), "a tree grant does not apply at its unit");
        assert!(unit_domain_matches("/1/4/9/", "/1/4/+"));
        assert!(!unit_domain_matches("/1/40/", "/1/4/+"), "a sibling sharing a prefix is not below");
        assert!(!unit_domain_matches("/1/", "/1/4/+"));
        assert!(unit_domain_matches("/1/", "*"));
        assert!(!unit_domain_matches("/1/4/9/", "/1/4/"));
    }
}
