//! Plausible German member data from a seeded RNG: the same seed gives the same data.
use chrono::NaiveDate;
use rand::Rng;
use rand::seq::IndexedRandom;

pub const FIRST_NAMES_F: &[&str] = &[
    "Anna",
    "Lena",
    "Marie",
    "Sophie",
    "Lea",
    "Hannah",
    "Mia",
    "Emma",
    "Laura",
    "Julia",
    "Katharina",
    "Sarah",
    "Johanna",
    "Clara",
    "Lisa",
    "Charlotte",
    "Paula",
    "Greta",
    "Ida",
    "Frieda",
    "Ursula",
    "Monika",
    "Sabine",
    "Petra",
    "Andrea",
    "Birgit",
    "Claudia",
    "Susanne",
    "Jana",
    "Theresa",
];
pub const FIRST_NAMES_M: &[&str] = &[
    "Lukas",
    "Jonas",
    "Leon",
    "Paul",
    "Felix",
    "Maximilian",
    "Elias",
    "Noah",
    "Ben",
    "Finn",
    "Jakob",
    "Moritz",
    "Tim",
    "Niklas",
    "David",
    "Simon",
    "Tobias",
    "Florian",
    "Matthias",
    "Stefan",
    "Thomas",
    "Michael",
    "Andreas",
    "Klaus",
    "Jürgen",
    "Wolfgang",
    "Markus",
    "Sebastian",
    "Johannes",
    "Philipp",
];
pub const LAST_NAMES: &[&str] = &[
    "Müller",
    "Schmidt",
    "Schneider",
    "Fischer",
    "Weber",
    "Meyer",
    "Wagner",
    "Becker",
    "Schulz",
    "Hoffmann",
    "Schäfer",
    "Koch",
    "Bauer",
    "Richter",
    "Klein",
    "Wolf",
    "Schröder",
    "Neumann",
    "Schwarz",
    "Zimmermann",
    "Braun",
    "Krüger",
    "Hofmann",
    "Hartmann",
    "Lange",
    "Schmitt",
    "Werner",
    "Schmitz",
    "Krause",
    "Meier",
    "Lehmann",
    "Schmid",
    "Schulze",
    "Maier",
    "Köhler",
    "Herrmann",
    "König",
    "Walter",
    "Mayer",
    "Huber",
    "Kaiser",
    "Fuchs",
    "Peters",
    "Lang",
    "Scholz",
    "Möller",
    "Weiß",
    "Jung",
    "Hahn",
    "Schubert",
    "Vogel",
    "Friedrich",
    "Keller",
    "Günther",
    "Frank",
    "Berger",
    "Winkler",
    "Roth",
    "Beck",
    "Lorenz",
];
pub const STREETS: &[&str] = &[
    "Hauptstraße",
    "Schulstraße",
    "Gartenstraße",
    "Bahnhofstraße",
    "Dorfstraße",
    "Bergstraße",
    "Birkenweg",
    "Lindenstraße",
    "Kirchstraße",
    "Waldstraße",
    "Ringstraße",
    "Wiesenweg",
    "Schillerstraße",
    "Goethestraße",
    "Am Sportplatz",
    "Mühlenweg",
    "Eichendorffstraße",
    "Rosenweg",
    "Parkstraße",
    "Friedhofstraße",
    "Tannenweg",
    "Buchenweg",
    "Blumenstraße",
    "Ahornweg",
    "Feldstraße",
];
/// (city, postal code) by state, for the demo's three Länder and the synthetic tree.
pub const CITIES: &[&[(&str, &str)]] = &[
    &[
        ("München", "80331"),
        ("Nürnberg", "90402"),
        ("Augsburg", "86150"),
        ("Regensburg", "93047"),
        ("Würzburg", "97070"),
        ("Ingolstadt", "85049"),
    ],
    &[
        ("Frankfurt am Main", "60311"),
        ("Wiesbaden", "65183"),
        ("Kassel", "34117"),
        ("Darmstadt", "64283"),
        ("Marburg", "35037"),
        ("Gießen", "35390"),
    ],
    &[
        ("Hannover", "30159"),
        ("Braunschweig", "38100"),
        ("Oldenburg", "26122"),
        ("Osnabrück", "49074"),
        ("Göttingen", "37073"),
        ("Lüneburg", "21335"),
    ],
];
/// Bank codes (BLZ) with their BIC.
pub const BANKS: &[(&str, &str)] = &[
    ("70150000", "SSKMDEMMXXX"),
    ("50050201", "HELADEF1822"),
    ("25050180", "SPKHDE2HXXX"),
    ("76050101", "SSKNDE77XXX"),
    ("43060967", "GENODEM1GLS"),
    ("10010010", "PBNKDEFFXXX"),
];

