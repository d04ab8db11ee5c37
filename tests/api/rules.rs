//! The rules of docs/authorization.md, rule by rule, on the demo federation in the real database.
//! Expectations come from the rules and the documented personas, not from output.
use crate::common::{TestDb, gid, today};
use chrono::NaiveDate;
use entity::*;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, IntoActiveModel, PaginatorTrait,
    QueryFilter, Set,
};
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use verband::authz::explain::{Denial, Explanation, Target, explain, who_can_access};
use verband::authz::facts::SubjectFacts;
use verband::authz::members::{member_access, visible_members, writes};
use verband::authz::units::{can_see_unit, visible_units};
use verband::authz::{Authz, Grants, Invalidate, Permission};
use verband::domain::DomainError;
use verband::domain::assignment_rules::{self, AssignmentRequest};

use Permission::*;

struct World {
    _db: TestDb,
    conn: DatabaseConnection,
    authz: Authz,
    units: Vec<org_unit::Model>,
    members: Vec<member::Model>,
}

impl World {
    async fn demo() -> World {
        let db = TestDb::demo().await;
        let conn = db.connect().await;
        let units = org_unit::Entity::find().all(&conn).await.expect("units");
        let members = member::Entity::find().all(&conn).await.expect("members");
        World { authz: Authz::new(conn.clone()), _db: db, conn, units, members }
    }

    fn unit(&self, name: &str) -> &org_unit::Model {
        self.units.iter().find(|u| u.name == name).unwrap_or_else(|| panic!("unit {name}"))
    }

    fn path_of(&self, unit_id: i64) -> &str {
        &self.units.iter().find(|u| u.id == unit_id).expect("unit").path
    }

    /// Units in the subtree of `name` (itself included).
    fn subtree(&self, name: &str) -> BTreeSet<i64> {
        let root = self.unit(name).path.clone();
        self.units.iter().filter(|u| u.path.starts_with(&root)).map(|u| u.id).collect()
    }

    async fn user(&self, username: &str) -> user::Model {
        user::Entity::find()
            .filter(user::Column::Username.eq(username))
            .one(&self.conn)
            .await
            .expect("q")
            .unwrap_or_else(|| panic!("user {username}"))
    }

    async fn grants(&self, username: &str) -> Arc<Grants> {
        self.grants_on(username, today()).await
    }

    async fn grants_on(&self, username: &str, day: NaiveDate) -> Arc<Grants> {
        let user = self.user(username).await;
        self.authz.grants(user.id, day).await.expect("grants")
    }

    async fn assignment_of(&self, username: &str) -> assignment::Model {
        let member_id = self.user(username).await.member_id.expect("member user");
        assignment::Entity::find()
            .filter(assignment::Column::MemberId.eq(member_id))
            .one(&self.conn)
            .await
            .expect("q")
            .expect("assignment")
    }

    async fn group_id(&self, key: &str) -> i64 {
        permission_group::Entity::find()
            .filter(permission_group::Column::Key.eq(key))
            .one(&self.conn)
            .await
            .expect("q")
            .expect("group")
            .id
    }

    async fn pending_transfers(&self) -> HashMap<i64, Vec<String>> {
        let mut out: HashMap<i64, Vec<String>> = HashMap::new();
        for t in transfer::Entity::find()
            .filter(transfer::Column::Status.eq(TransferStatus::Pending))
            .all(&self.conn)
            .await
            .expect("q")
        {
            out.entry(t.member_id).or_default().push(self.path_of(t.to_unit_id).to_owned());
        }
        out
    }

    /// Members visible through the SQL condition (lists and counts).
    async fn visible_by_sql(&self, grants: &Grants) -> BTreeSet<i64> {
        let ids: BTreeSet<i64> = member::Entity::find()
            .filter(visible_members(grants))
            .all(&self.conn)
            .await
            .expect("q")
            .into_iter()
            .map(|m| m.id)
            .collect();
        let count =
            member::Entity::find().filter(visible_members(grants)).count(&self.conn).await.expect("count");
        assert_eq!(count as usize, ids.len(), "count agrees with the list");
        ids
    }

    /// Members visible through the per-row check.
    async fn visible_by_row(&self, grants: &Grants) -> BTreeSet<i64> {
        let transfers = self.pending_transfers().await;
        self.members
            .iter()
            .filter(|m| {
                let to: Vec<&str> =
                    transfers.get(&m.id).map(|v| v.iter().map(String::as_str).collect()).unwrap_or_default();
                member_access(grants, m.id, self.path_of(m.home_unit_id), &to).visible()
            })
            .map(|m| m.id)
            .collect()
    }

    fn members_in(&self, units: &BTreeSet<i64>) -> BTreeSet<i64> {
        self.members.iter().filter(|m| units.contains(&m.home_unit_id)).map(|m| m.id).collect()
    }

    fn member_at(&self, unit: &str) -> &member::Model {
        let id = self.unit(unit).id;
        self.members.iter().find(|m| m.home_unit_id == id).expect("a member there")
    }
}

async fn update<A: ActiveModelTrait + sea_orm::ActiveModelBehavior + Send>(
    conn: &DatabaseConnection,
    model: A,
) where
    <A::Entity as EntityTrait>::Model: IntoActiveModel<A>,
{
    model.update(conn).await.expect("update");
}

fn day(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("date")
}

