//! The text form of cgminer API replies (api.c with a plain request):
//! `STATUS=S,When=1700000000,Code=11,Msg=Summary,Description=cgminer 4.11.1|SUMMARY,Elapsed=60,...|`.
//!
//! Sections are separated by `|`, fields by `,`, and each field is `Key=Value`; since API
//! 1.7 the four characters `| , = \` are escaped with a backslash inside keys and values.
//! A field without `=` names its section (`SUMMARY`) and carries no data.

use serde_json::{Map, Value};

/// Parses a text reply into the shape of the JSON reply to the same command:
/// `{"STATUS":[{..}], section:[{..}, ..]}`, every value a string. The first section is
/// the status when its first key is `STATUS`; every other section goes under `section`.
pub(crate) fn parse_text(reply: &str, section: &str) -> Value {
    let reply = reply.trim_matches(|c: char| c == '\0' || c.is_whitespace());
    let mut sections = split(reply).into_iter();
    let mut root = Map::new();
    let mut items = Vec::new();
    if let Some(first) = sections.next() {
        let is_status = first.first().is_some_and(|(key, _)| key == "STATUS");
        let object = Value::Object(to_object(first));
        if is_status {
            root.insert("STATUS".to_owned(), Value::Array(vec![object]));
        } else {
            items.push(object);
        }
    }
    // A section of bare names only carries no data.
    items.extend(
        sections
            .map(to_object)
            .filter(|object| !object.is_empty())
            .map(Value::Object),
    );
    if !items.is_empty() {
        root.insert(section.to_owned(), Value::Array(items));
    }
    Value::Object(root)
}

/// A field: its unescaped key, and its value when it had a `=`.
type Field = (String, Option<String>);

fn to_object(fields: Vec<Field>) -> Map<String, Value> {
    fields
        .into_iter()
        .filter_map(|(key, value)| Some((key, Value::String(value?))))
        .collect()
}

/// Splits a reply into sections of fields, honouring backslash escapes.
fn split(reply: &str) -> Vec<Vec<Field>> {
    let mut sections = Vec::new();
    let mut fields = Vec::new();
    let mut key = String::new();
    let mut value: Option<String> = None;
    let mut chars = reply.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                let current = value.as_mut().unwrap_or(&mut key);
                match chars.next() {
                    Some(next @ ('|' | ',' | '=' | '\\')) => current.push(next),
                    Some(next) => {
                        current.push('\\');
                        current.push(next);
                    }
                    None => current.push('\\'),
                }
            }
            '|' => {
                end_field(&mut fields, &mut key, &mut value);
                if !fields.is_empty() {
                    sections.push(std::mem::take(&mut fields));
                }
            }
            ',' => end_field(&mut fields, &mut key, &mut value),
            '=' if value.is_none() => value = Some(String::new()),
            c => value.as_mut().unwrap_or(&mut key).push(c),
        }
    }
    end_field(&mut fields, &mut key, &mut value);
    if !fields.is_empty() {
        sections.push(fields);
    }
    sections
}

fn end_field(fields: &mut Vec<Field>, key: &mut String, value: &mut Option<String>) {
    if !key.is_empty() || value.is_some() {
        fields.push((std::mem::take(key), value.take()));
    }
}
