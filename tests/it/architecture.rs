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