#[tokio::test]
async fn r1_permission_on_a_member_is_the_permission_at_its_home_unit() {
    let w = World::demo().await;
    let g = w.grants("lsm.bayern").await;
    let bayern = w.subtree("Landesverband Bayern");
    for m in &w.members {
        let in_bayern = bayern.contains(&m.home_unit_id);
        assert_eq!(g.holds_at(MemberRead, w.path_of(m.home_unit_id)), in_bayern, "member {}", m.id);
    }
}

#[tokio::test]
async fn r2_level_group_applies_at_the_unit_itself_only() {
    let w = World::demo().await;
    let mut a = w.assignment_of("lv.niedersachsen").await.into_active_model();
    a.tree_group_id = Set(None);
    update(&w.conn, a).await;
    let g = w.grants("lv.niedersachsen").await;
    let land = w.unit("Landesverband Niedersachsen");
    assert!(g.holds_at(MemberRead, &land.path));
    for id in w.subtree("Landesverband Niedersachsen") {
        if id != land.id {
            assert!(!g.holds_at(MemberRead, w.path_of(id)), "level group must not reach below ({id})");
        }
    }
}

#[tokio::test]
async fn r3_tree_group_applies_strictly_below_the_unit() {
    let w = World::demo().await;
    let mut a = w.assignment_of("lv.niedersachsen").await.into_active_model();
    a.level_group_id = Set(None);
    update(&w.conn, a).await;
    let g = w.grants("lv.niedersachsen").await;
    let land = w.unit("Landesverband Niedersachsen");
    assert!(!g.holds_at(MemberRead, &land.path), "not at the unit itself");
    for id in w.subtree("Landesverband Niedersachsen") {
        if id != land.id {
            assert!(g.holds_at(MemberRead, w.path_of(id)), "below the unit ({id})");
        }
    }
    assert!(!g.holds_at(MemberRead, &w.unit("Stamm Isar").path), "not elsewhere");
}

#[tokio::test]
async fn r4_global_tree_group_applies_everywhere_root_included() {
    let w = World::demo().await;
    let g = w.grants("admin").await;
    for u in &w.units {
        for p in [MemberRead, MemberWrite, BankRead, UnitWrite, AssignmentWrite] {
            assert!(g.holds_at(p, &u.path), "{p} at {}", u.name);
        }
    }
}

#[tokio::test]
async fn r5_only_active_assignments_within_their_dates_grant() {
    let w = World::demo().await;
    let fulda = w.unit("Stamm Fulda").path.clone();
    // ehemalig's office ran 2021-01-01 … 2025-06-30 (inclusive).
    assert!(w.grants_on("ehemalig", day(2025, 6, 30)).await.holds_at(BankRead, &fulda));
    assert!(w.grants_on("ehemalig", day(2024, 6, 1)).await.holds_at(BankRead, &fulda));
    assert!(!w.grants_on("ehemalig", day(2025, 7, 1)).await.holds_at(BankRead, &fulda));
    assert!(!w.grants("ehemalig").await.holds_anywhere(MemberRead));
    // The first day counts, the day before does not (after her pledge of 2024-01-15).
    let mut a = w.assignment_of("ehemalig").await.into_active_model();
    a.starts_on = Set(day(2025, 1, 1));
    update(&w.conn, a).await;
    w.authz.user_changed(w.user("ehemalig").await.id);
    assert!(w.grants_on("ehemalig", day(2025, 1, 1)).await.holds_at(BankRead, &fulda));
    assert!(!w.grants_on("ehemalig", day(2024, 12, 31)).await.holds_at(BankRead, &fulda));

    // A status other than ACTIVE grants nothing, and the cached grants are dropped.
    let isar = w.unit("Stamm Isar").path.clone();
    assert!(w.grants("lsm.bayern").await.holds_at(BankRead, &isar));
    for status in [AssignmentStatus::Requested, AssignmentStatus::Waitlist, AssignmentStatus::ToDelete] {
        let mut a = w.assignment_of("lsm.bayern").await.into_active_model();
        a.status = Set(status);
        update(&w.conn, a).await;
        w.authz.user_changed(w.user("lsm.bayern").await.id);
        assert!(!w.grants("lsm.bayern").await.holds_anywhere(MemberRead), "{status:?}");
    }
}

#[tokio::test]
async fn r6_membership_permissions_need_an_enabled_user_an_active_member_and_a_pledge() {
    let w = World::demo().await;
    let leine = w.unit("Stamm Leine").path.clone();
    let user = w.user("ohne.pledge").await;
    assert!(!w.grants("ohne.pledge").await.holds_at(MemberRead, &leine), "no pledge, no rights");

    let mut u = user.clone().into_active_model();
    u.privacy_pledge_signed_on = Set(Some(day(2026, 1, 10)));
    update(&w.conn, u).await;
    w.authz.user_changed(user.id);
    assert!(w.grants("ohne.pledge").await.holds_at(MemberRead, &leine), "pledge on record");

    let mut u = w.user("ohne.pledge").await.into_active_model();
    u.disabled = Set(true);
    update(&w.conn, u).await;
    w.authz.user_changed(user.id);
    assert!(!w.grants("ohne.pledge").await.holds_anywhere(MemberRead), "disabled");

    let mut u = w.user("ohne.pledge").await.into_active_model();
    u.disabled = Set(false);
    update(&w.conn, u).await;
    let mut m = member::Entity::find_by_id(user.member_id.expect("member"))
        .one(&w.conn)
        .await
        .expect("q")
        .expect("m")
        .into_active_model();
    m.status = Set(MemberStatus::Inactive);
    update(&w.conn, m).await;
    w.authz.user_changed(user.id);
    assert!(!w.grants("ohne.pledge").await.holds_anywhere(MemberRead), "member not ACTIVE");

    // A system user never holds any, whatever is assigned to it.
    let admin_group = w.group_id("federation_admin").await;
    let mut sys = w.user("useradmin").await.into_active_model();
    sys.global_tree_group_id = Set(Some(admin_group));
    sys.privacy_pledge_signed_on = Set(Some(day(2026, 1, 1)));
    update(&w.conn, sys).await;
    let g = w.grants("useradmin").await;
    assert!(
        Permission::ALL.iter().filter(|p| p.kind() == GroupKind::Membership).all(|p| !g.holds_anywhere(*p))
    );
}

