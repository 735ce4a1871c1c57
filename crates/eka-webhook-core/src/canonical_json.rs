//! `JSON.stringify(JSON.parse(text))` without a JavaScript engine, for the one door that
//! receives bytes with no V8 at hand: the standalone server. (Bodies that arrive through JS are
//! canonicalised by V8 itself.)
//!
//! serde_json parses: `preserve_order` keeps members in textual order, and a duplicated key
//! keeps its first position and its last value, as in V8. This module writes what V8 writes:
//! array-index keys (`"0"` to `"4294967294"`, no leading zero) first in ascending numeric
//! order, numbers as ECMAScript `Number::toString` (`ryu-js`; `-0` as `0`), and
//! `JSON.stringify`'s escapes, which serde_json's string writer shares for valid UTF-8.
//!
//! Texts serde_json refuses have no canonical form here (`None`): an escaped lone surrogate, a
//! number beyond f64 (`±Infinity` for `JSON.parse`), more than 128 nested containers. Such
//! bodies are verified as their raw bytes only.

use serde_json::{Map, Value};

/// The canonical text of `text`, or `None` when serde_json does not parse it.
pub fn canonicalize(text: &str) -> Option<Vec<u8>> {
    let value: Value = serde_json::from_str(text).ok()?;
    let mut out = Vec::with_capacity(text.len());
    write_value(&value, &mut out);
    Some(out)
}

/// Recursive: serde_json's parse stops at 128 levels, so this does too.
fn write_value(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        // Every number serde_json parses is a finite f64 or an integer; integers round to the
        // nearest f64 exactly as JSON.parse reads their decimal text.
        Value::Number(n) => {
            let number = n.as_f64().unwrap_or_default();
            out.extend_from_slice(ryu_js::Buffer::new().format_finite(number).as_bytes());
        }
        Value::String(s) => write_string(s, out),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(item, out);
            }
            out.push(b']');
        }
        Value::Object(members) => write_object(members, out),
    }
}

fn write_object(members: &Map<String, Value>, out: &mut Vec<u8>) {
    let mut indexed: Vec<(u32, &String, &Value)> = members
        .iter()
        .filter_map(|(k, v)| Some((array_index(k)?, k, v)))
        .collect();
    indexed.sort_unstable_by_key(|(index, _, _)| *index);
    let named = members.iter().filter(|(k, _)| array_index(k).is_none());
    out.push(b'{');
    for (i, (key, value)) in indexed
        .into_iter()
        .map(|(_, k, v)| (k, v))
        .chain(named)
        .enumerate()
    {
        if i > 0 {
            out.push(b',');
        }
        write_string(key, out);
        out.push(b':');
        write_value(value, out);
    }
    out.push(b'}');
}

/// The array index a key names, for V8's property order: the canonical decimal text of an
/// integer from 0 to 2^32 - 2.
fn array_index(key: &str) -> Option<u32> {
    let canonical = !key.is_empty() && key.len() <= 10 && (key == "0" || !key.starts_with('0'));
    if !canonical || !key.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    key.parse::<u32>().ok().filter(|&index| index != u32::MAX)
}

fn write_string(text: &str, out: &mut Vec<u8>) {
    // Writing into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, text);
}

#[cfg(test)]
mod tests {
    use super::canonicalize;

    fn canonical(text: &str) -> Option<String> {
        canonicalize(text).map(|bytes| String::from_utf8(bytes).unwrap())
    }

