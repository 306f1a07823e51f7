//! The markup of every form, read from the templates themselves (no server needed): every
//! field has a label, every error is tied to its field, every button has the one button
//! style, and that style's colours meet WCAG AA (contrast at least 4.5:1).

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

/// One start or end tag of a template, its attributes with the template's own tags
/// (`{% … %}`) removed, so both branches of a condition count, and `{{ … }}` kept as text
/// (so `id="{{ name }}-error"` matches `aria-describedby="{{ name }}-error"`).
#[derive(Debug)]
struct Tag {
    name: String,
    end: bool,
    attrs: BTreeMap<String, Vec<String>>,
    line: usize,
}

impl Tag {
    fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .get(name)
            .and_then(|v| v.first())
            .map(String::as_str)
    }
    fn has(&self, name: &str) -> bool {
        self.attrs.contains_key(name)
    }
    fn classes(&self) -> Vec<&str> {
        self.attrs
            .get("class")
            .into_iter()
            .flatten()
            .flat_map(|c| c.split_whitespace())
            .collect()
    }
}

fn templates() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "html") {
                out.push(path);
            }
        }
    }
    let mut out = Vec::new();
    walk(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("templates"),
        &mut out,
    );
    out.sort();
    out
}

/// Replaces `{% … %}` and `{# … #}` with a space and `{{ expr }}` with `{{expr}}` (quotes
/// made single), leaving the HTML between them.
fn flatten_template_tags(src: &str) -> String {
    let mut out = String::with_capacity(src.len());
    let mut rest = src;
    while let Some(i) = rest.find('{') {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        let close = if tail.starts_with("{%") {
            Some("%}")
        } else if tail.starts_with("{#") {
            Some("#}")
        } else if tail.starts_with("{{") {
            Some("}}")
        } else {
            None
        };
        match close {
            Some(c) => {
                let end = tail[2..].find(c).map(|e| e + 2).unwrap_or(tail.len() - 2);
                if c == "}}" {
                    let expr: String = tail[2..end]
                        .chars()
                        .filter(|ch| !ch.is_whitespace())
                        .map(|ch| if ch == '"' { '\'' } else { ch })
                        .collect();
                    out.push_str("{{");
                    out.push_str(&expr);
                    out.push_str("}}");
                } else {
                    // Keep line numbers.
                    out.extend(tail[..end + 2].chars().filter(|ch| *ch == '\n'));
                    out.push(' ');
                }
                rest = &tail[(end + 2).min(tail.len())..];
            }
            None => {
                out.push('{');
                rest = &tail[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

fn tags(src: &str) -> Vec<Tag> {
    let html = flatten_template_tags(src);
    let bytes = html.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let mut in_script = false;
    while i < bytes.len() {
        if bytes[i] != b'<' {
            i += 1;
            continue;
        }
        if html[i..].starts_with("<!--") {
            i = html[i..].find("-->").map_or(bytes.len(), |e| i + e + 3);
            continue;
        }
        let end_tag = bytes.get(i + 1) == Some(&b'/');
        let start = if end_tag { i + 2 } else { i + 1 };
        if !bytes.get(start).is_some_and(u8::is_ascii_alphabetic) {
            i += 1;
            continue;
        }
        let Some(close) = html[start..].find('>').map(|e| start + e) else {
            break;
        };
        let body = &html[start..close];
        let name_len = body
            .find(|c: char| c.is_whitespace() || c == '/')
            .unwrap_or(body.len());
        let name = body[..name_len].to_ascii_lowercase();
        let line = html[..i].matches('\n').count() + 1;
        i = close + 1;
        if in_script && !(end_tag && name == "script") {
            continue;
        }
        in_script = !end_tag && name == "script";
        out.push(Tag {
            attrs: attributes(&body[name_len..]),
            name,
            end: end_tag,
            line,
        });
    }
    out
}

fn attributes(s: &str) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut rest = s;
    loop {
        rest = rest.trim_start_matches(|c: char| c.is_whitespace() || c == '/');
        if rest.is_empty() {
            break;
        }
        let name_end = rest
            .find(|c: char| c.is_whitespace() || c == '=' || c == '/')
            .unwrap_or(rest.len());
        let name = rest[..name_end].to_ascii_lowercase();
        rest = &rest[name_end..];
        let value = if let Some(r) = rest.strip_prefix('=') {
            let (v, r) = match r.chars().next() {
                Some(q @ ('"' | '\'')) => {
                    let r = &r[1..];
                    let e = r.find(q).unwrap_or(r.len());
                    (r[..e].to_owned(), &r[(e + 1).min(r.len())..])
                }
                _ => {
                    let e = r.find(char::is_whitespace).unwrap_or(r.len());
                    (r[..e].to_owned(), &r[e..])
                }
            };
            rest = r;
            v
        } else {
            String::new()
        };
        if !name.is_empty() {
            out.entry(name).or_default().push(value);
        }
    }
    out
}

fn is_field(t: &Tag) -> bool {
    match t.name.as_str() {
        "select" | "textarea" => true,
        "input" => !matches!(
            t.attr("type").unwrap_or("text"),
            "hidden" | "submit" | "button" | "reset" | "image"
        ),
        _ => false,
    }
}

fn relative(path: &Path) -> String {
    path.strip_prefix(env!("CARGO_MANIFEST_DIR"))
        .unwrap_or(path)
        .display()
        .to_string()
}

/// Every input, select and textarea has a label: a `<label for>` naming its id, a
/// `<label>` around it, or an `aria-label`/`aria-labelledby`.
#[test]
fn every_field_has_a_label() {
    let mut problems = Vec::new();
    for path in templates() {
        let src = std::fs::read_to_string(&path).unwrap();
        let tags = tags(&src);
        let label_for: HashSet<&str> = tags
            .iter()
            .filter(|t| t.name == "label" && !t.end)
            .filter_map(|t| t.attr("for"))
            .collect();
        let mut in_label = 0usize;
        for t in &tags {
            if t.name == "label" {
                if t.end {
                    in_label = in_label.saturating_sub(1);
                } else {
                    in_label += 1;
                }
                continue;
            }
            if t.end || !is_field(t) {
                continue;
            }
            let labelled = in_label > 0
                || t.has("aria-label")
                || t.has("aria-labelledby")
                || t.attr("id").is_some_and(|id| label_for.contains(id));
            if !labelled {
                problems.push(format!(
                    "{}:{}: <{} name=\"{}\"> has no label",
                    relative(&path),
                    t.line,
                    t.name,
                    t.attr("name").unwrap_or("?")
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// Every field error (`.field-error`) has an id, and a field of the same template names
/// that id in its `aria-describedby` and can be marked `aria-invalid`: a screen reader
/// reads the error with the field.
#[test]
fn every_field_error_is_tied_to_its_field() {
    let mut problems = Vec::new();
    let mut errors_seen = 0;
    for path in templates() {
        let src = std::fs::read_to_string(&path).unwrap();
        let tags = tags(&src);
        let described: Vec<(&Tag, HashSet<&str>)> = tags
            .iter()
            .filter(|t| !t.end)
            .filter_map(|t| {
                let ids: HashSet<&str> = t
                    .attrs
                    .get("aria-describedby")?
                    .iter()
                    .flat_map(|v| v.split_whitespace())
                    .collect();
                Some((t, ids))
            })
            .collect();
        // One element must not carry the same attribute twice (the browser keeps the first).
        for t in tags.iter().filter(|t| !t.end && is_field(t)) {
            for (name, values) in &t.attrs {
                if values.len() > 1 && name.starts_with("aria-") {
                    problems.push(format!(
                        "{}:{}: <{}> has {name} twice",
                        relative(&path),
                        t.line,
                        t.name
                    ));
                }
            }
        }
        for t in tags
            .iter()
            .filter(|t| !t.end && t.classes().contains(&"field-error"))
        {
            errors_seen += 1;
            let Some(id) = t.attr("id") else {
                problems.push(format!(
                    "{}:{}: a field error without an id",
                    relative(&path),
                    t.line
                ));
                continue;
            };
            let field = described
                .iter()
                .find(|(_, ids)| ids.contains(id))
                .map(|(t, _)| *t);
            match field {
                None => problems.push(format!(
                    "{}:{}: the field error #{id} is not in any aria-describedby",
                    relative(&path),
                    t.line
                )),
                Some(f) if !(is_field(f) || f.name == "fieldset") => problems.push(format!(
                    "{}:{}: the field error #{id} describes a <{}>, not a field",
                    relative(&path),
                    t.line,
                    f.name
                )),
                // A group (fieldset) is described, its checkboxes are not each invalid.
                Some(f) if f.name != "fieldset" && !f.has("aria-invalid") => {
                    problems.push(format!(
                        "{}:{}: the field describing #{id} is never aria-invalid",
                        relative(&path),
                        t.line
                    ))
                }
                Some(_) => {}
            }
        }
    }
    // Most errors are written once, in the macros, and tied there for every call.
    let macro_calls: usize = templates()
        .iter()
        .map(|p| {
            std::fs::read_to_string(p)
                .unwrap()
                .matches("{% call ui::")
                .count()
        })
        .sum();
    assert!(
        errors_seen + macro_calls > 100,
        "only {errors_seen} field errors and {macro_calls} macro calls found"
    );
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// Every button (and every link or summary drawn as one) has the one button style:
/// `.button`, optionally with `.button-secondary` or `.button-danger`.
#[test]
fn every_button_has_the_button_style() {
    let mut problems = Vec::new();
    for path in templates() {
        let src = std::fs::read_to_string(&path).unwrap();
        for t in tags(&src).iter().filter(|t| !t.end) {
            let classes = t.classes();
            let variant = classes
                .iter()
                .any(|c| matches!(*c, "button-secondary" | "button-danger"));
            if (t.name == "button" || variant) && !classes.contains(&"button") {
                problems.push(format!(
                    "{}:{}: <{}> without class=\"button\"",
                    relative(&path),
                    t.line,
                    t.name
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The stylesheet's rules: selector and declarations, in source order (the rules inside
/// `@media` blocks are left out: they change sizes, not colours).
fn css_rules(css: &str) -> Vec<(String, BTreeMap<String, String>)> {
    let mut css = css.to_owned();
    while let Some(s) = css.find("/*") {
        let e = css[s..].find("*/").map_or(css.len(), |e| s + e + 2);
        css.replace_range(s..e, "");
    }
    let mut out = Vec::new();
    let mut depth = 0;
    let mut selector_start = 0;
    let mut block_start = 0;
    for (i, c) in css.char_indices() {
        match c {
            '{' => {
                if depth == 0 {
                    block_start = i;
                }
                depth += 1;
            }
            '}' => {
                depth -= 1;
                if depth == 0 {
                    let selector = css[selector_start..block_start].trim().to_owned();
                    if !selector.starts_with('@') {
                        let decls = css[block_start + 1..i]
                            .split(';')
                            .filter_map(|d| d.split_once(':'))
                            .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
                            .collect();
                        out.push((selector, decls));
                    }
                    selector_start = i + 1;
                }
            }
            _ => {}
        }
    }
    out
}

fn hex(c: &str) -> Option<[f64; 3]> {
    let h = c.strip_prefix('#')?;
    let h: String = if h.len() == 3 {
        h.chars().flat_map(|c| [c, c]).collect()
    } else {
        h.to_owned()
    };
    let n = u32::from_str_radix(&h, 16).ok()?;
    Some([(n >> 16) & 255, (n >> 8) & 255, n & 255].map(|v| f64::from(v) / 255.0))
}

fn luminance(rgb: [f64; 3]) -> f64 {
    let lin = |c: f64| {
        if c <= 0.03928 {
            c / 12.92
        } else {
            ((c + 0.055) / 1.055).powf(2.4)
        }
    };
    0.2126 * lin(rgb[0]) + 0.7152 * lin(rgb[1]) + 0.0722 * lin(rgb[2])
}

fn contrast(a: [f64; 3], b: [f64; 3]) -> f64 {
    let (la, lb) = (luminance(a), luminance(b));
    (la.max(lb) + 0.05) / (la.min(lb) + 0.05)
}

/// The three buttons — primary, secondary, danger — and their hover, disabled and
/// in-header states: text on background at least 4.5:1, from the stylesheet as written.
#[test]
fn button_colours_meet_aa_contrast() {
    let css = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("static/css/portal.css"),
    )
    .unwrap();
    let rules = css_rules(&css);
    let vars: BTreeMap<String, String> = rules
        .iter()
        .filter(|(s, _)| s == ":root")
        .flat_map(|(_, d)| d.clone())
        .filter(|(k, _)| k.starts_with("--"))
        .collect();
    let resolve = |v: &str| -> String {
        let v = v.trim();
        match v
            .strip_prefix("var(")
            .and_then(|r| r.strip_suffix(')'))
            .and_then(|name| vars.get(name.trim()))
        {
            Some(value) => value.clone(),
            None => v.to_owned(),
        }
    };
    // Each state: the selectors that apply to it, and the background under a transparent
    // button. The cascade picks, per property, the rule of highest specificity (classes,
    // attributes and pseudo-classes; these selectors have no ids), then the later one.
    let states: &[(&str, &[&str], &str)] = &[
        ("primary", &[".button"], "#ffffff"),
        ("primary:hover", &[".button", ".button:hover"], "#ffffff"),
        ("secondary", &[".button", ".button-secondary"], "#ffffff"),
        (
            "secondary:hover",
            &[
                ".button",
                ".button:hover",
                ".button-secondary",
                ".button-secondary:hover",
            ],
            "#ffffff",
        ),
        ("danger", &[".button", ".button-danger"], "#ffffff"),
        (
            "danger:hover",
            &[
                ".button",
                ".button:hover",
                ".button-danger",
                ".button-danger:hover",
            ],
            "#ffffff",
        ),
        ("disabled", &[".button", ".button[disabled]"], "#ffffff"),
        (
            "secondary in the header",
            &[
                ".button",
                ".button-secondary",
                ".site-header .button-secondary",
            ],
            "var(--accent)",
        ),
        (
            "secondary in the header:hover",
            &[
                ".button",
                ".button:hover",
                ".button-secondary",
                ".button-secondary:hover",
                ".site-header .button-secondary",
                ".site-header .button-secondary:hover",
            ],
            "var(--accent)",
        ),
    ];
    let specificity = |s: &str| s.matches(['.', '[', ':']).count();
    let mut report = Vec::new();
    for (state, selectors, under) in states {
        let mut color: Option<((usize, usize), String)> = None;
        let mut background: Option<((usize, usize), String)> = None;
        for (index, (selector, decls)) in rules.iter().enumerate() {
            let Some(spec) = selector
                .split(',')
                .map(str::trim)
                .filter(|s| selectors.contains(s))
                .map(specificity)
                .max()
            else {
                continue;
            };
            let weight = (spec, index);
            if let Some(c) = decls.get("color") {
                if color.as_ref().is_none_or(|(w, _)| *w <= weight) {
                    color = Some((weight, resolve(c)));
                }
            }
            for key in ["background", "background-color"] {
                if let Some(b) = decls.get(key) {
                    if background.as_ref().is_none_or(|(w, _)| *w <= weight) {
                        background = Some((weight, resolve(b)));
                    }
                }
            }
        }
        let color = color.map(|(_, c)| c).unwrap_or_else(|| "#1a1a1a".into());
        let background = match background.map(|(_, b)| b) {
            Some(b) if b != "transparent" => b,
            _ => resolve(under),
        };
        let (Some(fg), Some(bg)) = (hex(&color), hex(&background)) else {
            panic!("{state}: colours not in #rrggbb: {color} on {background}");
        };
        let ratio = contrast(fg, bg);
        report.push(format!("{state}: {color} on {background} = {ratio:.2}:1"));
        assert!(
            ratio >= 4.5,
            "{state}: {color} on {background} is only {ratio:.2}:1\n{}",
            report.join("\n")
        );
    }
    // The check reads the real rules: the primary button is white on the accent colour.
    assert!(
        report[0].contains("#fff on #0b4f9c"),
        "{}",
        report.join("\n")
    );
}

/// The form macros write `attrs` unescaped (`|safe`), so every `attrs=` a template passes
/// must be a string literal written in the template, never a value from a handler (which
/// could carry what a person typed).
#[test]
fn the_macros_unescaped_attributes_are_template_literals() {
    let mut problems = Vec::new();
    let mut calls = 0;
    for path in templates() {
        let src = std::fs::read_to_string(&path).unwrap();
        for (n, line) in src.lines().enumerate() {
            if !line.contains("{% call ui::") {
                continue;
            }
            let mut rest = line;
            while let Some(at) = rest.find("attrs=") {
                calls += 1;
                let value = &rest[at + "attrs=".len()..];
                let literal = value.starts_with('"')
                    && value[1..]
                        .find('"')
                        .is_some_and(|end| !value[1..1 + end].contains("{{"));
                if !literal {
                    problems.push(format!("{}:{}: {}", relative(&path), n + 1, line.trim()));
                }
                rest = &value[1..];
            }
        }
    }
    assert!(
        calls > 0,
        "no macro call passes attrs: the walk reads nothing"
    );
    assert!(
        problems.is_empty(),
        "attrs that are not literals:\n{}",
        problems.join("\n")
    );
}

/// Fields still written by hand, each with the reason (file, field name or id).
const HAND_WRITTEN: &[(&str, &str, &str)] = &[
    // Special: a read-only box showing a created link to copy, not a form field.
    ("chats/invite.html", "invite-link", "read-only link to copy"),
    (
        "invites/created.html",
        "invite-link",
        "read-only link to copy",
    ),
    ("operator/school.html", "new-link", "read-only link to copy"),
    // Special: one field per table row, labelled by aria-label or a row label, ids made
    // from the row's id (the macro's label and error block would break the row's layout).
    ("admin_rights/list.html", "reason", "per-row refusal reason"),
    (
        "invites/requests.html",
        "ids",
        "per-row pick box, aria-label",
    ),
    ("invites/requests.html", "child_id", "per-row child picker"),
    ("invites/requests.html", "reason", "per-row refusal reason"),
    (
        "people/verification.html",
        "reason",
        "per-row refusal reason",
    ),
    ("subjects/list.html", "class", "per-row assignment picker"),
    ("subjects/list.html", "teacher", "per-row assignment picker"),
    ("connector/settings.html", "chat_id", "per-row chat match"),
    ("stats/class.html", "kind", "per-row participation record"),
    ("stats/class.html", "reason", "per-row participation record"),
    (
        "stats/class.html",
        "channel",
        "per-row participation record",
    ),
    (
        "connector/presence.html",
        "confirm",
        "per-row confirmation box of a removal",
    ),
    (
        "subjects/list.html",
        "confirm",
        "per-subject confirmation box of the archive",
    ),
    (
        "admin_rights/list.html",
        "confirm",
        "per-row confirmation box of a revocation",
    ),
    (
        "chats/show.html",
        "confirm",
        "per-row confirmation box of a member's removal",
    ),
    (
        "connector/settings.html",
        "class_id",
        "per-row chat adoption",
    ),
    ("connector/settings.html", "kind", "per-row chat adoption"),
    (
        "movements/rollover.html",
        "target_{{s.id}}",
        "per-row target class",
    ),
    (
        "movements/rollover.html",
        "repeat",
        "per-row box, the student's id as value",
    ),
    (
        "movements/rollover.html",
        "conditional",
        "per-row box, the student's id as value",
    ),
    (
        "classes/leadership.html",
        "class_{{c.id}}",
        "per-row class teacher picker",
    ),
    // Special: a group of boxes or radios under one fieldset legend and one error.
    (
        "broadcasts/plan_fields.html",
        "aud",
        "checkbox group per class",
    ),
    (
        "broadcasts/plan_fields.html",
        "whole_school",
        "checkbox group",
    ),
    ("broadcasts/plan_fields.html", "staffroom", "checkbox group"),
    ("stats/school.html", "period", "radio group"),
    (
        "stats/school.html",
        "from",
        "one error for the period group",
    ),
    ("stats/school.html", "to", "one error for the period group"),
    // Special: a search row, the label above and the button beside the field.
    ("operator/schools.html", "q", "search row with its button"),
    // Special: the login field is tied both to the page's error box and its own error.
    ("auth/login.html", "login", "tied to the page error too"),
    (
        "auth/forgot.html",
        "login",
        "its error is the page's one error",
    ),
];

/// Every visible field is written by the macros of `macros/form.html` (label, hint, error
/// and value one way), except the few in [`HAND_WRITTEN`], each with its reason; an entry
/// that no longer matches a hand-written field must be removed.
#[test]
fn every_visible_field_comes_from_the_macros() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("templates");
    let mut problems = Vec::new();
    let mut used = HashSet::new();
    let mut by_macro = 0;
    for path in templates() {
        let file = path
            .strip_prefix(&root)
            .unwrap()
            .display()
            .to_string()
            .replace('\\', "/");
        let src = std::fs::read_to_string(&path).unwrap();
        by_macro += src.matches("{% call ui::").count();
        if file == "macros/form.html" {
            continue;
        }
        for t in tags(&src).iter().filter(|t| !t.end && is_field(t)) {
            let keys = [t.attr("name"), t.attr("id")];
            let allowed = HAND_WRITTEN
                .iter()
                .position(|(f, n, _)| *f == file && keys.iter().flatten().any(|k| k == n));
            match allowed {
                Some(i) => {
                    used.insert(i);
                }
                None => problems.push(format!(
                    "{file}:{}: <{} name=\"{}\"> is written by hand: use ui::field, \
                     ui::textarea, ui::select or ui::checkbox",
                    t.line,
                    t.name,
                    t.attr("name").unwrap_or("?")
                )),
            }
        }
    }
    for (i, (f, n, _)) in HAND_WRITTEN.iter().enumerate() {
        if !used.contains(&i) {
            problems.push(format!(
                "{f}: {n} is in HAND_WRITTEN but no longer written by hand"
            ));
        }
    }
    assert!(by_macro > 140, "only {by_macro} macro calls found");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