#[tokio::test]
async fn r7_system_groups_act_only_for_users_above_level_2() {
    let w = World::demo().await;
    assert!(w.grants("useradmin").await.holds_system(UserManage));
    assert!(!w.grants("useradmin").await.holds_system(AuditRead), "only the groups' permissions");
    let mut u = w.user("useradmin").await.into_active_model();
    u.level = Set(2);
    update(&w.conn, u).await;
    w.authz.everything_changed();
    assert!(!w.grants("useradmin").await.holds_system(UserManage), "level 2");

    // A member user at level 2 with a system group holds nothing from it; at 3 it does.
    let sf = w.user("sf.pegnitz").await;
    user_system_group::ActiveModel {
        user_id: Set(sf.id),
        permission_group_id: Set(w.group_id("auditor").await),
    }
    .insert(&w.conn)
    .await
    .expect("insert");
    assert!(!w.grants("sf.pegnitz").await.holds_system(AuditRead));
    let mut u = sf.into_active_model();
    u.level = Set(3);
    update(&w.conn, u).await;
    w.authz.everything_changed();
    assert!(w.grants("sf.pegnitz").await.holds_system(AuditRead));
}

#[tokio::test]
async fn r8_kinds_do_not_mix() {
    let w = World::demo().await;
    let catalogue = w.authz.catalogue().await.expect("catalogue");
    let system_admin = catalogue.by_key("system_admin").expect("group");
    let reader = catalogue.by_key("reader").expect("group");
    // Rejected with a clear error where they would be set…
    let err =
        assignment_rules::check_system_groups(&[system_admin, reader]).expect_err("reader is MEMBERSHIP");
    assert!(matches!(err, DomainError::BadInput { field: "groupIds", .. }), "{err:?}");
    let admin_grants = w.grants("admin").await;
    let err = assignment_rules::check_global_tree_group(&admin_grants, Some(system_admin), None)
        .expect_err("SYSTEM");
    assert!(matches!(err, DomainError::BadInput { field: "groupId", .. }), "{err:?}");
    // …and worthless if they got into the data anyway.
    let mut lsm = w.user("lsm.bayern").await.into_active_model();
    lsm.global_tree_group_id = Set(Some(system_admin.id));
    lsm.level = Set(3);
    update(&w.conn, lsm).await;
    let g = w.grants("lsm.bayern").await;
    assert!(!g.holds_system(UserManage), "a SYSTEM group as global tree group grants nothing");
    let sf = w.user("sf.pegnitz").await;
    user_system_group::ActiveModel {
        user_id: Set(sf.id),
        permission_group_id: Set(w.group_id("federation_admin").await),
    }
    .insert(&w.conn)
    .await
    .expect("insert");
    let mut u = sf.into_active_model();
    u.level = Set(3);
    update(&w.conn, u).await;
    let g = w.grants("sf.pegnitz").await;
    assert!(
        !g.holds_at(MemberWrite, &w.unit("Stamm Pegnitz").path),
        "a MEMBERSHIP group as system group grants nothing"
    );
}

/// An assignment someone wants to make, with the rows the rules look at.
struct Draft {
    activity: activity::Model,
    allowed: Vec<i64>,
    unit: org_unit::Model,
    level_group: Option<verband::authz::catalogue::GroupInfo>,
    tree_group: Option<verband::authz::catalogue::GroupInfo>,
}

impl Draft {
    async fn new(
        w: &World,
        activity_name: &str,
        unit: &str,
        level: Option<&str>,
        tree: Option<&str>,
    ) -> Draft {
        let catalogue = w.authz.catalogue().await.expect("catalogue");
        let activity = activity::Entity::find()
            .filter(activity::Column::Name.eq(activity_name))
            .one(&w.conn)
            .await
            .expect("q")
            .expect("activity");
        let allowed = activity_allowed_group::Entity::find()
            .filter(activity_allowed_group::Column::ActivityId.eq(activity.id))
            .all(&w.conn)
            .await
            .expect("q")
            .into_iter()
            .map(|r| r.permission_group_id)
            .collect();
        let group = |k: Option<&str>| k.map(|k| catalogue.by_key(k).expect("group").clone());
        Draft {
            activity,
            allowed,
            unit: w.unit(unit).clone(),
            level_group: group(level),
            tree_group: group(tree),
        }
    }

    fn request(&self) -> AssignmentRequest<'_> {
        AssignmentRequest {
            activity: &self.activity,
            allowed_group_ids: &self.allowed,
            activity_level_name: "level of the activity",
            unit: &self.unit,
            unit_level_name: "level of the unit",
            level_group: self.level_group.as_ref(),
            tree_group: self.tree_group.as_ref(),
        }
    }
}