/// A German IBAN with correct ISO 13616 check digits.
pub fn german_iban(blz: &str, account: u64) -> String {
    let bban = format!("{blz}{account:010}");
    // Move "DE00" to the end, letters as numbers (D = 13, E = 14), mod 97.
    let digits = format!("{bban}131400");
    let rem = digits.bytes().fold(0u32, |acc, b| (acc * 10 + u32::from(b - b'0')) % 97);
    format!("DE{:02}{bban}", 98 - rem)
}

pub struct Person {
    pub first_name: &'static str,
    pub last_name: &'static str,
    pub gender: &'static str,
    pub birth_date: NaiveDate,
}

pub fn person<R: Rng>(rng: &mut R, born_from: i32, born_to: i32) -> Person {
    let female = rng.random_bool(0.5);
    let names = if female { FIRST_NAMES_F } else { FIRST_NAMES_M };
    let year = rng.random_range(born_from..=born_to);
    let day_of_year = rng.random_range(1..=365);
    Person {
        first_name: names.choose(rng).copied().unwrap_or("Alex"),
        last_name: LAST_NAMES.choose(rng).copied().unwrap_or("Muster"),
        gender: if female { "female" } else { "male" },
        birth_date: NaiveDate::from_yo_opt(year, day_of_year).unwrap_or(NaiveDate::MIN),
    }
}

pub fn date<R: Rng>(rng: &mut R, from_year: i32, to_year: i32) -> NaiveDate {
    let year = rng.random_range(from_year..=to_year);
    NaiveDate::from_yo_opt(year, rng.random_range(1..=365)).unwrap_or(NaiveDate::MIN)
}

/// `ä` → `ae` etc., for e-mail addresses.
pub fn ascii(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            'ä' => out.push_str("ae"),
            'ö' => out.push_str("oe"),
            'ü' => out.push_str("ue"),
            'Ä' => out.push_str("Ae"),
            'Ö' => out.push_str("Oe"),
            'Ü' => out.push_str("Ue"),
            'ß' => out.push_str("ss"),
            c if c.is_ascii_alphanumeric() => out.push(c.to_ascii_lowercase()),
            _ => {}
        }
    }
    out.to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn generated_ibans_pass_an_independent_validator() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        for (blz, _) in BANKS {
            for _ in 0..50 {
                let iban = german_iban(blz, rng.random_range(1..9_999_999_999));
                assert!(iban.parse::<iban::Iban>().is_ok(), "{iban}");
            }
        }
        // A known-good example from the German banking association.
        assert_eq!(german_iban("37040044", 532_013_000), "DE89370400440532013000");
    }

    #[test]
    fn same_seed_same_people() {
        let a = person(&mut rand_chacha::ChaCha8Rng::seed_from_u64(1), 1950, 2010);
        let b = person(&mut rand_chacha::ChaCha8Rng::seed_from_u64(1), 1950, 2010);
        assert_eq!((a.first_name, a.last_name, a.birth_date), (b.first_name, b.last_name, b.birth_date));
    }

    #[test]
    fn ascii_folds_umlauts() {
        assert_eq!(ascii("Jürgen Weiß"), "juergenweiss");
    }
}
