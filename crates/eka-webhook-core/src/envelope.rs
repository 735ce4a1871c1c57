//! What the pipeline needs of a body besides its bytes: the nesting rule, and for the standalone
//! server (the only door without `JSON.parse`) the fields it reads, `event`,
//! `data.appointment_id` and `data.p_aid`.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::events::is_appointment_event;

/// 1000 nested arrays/objects are accepted, 1001 are refused.
pub const MAX_DEPTH: usize = 1000;

/// The fields the pipeline reads; `None` when absent or not a string.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Envelope {
    pub event: Option<String>,
    pub appointment_id: Option<String>,
    pub p_aid: Option<String>,
    /// The top-level `transaction_id`: the delivery ledger's key.
    pub transaction_id: Option<String>,
}

/// Why a body has no envelope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnvelopeError {
    /// Not JSON (or not UTF-8).
    Invalid,
    /// JSON, but not an object.
    NotAnObject,
}

/// True when a JSON text nests more than [`MAX_DEPTH`] arrays and objects: a count of the
/// brackets outside strings, not a parse.
pub fn is_too_deep(text: &[u8]) -> bool {
    // Brackets inside strings only add to this count: at most MAX_DEPTH is the common answer,
    // one vectorised pass (u8 counters, 255 bytes at a time, cannot overflow).
    let opening: usize = text
        .chunks(255)
        .map(|chunk| {
            usize::from(
                chunk
                    .iter()
                    .map(|&b| u8::from(b == b'[' || b == b'{'))
                    .sum::<u8>(),
            )
        })
        .sum();
    if opening <= MAX_DEPTH {
        return false;
    }
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for &b in text {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' if depth == MAX_DEPTH => return true,
            b'[' | b'{' => depth += 1,
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
}

/// Checks the grammar with serde_json (values it does not read are skipped without recursion,
/// so any depth is fine) and reads the [`Envelope`]. Like `JSON.parse`, the last of duplicated
/// keys wins, and a lone surrogate escape is accepted (it becomes U+FFFD in a field read).
/// `data` is read only for appointment events, the only ones that use its fields.
pub fn read_envelope(text: &str) -> Result<Envelope, EnvelopeError> {
    let trimmed = text.trim_start_matches([' ', '\t', '\n', '\r']);
    if !trimmed.starts_with('{') {
        return match serde_json::from_str::<IgnoredAny>(text) {
            Ok(_) => Err(EnvelopeError::NotAnObject),
            Err(_) => Err(EnvelopeError::Invalid),
        };
    }
    let [event, data, transaction_id] =
        members(text, ["event", "data", "transaction_id"]).ok_or(EnvelopeError::Invalid)?;
    let event = string_of(event);
    let [appointment_id, p_aid] = match data {
        Some(data)
            if event.as_deref().is_some_and(is_appointment_event)
                && data.get().starts_with('{') =>
        {
            members(data.get(), ["appointment_id", "p_aid"]).ok_or(EnvelopeError::Invalid)?
        }
        _ => [None, None],
    };
    Ok(Envelope {
        event,
        appointment_id: string_of(appointment_id),
        p_aid: string_of(p_aid),
        transaction_id: string_of(transaction_id),
    })
}

/// The named members of the object `text`, as raw JSON.
fn members<'a, const N: usize>(
    text: &'a str,
    names: [&'static str; N],
) -> Option<[Option<&'a RawValue>; N]> {
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let found = Members(names).deserialize(&mut deserializer).ok()?;
    deserializer.end().ok()?;
    Some(found)
}

/// The content of a key that serde_json has checked as a JSON string (with its quotes).
fn text_of_key(raw: &RawValue) -> Result<Cow<'_, [u8]>, serde_json::Error> {
    let quoted = raw.get();
    if quoted.contains('\\') {
        return serde_json::from_str::<Text>(quoted).map(|text| Cow::Owned(text.0.into_owned()));
    }
    Ok(Cow::Borrowed(&quoted.as_bytes()[1..quoted.len() - 1]))
}

fn string_of(raw: Option<&RawValue>) -> Option<String> {
    let text = serde_json::from_str::<Text>(raw?.get()).ok()?;
    Some(String::from_utf8_lossy(&text.0).into_owned())
}