#[tokio::test]
async fn r9_groups_must_be_allowed_and_the_activity_on_the_units_level() {
    let w = World::demo().await;
    let ok = Draft::new(&w, "Stammesschatzmeister/in", "Stamm Fulda", Some("treasurer"), None).await;
    assert!(assignment_rules::check_shape(&ok.request()).is_ok());

    let bad = Draft::new(&w, "Stammesführer/in", "Stamm Fulda", Some("member_admin"), None).await;
    let err = assignment_rules::check_shape(&bad.request()).expect_err("member_admin not allowed");
    assert!(matches!(err, DomainError::BadInput { field: "levelGroupId", .. }), "{err:?}");

    let bad = Draft::new(&w, "Stammesführer/in", "Stamm Fulda", Some("reader"), Some("state_board")).await;
    let err = assignment_rules::check_shape(&bad.request()).expect_err("state_board not allowed");
    assert!(matches!(err, DomainError::BadInput { field: "treeGroupId", .. }), "{err:?}");

    let bad = Draft::new(&w, "Stammesführer/in", "Landesverband Hessen", Some("reader"), None).await;
    let err = assignment_rules::check_shape(&bad.request()).expect_err("Stamm activity at a Land");
    assert!(matches!(err, DomainError::BadInput { field: "activityId", .. }), "{err:?}");

    let bad = Draft::new(&w, "Stammesführer/in", "Stamm Fulda", Some("auditor"), None).await;
    let err = assignment_rules::check_shape(&bad.request()).expect_err("SYSTEM group");
    assert!(matches!(err, DomainError::BadInput { field: "levelGroupId", .. }), "R8 first: {err:?}");
}

fn forbidden(result: Result<(), DomainError>) -> String {
    match result {
        Err(DomainError::Forbidden(msg)) | Err(DomainError::Denied { message: msg, .. }) => msg,
        other => panic!("FORBIDDEN expected, got {other:?}"),
    }
}

#[tokio::test]
async fn r10_nobody_grants_more_than_they_hold() {
    let w = World::demo().await;
    let catalogue = w.authz.catalogue().await.expect("catalogue");
    let mv = w.grants("mv.hessen").await; // state_member_admin at Hessen, level and tree

    let ok = Draft::new(&w, "Stammesschatzmeister/in", "Stamm Fulda", Some("treasurer"), None).await;
    assert!(
        assignment_rules::check_no_escalation(&mv, &ok.request()).is_ok(),
        "treasurer's permissions at Fulda"
    );
    let own = Draft::new(
        &w,
        "Mitgliederverwalter/in Land",
        "Landesverband Hessen",
        Some("state_member_admin"),
        Some("state_member_admin"),
    )
    .await;
    assert!(assignment_rules::check_no_escalation(&mv, &own.request()).is_ok(), "her own groups at her unit");

    let more =
        Draft::new(&w, "Landesschatzmeister/in", "Landesverband Hessen", Some("state_treasurer"), None).await;
    let msg = forbidden(assignment_rules::check_no_escalation(&mv, &more.request()));
    assert!(msg.contains("admission.approve_adult") && msg.contains("at Landesverband Hessen"), "{msg}");

    let tree =
        Draft::new(&w, "Landesschatzmeister/in", "Landesverband Hessen", None, Some("state_treasurer")).await;
    let msg = forbidden(assignment_rules::check_no_escalation(&mv, &tree.request()));
    assert!(
        msg.starts_with("tree group state_treasurer grants") && msg.contains("below Landesverband Hessen"),
        "{msg}"
    );

    let elsewhere = Draft::new(&w, "Stammesschatzmeister/in", "Stamm Isar", Some("treasurer"), None).await;
    let msg = forbidden(assignment_rules::check_no_escalation(&mv, &elsewhere.request()));
    assert!(msg.contains("assignment.write at Stamm Isar"), "{msg}");

    // A treasurer holds no assignment.write at all.
    let lsm = w.grants("lsm.bayern").await;
    let req = Draft::new(&w, "Stammesführer/in", "Stamm Isar", Some("reader"), None).await;
    forbidden(assignment_rules::check_no_escalation(&lsm, &req.request()));

    // Global tree groups need user.manage, and every permission of the group held
    // at every unit: a user administrator without a global tree group can set none.
    let fed = catalogue.by_key("federation_admin").expect("group");
    let root = w.units.iter().find(|u| u.parent_id.is_none()).expect("root");
    forbidden(assignment_rules::check_global_tree_group(&mv, Some(fed), Some(root)));
    let useradmin = w.grants("useradmin").await;
    match assignment_rules::check_global_tree_group(&useradmin, Some(fed), Some(root)) {
        Err(DomainError::Denied { unit_id, message, .. }) => {
            assert_eq!(unit_id, Some(root.id), "names the unit: every unit, from the root down");
            assert!(message.contains("(R10)"), "{message}");
        }
        other => panic!("FORBIDDEN expected, got {other:?}"),
    }
    assert!(assignment_rules::check_global_tree_group(&useradmin, None, Some(root)).is_ok(), "clearing");
    let admin = w.grants("admin").await; // federation_admin as global tree group, user_admin
    assert!(assignment_rules::check_global_tree_group(&admin, Some(fed), Some(root)).is_ok());
    let reader = catalogue.by_key("reader").expect("group");
    assert!(assignment_rules::check_global_tree_group(&admin, Some(reader), Some(root)).is_ok());
}

