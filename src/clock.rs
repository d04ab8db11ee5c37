//! "Today" for the rules (R5 and every date check): the server's date, or a fixed
//! date in tests.
use chrono::{NaiveDate, Utc};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Clock {
    #[default]
    System,
    Fixed(NaiveDate),
}

impl Clock {
    pub fn today(self) -> NaiveDate {
        match self {
            Clock::System => Utc::now().date_naive(),
            Clock::Fixed(day) => day,
        }
    }
}
