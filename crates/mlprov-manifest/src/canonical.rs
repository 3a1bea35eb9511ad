//! Deterministic JSON: object keys sorted by their UTF-8 bytes, integers only, no
//! insignificant whitespace in the canonical form. Same value, same bytes, on any machine.

use serde_json::Value;

/// Compact canonical bytes (the form to sign): sorted keys, no whitespace.
pub fn to_canonical_json(value: &Value) -> String {
    let mut out = String::new();
    write(value, None, 0, &mut out);
    out
}

/// Human-readable form with the same key order: two-space indent, trailing newline.
pub fn to_pretty_json(value: &Value) -> String {
    let mut out = String::new();
    write(value, Some(2), 0, &mut out);
    out.push('\n');
    out
}

fn newline(indent: Option<usize>, depth: usize, out: &mut String) {
    if let Some(n) = indent {
        out.push('\n');
        out.extend(std::iter::repeat_n(' ', n * depth));
    }
}

fn write(value: &Value, indent: Option<usize>, depth: usize, out: &mut String) {
    match value {
        Value::Array(items) if !items.is_empty() => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                newline(indent, depth + 1, out);
                write(item, indent, depth + 1, out);
            }
            newline(indent, depth, out);
            out.push(']');
        }
        Value::Object(map) if !map.is_empty() => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort_unstable();
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                newline(indent, depth + 1, out);
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                if indent.is_some() {
                    out.push(' ');
                }
                write(&map[key], indent, depth + 1, out);
            }
            newline(indent, depth, out);
            out.push('}');
        }
        // Scalars, `[]` and `{}`: serde_json's own rendering is already deterministic.
        other => out.push_str(&other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sorts_keys_at_every_depth() {
        let v = json!({"b": 1, "a": {"z": [1, {"y": 2, "x": 3}], "c": "é"}});
        assert_eq!(
            to_canonical_json(&v),
            r#"{"a":{"c":"é","z":[1,{"x":3,"y":2}]},"b":1}"#
        );
        let pretty = to_pretty_json(&v);
        assert!(pretty.starts_with("{\n  \"a\": {\n    \"c\": \"é\""));
        let back: Value = serde_json::from_str(&pretty).unwrap();
        assert_eq!(back, v);
    }
}