/// Who sees which members, from the persona table of the README.
async fn expected_visible(w: &World, username: &str) -> BTreeSet<i64> {
    let own: BTreeSet<i64> = w.user(username).await.member_id.into_iter().collect();
    let subtree = |unit: &str| w.members_in(&w.subtree(unit));
    let all: BTreeSet<i64> = w.members.iter().map(|m| m.id).collect();
    let mut set = match username {
        "lsm.bayern" => subtree("Landesverband Bayern"),
        "ssm.isar" => subtree("Stamm Isar"),
        "mv.hessen" => subtree("Landesverband Hessen"),
        "lv.niedersachsen" => subtree("Landesverband Niedersachsen"),
        "sf.pegnitz" => subtree("Stamm Pegnitz"),
        "bsm" | "admin" => all,
        "useradmin" | "ohne.pledge" | "ehemalig" => BTreeSet::new(),
        other => panic!("no expectation for {other}"),
    };
    set.extend(own); // R17
    set
}

const PERSONAS: &[&str] = &[
    "admin",
    "lsm.bayern",
    "ssm.isar",
    "mv.hessen",
    "lv.niedersachsen",
    "sf.pegnitz",
    "bsm",
    "useradmin",
    "ohne.pledge",
    "ehemalig",
];

#[tokio::test]
async fn r11_members_are_visible_exactly_where_member_read_holds() {
    let w = World::demo().await;
    for username in PERSONAS {
        let g = w.grants(username).await;
        let expected = expected_visible(&w, username).await;
        assert_eq!(w.visible_by_sql(&g).await, expected, "{username}");
    }
    // Anonymous callers see no member at all.
    assert!(w.visible_by_sql(&Grants::none()).await.is_empty());
}

#[tokio::test]
async fn r12_bank_data_and_payments_need_their_own_permissions() {
    let w = World::demo().await;
    let isar = w.member_at("Stamm Isar");
    let pegnitz = w.member_at("Stamm Pegnitz");
    let leine = w.member_at("Stamm Leine");
    let access = |g: &Grants, m: &member::Model| member_access(g, m.id, w.path_of(m.home_unit_id), &[]);
    let lsm = w.grants("lsm.bayern").await;
    let a = access(&lsm, isar);
    assert!(a.read() && a.bank() && a.payments(), "state_treasurer reads bank data below Bayern");
    let sf = w.grants("sf.pegnitz").await;
    let a = access(&sf, pegnitz);
    assert!(a.read() && !a.bank() && !a.payments(), "reader: no bank data, no payments");
    let lv = w.grants("lv.niedersachsen").await;
    let a = access(&lv, leine);
    assert!(a.read() && !a.bank() && !a.payments(), "state_board: no bank.read");
    let ssm = w.grants("ssm.isar").await;
    let a = access(&ssm, isar);
    assert!(a.read() && a.bank() && a.payments(), "treasurer at the Stamm");
    // A treasurer's view of another state's member: no row at all, hence no IBAN.
    let a = access(&lsm, w.member_at("Stamm Fulda"));
    assert!(!a.visible() && !a.bank());
}

#[tokio::test]
async fn r13_writes_need_the_write_permission_where_they_apply() {
    let w = World::demo().await;
    let mv = w.grants("mv.hessen").await;
    let lsm = w.grants("lsm.bayern").await;
    let fulda = w.unit("Stamm Fulda").path.clone();
    let taunus = w.unit("Stamm Taunus").path.clone();
    let isar = w.unit("Stamm Isar").path.clone();
    assert!(writes::may_update_member(&mv, &fulda, None));
    assert!(writes::may_update_member(&mv, &fulda, Some(&taunus)), "moving within Hessen");
    assert!(
        !writes::may_update_member(&mv, &fulda, Some(&isar)),
        "moving to Bayern needs member.write there"
    );
    assert!(!writes::may_update_member(&lsm, &isar, None), "state_treasurer only reads");
    assert!(writes::may_create_member(&mv, &fulda) && !writes::may_create_member(&lsm, &isar));
    assert!(writes::may_write_bank(&mv, &fulda) && !writes::may_write_bank(&lsm, &isar));
    assert!(!writes::may_record_payment(&mv, &fulda), "member_admin has no payment.write");
    assert!(writes::may_record_payment(&*w.grants("admin").await, &isar));
    assert!(writes::may_create_unit_below(&mv, &w.unit("Bezirk Nordhessen").path));
    assert!(!writes::may_create_unit_below(&lsm, &w.unit("Bezirk Oberbayern").path));
}

#[tokio::test]
async fn r14_unit_visibility_follows_the_grants() {
    let w = World::demo().await;
    for username in PERSONAS {
        let g = w.grants(username).await;
        let by_sql: BTreeSet<i64> = org_unit::Entity::find()
            .filter(visible_units(&g))
            .all(&w.conn)
            .await
            .expect("q")
            .into_iter()
            .map(|u| u.id)
            .collect();
        let by_row: BTreeSet<i64> = w.units.iter().filter(|u| can_see_unit(&g, u)).map(|u| u.id).collect();
        assert_eq!(by_sql, by_row, "{username}: list and single check agree");
        let public_or_internal: BTreeSet<i64> = w
            .units
            .iter()
            .filter(|u| matches!(u.visibility, Visibility::Public | Visibility::Internal))
            .map(|u| u.id)
            .collect();
        assert!(public_or_internal.is_subset(&by_sql), "{username}: signed in sees PUBLIC and INTERNAL");
    }
    let lsm = w.grants("lsm.bayern").await;
    assert!(can_see_unit(&lsm, w.unit("Stamm Donaumoos")), "RESTRICTED with member.read there");
    assert!(!can_see_unit(&lsm, w.unit("Stamm Regnitz")), "HIDDEN needs unit.write");
    assert!(!can_see_unit(&lsm, w.unit("Stamm Eder")), "RESTRICTED elsewhere");
    let mv = w.grants("mv.hessen").await;
    assert!(can_see_unit(&mv, w.unit("Bezirk Südhessen")));
    let admin = w.grants("admin").await;
    assert!(w.units.iter().all(|u| can_see_unit(&admin, u)), "unit.write everywhere");
    let anonymous = Grants::none();
    assert!(w.units.iter().all(|u| can_see_unit(&anonymous, u) == (u.visibility == Visibility::Public)));
}