struct Members<const N: usize>([&'static str; N]);

impl<'de, const N: usize> DeserializeSeed<'de> for Members<N> {
    type Value = [Option<&'de RawValue>; N];

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de, const N: usize> Visitor<'de> for Members<N> {
    type Value = [Option<&'de RawValue>; N];

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut found = [None; N];
        // Keys as raw JSON: a `Text` key would skip serde_json's control-character check.
        while let Some(key) = map.next_key::<&RawValue>()? {
            let key = text_of_key(key).map_err(de::Error::custom)?;
            match self.0.iter().position(|name| name.as_bytes() == &*key) {
                Some(i) => found[i] = Some(map.next_value()?),
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(found)
    }
}

/// A JSON string's content as bytes: serde_json then accepts escaped lone surrogates (as
/// WTF-8), which `JSON.parse` accepts too.
struct Text<'de>(Cow<'de, [u8]>);

impl<'de> Deserialize<'de> for Text<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_bytes(TextVisitor)
    }
}

struct TextVisitor;

impl<'de> Visitor<'de> for TextVisitor {
    type Value = Text<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON string")
    }

    fn visit_borrowed_bytes<E: de::Error>(self, v: &'de [u8]) -> Result<Self::Value, E> {
        Ok(Text(Cow::Borrowed(v)))
    }

    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Self::Value, E> {
        Ok(Text(Cow::Owned(v.to_vec())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn envelope(
        event: Option<&str>,
        appointment_id: Option<&str>,
        p_aid: Option<&str>,
    ) -> Envelope {
        let owned = |s: Option<&str>| s.map(str::to_string);
        Envelope {
            event: owned(event),
            appointment_id: owned(appointment_id),
            p_aid: owned(p_aid),
            transaction_id: None,
        }
    }

    #[test]
    fn reads_the_fields_like_json_parse() {
        let cases = [
            (
                r#"{"event":"appointment.created","data":{"appointment_id":"apt","p_aid":"p"}}"#,
                envelope(Some("appointment.created"), Some("apt"), Some("p")),
            ),
            (
                r#" {"event":"x","event":"y","ev\u0065nt2":1} "#,
                envelope(Some("y"), None, None),
            ),
            (
                r#"{"event":"appointment.updated","data":{"appointment_id":1,"p_aid":null}}"#,
                envelope(Some("appointment.updated"), None, None),
            ),
            (
                r#"{"event":"prescription.created","data":{"appointment_id":"apt"}}"#,
                envelope(Some("prescription.created"), None, None),
            ),
            (
                r#"{"data":{"appointment_id":"apt"},"event":7}"#,
                envelope(None, None, None),
            ),
            (
                r#"{"data":[1],"x":{"\ud800":[[[["\udc00"]]]]},"event":"\u0041\ud800"}"#,
                envelope(Some("A\u{fffd}\u{fffd}\u{fffd}"), None, None),
            ),
            (
                r#"{"data":{"data":{"appointment_id":"deep"}},"n":1e400,"event":"appointment.created"}"#,
                envelope(Some("appointment.created"), None, None),
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(read_envelope(text), Ok(expected), "{text}");
        }
        let deep = format!(
            r#"{{"event":"e","d":{}{}}}"#,
            "[".repeat(5000),
            "]".repeat(5000)
        );
        assert_eq!(
            read_envelope(&deep).map(|e| e.event),
            Ok(Some("e".to_string()))
        );
    }

    #[test]
    fn reads_keys_written_with_escapes() {
        let text = r#"{"\u0065vent":"appointment.created","\ud800":1,"data":{"p_\u0061id":"p"}}"#;
        assert_eq!(
            read_envelope(text),
            Ok(envelope(Some("appointment.created"), None, Some("p")))
        );
    }

    #[test]
    fn refuses_what_json_parse_refuses() {
        for text in [
            "",
            "{",
            r#"{"event":"x"} x"#,
            r#"{"event":"x",}"#,
            "{\"a\":\"\u{1}\"}",
            // A raw control character in a key (found by the canonical_json fuzz target).
            "{\"ev\u{0}ent\":\"x\"}",
            "{\"event\":\"appointment.created\",\"data\":{\"p_aid\u{1f}\":\"p\"}}",
            "{\"\\u0065vent\u{1}\":\"x\"}",
            r#"{"a":01}"#,
            "\u{feff}{}",
        ] {
            assert_eq!(read_envelope(text), Err(EnvelopeError::Invalid), "{text:?}");
        }
        for text in ["[]", " 1 ", r#""\ud800""#, "null"] {
            assert_eq!(
                read_envelope(text),
                Err(EnvelopeError::NotAnObject),
                "{text:?}"
            );
        }
    }

    #[test]
    fn depth_is_a_bracket_count_outside_strings() {
        let nest = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
        assert!(!is_too_deep(nest(MAX_DEPTH).as_bytes()));
        assert!(is_too_deep(nest(MAX_DEPTH + 1).as_bytes()));
        let brackets_in_strings = format!(r#"["{}\"{}"]"#, "[".repeat(2000), "{".repeat(2000));
        assert!(!is_too_deep(brackets_in_strings.as_bytes()));
        let object_levels = format!(
            "{}1{}",
            r#"{"a":"#.repeat(MAX_DEPTH + 1),
            "}".repeat(MAX_DEPTH + 1)
        );
        assert!(is_too_deep(object_levels.as_bytes()));
    }
}
