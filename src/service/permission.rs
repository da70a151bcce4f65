//! The roles table, encoded once (see ARCHITECTURE.md): what each role may do ([`Permission`],
//! [`Role::may`]) and what a record or a view may reveal to it ([`Sight`]).
//!
//! Both are exhaustive matches: a new permission does not compile until every role is decided
//! for it, and a new role may nothing until someone adds it here. The service checks them; the
//! web asks the service (or this model) and decides nothing itself.

use std::fmt;

use super::{Actor, Role, ServiceError};
use crate::engine::Disclosure;

/// Something a role may be allowed to do or see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    /// Add users, grant and revoke roles, load the demo protocols.
    ManageUsers,
    /// Write, validate and simulate protocols; create trials.
    WriteProtocols,
    /// Sign a protocol version (authorship or review).
    SignProtocols,
    /// Approve a protocol version (the approval signature), start, amend, pause, resume, close.
    DirectTrials,
    /// Enrol participants, record outcomes and measurements, see one's own assignments (a kit
    /// code on blinded trials).
    Enrol,
    /// Emergency unblinding of one participant (code break), with a reason and the password.
    BreakCode,
    /// See a trial's participants.
    ListParticipants,
    /// See an n-of-1 patient's own report.
    ReadPatientReports,
    /// See the arm behind a kit code (dispensing), on blinded trials too.
    Dispense,
    /// See unblinded results: posteriors, allocation probabilities, decisions, pooled series.
    SeeResults,
    /// Record the data monitoring committee's recommendation after a look, signed with the
    /// password.
    RecommendAsDmc,
    /// Read, verify and export the audit trail.
    ReadAudit,
    /// Read the stored simulation reports of a trial (they hold no participant's data).
    ReadSimulations,
}

impl fmt::Display for Permission {
    /// What the permission allows, as a verb phrase ("enrol participants").
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::ManageUsers => "manage users",
            Self::WriteProtocols => "write and simulate protocols",
            Self::SignProtocols => "sign protocols",
            Self::DirectTrials => "approve, start, amend, pause, resume or close trials",
            Self::Enrol => "enrol participants and record their data",
            Self::BreakCode => "break a participant's code (emergency unblinding)",
            Self::ListParticipants => "see participants",
            Self::ReadPatientReports => "see n-of-1 patient reports",
            Self::Dispense => "see the arm behind a kit code",
            Self::SeeResults => "see unblinded results",
            Self::RecommendAsDmc => "record the data monitoring committee's recommendation",
            Self::ReadAudit => "read the audit trail",
            Self::ReadSimulations => "read simulation reports",
        })
    }
}

impl Role {
    /// Whether the role has `permission` (the roles table above).
    pub fn may(self, permission: Permission) -> bool {
        use Role::{Admin, Coordinator, Dmc, Pharmacist, Regulator, Statistician};
        match permission {
            Permission::ManageUsers => matches!(self, Admin),
            Permission::WriteProtocols | Permission::DirectTrials => matches!(self, Statistician),
            Permission::SignProtocols => matches!(self, Statistician | Dmc),
            Permission::Enrol | Permission::BreakCode => matches!(self, Coordinator),
            Permission::ListParticipants => {
                matches!(self, Coordinator | Pharmacist | Statistician | Dmc)
            }
            Permission::ReadPatientReports => matches!(self, Coordinator | Statistician | Dmc),
            Permission::Dispense => matches!(self, Pharmacist),
            Permission::SeeResults => matches!(self, Statistician | Dmc),
            Permission::RecommendAsDmc => matches!(self, Dmc),
            Permission::ReadAudit | Permission::ReadSimulations => {
                matches!(self, Admin | Statistician | Dmc | Regulator)
            }
        }
    }
}

impl Role {
    /// What the role sees of a blinded trial while it runs (the [`Sight`] every view asks).
    fn sight_while_blinded(self) -> Sight {
        Sight {
            role: self,
            blinded: true,
            stopped: false,
        }
    }

    /// Whether the role works with participants blind: it enrols them and records their data,
    /// and a blinded running trial reveals to it neither assignments nor comparisons.
    pub fn blinded(self) -> bool {
        let sight = self.sight_while_blinded();
        self.may(Permission::Enrol)
            && !sight.reveals(Disclosure::Assignment)
            && !sight.reveals(Disclosure::Comparative)
    }

    /// Whether a blinded running trial reveals to the role what a blinded role must not know:
    /// an assignment (the arm behind a kit code) or a comparison of the arms.
    pub fn unblinded(self) -> bool {
        let sight = self.sight_while_blinded();
        sight.reveals(Disclosure::Assignment) || sight.reveals(Disclosure::Comparative)
    }

    /// The first blinded and the first unblinded role among `roles`, when one account would
    /// hold both: the person would then enrol participants while knowing their arms or the
    /// results (the admin's users page warns about it).
    pub fn blinding_conflict(roles: &[Role]) -> Option<(Role, Role)> {
        let blinded = roles.iter().copied().find(|r| r.blinded())?;
        let unblinded = roles.iter().copied().find(|r| r.unblinded())?;
        Some((blinded, unblinded))
    }
}

impl Actor {
    /// Requires `permission`, or answers [`ServiceError::Forbidden`] naming it.
    pub fn require(&self, permission: Permission) -> Result<(), ServiceError> {
        if self.role.may(permission) {
            Ok(())
        } else {
            Err(ServiceError::Forbidden(format!(
                "{} acting as {} may not {permission}",
                self.username, self.role
            )))
        }
    }