#[tokio::test]
async fn r15_a_pending_transfer_lets_the_destination_read_but_not_bank_data() {
    let w = World::demo().await;
    let moving = w.member_at("Stamm Isar").clone();
    let fulda = w.unit("Stamm Fulda").clone();
    let t = transfer::ActiveModel {
        member_id: Set(moving.id),
        from_unit_id: Set(moving.home_unit_id),
        to_unit_id: Set(fulda.id),
        status: Set(TransferStatus::Pending),
        requested_at: Set(chrono::Utc::now()),
        ..Default::default()
    }
    .insert(&w.conn)
    .await
    .expect("transfer");
    let mv = w.grants("mv.hessen").await;
    let a = member_access(&mv, moving.id, w.path_of(moving.home_unit_id), &[&fulda.path]);
    assert!(a.visible() && a.read() && !a.bank() && !a.payments(), "{a:?}");
    assert!(w.visible_by_sql(&mv).await.contains(&moving.id));
    // A reader at the destination (no member.write) gains nothing.
    let lv = w.grants("lv.niedersachsen").await;
    assert!(!member_access(&lv, moving.id, w.path_of(moving.home_unit_id), &[&fulda.path]).visible());
    // Once decided, the side door closes.
    let mut t = t.into_active_model();
    t.status = Set(TransferStatus::Rejected);
    update(&w.conn, t).await;
    assert!(!w.visible_by_sql(&mv).await.contains(&moving.id));
}

#[tokio::test]
async fn r16_lists_counts_and_row_checks_agree_for_every_persona() {
    let w = World::demo().await;
    // With a pending transfer in play, as the side door most easily forgotten.
    let moving = w.member_at("Stamm Pegnitz");
    transfer::ActiveModel {
        member_id: Set(moving.id),
        from_unit_id: Set(moving.home_unit_id),
        to_unit_id: Set(w.unit("Stamm Taunus").id),
        status: Set(TransferStatus::Pending),
        requested_at: Set(chrono::Utc::now()),
        ..Default::default()
    }
    .insert(&w.conn)
    .await
    .expect("transfer");
    for username in PERSONAS {
        let g = w.grants(username).await;
        assert_eq!(w.visible_by_sql(&g).await, w.visible_by_row(&g).await, "{username}");
    }
}

#[tokio::test]
async fn r17_own_record_is_readable_in_full_without_assignment_or_pledge() {
    let w = World::demo().await;
    let user = w.user("ohne.pledge").await;
    let own = w.members.iter().find(|m| Some(m.id) == user.member_id).expect("own member");
    let g = w.grants("ohne.pledge").await;
    let a = member_access(&g, own.id, w.path_of(own.home_unit_id), &[]);
    assert!(a.is_self && a.read() && a.bank() && a.payments());
    assert_eq!(w.visible_by_sql(&g).await, BTreeSet::from([own.id]));
    assert!(writes::may_update_own_contact(&g, own.id));
    assert!(
        !writes::may_update_own_contact(&g, w.member_at("Stamm Leine").id)
            || w.member_at("Stamm Leine").id == own.id
    );
}

async fn facts(w: &World, username: &str) -> SubjectFacts {
    SubjectFacts::load(&w.conn, w.user(username).await.id).await.expect("q").expect("facts")
}

#[tokio::test]
async fn explain_names_the_assignment_group_and_rule() {
    let w = World::demo().await;
    let catalogue = w.authz.catalogue().await.expect("catalogue");
    let isar_member = w.member_at("Stamm Isar");
    let bayern = w.unit("Landesverband Bayern");
    let at = |m: &member::Model| Target { unit_path: w.path_of(m.home_unit_id), member_id: Some(m.id) };

    let lsm = facts(&w, "lsm.bayern").await;
    let Explanation::Granted(grants) = explain(&lsm, &catalogue, today(), &at(isar_member), BankRead) else {
        panic!("granted")
    };
    assert_eq!(grants.len(), 1);
    assert_eq!(grants[0].rule.as_str(), "R3");
    assert_eq!(grants[0].group_key.as_deref(), Some("state_treasurer"));
    assert_eq!(grants[0].unit_name.as_deref(), Some("Landesverband Bayern"));
    assert_eq!(grants[0].assignment_id, Some(w.assignment_of("lsm.bayern").await.id));

    let staff = w.member_at("Landesverband Bayern");
    let Explanation::Granted(grants) = explain(&lsm, &catalogue, today(), &at(staff), BankRead) else {
        panic!("granted")
    };
    assert_eq!(grants[0].rule.as_str(), "R2");
    assert_eq!(grants[0].unit_id, Some(bayern.id));

    let admin = facts(&w, "admin").await;
    let Explanation::Granted(grants) = explain(&admin, &catalogue, today(), &at(isar_member), MemberWrite)
    else {
        panic!("granted")
    };
    assert_eq!((grants[0].rule.as_str(), grants[0].group_key.as_deref()), ("R4", Some("federation_admin")));
    let Explanation::Granted(grants) = explain(&admin, &catalogue, today(), &at(isar_member), AuditRead)
    else {
        panic!("granted")
    };
    assert_eq!((grants[0].rule.as_str(), grants[0].group_key.as_deref()), ("R7", Some("system_admin")));

    let me = facts(&w, "ohne.pledge").await;
    let own =
        member::Entity::find_by_id(me.user.member_id.expect("m")).one(&w.conn).await.expect("q").expect("m");
    let Explanation::Granted(grants) = explain(&me, &catalogue, today(), &at(&own), BankRead) else {
        panic!("granted")
    };
    assert_eq!(grants[0].rule.as_str(), "R17");
}

