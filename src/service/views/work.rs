//! The coordinator's work list: outcomes awaited on a platform trial, with the days since
//! randomisation against the delay the protocol's scenarios assume, and the measurements due
//! on an n-of-1 trial (today's and the planned days that passed without one).
//!
//! The calendar, the days analysed and the patient's end are the engine's; this module only
//! compares them with the service's clock.

use super::*;
use crate::engine::nof1::{date_of_day, day_of_date};
use crate::engine::Calendar;
use crate::service::Permission;
use crate::store::ParticipantRow;

/// Rows a work list shows at most (the longest-waiting first); the rest are counted.
pub const WORK_LIST_ROWS: usize = 200;

/// A participant whose outcome is awaited.
#[derive(Debug, Clone, Serialize)]
pub struct OutcomeDue {
    /// Subject.
    pub subject_id: String,
    /// The day they were randomised (`YYYY-MM-DD`, UTC).
    pub randomised_on: String,
    /// Whole days since randomisation, by the service's clock.
    pub days_since: i64,
    /// Days until the delay the protocol's scenarios assume is reached (negative: overdue
    /// by that many days); absent when the protocol declares no delay.
    pub due_in_days: Option<i64>,
}

/// An n-of-1 patient with a measurement due.
#[derive(Debug, Clone, Serialize)]
pub struct MeasurementDue {
    /// Subject.
    pub subject_id: String,
    /// Today's study day.
    pub today_day: i64,
    /// Whether a measurement is planned for today and not yet recorded.
    pub due_today: bool,
    /// Planned measurement days before today without a measurement.
    pub missed: usize,
    /// The earliest of them: (study day, date).
    pub first_missed: Option<(u32, String)>,
}

/// What a coordinator has to do on one trial.
#[derive(Debug, Clone, Serialize)]
pub struct WorkList {
    /// Today (UTC), by the service's clock.
    pub today: String,
    /// The delay the protocol's scenarios assume, in days (absent when none declares one).
    pub expected_delay_days: Option<u32>,
    /// Outcomes awaited, the longest-waiting first (at most [`WORK_LIST_ROWS`]).
    pub outcomes: Vec<OutcomeDue>,
    /// How many outcomes are awaited in all.
    pub outcomes_awaited: usize,
    /// n-of-1 patients with a measurement due, the most behind first (at most
    /// [`WORK_LIST_ROWS`]).
    pub measurements: Vec<MeasurementDue>,
    /// How many patients have a measurement due in all.
    pub patients_due: usize,
}

impl Service {
    /// The coordinator's work list for a trial.
    pub fn work_list(&self, actor: &Actor, trial_id: &str) -> Result<WorkList, ServiceError> {
        actor.require(Permission::Enrol)?;
        let mut conn = self.conn()?;
        let snapshot = self.snapshot(&mut conn, trial_id)?;
        let protocol = &snapshot.protocol.protocol;
        let state = &snapshot.state;
        let today = self
            .clock
            .now()
            .as_str()
            .get(..10)
            .unwrap_or_default()
            .to_owned();
        let expected = protocol.expected_outcome_delay_days();
        let rows = ParticipantRow::of_trial(&mut conn, trial_id)?;
        let mut outcomes = Vec::new();
        let mut measurements = Vec::new();
        match &protocol.nof1 {
            None => {
                for row in &rows {
                    let awaited = state
                        .participants
                        .get(row.participant as usize)
                        .is_some_and(|p| p.outcome.is_none());
                    if !awaited {
                        continue;
                    }
                    let enrolled = row.enrolled_at.get(..10).unwrap_or_default();
                    let days_since = day_of_date(enrolled, &today).map_or(0, |d| d - 1);
                    outcomes.push(OutcomeDue {
                        subject_id: row.subject_id.clone(),
                        randomised_on: enrolled.to_owned(),
                        days_since,
                        due_in_days: expected.map(|e| i64::from(e) - days_since),
                    });
                }
            }
            Some(spec) => {
                let calendar = Calendar::of(spec);
                for row in &rows {
                    let Some(patient) = state.nof1.get(row.participant as usize) else {
                        continue;
                    };
                    if patient.end.is_some() {
                        continue;
                    }
                    let Some(today_day) = day_of_date(&patient.start_date, &today) else {
                        continue;
                    };
                    let measured = |day: u32| patient.measurements.iter().any(|m| m.day == day);
                    let open: Vec<u32> = (1..=calendar.periods())
                        .flat_map(|p| calendar.measurement_days(p))
                        .filter(|&day| i64::from(day) <= today_day && !measured(day))
                        .collect();
                    let due_today = open.last().is_some_and(|&d| i64::from(d) == today_day);
                    let missed: Vec<u32> = open
                        .iter()
                        .copied()
                        .filter(|&d| i64::from(d) < today_day)
                        .collect();
                    if !due_today && missed.is_empty() {
                        continue;
                    }
                    measurements.push(MeasurementDue {
                        subject_id: row.subject_id.clone(),
                        today_day,
                        due_today,
                        missed: missed.len(),
                        first_missed: missed
                            .first()
                            .map(|&d| (d, date_of_day(&patient.start_date, d).unwrap_or_default())),
                    });
                }
            }
        }
        outcomes.sort_by_key(|o| std::cmp::Reverse(o.days_since));
        measurements.sort_by_key(|m| (std::cmp::Reverse(m.missed), !m.due_today));
        let (outcomes_awaited, patients_due) = (outcomes.len(), measurements.len());
        outcomes.truncate(WORK_LIST_ROWS);
        measurements.truncate(WORK_LIST_ROWS);
        Ok(WorkList {
            today,
            expected_delay_days: expected,
            outcomes,
            outcomes_awaited,
            measurements,
            patients_due,
        })
    }
}
