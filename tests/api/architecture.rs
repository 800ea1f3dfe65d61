//! The import structure of `src/` and of the crate it is built on: which top-level module uses
//! which (`crate::…` paths outside test code). It must have no circle, and the drawing in
//! `docs/flow.md` must be this graph.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const START: &str = "<!-- imports:start -->";
const END: &str = "<!-- imports:end -->";

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("src is readable") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The source folders drawn: the app's, and the crates it is built on, whose modules the app
/// re-exports under the same names (`src/lib.rs`), so that `crate::auth` means one module.
const SOURCES: [&str; 4] = [
    "src",
    "crates/actix-oauth-client/src",
    "crates/actix-rememberizer/src",
    "crates/actix-memoram/src",
];

/// Top-level module → the top-level modules it uses.
fn imports() -> BTreeMap<String, BTreeSet<String>> {
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for source in SOURCES {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join(source);
        imports_of(&src, &mut graph);
    }
    graph
}

fn imports_of(src: &Path, graph: &mut BTreeMap<String, BTreeSet<String>>) {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    for file in files {
        let relative = file.strip_prefix(src).expect("under src");
        let first = relative
            .components()
            .next()
            .expect("a component")
            .as_os_str()
            .to_string_lossy()
            .trim_end_matches(".rs")
            .to_owned();
        // The crate root and the binaries tie everything together; they are not modules.
        if matches!(first.as_str(), "lib" | "main" | "bin") {
            continue;
        }
        let text = std::fs::read_to_string(&file).expect("readable");
        // Unit tests may use anything.
        let code = text.split("#[cfg(test)]").next().unwrap_or_default();
        let uses = graph.entry(first.clone()).or_default();
        for (index, _) in code.match_indices("crate::") {
            let name: String = code[index + "crate::".len()..]
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                .collect();
            if !name.is_empty() && name != first {
                uses.insert(name);
            }
        }
    }
}

/// A circle in `graph`, if there is one (depth-first search).
fn circle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(start) = path.iter().position(|n| n == node) {
            let mut circle = path[start..].to_vec();
            circle.push(node.to_owned());
            return Some(circle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(found) = visit(next, graph, path, done) {
                return Some(found);
            }
        }
        path.pop();
        done.insert(node.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|node| visit(node, graph, &mut Vec::new(), &mut done))
}

/// The graph as the README draws it (Mermaid).
fn drawing(graph: &BTreeMap<String, BTreeSet<String>>) -> String {
    let mut lines = vec!["```mermaid".to_owned(), "graph LR".to_owned()];
    for (module, uses) in graph {
        for used in uses {
            lines.push(format!("  {module} --> {used}"));
        }
    }
    lines.push("```".to_owned());
    lines.join("\n")
}

#[test]
fn the_modules_import_each_other_without_a_circle() {
    let graph = imports();
    assert!(
        graph.contains_key("auth") && graph.contains_key("memoram"),
        "{graph:?}"
    );
    assert_eq!(circle(&graph), None, "an import circle in {graph:#?}");
}

#[test]
fn the_circle_check_finds_a_circle() {
    let mut graph = BTreeMap::new();
    graph.insert("a".to_owned(), BTreeSet::from(["b".to_owned()]));
    graph.insert("b".to_owned(), BTreeSet::from(["c".to_owned()]));
    graph.insert("c".to_owned(), BTreeSet::from(["a".to_owned()]));
    assert_eq!(
        circle(&graph),
        Some(vec!["a".into(), "b".into(), "c".into(), "a".into()])
    );
}

#[test]
fn the_readme_draws_the_import_structure_as_it_is() {
    let readme = layout_doc();
    let start = readme.find(START).expect("docs/flow.md marks its drawing") + START.len();
    let end = readme.find(END).expect("the drawing's end marker");
    let expected = drawing(&imports());
    assert_eq!(
        readme[start..end].trim(),
        expected,
        "update the drawing in docs/flow.md to:\n{expected}"
    );
}

