//! Checking a whole document at once, as `config check` and `serve` do: unknown keys
//! (with the nearest known key), wrong types and semantic issues together, each with its
//! key path and line.
//!
//! [`Config::from_yaml_str`](super::Config::from_yaml_str) stops at the first shape error,
//! as serde does. Here the document is parsed into a YAML value first; unknown keys are
//! found by comparing it with the defaults' shape, and each value of the wrong type is
//! reported and taken out (so its default applies) until the rest deserializes. The
//! semantic checks then run on what is left.

use std::collections::HashMap;

use serde_norway::{Mapping, Value};

use super::bounds::events::{Event, Parser};
use super::{Config, ConfigError, Issue};

/// Most wrong-typed values reported before the check gives up on the document.
const MAX_SHAPE_ERRORS: usize = 64;

/// What checking a document found.
#[derive(Debug)]
pub struct Report {
    /// The config, with the default in place of every value reported as an issue.
    pub config: Config,
    /// Every problem, in the order found; the config is valid when this is empty.
    pub issues: Vec<Issue>,
    /// Doubts that do not stop the node.
    pub warnings: Vec<Issue>,
}

impl Config {
    /// Checks a YAML document and returns every problem at once, with lines.
    ///
    /// # Errors
    ///
    /// Returns the errors of [`Config::from_yaml_str`] that leave nothing to check: a
    /// bound passed, an empty document, invalid YAML, or a document that is not a mapping.
    pub fn check_yaml_str(yaml: &str) -> Result<Report, ConfigError> {
        super::bounds::check(yaml)?;
        let mut value: Value = match serde_norway::from_str(yaml) {
            Ok(Value::Null) => return Err(ConfigError::Empty),
            Ok(value) => value,
            Err(err) => return Err(ConfigError::parse(String::new(), err)),
        };
        if !value.is_mapping() {
            let got = match value {
                Value::Sequence(_) => "a list",
                _ => "a single value",
            };
            return Ok(Report {
                config: Config::default(),
                issues: vec![Issue {
                    line: Some(1),
                    ..Issue::new(
                        "",
                        format!(
                            "expected a mapping of sections (app, mining, pool, ...), got {got}; \
                             see config.example.yaml"
                        ),
                    )
                }],
                warnings: Vec::new(),
            });
        }
        let lines = key_lines(yaml);
        let schema = serde_norway::to_value(Config::default()).unwrap_or(Value::Null);
        let mut issues = Vec::new();
        unknown_keys(&mut value, &schema, "", &schema, &mut issues);
        let config = loop {
            match serde_path_to_error::deserialize::<_, Config>(value.clone()) {
                Ok(config) => break config,
                Err(err) => {
                    let path = err.path().to_string();
                    let issue = ConfigError::parse(path.clone(), err.into_inner()).to_issue();
                    issues.push(issue);
                    if issues.len() >= MAX_SHAPE_ERRORS || !remove_path(&mut value, &path) {
                        // Nothing more can be taken out: report what was found.
                        attach_lines(&mut issues, &lines);
                        return Ok(Report {
                            config: Config::default(),
                            issues,
                            warnings: Vec::new(),
                        });
                    }
                }
            }
        };
        let (found, mut warnings) = super::validate::validate(&config);
        let chains_named = value.get("chains").is_some();
        for issue in found {
            // Without `chains` the default chain is assumed; a window written for
            // another chain is then a doubt, not an error.
            if !chains_named && issue.path == "pool.rewards.window" {
                warnings.push(Issue::new(
                    issue.path,
                    format!(
                        "{} (checked against the default chain, as the file names no chains)",
                        issue.message
                    ),
                ));
            } else {
                issues.push(issue);
            }
        }
        attach_lines(&mut issues, &lines);
        attach_lines(&mut warnings, &lines);
        Ok(Report {
            config,
            issues,
            warnings,
        })
    }

    /// Reads the file at `path` and checks it, as [`Config::check_yaml_str`].
    ///
    /// # Errors
    ///
    /// The errors of [`Config::load`] that leave nothing to check.
    pub fn check_file(path: impl AsRef<std::path::Path>) -> Result<Report, ConfigError> {
        let text = super::read_text(path.as_ref())?;
        Self::check_yaml_str(&text)
    }
}

