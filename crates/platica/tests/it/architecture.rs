//! ARCHITECTURE.md is the map a newcomer finds owners with: it must name every crate and module,
//! every test it cites as enforcing an invariant must exist, and so must every source file it
//! names by path.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

fn document() -> String {
    std::fs::read_to_string(repo_root().join("ARCHITECTURE.md")).unwrap()
}

/// The text of the code map's section of `crate_dir` (from its `### ` heading to the next one), or
/// `None` when no heading names it.
fn section<'a>(doc: &'a str, crate_dir: &str) -> Option<&'a str> {
    let marker = format!("`crates/{crate_dir}`");
    let start = doc.lines().find(|l| l.starts_with("### ") && l.contains(&marker))?;
    let at = doc.find(start)?;
    let rest = &doc[at + start.len()..];
    let end = rest.find("\n### ").or_else(|| rest.find("\n## ")).unwrap_or(rest.len());
    Some(&rest[..end])
}

/// Every `.rs` file under `dir`, as a path relative to it (`routes/ws.rs`).
fn modules(dir: &Path, prefix: &str, out: &mut Vec<String>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir).unwrap().flatten().collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let name = e.file_name().to_string_lossy().into_owned();
        if e.path().is_dir() {
            modules(&e.path(), &format!("{prefix}{name}/"), out);
        } else if name.ends_with(".rs") {
            out.push(format!("{prefix}{name}"));
        }
    }
}

fn crate_dirs() -> Vec<String> {
    let mut dirs: Vec<String> = std::fs::read_dir(repo_root().join("crates"))
        .unwrap()
        .flatten()
        .filter(|e| e.path().join("Cargo.toml").is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    dirs.sort();
    dirs
}

#[test]
fn every_crate_and_module_is_in_the_code_map() {
    let doc = document();
    let mut missing = Vec::new();
    for dir in crate_dirs() {
        let Some(text) = section(&doc, &dir) else {
            missing.push(format!("crates/{dir} (no `### ` heading names it)"));
            continue;
        };
        let mut files = Vec::new();
        modules(&repo_root().join("crates").join(&dir).join("src"), "", &mut files);
        for file in files {
            // The crate root is the section itself; a module is named by its file (`live.rs`), by
            // its path (`routes/ws.rs`) or, for a directory module, by its directory (`kinds/`).
            if matches!(file.as_str(), "lib.rs" | "main.rs") {
                continue;
            }
            let base = file.rsplit('/').next().unwrap();
            let stem = base.trim_end_matches(".rs");
            let named = text.contains(&format!("`{file}`"))
                || text.contains(&format!("`{base}`"))
                || text.contains(&format!("`{stem}`"))
                || text.contains(&format!("{base}`"))
                || file.rsplit_once('/').is_some_and(|(d, _)| text.contains(&format!("`{d}/")));
            if !named {
                missing.push(format!("crates/{dir}/src/{file}"));
            }
        }
    }
    assert!(missing.is_empty(), "ARCHITECTURE.md's code map does not name:\n  {}", missing.join("\n  "));
}

/// Every function defined in the workspace's Rust sources, by name.
fn functions() -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut files = Vec::new();
    for dir in crate_dirs() {
        let root = repo_root().join("crates").join(&dir);
        for sub in ["src", "tests", "benches"] {
            if root.join(sub).is_dir() {
                let mut found = Vec::new();
                modules(&root.join(sub), "", &mut found);
                files.extend(found.into_iter().map(|f| root.join(sub).join(f)));
            }
        }
    }
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        for part in text.split("fn ").skip(1) {
            let name: String = part.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
            if !name.is_empty() {
                names.insert(name);
            }
        }
    }
    names
}

/// The sentences of `doc` that say which test enforces something: from "nforced by" to the end of
/// the sentence.
fn enforcement_sentences(doc: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = doc;
    while let Some(at) = rest.find("nforced by") {
        let tail = &rest[at..];
        let end = [". ", ".\n", "\n- ", "\n\n"].iter().filter_map(|e| tail.find(e)).min().unwrap_or(tail.len());
        out.push(&tail[..end]);
        rest = &tail[end..];
    }
    out
}

#[test]
fn every_test_the_invariants_cite_exists() {
    let doc = document();
    let known = functions();
    let mut cited = 0;
    let mut missing = Vec::new();
    for sentence in enforcement_sentences(&doc) {
        for (i, part) in sentence.split('`').enumerate() {
            // Odd parts are inside backticks; a test name is snake_case (a `*` names a family).
            let is_test_name = i % 2 == 1
                && part.contains('_')
                && part.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '*');
            if !is_test_name {
                continue;
            }
            cited += 1;
            let found = match part.strip_suffix('*') {
                Some(prefix) => known.iter().any(|f| f.starts_with(prefix)),
                None => known.contains(part),
            };
            if !found {
                missing.push(part.to_owned());
            }
        }
    }
    assert!(cited >= 10, "the document cites only {cited} tests as enforcing its invariants");
    assert!(missing.is_empty(), "ARCHITECTURE.md cites tests that do not exist: {missing:?}");
}

#[test]
fn every_source_path_the_document_names_exists() {
    let doc = document();
    let mut missing = Vec::new();
    for (i, part) in doc.split('`').enumerate() {
        // Odd parts are inside backticks: `crates/platica/tests/it/live_faults.rs` and the like.
        if i % 2 == 1 && part.starts_with("crates/") && part.ends_with(".rs") && !repo_root().join(part).is_file() {
            missing.push(part.to_owned());
        }
    }
    assert!(missing.is_empty(), "ARCHITECTURE.md names files that do not exist: {missing:?}");
}
