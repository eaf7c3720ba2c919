//! A small YAML writer for JSON values: block maps and lists, every string double-quoted (JSON string
//! syntax is valid YAML), so no value can be misread as a number, boolean or tag.

use serde_json::Value;

/// `value` as a YAML document.
pub(crate) fn to_yaml(value: &Value) -> String {
    let mut out = String::new();
    write(&mut out, value, 0);
    out
}

fn scalar(value: &Value) -> Option<String> {
    match value {
        Value::Null => Some("null".into()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) => Some(Value::String(s.clone()).to_string()),
        Value::Array(a) if a.is_empty() => Some("[]".into()),
        Value::Object(o) if o.is_empty() => Some("{}".into()),
        _ => None,
    }
}

fn write(out: &mut String, value: &Value, indent: usize) {
    let pad = " ".repeat(indent);
    match value {
        Value::Object(map) => {
            for (key, item) in map {
                let key = if key
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == ':' || c == '_')
                    && !key.is_empty()
                {
                    key.clone()
                } else {
                    Value::String(key.clone()).to_string()
                };
                match scalar(item) {
                    Some(text) => out.push_str(&format!("{pad}{key}: {text}\n")),
                    None => {
                        out.push_str(&format!("{pad}{key}:\n"));
                        write(out, item, indent + 2);
                    }
                }
            }
        }
        Value::Array(items) => {
            for item in items {
                match scalar(item) {
                    Some(text) => out.push_str(&format!("{pad}- {text}\n")),
                    None => {
                        // The first line of a nested block goes right after the dash.
                        let mut nested = String::new();
                        write(&mut nested, item, indent + 2);
                        let trimmed = nested.trim_start_matches(' ');
                        out.push_str(&format!("{pad}- {trimmed}"));
                    }
                }
            }
        }
        other => out.push_str(&format!("{pad}{}\n", scalar(other).unwrap_or_default())),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::to_yaml;

    #[test]
    fn nested_values_render_as_block_yaml_with_quoted_strings() {
        let value = json!({
            "A": {"Ref": "X", "List": ["a", 1, true, {"K": "v", "L": "w"}], "Empty": []},
            "weird key": "yes",
        });
        assert_eq!(
            to_yaml(&value),
            "A:\n  Empty: []\n  List:\n    - \"a\"\n    - 1\n    - true\n    - K: \"v\"\n      L: \"w\"\n  Ref: \"X\"\n\"weird key\": \"yes\"\n"
        );
    }
}