/// Reports and removes every key of `value` that `schema` lacks, at `path`.
fn unknown_keys(value: &mut Value, schema: &Value, path: &str, root: &Value, out: &mut Vec<Issue>) {
    match (value, schema) {
        (Value::Mapping(map), Value::Mapping(known)) => {
            let mut unknown = Vec::new();
            for (key, child) in map.iter_mut() {
                let name = key_name(key);
                let child_path = join(path, &name);
                match known.get(key) {
                    Some(child_schema) => unknown_keys(child, child_schema, &child_path, root, out),
                    None => {
                        out.push(Issue::new(
                            child_path,
                            unknown_key_message(&name, known, path, root),
                        ));
                        unknown.push(key.clone());
                    }
                }
            }
            for key in unknown {
                map.remove(&key);
            }
        }
        // Every item of a list is checked against the default's first item.
        (Value::Sequence(items), Value::Sequence(known)) => {
            if let Some(item_schema) = known.first() {
                for (i, item) in items.iter_mut().enumerate() {
                    unknown_keys(item, item_schema, &format!("{path}[{i}]"), root, out);
                }
            }
        }
        // A scalar where a mapping belongs (or the reverse) is a type error, reported
        // by the typed parse.
        _ => {}
    }
}

/// Says that `name` is unknown under `parent`, with the nearest known key.
fn unknown_key_message(name: &str, known: &Mapping, parent: &str, root: &Value) -> String {
    let siblings: Vec<String> = known.keys().map(key_name).collect();
    let nearest = siblings
        .iter()
        .map(|k| (edit_distance(name, k), k))
        .min_by_key(|(d, _)| *d)
        .filter(|(d, k)| *d <= (k.len().max(name.len()) / 3).max(1));
    let quoted = super::quote(name);
    if let Some((_, key)) = nearest {
        return format!("unknown key {quoted}; did you mean {}?", join(parent, key));
    }
    // The key may belong to another section (`pool.priority` for `mining.cpu.priority`).
    let mut elsewhere = Vec::new();
    schema_paths(root, "", &mut elsewhere);
    if let Some(path) = elsewhere
        .iter()
        .find(|p| p.rsplit('.').next() == Some(name))
    {
        return format!("unknown key {quoted} here; did you mean {path}?");
    }
    format!(
        "unknown key {quoted}; expected one of {}",
        siblings.join(", ")
    )
}

/// Collects the key paths of `schema`.
fn schema_paths(schema: &Value, path: &str, out: &mut Vec<String>) {
    match schema {
        Value::Mapping(map) => {
            for (key, child) in map {
                let child_path = join(path, &key_name(key));
                schema_paths(child, &child_path, out);
                out.push(child_path);
            }
        }
        Value::Sequence(items) => {
            if let Some(first) = items.first() {
                schema_paths(first, &format!("{path}[0]"), out);
            }
        }
        _ => {}
    }
}

/// Levenshtein distance between `a` and `b`, in characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (diagonal + usize::from(ca != *cb))
                .min(row[j] + 1)
                .min(above + 1);
            diagonal = above;
        }
    }
    row[b.len()]
}

fn key_name(key: &Value) -> String {
    match key {
        Value::String(s) => s.clone(),
        other => serde_norway::to_string(other)
            .map(|s| s.trim_end().to_owned())
            .unwrap_or_default(),
    }
}

fn join(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_owned()
    } else {
        format!("{parent}.{key}")
    }
}

/// Splits a key path (`chains[0].daemons[1].url`) into keys and indices.
fn segments(path: &str) -> Vec<Segment<'_>> {
    let mut out = Vec::new();
    for part in path.split('.').filter(|p| !p.is_empty()) {
        let (key, mut rest) = part.split_once('[').map_or((part, ""), |(k, r)| (k, r));
        if !key.is_empty() {
            out.push(Segment::Key(key));
        }
        while let Some((index, after)) = rest.split_once(']') {
            if let Ok(i) = index.parse() {
                out.push(Segment::Index(i));
            }
            rest = after.strip_prefix('[').unwrap_or(after);
        }
    }
    out
}

enum Segment<'a> {
    Key(&'a str),
    Index(usize),
}

/// Removes the value at `path` from its mapping (an item of a list takes its whole
/// list with it). Returns whether anything was removed.
fn remove_path(value: &mut Value, path: &str) -> bool {
    let segments = segments(path);
    // The last key in the path: what is removed.
    let Some(last_key) = segments.iter().rposition(|s| matches!(s, Segment::Key(_))) else {
        return false;
    };
    let mut cur = value;
    for segment in &segments[..last_key] {
        let next = match (segment, cur) {
            (Segment::Key(k), Value::Mapping(m)) => m.get_mut(*k),
            (Segment::Index(i), Value::Sequence(s)) => s.get_mut(*i),
            _ => None,
        };
        match next {
            Some(next) => cur = next,
            None => return false,
        }
    }
    match (&segments[last_key], cur) {
        (Segment::Key(k), Value::Mapping(m)) => m.remove(*k).is_some(),
        _ => false,
    }
}

