//! The running demo trial a first start loads, so that a newcomer's dashboard, audit trail and
//! exports have something to show at once.
//!
//! Everything goes through the real commands, as people would do it: three demo accounts
//! (an author and an approver, both statisticians, and a site coordinator) with random
//! passwords that are never shown (an admin may reset them to use the accounts), the protocol
//! created and signed for authorship and approval by two people, started, and participants
//! enrolled and given outcomes drawn from one of the protocol's scenarios. The draws come from
//! a seeded generator, so the same seed gives the same participants and outcomes for the same
//! assignments; the assignments themselves come from the trial's own secret seed, like any
//! trial's. Nothing here decides a rule of the trial: the engine randomises and runs the looks.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tracing::instrument;

use super::{Actor, Meaning, NewUser, Password, Permission, Role, Service, ServiceError, Username};
use crate::protocol::LoadedProtocol;
use crate::sim::SimScenario;
use crate::store::TrialRow;

/// How much of a demo trial to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoPlan {
    /// The protocol scenario whose true values the outcomes are drawn from.
    pub scenario: String,
    /// Participants to enrol (bounded by the protocol's maximum and by
    /// [`DemoPlan::MAX_PARTICIPANTS`], so a first start stays fast).
    pub participants: u32,
    /// How many enrolments an outcome arrives after its participant's (the outcome delay in
    /// participants): the last `lag` participants are still waiting for theirs.
    pub lag: u32,
    /// Seed of the simulated participants' outcomes.
    pub seed: u64,
}

impl DemoPlan {
    /// The most participants a demo enrols.
    pub const MAX_PARTICIPANTS: u32 = 400;
}

/// What loading the demo did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoReport {
    /// The trial.
    pub trial_id: String,
    /// Participants enrolled.
    pub enrolled: u32,
    /// Outcomes recorded.
    pub outcomes: u32,
    /// Whether the trial is still running (a decision rule may have stopped it at a look).
    pub running: bool,
}

/// The demo accounts: who writes, who approves, who enrols.
const DEMO_AUTHOR: &str = "demo-author";
const DEMO_APPROVER: &str = "demo-approver";
const DEMO_SITE: &str = "demo-site";

impl Service {
    /// Loads `source` as a trial that is already running: demo accounts, creation, authorship
    /// and approval signatures by two people, start, and `plan.participants` participants
    /// enrolled through the real commands, each given an outcome drawn from `plan.scenario`
    /// `plan.lag` enrolments later. Answers `Ok(None)` without changing anything when the
    /// trial exists already (a restart loads nothing twice).
    #[instrument(skip_all, fields(origin = %origin))]
    pub fn load_running_demo(
        &self,
        admin: &Actor,
        source: &str,
        origin: &str,
        plan: &DemoPlan,
    ) -> Result<Option<DemoReport>, ServiceError> {
        admin.require(Permission::ManageUsers)?;
        let loaded = LoadedProtocol::from_toml(source, origin)?;
        let trial_id = loaded.protocol.trial.id.clone();
        if TrialRow::find(&mut *self.conn()?, &trial_id)?.is_some() {
            return Ok(None);
        }
        let protocol = &loaded.protocol;
        let scenario = SimScenario::from_protocol(protocol, &plan.scenario, &[]).map_err(|e| {
            ServiceError::Invalid {
                field: "scenario",
                problem: e.to_string(),
            }
        })?;
        let participants = plan
            .participants
            .min(protocol.trial.max_participants)
            .min(DemoPlan::MAX_PARTICIPANTS);

        let password = Password::new(&self.new_token()[..24])?;
        let author = self.demo_account(
            admin,
            DEMO_AUTHOR,
            "Demo author",
            Role::Statistician,
            &password,
        )?;
        let approver = self.demo_account(
            admin,
            DEMO_APPROVER,
            "Demo approver",
            Role::Statistician,
            &password,
        )?;
        let site =
            self.demo_account(admin, DEMO_SITE, "Demo site", Role::Coordinator, &password)?;

        self.create_trial(&author, source, origin)?;
        self.sign(&author, &trial_id, Meaning::Authorship, password.as_str())?;
        self.sign(&approver, &trial_id, Meaning::Approval, password.as_str())?;
        self.start(&approver, &trial_id)?;

        let mut rng = ChaCha8Rng::seed_from_u64(plan.seed);
        // The outcome each participant will give, drawn when they are enrolled (None: dropped
        // out, or no outcome yet).
        let mut waiting: Vec<(String, Option<crate::engine::OutcomeValue>)> = Vec::new();
        let mut report = DemoReport {
            trial_id: trial_id.clone(),
            enrolled: 0,
            outcomes: 0,
            running: true,
        };
        for n in 0..participants {
            let (u_outcome, u_dropout) = (rng.gen::<f64>(), rng.gen::<f64>());
            let subject = format!("DEMO-{:03}", n + 1);
            let assignment = match self.enrol(&site, &trial_id, &subject, None) {
                Ok(assignment) => assignment,
                // A decision rule stopped the trial at a look: the demo ends there.
                Err(ServiceError::Conflict(_)) => break,
                Err(other) => return Err(other),
            };
            report.enrolled += 1;
            let arm = {
                let mut conn = self.conn()?;
                self.snapshot(&mut conn, &trial_id)?
                    .state
                    .participants
                    .get(assignment.participant as usize)
                    .and_then(|p| p.arm)
            };
            let outcome = arm
                .filter(|_| u_dropout >= scenario.dropout)
                .and_then(|arm| scenario.outcome(protocol, arm, u_outcome));
            waiting.push((subject, outcome));
            if n >= plan.lag {
                if let Some((subject, Some(value))) = waiting.get((n - plan.lag) as usize) {
                    match self.record_outcome(&site, &trial_id, subject, *value, None) {
                        Ok(_) => report.outcomes += 1,
                        Err(ServiceError::Conflict(_)) => break,
                        Err(other) => return Err(other),
                    }
                }
            }
        }
        let mut conn = self.conn()?;
        report.running = self.snapshot(&mut conn, &trial_id)?.state.is_running();
        Ok(Some(report))
    }

    /// Adds a demo account with `password` (known to this process only).
    fn demo_account(
        &self,
        admin: &Actor,
        username: &str,
        printed_name: &str,
        role: Role,
        password: &Password,
    ) -> Result<Actor, ServiceError> {
        let new = NewUser {
            username: Username::parse(username)?,
            role,
            printed_name: printed_name.to_owned(),
            email: format!("{username}@bayestrial.localhost"),
            password: Password::new(password.as_str())?,
        };
        self.add_user(admin, &new)?;
        Ok(Actor {
            username: username.to_owned(),
            role,
        })
    }
}
