//! Nothing in the repository refers to a path outside it, or to a file it
//! does not have: every relative Markdown link, every `./` or `../` path,
//! and every path under one of the repository's own top-level folders named
//! in its Markdown, Rust, SQL, shell and YAML files resolves inside the
//! checkout.

use std::path::{Component, Path, PathBuf};

use todo_tests::root;

const ENDINGS: [&str; 5] = [".md", ".rs", ".sql", ".sh", ".yaml"];
/// What the checkout makes or installs, and the Git directory: not its text.
const NOT_OURS: [&str; 5] = ["target", "node_modules", ".local", ".git", "dist"];

fn files(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().map(Result::unwrap) {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if path.is_dir() {
            if !NOT_OURS.contains(&name.as_str()) {
                files(&path, found);
            }
        } else if ENDINGS.iter().any(|ending| name.ends_with(ending)) {
            found.push(path);
        }
    }
}

/// `path` without `.` and `..`, or None when `..` climbs above its start.
fn normalise(path: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::ParentDir => {
                if !out.pop() {
                    return None;
                }
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    Some(out)
}

/// The paths `text` names: in Markdown, link targets that are not URLs or
/// anchors; anywhere, words that start with `./` or `../`, or with one of
/// the repository's top-level folders and end in a file name with an
/// extension (but not an HTML attribute's value, `src="..."`: a URL). Each
/// as written, and relative to the file's folder (`true`) or to the root
/// (`false`).
fn named_paths(text: &str, markdown: bool, folders: &[String]) -> Vec<(String, bool)> {
    let mut found = Vec::new();
    for link in text.split("](").skip(1).filter(|_| markdown) {
        let target = link.split([')', ' ']).next().unwrap_or_default();
        let target = target.split('#').next().unwrap_or_default();
        if !target.is_empty() && !target.contains("://") && !target.starts_with("mailto:") {
            found.push((target.to_owned(), true));
        }
    }
    let is_path_char = |c: char| c.is_ascii_alphanumeric() || "_./-".contains(c);
    let mut rest = text;
    while let Some(start) = rest.find(is_path_char) {
        let before = &rest[..start];
        let len = rest[start..]
            .find(|c| !is_path_char(c))
            .unwrap_or(rest.len() - start);
        let word = rest[start..start + len].trim_end_matches(['.', ',']);
        rest = &rest[start + len..];
        if before.ends_with("=\"") {
            continue;
        }
        if word.starts_with("./") || word.starts_with("../") {
            found.push((word.to_owned(), true));
        } else if let Some((folder, rest)) = word.split_once('/')
            && folders.iter().any(|f| f == folder)
            && rest.rsplit('/').next().is_some_and(|name| {
                name.rsplit_once('.')
                    .is_some_and(|(stem, ext)| !stem.is_empty() && !ext.is_empty())
            })
        {
            found.push((word.to_owned(), false));
        }
    }
    found
}

#[test]
fn every_path_the_repository_names_is_in_it() {
    let root = normalise(&root().canonicalize().unwrap()).unwrap();
    let folders: Vec<String> = std::fs::read_dir(&root)
        .unwrap()
        .map(Result::unwrap)
        .filter(|entry| entry.path().is_dir())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| !NOT_OURS.contains(&name.as_str()))
        .collect();
    let mut all = Vec::new();
    files(&root, &mut all);
    assert!(all.len() > 50, "only {} files", all.len());
    let mut broken = Vec::new();
    for file in &all {
        let text = std::fs::read_to_string(file).unwrap_or_default();
        let markdown = file.extension().is_some_and(|e| e == "md");
        for (named, relative) in named_paths(&text, markdown, &folders) {
            let base = if relative {
                file.parent().unwrap()
            } else {
                &root
            };
            let resolved = normalise(&base.join(&named));
            let inside = resolved
                .as_ref()
                .is_some_and(|path| path.starts_with(&root) && path.exists());
            if !inside {
                broken.push(format!(
                    "{}: {named}",
                    file.strip_prefix(&root).unwrap().display()
                ));
            }
        }
    }
    assert!(
        broken.is_empty(),
        "paths that are not in the repository:\n{}",
        broken.join("\n")
    );
}