    #[test]
    fn writes_what_v8_writes() {
        // Expected texts: node -p 'JSON.stringify(JSON.parse(text))'.
        let cases = [
            (
                r#"{"b":1,"a":2,"1":3,"0":4}"#,
                r#"{"0":4,"1":3,"b":1,"a":2}"#,
            ),
            (r#"{"a":1,"b":0,"a":2}"#, r#"{"a":2,"b":0}"#),
            (
                r#"{"4294967295":1,"4294967294":2,"01":3,"1":4}"#,
                r#"{"1":4,"4294967294":2,"4294967295":1,"01":3}"#,
            ),
            (r#"{"__proto__":{"x":1}}"#, r#"{"__proto__":{"x":1}}"#),
            (
                "[1.0,1e21,1E-7,-0,0.1,100e-2,1e20,5e-324]",
                "[1,1e+21,1e-7,0,0.1,1,100000000000000000000,5e-324]",
            ),
            (
                "[18446744073709551615,-9223372036854775809,123456789012345678901234567890]",
                "[18446744073709552000,-9223372036854776000,1.2345678901234568e+29]",
            ),
            (
                r#"["\u00e9\ud83d\ude00\u001f\/\b\f\n\r\t\"\\","\u007f","\u2028"]"#,
                "[\"é😀\\u001f/\\b\\f\\n\\r\\t\\\"\\\\\",\"\u{7f}\",\"\u{2028}\"]",
            ),
            (
                " { \"nested\" : { \"z\" : [ { \"x\" : null } , true , false ] } } ",
                r#"{"nested":{"z":[{"x":null},true,false]}}"#,
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(canonical(text).as_deref(), Some(expected), "{text}");
        }
    }

    #[test]
    fn texts_serde_json_refuses_have_no_canonical_form() {
        for text in [
            r#"{"s":"\ud800"}"#,
            "[1e400]",
            &format!("{}{}", "[".repeat(200), "]".repeat(200)),
            "{",
            "\u{feff}{}",
        ] {
            assert_eq!(canonical(text), None, "{text}");
        }
    }

    /// Replays the corpus generated by `tests/fixtures/make_canonical_corpus.mjs` (expected
    /// outputs computed by Node's `JSON.stringify(JSON.parse(input))`): every text serde_json
    /// parses is written as V8 writes it, every text JSON.parse refuses has no canonical form,
    /// and serde_json refuses JSON only for the documented reasons. The envelope reader and the
    /// nesting count are held to the same corpus.
    #[test]
    fn node_corpus() {
        use crate::envelope::{is_too_deep, read_envelope, EnvelopeError};
        let corpus: Vec<serde_json::Value> =
            serde_json::from_str(include_str!("../tests/fixtures/canonical_corpus.json")).unwrap();
        let mut checked = 0;
        for case in &corpus {
            let name = case["name"].as_str().unwrap();
            let input: Vec<u8> = match (case.get("input"), case.get("input_hex")) {
                (Some(text), None) => text.as_str().unwrap().as_bytes().to_vec(),
                (None, Some(hex)) => hex::decode(hex.as_str().unwrap()).unwrap(),
                _ => panic!("{name}: needs input or input_hex"),
            };
            let flag =
                |field: &str| case.get(field).and_then(serde_json::Value::as_bool) == Some(true);
            assert_eq!(is_too_deep(&input), flag("too_deep"), "{name}");
            let Ok(text) = std::str::from_utf8(&input) else {
                assert!(flag("invalid_utf8"), "{name}");
                continue;
            };
            let json_parse_accepts = case.get("expected").is_some() || flag("too_deep");
            let wrapped = format!(r#"{{"data":{text},"event":"appointment.created"}}"#);
            assert_eq!(
                read_envelope(&wrapped) != Err(EnvelopeError::Invalid),
                json_parse_accepts,
                "{name}"
            );
            match (canonicalize(text), case.get("expected")) {
                (Some(ours), Some(expected)) => assert_eq!(
                    String::from_utf8(ours).unwrap(),
                    expected.as_str().unwrap(),
                    "{name}"
                ),
                (Some(ours), None) => panic!("{name}: JSON.parse refuses it, yet {ours:?}"),
                (None, _) if !json_parse_accepts => {}
                (None, _) => {
                    let refusal = serde_json::from_str::<serde_json::Value>(text)
                        .unwrap_err()
                        .to_string();
                    let documented = [
                        "lone leading surrogate",
                        "unexpected end of hex escape",
                        "number out of range",
                        "recursion limit exceeded",
                    ];
                    assert!(
                        documented.iter().any(|d| refusal.starts_with(d)),
                        "{name}: serde_json refuses it: {refusal}"
                    );
                }
            }
            checked += 1;
        }
        assert!(checked >= 150, "{checked} cases");
    }
}
