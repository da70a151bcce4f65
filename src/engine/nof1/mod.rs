//! n-of-1 trials: a patient's calendar (run-in, periods, washouts, measurement days), their
//! treatment sequence and measurements as the state holds them, and the commands
//! ([`commands`]): enrolment with the calendar, measurements, the per-patient look after every
//! completed cycle with its stopping rules, and the series look that pools the patients in a
//! hierarchical model.
//!
//! The rules live here and nowhere else: the simulator, the live service and replay call these
//! commands. Every draw is seed-derived from the sequence number of the event it decides, as
//! for platform trials; the numerics come from [`crate::stats::nof1`]. This file holds the
//! model only and imports no command.

mod commands;

use serde::Serialize;

use super::events::OutcomeValue;
pub use super::events::{Nof1Effect, PatientEnd, SeriesSummary, ShrunkenPatient};
use crate::protocol::Nof1Spec;
pub use commands::{effect_curve, MIN_SERIES_PATIENTS};

/// Where a study day falls in a patient's calendar.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "phase", rename_all = "snake_case")]
pub enum DayPhase {
    /// Run-in (not analysed).
    RunIn,
    /// A treatment period (1-based number).
    Period {
        /// 1-based period number.
        period: u32,
    },
    /// Washout after a period (not analysed).
    Washout {
        /// The period it follows.
        after: u32,
    },
    /// After the last period.
    After,
}

/// The fixed calendar of an n-of-1 protocol, in study days (day 1 is the first day).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Calendar {
    run_in: u32,
    period: u32,
    washout: u32,
    periods: u32,
    per_cycle: u32,
    measurements: u32,
}

impl Calendar {
    /// The calendar of `spec`.
    pub fn of(spec: &Nof1Spec) -> Self {
        let per_cycle = spec.treatments.len() as u32;
        Self {
            run_in: spec.run_in_days,
            period: spec.period_days,
            washout: spec.washout_days,
            periods: spec.cycles * per_cycle,
            per_cycle,
            measurements: spec.measurements_per_period,
        }
    }

    /// Periods in all.
    pub fn periods(&self) -> u32 {
        self.periods
    }

    /// Periods per cycle (the number of treatments).
    pub fn periods_per_cycle(&self) -> u32 {
        self.per_cycle
    }

    /// First and last study day of a 1-based period.
    pub fn period_days(&self, period: u32) -> (u32, u32) {
        let first = self.run_in + 1 + (period - 1) * (self.period + self.washout);
        (first, first + self.period - 1)
    }

    /// The 1-based cycle of a 1-based period.
    pub fn cycle_of(&self, period: u32) -> u32 {
        (period - 1) / self.per_cycle + 1
    }

    /// The last study day of the schedule (the end of the last period).
    pub fn last_day(&self) -> u32 {
        self.period_days(self.periods).1
    }

    /// Where `day` falls.
    pub fn phase(&self, day: u32) -> DayPhase {
        if day <= self.run_in {
            return DayPhase::RunIn;
        }
        let offset = day - self.run_in - 1;
        let stride = self.period + self.washout;
        let period = offset / stride + 1;
        if period > self.periods {
            return DayPhase::After;
        }
        if offset % stride < self.period {
            DayPhase::Period { period }
        } else if period == self.periods {
            DayPhase::After
        } else {
            DayPhase::Washout { after: period }
        }
    }

    /// The planned measurement days of a period: `measurements_per_period` days spread evenly
    /// and ending on the period's last day (so the first days, most exposed to carry-over, are
    /// measured least).
    pub fn measurement_days(&self, period: u32) -> impl Iterator<Item = u32> + '_ {
        let (first, last) = self.period_days(period);
        let m = self.measurements.min(self.period);
        (0..m).map(move |i| (last - ((m - 1 - i) * self.period) / m).max(first))
    }

    /// Measurements that complete a period.
    pub fn measurements_per_period(&self) -> u32 {
        self.measurements
    }
}

/// A measurement held in a patient's record.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Measurement {
    /// Sequence number of the event holding the current value.
    pub seq: u64,
    /// Study day.
    pub day: u32,
    /// The current value (after corrections).
    pub value: OutcomeValue,
}

