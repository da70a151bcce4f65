//! The trial's data as the exports lay it out: the engine's history
//! ([`crate::engine::history`]) of the audit records, each value keeping the record that holds
//! it (who, when, why, and the hash that ODM's `SourceID` and the CSV tables name). A blinded
//! export's history leaves out the records the engine classifies as sealed.

use crate::audit::AuditRecord;
use crate::engine::{Event, History};

use super::{ExportError, TrialExport};
use crate::protocol::LoadedProtocol;

pub(crate) use crate::engine::history::Valued;

/// Everything the tables and the ODM file show: the history with the records as sources.
pub(crate) type Facts<'a> = History<&'a AuditRecord>;

/// The events of a trial chain's records.
pub(crate) fn events(records: &[AuditRecord]) -> Result<Vec<Event>, ExportError> {
    records
        .iter()
        .map(|r| {
            r.to_event().map_err(|e| ExportError::Record {
                chain: r.chain.to_string(),
                seq: r.seq,
                problem: e.to_string(),
            })
        })
        .collect()
}

/// Reads the facts from a trial chain's records (with their events, in the same order).
pub(crate) fn facts<'a>(
    export: &'a TrialExport,
    events: &[Event],
) -> Result<Facts<'a>, ExportError> {
    let records = &export.trial_records;
    let has_control = match export.protocols.first() {
        Some(first) => LoadedProtocol::from_toml(&first.source, "the exported protocol version 1")
            .map_err(|e| ExportError::Record {
                chain: format!("trial:{}", export.trial_id),
                seq: 1,
                problem: format!("the protocol does not load: {e}"),
            })?
            .protocol
            .control()
            .is_some(),
        None => false,
    };
    // A blinded export shows what a blinded reader may see: the records the engine classifies
    // as sealed (assignments and comparative results) are left out of its tables, as their
    // payloads are left out of its JSON Lines file.
    let shown = records
        .iter()
        .zip(events)
        .filter(|(_, event)| export.unblinded || !event.body.disclosure().is_sealed());
    History::of(has_control, shown).map_err(|e| {
        let seq = match &e {
            crate::engine::EngineError::Log { seq, .. } => *seq,
            _ => 0,
        };
        ExportError::Record {
            chain: records
                .first()
                .map(|r| r.chain.to_string())
                .unwrap_or_default(),
            seq,
            problem: e.to_string(),
        }
    })
}