/// A file a reader can take in: none in `src/` is longer.
const MAX_LINES: usize = 600;

#[test]
fn no_file_in_src_is_over_600_lines() {
    let mut files = Vec::new();
    rust_files(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut files,
    );
    let long: Vec<String> = files
        .iter()
        .filter_map(|file| {
            let lines = std::fs::read_to_string(file)
                .expect("readable")
                .lines()
                .count();
            (lines > MAX_LINES).then(|| format!("{}: {lines}", file.display()))
        })
        .collect();
    assert!(long.is_empty(), "over {MAX_LINES} lines: {long:?}");
}

const LAYOUT_START: &str = "<!-- layout:start -->";
const LAYOUT_END: &str = "<!-- layout:end -->";

/// Paths in backticks that start with one of the repository's folders.
fn named_paths(text: &str) -> Vec<String> {
    text.split('`')
        .skip(1)
        .step_by(2)
        .filter(|quoted| {
            [
                "src/",
                "crates/",
                "simulators/",
                "examples/",
                "tests/",
                "bench/",
                "scripts/",
                "docs/",
            ]
            .iter()
            .any(|folder| quoted.starts_with(folder))
                && !quoted.contains(char::is_whitespace)
                && !quoted.contains('*')
        })
        .map(|path| path.trim_end_matches(['.', ',', ':']).to_owned())
        .collect()
}

/// Where the code's layout is told: its table and its import drawing.
fn layout_doc() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/flow.md"))
        .expect("docs/flow.md")
}

/// The README and every page under `docs/`.
fn readme_and_docs() -> Vec<(PathBuf, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = vec![root.join("README.md")];
    for entry in std::fs::read_dir(root.join("docs")).expect("docs/") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "md") {
            files.push(path);
        }
    }
    files
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path).expect("readable");
            (path, text)
        })
        .collect()
}

#[test]
fn the_layout_names_every_part_of_src_and_the_docs_only_paths_that_exist() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let layout = layout_doc();
    let start = layout
        .find(LAYOUT_START)
        .expect("docs/flow.md marks its layout table");
    let end = layout
        .find(LAYOUT_END)
        .expect("the layout table's end marker");
    let table = named_paths(&layout[start..end]);
    for entry in std::fs::read_dir(root.join("src")).expect("src") {
        let path = entry.expect("entry").path();
        let name = path
            .file_name()
            .expect("a name")
            .to_string_lossy()
            .into_owned();
        let named = if path.is_dir() {
            format!("src/{name}/")
        } else {
            format!("src/{name}")
        };
        assert!(
            table.iter().any(|p| p == &named || p.starts_with(&named)),
            "the layout table in docs/flow.md does not name {named}"
        );
    }
    for (file, text) in readme_and_docs() {
        for path in named_paths(&text) {
            assert!(
                root.join(&path).exists(),
                "{} names {path}, which does not exist",
                file.display()
            );
        }
    }
}

/// A relative link in the README or a page of `docs/` leads to a file that exists.
#[test]
fn the_readme_and_the_docs_link_only_to_files_that_exist() {
    for (file, text) in readme_and_docs() {
        let dir = file.parent().expect("a folder");
        for target in text
            .split("](")
            .skip(1)
            .filter_map(|rest| rest.split(')').next())
        {
            let path = target.split('#').next().unwrap_or_default();
            if path.is_empty() || path.contains("://") || path.starts_with("mailto:") {
                continue;
            }
            assert!(
                dir.join(path).exists(),
                "{} links to {target}, which does not exist",
                file.display()
            );
        }
    }
}

#[test]
fn the_readme_stays_short_for_a_newcomer() {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
        .expect("README.md");
    let lines = readme.lines().count();
    assert!(
        lines <= 300,
        "README.md has {lines} lines; move detail into docs/"
    );
}
