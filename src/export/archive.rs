//! Zip archives of export files (the CSV tables and the regulatory package), written the same
//! way every time: files in order, each dated by the export's time, so that the same export
//! gives the same bytes.

use std::io::{Cursor, Write};

use super::ExportError;
use crate::audit::UtcTimestamp;

fn zip_time(at: &UtcTimestamp) -> zip::DateTime {
    let t = at.as_str();
    let field = |range: std::ops::Range<usize>| t.get(range).and_then(|s| s.parse::<u16>().ok());
    let parts = (
        field(0..4),
        field(5..7),
        field(8..10),
        field(11..13),
        field(14..16),
        field(17..19),
    );
    if let (Some(y), Some(mo), Some(d), Some(h), Some(mi), Some(s)) = parts {
        if let Ok(time) = zip::DateTime::from_date_and_time(
            y,
            mo as u8,
            d as u8,
            h as u8,
            mi as u8,
            (s as u8).min(59),
        ) {
            return time;
        }
    }
    zip::DateTime::default()
}

/// Writes `files` into a zip, in order, each dated `at`.
pub(crate) fn zip_files(
    files: &[(String, Vec<u8>)],
    at: &UtcTimestamp,
) -> Result<Vec<u8>, ExportError> {
    let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .last_modified_time(zip_time(at))
        .unix_permissions(0o644)
        .large_file(
            files
                .iter()
                .any(|(_, b)| b.len() as u64 >= u64::from(u32::MAX)),
        );
    for (path, bytes) in files {
        zip.start_file(path.as_str(), options)
            .map_err(|e| ExportError::write("zip", e))?;
        zip.write_all(bytes)
            .map_err(|e| ExportError::write("zip", e))?;
    }
    Ok(zip
        .finish()
        .map_err(|e| ExportError::write("zip", e))?
        .into_inner())
}
