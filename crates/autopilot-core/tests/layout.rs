//! The crate's layout rule: no cycle between its top-level modules (a flat file or a folder).
//! Test-only code (after `#[cfg(test)]`, and a table test's own file declared there with
//! `#[path]`) and comments are not counted.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Every `.rs` file under `src`.
fn rust_files(src: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![src.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("read src") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().and_then(|e| e.to_str()) == Some("rs") {
                out.push(path);
            }
        }
    }
    out
}

/// Files that are test modules of another file: `#[cfg(test)]` then `#[path = "NAME"]` (a
/// table test beside its rule, e.g. `daemon/decide_table.rs`).
fn test_only_files(files: &[PathBuf]) -> BTreeSet<PathBuf> {
    let mut out = BTreeSet::new();
    for path in files {
        let text = std::fs::read_to_string(path).expect("read file");
        let lines: Vec<&str> = text.lines().map(str::trim).collect();
        for pair in lines.windows(2) {
            if pair[0] != "#[cfg(test)]" {
                continue;
            }
            let name = pair[1]
                .strip_prefix("#[path = \"")
                .and_then(|r| r.strip_suffix("\"]"));
            if let (Some(name), Some(dir)) = (name, path.parent()) {
                out.insert(dir.join(name));
            }
        }
    }
    out
}

fn module_sources(src: &Path) -> BTreeMap<String, String> {
    let mut out: BTreeMap<String, String> = BTreeMap::new();
    let files = rust_files(src);
    let test_only = test_only_files(&files);
    assert!(
        test_only.iter().all(|p| p.exists()),
        "a #[path] names a file that exists: {test_only:?}"
    );
    for path in files {
        let rel = path.strip_prefix(src).expect("under src");
        let top = rel
            .components()
            .next()
            .and_then(|c| c.as_os_str().to_str())
            .map(|s| s.trim_end_matches(".rs").to_string())
            .expect("a name");
        if top == "lib" || test_only.contains(&path) {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("read file");
        // Code only: doc links and comments name modules without depending on them.
        let body: String = text
            .split("#[cfg(test)]")
            .next()
            .unwrap_or("")
            .lines()
            .filter(|l| !l.trim_start().starts_with("//"))
            .collect::<Vec<_>>()
            .join("\n");
        out.entry(top).or_default().push_str(&body);
    }
    out
}

#[test]
fn top_level_modules_have_no_cycle() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let sources = module_sources(&src);
    let names: BTreeSet<String> = sources.keys().cloned().collect();
    let edges: BTreeMap<String, BTreeSet<String>> = sources
        .iter()
        .map(|(module, text)| {
            let deps = names
                .iter()
                .filter(|other| *other != module)
                .filter(|other| {
                    text.contains(&format!("crate::{other}::"))
                        || text.contains(&format!("crate::{other}}}"))
                        || text.contains(&format!("crate::{other};"))
                        || text.contains(&format!("crate::{{{other}"))
                })
                .cloned()
                .collect();
            (module.clone(), deps)
        })
        .collect();
    assert!(edges.len() >= 10, "found the modules: {edges:?}");
    // Depth-first search for a back edge.
    fn visit(
        node: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(i) = path.iter().position(|p| p == node) {
            let mut cycle = path[i..].to_vec();
            cycle.push(node.to_string());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_string());
        for next in edges.get(node).into_iter().flatten() {
            if let Some(c) = visit(next, edges, path, done) {
                return Some(c);
            }
        }
        path.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    for node in edges.keys() {
        let cycle = visit(node, &edges, &mut Vec::new(), &mut done);
        assert!(
            cycle.is_none(),
            "module cycle: {cycle:?} (edges: {edges:?})"
        );
    }
}
