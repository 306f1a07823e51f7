//! Rules of the code's shape that the compiler alone does not hold.

/// The school scope is the only key to school data (ARCHITECTURE rule 1, issue 8): outside
/// `src/auth`, no function takes a bare `SchoolId` (or `Option<SchoolId>`) parameter; they
/// take the `Tenant` that only a proof makes, so the compiler finds every place that could
/// read another school.
#[test]
fn no_function_outside_auth_takes_a_bare_school_id() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut offenders = Vec::new();
    let mut stack = vec![root.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let rel = path
                .strip_prefix(&root)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            if !rel.ends_with(".rs") || rel.starts_with("auth/") || rel == "ids.rs" {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            for (name, params) in fn_params(&text) {
                let flat: String = params.split_whitespace().collect();
                if flat.contains(":SchoolId") || flat.contains(":Option<SchoolId>") {
                    offenders.push(format!("src/{rel}: fn {name}"));
                }
            }
        }
    }
    offenders.sort();
    assert!(
        offenders.is_empty(),
        "these take a bare SchoolId; take the Tenant (or &SchoolScope) instead:\n{}",
        offenders.join("\n")
    );
}

/// Every `fn name(...)` in a source text with its parameter list.
fn fn_params(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find("fn ") {
        let boundary = i == 0 || !rest.as_bytes()[i - 1].is_ascii_alphanumeric();
        let after = &rest[i + 3..];
        rest = after;
        if !boundary {
            continue;
        }
        let name: String = after
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        let Some(open) = after.find('(') else { break };
        if name.is_empty() || after[name.len()..open].contains(['{', ';']) {
            continue;
        }
        let mut depth = 0;
        let mut end = open;
        for (k, c) in after[open..].char_indices() {
            match c {
                '(' => depth += 1,
                ')' => {
                    depth -= 1;
                    if depth == 0 {
                        end = open + k;
                        break;
                    }
                }
                _ => {}
            }
        }
        out.push((name, after[open + 1..end].to_owned()));
    }
    out
}

#[test]
fn the_scanner_sees_a_bare_school_id() {
    let found = fn_params("pub async fn rows(conn: &mut PgConnection, school: SchoolId) {}");
    assert_eq!(found.len(), 1);
    assert!(found[0].1.contains("school: SchoolId"));
}

/// The README's test command is the one `.ci/run` runs (a local green is the CI's green),
/// and it runs the browser journeys, which are `#[ignore]`d so that a plain `cargo test`
/// reports them as skipped instead of passing them.
#[test]
fn readme_test_command_is_the_one_ci_runs() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let command = |text: &str| -> Vec<String> {
        text.lines()
            .map(|l| l.split('#').next().unwrap_or("").trim().to_owned())
            .filter(|l| l.starts_with("cargo test"))
            .collect()
    };
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let ci = std::fs::read_to_string(root.join(".ci/run")).unwrap();
    let readme_block = readme
        .split("## Two commands")
        .nth(1)
        .and_then(|s| s.split("```sh").nth(1))
        .and_then(|s| s.split("```").next())
        .expect("README's «Two commands» block");
    assert_eq!(command(readme_block), ["cargo test -- --include-ignored"]);
    assert_eq!(
        command(&ci),
        command(readme_block),
        ".ci/run runs another test command"
    );
}

/// The CHECK on `schools.timezone` (migrations/0023) lists exactly the zones the portal's
/// clock knows (`web::clock::TIMEZONES`).
#[test]
fn the_timezone_check_lists_the_supported_zones() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let sql = std::fs::read_to_string(root.join("migrations/0023_school_timezones.sql")).unwrap();
    let listed: Vec<&str> = sql
        .split("check (timezone in (")
        .nth(1)
        .unwrap()
        .split("))")
        .next()
        .unwrap()
        .split(',')
        .map(|z| z.trim().trim_matches('\''))
        .collect();
    let known: Vec<&str> = school_portal::web::clock::TIMEZONES
        .iter()
        .map(|(name, _, _)| *name)
        .collect();
    assert_eq!(listed, known);
}

/// `audit` and `auth::extract` do not depend on each other both ways (issue 16): the route
/// guard and `RequestMeta` live in `web`, the guard records denials through `audit`, and
/// neither `auth::extract` nor the session machinery reaches into `audit`.
#[test]
fn audit_and_the_extractors_are_no_cycle() {
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let read = |p: &str| std::fs::read_to_string(src.join(p)).unwrap();
    let extract = read("auth/extract.rs");
    assert!(!extract.contains("audit"), "auth/extract.rs uses audit");
    assert!(
        !extract.contains("pub async fn guard"),
        "the guard lives in web"
    );
    assert!(
        !extract.contains("pub struct RequestMeta"),
        "RequestMeta lives in web"
    );
    for file in [
        "audit/mod.rs",
        "audit/page.rs",
        "audit/actions.rs",
        "audit/names.rs",
    ] {
        let text = read(file);
        for dep in [
            "auth::session",
            "auth::permissions::Access",
            "extract::RequestMeta",
        ] {
            assert!(!text.contains(dep), "src/{file} uses {dep}");
        }
    }
    assert!(read("web/request_meta.rs").contains("pub struct RequestMeta"));
    assert!(read("web/guard.rs").contains("pub async fn guard"));
}
