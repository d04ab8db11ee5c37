use crate::{OrgUnitStatus, Visibility};
use sea_orm::entity::prelude::*;
use sea_orm::sea_query::{Expr, ExprTrait};

/// A node of the organisation tree.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "org_unit")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub parent_id: Option<i64>,
    pub level_id: i64,
    pub name: String,
    pub short_name: Option<String>,
    pub status: OrgUnitStatus,
    pub visibility: Visibility,
    pub ends_on: Option<Date>,
    /// Materialized path of ids from the root, `/1/4/12/` (trailing slash).
    pub path: String,
    /// 0 for the root.
    pub depth: i32,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(belongs_to = "super::level::Entity", from = "Column::LevelId", to = "super::level::Column::Id")]
    Level,
    #[sea_orm(belongs_to = "Entity", from = "Column::ParentId", to = "Column::Id")]
    Parent,
}

impl Related<super::level::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Level.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}

/// The path of a child of the unit with `parent_path`.
pub fn child_path(parent_path: &str, id: i64) -> String {
    format!("{parent_path}{id}/")
}

/// The ids on a path, root first: `/1/4/12/` → `[1, 4, 12]`. Byte-level, without
/// allocation: this runs for every row and field check.
pub fn path_ids(path: &str) -> PathIds<'_> {
    PathIds { bytes: path.as_bytes(), pos: 0 }
}

pub struct PathIds<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Iterator for PathIds<'_> {
    type Item = i64;

    fn next(&mut self) -> Option<i64> {
        while self.pos < self.bytes.len() {
            let mut value: i64 = 0;
            let mut digits = false;
            while let Some(&b) = self.bytes.get(self.pos) {
                self.pos += 1;
                if b.is_ascii_digit() {
                    value = value.saturating_mul(10).saturating_add(i64::from(b - b'0'));
                    digits = true;
                } else {
                    break;
                }
            }
            if digits {
                return Some(value);
            }
        }
        None
    }
}

/// The exclusive upper bound of the subtree range of `path`: every path that starts
/// with `path` sorts in `[path, upper)`. `/` is followed by `0` in byte order, so
/// `/1/4/` → `/1/40`, which is also the first path that is *not* below `/1/4/`
/// (ids are decimal digits only).
pub fn subtree_upper_bound(path: &str) -> String {
    let mut upper = path.trim_end_matches('/').to_owned();
    upper.push('0');
    upper
}

/// SQL predicate: the unit is `path` itself or lies below it (an index range scan).
pub fn in_subtree(path: &str) -> Expr {
    Column::Path.gte(path.to_owned()).and(Column::Path.lt(subtree_upper_bound(path)))
}

/// SQL predicate: the unit lies strictly below `path`.
pub fn strictly_below(path: &str) -> Expr {
    Column::Path.gt(path.to_owned()).and(Column::Path.lt(subtree_upper_bound(path)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subtree_bound_separates_siblings_with_common_prefix() {
        let upper = subtree_upper_bound("/1/4/");
        assert!("/1/4/" < upper.as_str());
        assert!("/1/4/9/" < upper.as_str());
        assert!("/1/4/99999/12/" < upper.as_str());
        // `/1/40/` is a sibling, not a descendant.
        assert!("/1/40/" >= upper.as_str());
        assert!("/1/5/" >= upper.as_str());
    }

    #[test]
    fn path_ids_lists_ancestors_root_first() {
        assert_eq!(path_ids("/1/4/12/").collect::<Vec<_>>(), vec![1, 4, 12]);
        assert_eq!(path_ids("/1/").collect::<Vec<_>>(), vec![1]);
        assert_eq!(path_ids("").count(), 0);
        assert_eq!(path_ids("/100/2003/").collect::<Vec<_>>(), vec![100, 2003]);
        assert_eq!(child_path("/1/4/", 12), "/1/4/12/");
    }
}