#[tokio::test]
async fn explain_names_the_rule_that_denied() {
    let w = World::demo().await;
    let catalogue = w.authz.catalogue().await.expect("catalogue");
    let leine = w.member_at("Stamm Leine");
    let fulda = w.member_at("Stamm Fulda");
    let isar = w.member_at("Stamm Isar");
    let at = |m: &member::Model| Target { unit_path: w.path_of(m.home_unit_id), member_id: Some(m.id) };
    let denied = |e: Explanation| match e {
        Explanation::Denied(d) => d,
        Explanation::Granted(g) => panic!("granted: {g:?}"),
    };
    let d = denied(explain(&facts(&w, "ohne.pledge").await, &catalogue, today(), &at(leine), MemberRead));
    assert_eq!(d, vec![Denial::Ineligible(verband::authz::effective::Ineligible::NoPrivacyPledge)]);
    let d = denied(explain(&facts(&w, "useradmin").await, &catalogue, today(), &at(isar), MemberRead));
    assert_eq!(d, vec![Denial::Ineligible(verband::authz::effective::Ineligible::SystemUser)]);
    let d = denied(explain(&facts(&w, "ehemalig").await, &catalogue, today(), &at(fulda), BankRead));
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].rule(), "R5");
    assert!(d[0].describe().contains("ended on 2025-06-30"), "{}", d[0].describe());
    let d = denied(explain(&facts(&w, "sf.pegnitz").await, &catalogue, today(), &at(isar), MemberRead));
    assert_eq!(d, vec![Denial::NoAssignment]);
    let d = denied(explain(&facts(&w, "sf.pegnitz").await, &catalogue, today(), &at(isar), UserManage));
    assert_eq!(d, vec![Denial::LevelTooLow]);
}

#[tokio::test]
async fn who_can_access_lists_exactly_the_holders_with_their_reasons() {
    let w = World::demo().await;
    let catalogue = w.authz.catalogue().await.expect("catalogue");
    let isar = w.unit("Stamm Isar");
    let holders = who_can_access(&w.conn, &catalogue, today(), &isar.path, BankRead).await.expect("q");
    let got: Vec<(String, Vec<&str>)> = holders
        .iter()
        .map(|(u, g)| (u.username.clone(), g.iter().map(|g| g.rule.as_str()).collect()))
        .collect();
    assert_eq!(
        got,
        vec![
            ("admin".to_owned(), vec!["R4"]),
            ("bsm".to_owned(), vec!["R3"]),
            ("lsm.bayern".to_owned(), vec!["R3"]),
            ("ssm.isar".to_owned(), vec!["R2"]),
        ]
    );
    let managers = who_can_access(&w.conn, &catalogue, today(), &isar.path, UserManage).await.expect("q");
    let names: Vec<&str> = managers.iter().map(|(u, _)| u.username.as_str()).collect();
    assert_eq!(names, vec!["admin", "useradmin"]);
}

/// The compiled grants, loaded per user through the request path, agree with the
/// Casbin enforcer loaded from the same database, for every user, unit and
/// permission — also after a group was changed at runtime.
#[tokio::test]
async fn compiled_grants_agree_with_the_enforcer_loaded_from_the_database() {
    use verband::authz::enforcer::{build_from_db, decide};
    let w = World::demo().await;
    // A runtime change of the catalogue: readers may now also read bank data.
    permission_group_permission::ActiveModel {
        permission_group_id: Set(w.group_id("reader").await),
        permission: Set("bank.read".into()),
    }
    .insert(&w.conn)
    .await
    .expect("insert");
    w.authz.everything_changed();
    let (_, enforcer) = build_from_db(&w.conn, today()).await.expect("enforcer");
    let users = user::Entity::find().all(&w.conn).await.expect("users");
    let mut decisions = 0;
    for user in &users {
        let grants = w.authz.grants(user.id, today()).await.expect("grants");
        for unit in &w.units {
            for &p in Permission::ALL {
                let casbin = decide(&enforcer, user.id, &unit.path, p).expect("enforce");
                assert_eq!(
                    grants.holds_at(p, &unit.path),
                    casbin,
                    "{} at {} for {p}",
                    user.username,
                    unit.name
                );
                decisions += 1;
            }
        }
    }
    assert!(decisions >= users.len() * w.units.len() * Permission::ALL.len());
    assert!(
        w.grants("sf.pegnitz").await.holds_at(BankRead, &w.unit("Stamm Pegnitz").path),
        "runtime change applies"
    );
}