/// Returns the line of every key and list item of `yaml`, by key path.
fn key_lines(yaml: &str) -> HashMap<String, u64> {
    enum Frame {
        Mapping { path: String, key: Option<String> },
        Sequence { path: String, index: usize },
    }
    /// The path of the next value inside `stack`'s innermost collection.
    fn value_path(stack: &[Frame]) -> Option<String> {
        match stack.last()? {
            Frame::Mapping { path, key } => key.as_deref().map(|k| join(path, k)),
            Frame::Sequence { path, index } => Some(format!("{path}[{index}]")),
        }
    }
    /// Records that a value ended, so a mapping expects a key again and a list moves on.
    fn value_done(stack: &mut [Frame]) {
        match stack.last_mut() {
            Some(Frame::Mapping { key, .. }) => *key = None,
            Some(Frame::Sequence { index, .. }) => *index += 1,
            None => {}
        }
    }
    let mut lines = HashMap::new();
    let Some(mut parser) = Parser::new(yaml.as_bytes()) else {
        return lines;
    };
    let mut stack: Vec<Frame> = Vec::new();
    while let Some((event, mark)) = parser.next() {
        match event {
            Event::StreamEnd => break,
            Event::Other => {}
            Event::Scalar { text, .. } => {
                if let Some(Frame::Mapping {
                    key: key @ None,
                    path,
                }) = stack.last_mut()
                {
                    let text = text.unwrap_or_default();
                    lines.entry(join(path, &text)).or_insert(mark.line);
                    *key = Some(text);
                } else {
                    if let Some(path) = value_path(&stack) {
                        lines.entry(path).or_insert(mark.line);
                    }
                    value_done(&mut stack);
                }
            }
            Event::Alias { .. } => value_done(&mut stack),
            Event::Start { mapping, .. } => {
                let path = match stack.last() {
                    None => Some(String::new()),
                    Some(_) => value_path(&stack),
                };
                // A collection used as a key has no path; its contents get a dummy one.
                let path = path.unwrap_or_else(|| "?".into());
                if let Some(Frame::Sequence { .. }) = stack.last() {
                    lines.entry(path.clone()).or_insert(mark.line);
                }
                stack.push(if mapping {
                    Frame::Mapping { path, key: None }
                } else {
                    Frame::Sequence { path, index: 0 }
                });
            }
            Event::End => {
                stack.pop();
                value_done(&mut stack);
            }
        }
    }
    lines
}

/// Gives each issue the line of its key, or of the nearest enclosing key written.
fn attach_lines(issues: &mut [Issue], lines: &HashMap<String, u64>) {
    for issue in issues {
        let mut path = issue.path.as_str();
        issue.line = loop {
            if let Some(line) = lines.get(path) {
                break Some(*line);
            }
            match path.rfind(['.', '[']) {
                Some(end) => path = &path[..end],
                None => break None,
            }
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_distance_counts_edits() {
        assert_eq!(edit_distance("prioity", "priority"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("enabled", "enable"), 1);
        assert_eq!(edit_distance("same", "same"), 0);
    }

    #[test]
    fn key_lines_follow_mappings_and_lists() {
        let yaml = "app:\n  name: x\nchains:\n  - spec: ltc-main\n    daemons:\n      - url: u\n";
        let lines = key_lines(yaml);
        assert_eq!(lines.get("app"), Some(&1));
        assert_eq!(lines.get("app.name"), Some(&2));
        assert_eq!(lines.get("chains[0]"), Some(&4));
        assert_eq!(lines.get("chains[0].spec"), Some(&4));
        assert_eq!(lines.get("chains[0].daemons[0].url"), Some(&6));
    }

    #[test]
    fn remove_path_takes_out_keys_and_lists() {
        let mut v: Value =
            serde_norway::from_str("a: { b: 1, c: [1, x] }\nd: [ { e: 1 } ]\n").expect("yaml");
        assert!(remove_path(&mut v, "a.b"));
        assert!(remove_path(&mut v, "a.c[1]"));
        assert!(remove_path(&mut v, "d[0].e"));
        assert!(!remove_path(&mut v, "."));
        assert_eq!(
            serde_norway::to_string(&v).expect("yaml"),
            "a: {}\nd:\n- {}\n"
        );
    }
}
