//! The layout rules that keep the engine the only interpreter of events: no code outside
//! `src/engine/` and `src/audit/` names an `EventBody` variant (the rest of the program maps
//! from the engine's history, disclosure and accessors), and no list of event kind names
//! decides what is sealed.

use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn no_code_outside_the_engine_and_the_audit_layer_matches_on_event_variants() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    assert!(
        files.len() > 50,
        "the source tree is found: {}",
        files.len()
    );
    let mut offenders = Vec::new();
    for file in &files {
        let relative = file.strip_prefix(root).unwrap_or(file);
        if relative.starts_with("src/engine") || relative.starts_with("src/audit") {
            continue;
        }
        let text = std::fs::read_to_string(file).unwrap_or_default();
        for (number, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or_default();
            let names_a_variant = code.match_indices("EventBody::").any(|(at, found)| {
                code[at + found.len()..]
                    .chars()
                    .next()
                    .is_some_and(char::is_uppercase)
            });
            if names_a_variant || code.contains("SEALED_KINDS") {
                offenders.push(format!(
                    "{}:{}: {}",
                    relative.display(),
                    number + 1,
                    line.trim()
                ));
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "event variants matched outside the engine:\n{}",
        offenders.join("\n")
    );
}
