//! One generated member with bank account, SEPA mandates and payments: shared by
//! the demo and the synthetic load.
use super::fake::{self, BANKS, STREETS};
use super::{NextIds, Rows};
use chrono::{DateTime, Datelike, NaiveDate, Utc};
use entity::{MandateStatus, MemberStatus, bank_account, member, org_unit, payment, sepa_mandate};
use rand::Rng;
use rand::seq::IndexedRandom;
use sea_orm::Set;

pub struct Place {
    pub city: &'static str,
    pub postal_code: &'static str,
}

use crate::domain::retention::retention_until;

pub struct Generator<'a, R> {
    pub rng: &'a mut R,
    pub ids: &'a mut NextIds,
    pub now: DateTime<Utc>,
    /// Mandate references must be unique across the federation.
    pub mandate_prefix: &'static str,
}

impl<R: Rng> Generator<'_, R> {
    /// A member with a random person, address in `place`, status mix and bank data.
    pub fn member(&mut self, rows: &mut Rows, number: i64, home_unit_id: i64, place: &Place) -> i64 {
        let p = fake::person(self.rng, 1950, 2017);
        let status = match self.rng.random_range(0..100) {
            0..88 => MemberStatus::Active,
            88..92 => MemberStatus::Inactive,
            _ => MemberStatus::Left,
        };
        self.push_member(rows, number, home_unit_id, place, &p, status)
    }

    pub fn push_member(
        &mut self,
        rows: &mut Rows,
        number: i64,
        home_unit_id: i64,
        place: &Place,
        p: &fake::Person,
        status: MemberStatus,
    ) -> i64 {
        let id = self.ids.member;
        self.ids.member += 1;
        let joined_on = fake::date(self.rng, (p.birth_date.year() + 6).max(1990), 2025).max(p.birth_date);
        let left_on = (status == MemberStatus::Left)
            .then(|| fake::date(self.rng, joined_on.year().max(2016), 2025).max(joined_on));
        let adult = p.birth_date.year() <= 2008;
        let tags: Vec<&str> = match self.rng.random_range(0..10) {
            0 => vec!["Jugendleitung"],
            1 => vec!["Gruppenleitung", "Erste Hilfe"],
            2 => vec!["Ehrenamt"],
            _ => vec![],
        };
        let email = format!(
            "{}.{}{}@example.org",
            fake::ascii(p.first_name),
            fake::ascii(p.last_name),
            number % 1000
        );
        rows.members.push(member::ActiveModel {
            id: Set(id),
            membership_number: Set(number.to_string()),
            home_unit_id: Set(home_unit_id),
            first_name: Set(p.first_name.to_owned()),
            last_name: Set(p.last_name.to_owned()),
            birth_date: Set(Some(p.birth_date)),
            gender: Set(Some(p.gender.to_owned())),
            email: Set(Some(email)),
            phone: Set(Some(format!(
                "+49 {} {}",
                self.rng.random_range(151..180),
                self.rng.random_range(1_000_000..9_999_999)
            ))),
            street: Set(Some(format!(
                "{} {}",
                STREETS.choose(self.rng).copied().unwrap_or("Hauptstraße"),
                self.rng.random_range(1..120)
            ))),
            postal_code: Set(Some(place.postal_code.to_owned())),
            city: Set(Some(place.city.to_owned())),
            country: Set(Some("DE".to_owned())),
            status: Set(status),
            joined_on: Set(Some(joined_on)),
            left_on: Set(left_on),
            voting_rights: Set(adult && status == MemberStatus::Active),
            tags: Set(serde_json::json!(tags)),
            retention_until: Set(left_on.map(retention_until)),
            anonymized_at: Set(None),
            created_by: Set(None),
            updated_by: Set(None),
            created_at: Set(self.now),
            updated_at: Set(self.now),
        });
        if self.rng.random_bool(0.6) {
            self.bank_data(rows, id, number, &format!("{} {}", p.first_name, p.last_name), joined_on);
        }
        if status != MemberStatus::Left && self.rng.random_bool(0.7) {
            self.payments(rows, id, joined_on);
        }
        id
    }

    fn bank_data(&mut self, rows: &mut Rows, member_id: i64, number: i64, holder: &str, since: NaiveDate) {
        let &(blz, bic) = BANKS.choose(self.rng).unwrap_or(&BANKS[0]);
        let iban = fake::german_iban(blz, self.rng.random_range(100_000..9_999_999_999));
        rows.bank_accounts.push(bank_account::ActiveModel {
            member_id: Set(member_id),
            iban: Set(iban.clone()),
            bic: Set(Some(bic.to_owned())),
            account_holder: Set(holder.to_owned()),
            created_at: Set(self.now),
            updated_at: Set(self.now),
        });
        if self.rng.random_bool(0.75) {
            let id = self.ids.mandate;
            self.ids.mandate += 1;
            rows.mandates.push(sepa_mandate::ActiveModel {
                id: Set(id),
                member_id: Set(member_id),
                reference: Set(format!("{}-{number}-1", self.mandate_prefix)),
                signed_on: Set(since.max(fake::date(self.rng, 2014, 2025))),
                iban: Set(iban),
                status: Set(if self.rng.random_bool(0.9) {
                    MandateStatus::Active
                } else {
                    MandateStatus::Revoked
                }),
                created_at: Set(self.now),
            });
        }
    }

    fn payments(&mut self, rows: &mut Rows, member_id: i64, joined_on: NaiveDate) {
        for year in [2025, 2026] {
            if joined_on.year() > year || !self.rng.random_bool(0.8) {
                continue;
            }
            let id = self.ids.payment;
            self.ids.payment += 1;
            let reduced = self.rng.random_bool(0.2);
            rows.payments.push(payment::ActiveModel {
                id: Set(id),
                member_id: Set(member_id),
                amount_cents: Set(if reduced { 1800 } else { 3600 }),
                currency: Set("EUR".to_owned()),
                paid_on: Set(NaiveDate::from_ymd_opt(
                    year,
                    1 + self.rng.random_range(0..3),
                    1 + self.rng.random_range(0..28),
                )
                .unwrap_or(joined_on)),
                period_from: Set(NaiveDate::from_ymd_opt(year, 1, 1)),
                period_to: Set(NaiveDate::from_ymd_opt(year, 12, 31)),
                note: Set(Some(
                    if reduced { "Jahresbeitrag (ermäßigt)" } else { "Jahresbeitrag" }.to_owned(),
                )),
                created_by: Set(None),
                created_at: Set(self.now),
            });
        }
    }
}

/// A unit row with its materialized path.
#[allow(clippy::too_many_arguments)]
pub fn unit_row(
    ids: &mut NextIds,
    parent: Option<(i64, &str, i32)>,
    level_id: i64,
    name: &str,
    short_name: Option<&str>,
    visibility: entity::Visibility,
    status: entity::OrgUnitStatus,
    now: DateTime<Utc>,
) -> (org_unit::ActiveModel, i64, String, i32) {
    let id = ids.unit;
    ids.unit += 1;
    let (parent_id, path, depth) = match parent {
        Some((pid, ppath, pdepth)) => (Some(pid), org_unit::child_path(ppath, id), pdepth + 1),
        None => (None, format!("/{id}/"), 0),
    };
    let row = org_unit::ActiveModel {
        id: Set(id),
        parent_id: Set(parent_id),
        level_id: Set(level_id),
        name: Set(name.to_owned()),
        short_name: Set(short_name.map(str::to_owned)),
        status: Set(status),
        visibility: Set(visibility),
        ends_on: Set(None),
        path: Set(path.clone()),
        depth: Set(depth),
        created_at: Set(now),
        updated_at: Set(now),
    };
    (row, id, path, depth)
}
