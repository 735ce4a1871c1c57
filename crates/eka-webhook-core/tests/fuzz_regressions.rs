//! Replays the fuzz targets' inputs kept in the repository, `fuzz/seeds/<target>/` and the
//! regression corpus `fuzz/regressions/<target>/` (crashers and a sample of grown corpora),
//! through the very checks the cargo-fuzz targets run (`fuzz/src/checks.rs`, included here).
//! See `fuzz/README.md`.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

#[path = "../../../fuzz/src/checks.rs"]
mod checks;

fn corpus_files(target: &str) -> Vec<PathBuf> {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz");
    let mut files: Vec<PathBuf> = ["seeds", "regressions"]
        .iter()
        .flat_map(|kind| {
            let dir = fuzz.join(kind).join(target);
            std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        })
        .map(|entry| entry.expect("directory entry").path())
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    files
}

/// Runs `check` on every file of the target's corpus and reports all failures at once.
fn replay(target: &str, check: fn(&[u8])) {
    let files = corpus_files(target);
    assert!(!files.is_empty(), "the {target} corpus is empty");
    let failures: Vec<String> = files
        .iter()
        .filter_map(|path| {
            let data = std::fs::read(path).expect("readable corpus file");
            catch_unwind(AssertUnwindSafe(|| check(&data)))
                .err()
                .map(|panic| {
                    let message = panic
                        .downcast_ref::<String>()
                        .map(String::as_str)
                        .or_else(|| panic.downcast_ref::<&str>().copied())
                        .unwrap_or("(non-string panic)");
                    format!("{}: {message}", path.display())
                })
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} {target} inputs fail:\n{}",
        failures.len(),
        files.len(),
        failures.join("\n")
    );
}

#[test]
fn signature_header_corpus() {
    replay("signature_header", checks::check_signature_header);
}

#[test]
fn canonical_json_corpus() {
    replay("canonical_json", checks::check_canonical_json);
}

#[test]
fn pipeline_corpus() {
    replay("pipeline", checks::check_pipeline);
}