    /// Whether the actor has `permission`.
    pub fn may(&self, permission: Permission) -> bool {
        self.role.may(permission)
    }
}

/// What one viewer may see of one trial: their role, whether the trial is blinded, and
/// whether it has stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sight {
    /// The viewer's role.
    pub role: Role,
    /// Whether the site sees kit codes instead of arms.
    pub blinded: bool,
    /// Whether the trial has stopped (the audit trail then opens for its readers).
    pub stopped: bool,
}

impl Sight {
    /// Whether a record or value that reveals `disclosure` may be shown:
    /// - operational: to everyone who may see the trial;
    /// - an assignment: to those who see results or dispense, to the site on an open-label
    ///   trial, and to audit readers once the trial has stopped;
    /// - comparative: to those who see results, and to audit readers once the trial has
    ///   stopped.
    pub fn reveals(self, disclosure: Disclosure) -> bool {
        let results = self.role.may(Permission::SeeResults);
        let audit_after_stop = self.stopped && self.role.may(Permission::ReadAudit);
        match disclosure {
            Disclosure::Operational => true,
            Disclosure::Assignment => {
                results
                    || self.role.may(Permission::Dispense)
                    || (!self.blinded && self.role.may(Permission::Enrol))
                    || audit_after_stop
            }
            Disclosure::Comparative => results || audit_after_stop,
        }
    }

    /// Whether the viewer sees the seqs of a trial's records. On a blinded trial the gaps between
    /// the seqs of inputs count the decisions taken at looks (a drop and a control change add
    /// records), so the site sees no seqs there; on an open-label trial it sees which arms
    /// receive participants anyway.
    pub fn sees_seqs(self) -> bool {
        !self.blinded || self.reveals(Disclosure::Comparative)
    }

    /// Whether the viewer sees an arm's status (open or closed) at all: comparative viewers do,
    /// and the site on an open-label trial (it sees where participants go anyway).
    pub fn sees_arm_status(self) -> bool {
        self.reveals(Disclosure::Comparative)
            || (!self.blinded && self.reveals(Disclosure::Assignment))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_statisticians_and_the_dmc_see_results() {
        for role in Role::ALL {
            assert_eq!(
                role.may(Permission::SeeResults),
                matches!(role, Role::Statistician | Role::Dmc),
                "{role}"
            );
        }
    }

    #[test]
    fn only_the_dmc_records_a_recommendation() {
        for role in Role::ALL {
            assert_eq!(
                role.may(Permission::RecommendAsDmc),
                matches!(role, Role::Dmc),
                "{role}"
            );
        }
    }

    #[test]
    fn blinded_and_unblinded_roles_follow_what_a_blinded_trial_reveals() {
        let blinded: Vec<Role> = Role::ALL.into_iter().filter(|r| r.blinded()).collect();
        let unblinded: Vec<Role> = Role::ALL.into_iter().filter(|r| r.unblinded()).collect();
        assert_eq!(blinded, [Role::Coordinator]);
        assert_eq!(unblinded, [Role::Statistician, Role::Pharmacist, Role::Dmc]);
        assert_eq!(
            Role::blinding_conflict(&[Role::Coordinator, Role::Statistician]),
            Some((Role::Coordinator, Role::Statistician))
        );
        assert_eq!(
            Role::blinding_conflict(&[Role::Pharmacist, Role::Coordinator]),
            Some((Role::Coordinator, Role::Pharmacist))
        );
        assert_eq!(
            Role::blinding_conflict(&[Role::Coordinator, Role::Admin]),
            None
        );
        assert_eq!(
            Role::blinding_conflict(&[Role::Statistician, Role::Dmc]),
            None
        );
    }

    #[test]
    fn the_pharmacist_sees_arms_and_never_results() {
        let sight = Sight {
            role: Role::Pharmacist,
            blinded: true,
            stopped: false,
        };
        assert!(sight.reveals(Disclosure::Assignment));
        assert!(!sight.reveals(Disclosure::Comparative));
        assert!(!Role::Pharmacist.may(Permission::ReadAudit));
        assert!(!Role::Pharmacist.may(Permission::ReadPatientReports));
    }

    #[test]
    fn a_blinded_site_sees_only_operational_records() {
        for stopped in [false, true] {
            let sight = Sight {
                role: Role::Coordinator,
                blinded: true,
                stopped,
            };
            assert!(sight.reveals(Disclosure::Operational));
            assert!(!sight.reveals(Disclosure::Assignment));
            assert!(!sight.reveals(Disclosure::Comparative));
            assert!(!sight.sees_arm_status());
        }
        let open_label = Sight {
            role: Role::Coordinator,
            blinded: false,
            stopped: false,
        };
        assert!(open_label.reveals(Disclosure::Assignment));
        assert!(!open_label.reveals(Disclosure::Comparative));
        assert!(open_label.sees_arm_status());
    }

    #[test]
    fn audit_readers_see_everything_once_the_trial_stops() {
        for role in [Role::Regulator, Role::Admin] {
            let running = Sight {
                role,
                blinded: true,
                stopped: false,
            };
            assert!(!running.reveals(Disclosure::Comparative));
            assert!(!running.reveals(Disclosure::Assignment));
            let stopped = Sight {
                stopped: true,
                ..running
            };
            assert!(stopped.reveals(Disclosure::Comparative));
        }
    }
}
