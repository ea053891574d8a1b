//! The README may name only what exists: every `make` target it mentions is
//! in the Makefile, every environment variable is used by the code or the
//! scripts and documented in `.env.example`, every route is in the route
//! table, and every linked file exists. The other way round, every `make`
//! target and every variable the functions' configuration reads is
//! documented in the README or a page it links (`docs/configuration.md`
//! holds the variables), and in `.env.example`.

use std::collections::BTreeSet;
use std::path::Path;

use todo_shared::web::routes::ROUTES;
use todo_tests::root;

fn read(path: &str) -> String {
    std::fs::read_to_string(root().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The text of every file under `dir` (recursively) whose name ends in one of `endings`.
fn sources(dir: &Path, endings: &[&str], text: &mut String) {
    for entry in std::fs::read_dir(dir).unwrap().map(Result::unwrap) {
        let path = entry.path();
        if path.is_dir() {
            sources(&path, endings, text);
        } else if endings.iter().any(|e| path.to_string_lossy().ends_with(e))
            // Not this file: naming a variable here does not make it exist.
            && !path.ends_with("tests/tests/it/readme.rs")
        {
            text.push_str(&std::fs::read_to_string(&path).unwrap());
        }
    }
}

/// The README and every Markdown page it links, as one text: what a
/// newcomer finds from it.
fn documented() -> String {
    let readme = read("README.md");
    let mut text = readme.clone();
    for (i, _) in readme.match_indices("](") {
        let target: String = readme[i + 2..].chars().take_while(|&c| c != ')').collect();
        let file = target.split('#').next().unwrap_or_default();
        if file.ends_with(".md") && !file.contains("://") && file != "README.md" {
            text.push_str(&read(file));
        }
    }
    text
}

/// Every `` `code` `` span of a Markdown text.
fn code_spans(markdown: &str) -> Vec<&str> {
    markdown.split('`').skip(1).step_by(2).collect()
}

fn is_variable(name: &str) -> bool {
    name.len() >= 3
        && name.contains('_')
        && name
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

/// Environment variables the README names: every ALL_CAPS name with an
/// underscore in a code span, and every name in the configuration table.
fn readme_variables(readme: &str) -> BTreeSet<String> {
    let mut names: BTreeSet<String> = code_spans(readme)
        .into_iter()
        .flat_map(|span| span.split([' ', '=', '$', '{', '}', '"', '/', '(', ')']))
        .filter(|word| is_variable(word))
        .map(str::to_owned)
        .collect();
    let table = readme.lines().filter(|line| line.starts_with("| `"));
    for row in table {
        let first = row.split('|').nth(1).unwrap_or_default();
        names.extend(code_spans(first).into_iter().map(str::to_owned));
    }
    names
}

#[test]
fn every_make_target_the_readme_names_exists() {
    let readme = read("README.md");
    let makefile = read("Makefile");
    let targets: BTreeSet<&str> = makefile
        .lines()
        .filter(|line| !line.starts_with(['\t', '#', '.', ' ']))
        .filter_map(|line| line.split_once(':').map(|(target, _)| target))
        .collect();
    let mut named = BTreeSet::new();
    let words: Vec<&str> = readme.split_whitespace().collect();
    for (i, word) in words.iter().enumerate() {
        if word.trim_start_matches(['`', '(', '$']) != "make" {
            continue;
        }
        let Some(target) = words[i + 1..].iter().find(|w| !w.starts_with('-')) else {
            continue;
        };
        let target: String = target
            .trim_start_matches('`')
            .chars()
            .take_while(|c| c.is_ascii_lowercase() || *c == '-')
            .collect();
        if !target.is_empty() {
            named.insert(target);
        }
    }
    assert!(named.len() >= 8, "found only {named:?}");
    let missing: Vec<&String> = named
        .iter()
        .filter(|t| !targets.contains(t.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "the README names make targets that do not exist: {missing:?}"
    );
    let documented = documented();
    for target in targets {
        assert!(
            documented.contains(&format!("make {target}")),
            "make {target} is documented neither in the README nor in a page it links"
        );
    }
}

#[test]
fn every_variable_the_readme_names_is_used_and_documented() {
    // The README and the page it sends readers to for variables.
    let readme = read("README.md") + &read("docs/configuration.md");
    let env_example = read(".env.example");
    let mut code = read("Makefile") + &read("template.yaml");
    for dir in [
        "shared/src",
        "functions",
        "scripts",
        "tests/src",
        "tests/tests",
        "xtask/src",
    ] {
        sources(&root().join(dir), &[".rs", ".sh", ".mjs"], &mut code);
    }
    let named = readme_variables(&readme);
    assert!(
        named.contains("DATABASE_URL") && named.len() >= 15,
        "{named:?}"
    );
    for name in &named {
        let used = code.contains(name.as_str());
        assert!(used, "the README names {name}, which nothing reads");
        assert!(
            env_example.contains(name.as_str()),
            "{name} is missing from .env.example"
        );
    }
    // What the functions' configuration reads, the README documents.
    let mut config = read("shared/src/config.rs");
    config.push_str(&read("shared/src/outside/secrets.rs"));
    let read_by_config: BTreeSet<&str> = config
        .split('"')
        .skip(1)
        .step_by(2)
        .filter(|s| is_variable(s))
        .collect();
    assert!(read_by_config.len() >= 10, "{read_by_config:?}");
    for name in read_by_config {
        assert!(
            named.contains(name),
            "{name} is read by the functions but documented neither in the README nor in \
             docs/configuration.md"
        );
        assert!(
            env_example.contains(name),
            "{name} is missing from .env.example"
        );
    }
}

#[test]
fn every_route_the_readme_names_exists() {
    let readme = read("README.md");
    let mut checked = 0;
    // `GET /health`, `POST /api/tasks`, and URLs such as localhost:9000/api/tasks?status=x.
    for (i, _) in readme.match_indices(['/']) {
        let rest = &readme[i..];
        let before = &readme[..i];
        let after_host = before.ends_with("9000") || before.ends_with(' ') || before.ends_with('`');
        if !after_host
            || !(rest.starts_with("/api")
                || rest.starts_with("/health")
                || rest.starts_with("/docs")
                || rest.starts_with("/openapi"))
        {
            continue;
        }
        let path: String = rest
            .chars()
            .take_while(|c| !matches!(c, ' ' | '`' | '"' | '?' | ')' | ','))
            .collect();
        let path = path.trim_end_matches(['.', ':']);
        let known = ROUTES
            .iter()
            .any(|route| route.path == path || route.matches(path));
        assert!(known, "the README names {path}, which no route serves");
        checked += 1;
    }
    assert!(checked >= 4, "only {checked} routes found in the README");
}

#[test]
fn every_file_the_readme_links_exists() {
    let readme = read("README.md");
    let mut checked = 0;
    for (i, _) in readme.match_indices("](") {
        let target: String = readme[i + 2..].chars().take_while(|&c| c != ')').collect();
        if target.starts_with("http") || target.starts_with("../") {
            continue;
        }
        let (file, anchor) = target.split_once('#').unwrap_or((&target, ""));
        assert!(
            root().join(file).exists(),
            "the README links {target}, which does not exist"
        );
        if !anchor.is_empty() {
            // GitHub's heading anchors: lower case, spaces as hyphens.
            let headings: Vec<String> = read(file)
                .lines()
                .filter_map(|line| line.strip_prefix('#'))
                .map(|heading| {
                    heading
                        .trim_start_matches('#')
                        .trim()
                        .to_lowercase()
                        .replace(' ', "-")
                })
                .collect();
            assert!(
                headings.iter().any(|h| h == anchor),
                "the README links {target}, but {file} has no such heading: {headings:?}"
            );
        }
        checked += 1;
    }
    assert!(checked >= 5, "{checked} links");
}

/// As the README's architecture says: only `functions/docs` has a build
/// script (the `npm ci` of the Swagger UI it embeds); every other crate of
/// the workspace builds with cargo alone.
#[test]
fn only_the_docs_function_needs_more_than_cargo_to_build() {
    let manifest: toml::Value = toml::from_str(&read("Cargo.toml")).unwrap();
    let members = manifest["workspace"]["members"].as_array().unwrap();
    let scripted: Vec<&str> = members
        .iter()
        .filter_map(toml::Value::as_str)
        .filter(|member| {
            let package: toml::Value =
                toml::from_str(&read(&format!("{member}/Cargo.toml"))).unwrap();
            root().join(member).join("build.rs").exists()
                || package["package"].get("build").is_some()
        })
        .collect();
    assert_eq!(scripted, ["functions/docs"]);
}

/// scripts/ holds only the installers (and their pins) and the Python that
/// draws the benchmark's charts and reads SAM's transform: the work is
/// Rust's (`cargo xtask`), and the test kit starts the services
/// (`todo_tests::services`, `ScratchServer`) for the tests, `make dev` and
/// `make bench` alike, so no script runs PostgreSQL's `initdb` or `pg_ctl`.
#[test]
fn scripts_hold_only_the_installers_and_the_reports_python() {
    const ALLOWED: [&str; 5] = [
        "install.sh",        // the installers
        "requirements.txt",  // their pins
        "bench_report.py",   // the benchmark's report and charts
        "bench_lambda.py",   // ... its Lambda pages
        "check-template.py", // SAM's transform, read back
    ];
    let mut found: Vec<String> = std::fs::read_dir(root().join("scripts"))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    found.sort();
    let mut allowed = ALLOWED.map(str::to_owned).to_vec();
    allowed.sort();
    assert_eq!(found, allowed, "scripts/ holds something else");
    for script in &found {
        let text = read(&format!("scripts/{script}"));
        for program in ["initdb", "pg_ctl"] {
            assert!(!text.contains(program), "scripts/{script} runs {program}");
        }
    }
}

/// Every `make` target is one line that calls `cargo xtask` or a script
/// (`make unit`: cargo itself), so that the work has one home.
#[test]
fn every_make_target_is_a_thin_entry_point() {
    let makefile = read("Makefile");
    let mut recipes = makefile.lines().filter(|line| line.starts_with('\t'));
    assert!(
        recipes.all(|recipe| {
            let recipe = recipe.trim_start_matches(['\t', '@']);
            ["$(XTASK) ", "cargo ", "scripts/"]
                .iter()
                .any(|start| recipe.starts_with(start))
        }),
        "a make target that does more than call cargo xtask or a script"
    );
}

/// A newcomer reads the README whole: what it is, the two commands, a
/// token, the architecture, deploying; everything else is a page it links.
#[test]
fn the_readme_stays_short() {
    let lines = read("README.md").lines().count();
    assert!(lines <= 90, "README.md has {lines} lines, 90 at most");
}

/// The workspace's one foreign-function code is the trust-roots crate:
/// no `unsafe` block, function, trait or extern anywhere else.
#[test]
fn no_unsafe_outside_the_trust_roots_crate() {
    let mut found = Vec::new();
    let mut stack = vec![root()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if path.is_dir() {
                if !["target", "node_modules", "trust-roots"].contains(&name.as_str())
                    && !name.starts_with('.')
                {
                    stack.push(path);
                }
            } else if name.ends_with(".rs") {
                let text = std::fs::read_to_string(&path).unwrap_or_default();
                for (n, line) in text.lines().enumerate() {
                    let code = line.split("//").next().unwrap_or_default();
                    let words: Vec<&str> = code.split_whitespace().collect();
                    if words.windows(2).any(|pair| {
                        pair[0] == "unsafe"
                            && (pair[1].starts_with('{')
                                || ["fn", "extern", "impl", "trait"].contains(&pair[1]))
                    }) {
                        found.push(format!("{}:{}", path.display(), n + 1));
                    }
                }
            }
        }
    }
    assert!(found.is_empty(), "unsafe outside trust-roots/: {found:?}");
}

/// CI on GitHub runs the README's test command, as `.ci/run` does: the
/// workflow's one `make` step is that command, word for word.
#[test]
fn the_ci_workflow_runs_the_readmes_test_command() {
    let readme = read("README.md");
    let command = readme
        .lines()
        .find(|line| line.starts_with("make ") && line.contains("# every test"))
        .and_then(|line| line.split('#').next())
        .map(str::trim)
        .expect("the README's test command (`make ...   # every test ...`)");
    let workflow: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(&read(".github/workflows/ci.yml")).expect("ci.yml is YAML");
    let jobs = workflow["jobs"].as_mapping().expect("ci.yml's jobs");
    let makes: Vec<String> = jobs
        .values()
        .filter_map(|job| job["steps"].as_sequence())
        .flatten()
        .filter_map(|step| step["run"].as_str())
        .map(str::trim)
        .filter(|run| run.starts_with("make "))
        .map(str::to_owned)
        .collect();
    assert_eq!(makes, [command], "ci.yml's make steps against the README's");
    assert!(
        read(".ci/run")
            .lines()
            .any(|line| line.trim_start().starts_with(command)),
        ".ci/run does not run {command}"
    );
}

/// Only building the docs function (and what serves its page) needs Node:
/// `cargo xtask` (its `token` among them) and `make bench` build the test
/// kit without the docs function's crate, and `make unit` leaves it out.
#[test]
fn the_tools_and_the_unit_tests_build_without_node() {
    let mut tree = std::process::Command::new(env!("CARGO"));
    tree.current_dir(root()).args([
        "tree",
        "--offline",
        "-e",
        "normal",
        "--prefix",
        "none",
        "-p",
        "xtask",
        "-p",
        "todo-bench",
    ]);
    let packages = todo_tests::output_of(&mut tree, "cargo tree");
    assert!(packages.contains("todo-tests v"), "{packages}");
    assert!(
        !packages.lines().any(|line| line.starts_with("docs v")),
        "the tools depend on the docs function: {packages}"
    );
    let makefile = read("Makefile");
    let unit = makefile
        .lines()
        .skip_while(|line| !line.starts_with("unit:"))
        .nth(1)
        .expect("make unit's command");
    assert!(
        unit.contains("--exclude docs") && unit.contains("--exclude todo-tests"),
        "{unit}"
    );
}