/// The explain resolvers, executed in-process as a signed-in persona (the HTTP layer
/// has no sign-in yet; the request context is what it will build).
async fn run_as(w: &World, username: &str, query: &str, variables: serde_json::Value) -> serde_json::Value {
    use verband::auth::Caller;
    use verband::graphql::{RequestContext, loaders::Loaders, schema_builder};
    let user = w.user(username).await;
    let grants = w.authz.grants(user.id, today()).await.expect("grants");
    let authz = Arc::new(Authz::new(w.conn.clone()));
    let schema = schema_builder(&w._db.settings()).data(w.conn.clone()).data(authz).finish();
    let ctx = RequestContext {
        caller: Caller::User { user_id: user.id },
        grants,
        session_id: None,
        api_token_id: None,
        today: today(),
        request_id: None,
    };
    let request = async_graphql::Request::new(query)
        .variables(async_graphql::Variables::from_json(variables))
        .data(ctx)
        .data(Loaders::new(&w.conn, Arc::new(Grants::none())));
    serde_json::to_value(schema.execute(request).await).expect("json")
}

const EXPLAIN: &str = "query($m: ID!, $u: ID) {
  explainAccess(memberId: $m, permission: BANK_READ, userId: $u) {
    granted grants { rule group orgUnitName assignmentId } denials { rule reason }
  }
}";

#[tokio::test]
async fn explain_access_through_the_api_follows_who_may_explain_what() {
    let w = World::demo().await;
    let isar = w.member_at("Stamm Isar").id;
    let ssm = w.user("ssm.isar").await.id;

    // Oneself: allowed for any signed-in user, on a member they can see.
    let body = run_as(&w, "lsm.bayern", EXPLAIN, serde_json::json!({ "m": gid("Member", isar) })).await;
    let e = &body["data"]["explainAccess"];
    assert_eq!(e["granted"], true, "{body}");
    assert_eq!(e["grants"][0]["rule"], "R3");
    assert_eq!(e["grants"][0]["group"], "state_treasurer");
    assert_eq!(e["grants"][0]["orgUnitName"], "Landesverband Bayern");
    assert_eq!(e["grants"][0]["assignmentId"], gid("Assignment", w.assignment_of("lsm.bayern").await.id));

    // Another user: needs user.manage or audit.read.
    let other = serde_json::json!({ "m": gid("Member", isar), "u": gid("User", ssm) });
    let body = run_as(&w, "lsm.bayern", EXPLAIN, other.clone()).await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "FORBIDDEN", "{body}");
    let body = run_as(&w, "admin", EXPLAIN, other.clone()).await;
    assert_eq!(body["data"]["explainAccess"]["grants"][0]["rule"], "R2", "{body}");
    // R18: a user administrator who may not read the member learns nothing about
    // it, exactly as for a member that does not exist.
    let body = run_as(&w, "useradmin", EXPLAIN, other).await;
    let missing = run_as(
        &w,
        "useradmin",
        EXPLAIN,
        serde_json::json!({ "m": gid("Member", 9_999_999), "u": gid("User", ssm) }),
    )
    .await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "NOT_FOUND", "{body}");
    assert_eq!(body["errors"], missing["errors"], "the same answer as for a missing member");
    assert!(body["data"].is_null() || body["data"]["explainAccess"].is_null(), "{body}");

    // A member the caller cannot see does not exist for them (R11).
    let hessen_member = w.member_at("Stamm Fulda").id;
    let body =
        run_as(&w, "lsm.bayern", EXPLAIN, serde_json::json!({ "m": gid("Member", hessen_member) })).await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "NOT_FOUND", "{body}");
    let missing =
        run_as(&w, "lsm.bayern", EXPLAIN, serde_json::json!({ "m": gid("Member", 9_999_999) })).await;
    assert_eq!(missing["errors"][0]["message"], body["errors"][0]["message"]);

    // Denials name the rule.
    let ehemalig = w.user("ehemalig").await.id;
    let fulda = w.member_at("Stamm Fulda").id;
    let body = run_as(
        &w,
        "admin",
        EXPLAIN,
        serde_json::json!({ "m": gid("Member", fulda), "u": gid("User", ehemalig) }),
    )
    .await;
    let e = &body["data"]["explainAccess"];
    assert_eq!(e["granted"], false, "{body}");
    assert_eq!(e["denials"][0]["rule"], "R5");
    assert!(e["denials"][0]["reason"].as_str().expect("reason").contains("2025-06-30"));
}

#[tokio::test]
async fn who_can_access_through_the_api_needs_user_manage_or_audit_read() {
    let w = World::demo().await;
    let q =
        "query($u: ID!) { whoCanAccess(orgUnitId: $u, permission: BANK_READ) { username grants { rule } } }";
    let vars = serde_json::json!({ "u": gid("OrgUnit", w.unit("Stamm Isar").id) });
    let body = run_as(&w, "lsm.bayern", q, vars.clone()).await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "FORBIDDEN", "{body}");
    let body = run_as(&w, "useradmin", q, vars).await;
    let names: Vec<&str> = body["data"]["whoCanAccess"]
        .as_array()
        .expect("list")
        .iter()
        .map(|h| h["username"].as_str().expect("name"))
        .collect();
    assert_eq!(names, vec!["admin", "bsm", "lsm.bayern", "ssm.isar"], "{body}");
}