/// One n-of-1 patient's record (the state keeps one per participant of an n-of-1 trial).
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct Nof1Patient {
    /// Calendar date of study day 1 (`YYYY-MM-DD`).
    pub start_date: String,
    /// Treatment index per period, for the periods assigned so far.
    pub periods: Vec<usize>,
    /// Measurements in the order recorded; a correction replaces the value in place.
    pub measurements: Vec<Measurement>,
    /// Cycles analysed (the last patient look's cycle).
    pub cycles_looked: u32,
    /// The effects at the last look.
    pub effects: Vec<Nof1Effect>,
    /// The measurements as they stood at the last look (the values its effects were computed
    /// from; later measurements and corrections wait for the next look).
    pub looked: Vec<Measurement>,
    /// How the patient's participation ended, once it has.
    pub end: Option<PatientEnd>,
}

impl Nof1Patient {
    /// The treatment (index) whose analysis a measurement on study day `day` enters: days of
    /// assigned periods only (run-in, washout, days after the last period and periods not yet
    /// assigned are recorded but not analysed). The one rule of what is analysed.
    pub fn analysed_treatment(&self, calendar: &Calendar, day: u32) -> Option<usize> {
        let DayPhase::Period { period } = calendar.phase(day) else {
            return None;
        };
        self.periods.get(period as usize - 1).copied()
    }

    /// Whether the last look analysed the measurement held by event `seq` (with that value: a
    /// measurement corrected since the look is held by a later event).
    pub fn in_last_look(&self, calendar: &Calendar, seq: u64) -> bool {
        self.looked
            .iter()
            .any(|m| m.seq == seq && self.analysed_treatment(calendar, m.day).is_some())
    }

    /// How many measurements the last look analysed.
    pub fn analysed_in_last_look(&self, calendar: &Calendar) -> usize {
        self.looked
            .iter()
            .filter(|m| self.analysed_treatment(calendar, m.day).is_some())
            .count()
    }

    /// Measurements (current values) inside a period, by period number.
    fn count_in(&self, calendar: &Calendar, period: u32) -> u32 {
        let (first, last) = calendar.period_days(period);
        self.measurements
            .iter()
            .filter(|m| (first..=last).contains(&m.day))
            .count() as u32
    }

    /// Whether every period of a 1-based cycle has its planned measurements.
    pub fn cycle_complete(&self, calendar: &Calendar, cycle: u32) -> bool {
        let first = (cycle - 1) * calendar.per_cycle + 1;
        (first..first + calendar.per_cycle).all(|p| {
            (p as usize) <= self.periods.len()
                && self.count_in(calendar, p) >= calendar.measurements_per_period()
        })
    }
}

/// Parses a calendar date `YYYY-MM-DD`.
pub fn parse_date(text: &str) -> Result<time::Date, String> {
    let bad = || format!("{text:?} is not a date of the form YYYY-MM-DD");
    let mut parts = text.split('-');
    let (Some(y), Some(m), Some(d), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad());
    };
    if y.len() != 4 || m.len() != 2 || d.len() != 2 {
        return Err(bad());
    }
    let y: i32 = y.parse().map_err(|_| bad())?;
    let m: u8 = m.parse().map_err(|_| bad())?;
    let d: u8 = d.parse().map_err(|_| bad())?;
    let month = time::Month::try_from(m).map_err(|_| bad())?;
    time::Date::from_calendar_date(y, month, d).map_err(|_| bad())
}

/// The calendar date of a study day, `YYYY-MM-DD`.
pub fn date_of_day(start_date: &str, day: u32) -> Option<String> {
    let start = parse_date(start_date).ok()?;
    let date = start.checked_add(time::Duration::days(i64::from(day) - 1))?;
    Some(format!(
        "{:04}-{:02}-{:02}",
        date.year(),
        u8::from(date.month()),
        date.day()
    ))
}

/// The study day of a calendar date (1 on the start date; 0 or below before it).
pub fn day_of_date(start_date: &str, date: &str) -> Option<i64> {
    let start = parse_date(start_date).ok()?;
    let date = parse_date(date).ok()?;
    Some((date - start).whole_days() + 1)
}
