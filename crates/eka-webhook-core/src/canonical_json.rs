//! Canonical JSON: `JSON.stringify(JSON.parse(text))`, byte for byte, without a JavaScript engine.
//!
//! Webhook bodies are signed over the sender's compact serialisation, but proxies and
//! frameworks sometimes hand us a re-formatted body (pretty-printed, keys in another
//! textual order, numbers written as `1.0` or `1E2`, `\u0041` instead of `A`, ...). To verify
//! the HMAC we rebuild exactly the text that Node's `JSON.stringify(JSON.parse(body))` would
//! produce. This module does that with V8's semantics:
//!
//! * **Grammar**: strict RFC 8259 / ECMA-404, like `JSON.parse`. Whitespace is only space,
//!   `\t`, `\n`, `\r` (a UTF-8 BOM is rejected, as `JSON.parse` rejects U+FEFF). No leading
//!   zeros, `+1`, `.5`, `1.`, trailing commas, comments, single quotes, or unescaped control
//!   characters in strings. Any JSON value is a valid top-level text.
//! * **Input encoding**: the input must be valid UTF-8; invalid UTF-8 is an error (Node would
//!   have decoded it with U+FFFD replacement; we refuse instead — a deliberate choice).
//! * **Strings** keep their UTF-16 code units faithfully, lone surrogates included (`"\ud800"`
//!   is legal JSON). Two escapes forming a surrogate pair become one supplementary character.
//! * **Numbers** are IEEE-754 doubles, correctly rounded; overflow gives ±Infinity, which
//!   stringifies as `null`; `-0` stringifies as `0`; output uses ECMAScript
//!   `Number::toString` (via `ryu-js`).
//! * **Objects** follow V8 property order: keys that are array indices (canonical decimal
//!   strings of integers `0..=4294967294`) come first in ascending numeric order, then the
//!   other keys in first-insertion order. A duplicated key keeps the position of its first
//!   occurrence and the value of its last. `__proto__` is an ordinary key.
//! * **Output** is `JSON.stringify` without indentation: `"` and `\` escaped, `\b \f \n \r \t`
//!   short escapes, other code units below U+0020 as `\u00xx` (lowercase hex), lone surrogates
//!   as `\udxxx` (lowercase hex), everything else (U+2028/2029, DEL, non-ASCII) raw UTF-8.
//!
//! Nesting is limited to [`DEFAULT_MAX_DEPTH`] containers (or a caller-chosen limit). Parsing,
//! writing and [`JsonValue::to_serde`] are iterative, so none of them uses native stack
//! proportional to the depth; only dropping a [`JsonValue`] (and serde_json's drop of the
//! `to_serde` result) recurses, and relies on that limit: on a 2 MB thread stack dropping works
//! to about 5,000 levels in a debug build and 20,000 in release, far above the default.
//!
//! Internally a [`JsonString`] is stored as WTF-8 (UTF-8 generalised to encode lone surrogates
//! as three-byte sequences), so strings without escapes are a single slice copy of the input
//! and are written back with a single copy.

use std::borrow::Cow;
use std::fmt;

/// The nesting limit used by [`parse`] and [`canonicalize`]: 1000 nested arrays/objects parse,
/// 1001 are rejected with [`JsonError::TooDeep`].
pub const DEFAULT_MAX_DEPTH: usize = 1000;

/// Why a text was rejected. Offsets are byte offsets into the input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JsonError {
    /// The text ended before the value was complete (including empty / all-whitespace input).
    #[error("unexpected end of JSON input")]
    UnexpectedEnd,
    /// A character that the grammar does not allow at this place (also trailing content
    /// after the top-level value, and a leading byte-order mark).
    #[error("unexpected character {ch:?} at byte {offset}")]
    UnexpectedCharacter { ch: char, offset: usize },
    /// The input is not valid UTF-8 from this offset on.
    #[error("invalid UTF-8 at byte {offset}")]
    InvalidUtf8 { offset: usize },
    /// A code point below U+0020 appeared unescaped inside a string literal.
    #[error("unescaped control character {ch:?} in string at byte {offset}")]
    ControlCharacterInString { ch: char, offset: usize },
    /// A backslash followed by something other than `" \ / b f n r t u`.
    #[error("invalid escape sequence at byte {offset}")]
    InvalidEscape { offset: usize },
    /// A `\u` escape not followed by four hexadecimal digits.
    #[error("invalid \\u escape at byte {offset}")]
    InvalidUnicodeEscape { offset: usize },
    /// More than `max_depth` arrays/objects were nested; `offset` is the opening bracket that
    /// went over the limit.
    #[error("JSON nested deeper than {max_depth} levels")]
    TooDeep { max_depth: usize, offset: usize },
}

impl JsonError {
    /// True for [`JsonError::TooDeep`]: the text may be valid JSON that `JSON.parse` would
    /// accept, but it is nested deeper than we are willing to process.
    pub fn is_too_deep(&self) -> bool {
        matches!(self, JsonError::TooDeep { .. })
    }
}

/// A JSON string: a sequence of UTF-16 code units, lone surrogates allowed.
///
/// Stored as WTF-8: valid UTF-8 unless the string has lone surrogates, which take the
/// three-byte form `ED A0..BF xx`. Surrogate pairs are always stored as the 4-byte encoding of
/// the supplementary character, so equal code-unit sequences have equal bytes.
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct JsonString {
    wtf8: Vec<u8>,
}

impl JsonString {
    /// Builds a string from UTF-16 code units, keeping lone surrogates.
    pub fn from_utf16(units: &[u16]) -> JsonString {
        let mut wtf8 = Vec::with_capacity(units.len());
        for unit in char::decode_utf16(units.iter().copied()) {
            match unit {
                Ok(c) => push_code_point(&mut wtf8, c as u32),
                Err(e) => push_code_point(&mut wtf8, u32::from(e.unpaired_surrogate())),
            }
        }
        JsonString { wtf8 }
    }

    /// The UTF-16 code units of the string (what a JavaScript string would hold).
    pub fn to_utf16(&self) -> Vec<u16> {
        let mut units = Vec::with_capacity(self.wtf8.len());
        for_each_code_point(&self.wtf8, |cp| {
            if cp >= 0x1_0000 {
                let v = cp - 0x1_0000;
                units.push(0xD800 | (v >> 10) as u16);
                units.push(0xDC00 | (v & 0x3FF) as u16);
            } else {
                units.push(cp as u16);
            }
        });
        units
    }

    /// The string as UTF-8, or `None` if it contains a lone surrogate.
    pub fn as_utf8(&self) -> Option<&str> {
        std::str::from_utf8(&self.wtf8).ok()
    }

    /// The string as UTF-8, each lone surrogate replaced by U+FFFD (like JavaScript's
    /// `String.prototype.toWellFormed`, or Node's UTF-8 encoding of such a string).
    pub fn to_string_lossy(&self) -> Cow<'_, str> {
        if let Ok(s) = std::str::from_utf8(&self.wtf8) {
            return Cow::Borrowed(s);
        }
        let mut s = String::with_capacity(self.wtf8.len());
        for_each_code_point(&self.wtf8, |cp| {
            s.push(char::from_u32(cp).unwrap_or(char::REPLACEMENT_CHARACTER));
        });
        Cow::Owned(s)
    }

    /// True if the string contains at least one lone (unpaired) surrogate.
    pub fn has_lone_surrogates(&self) -> bool {
        std::str::from_utf8(&self.wtf8).is_err()
    }
}

impl From<&str> for JsonString {
    fn from(s: &str) -> JsonString {
        JsonString {
            wtf8: s.as_bytes().to_vec(),
        }
    }
}

impl From<String> for JsonString {
    fn from(s: String) -> JsonString {
        JsonString {
            wtf8: s.into_bytes(),
        }
    }
}

impl PartialEq<str> for JsonString {
    fn eq(&self, other: &str) -> bool {
        self.wtf8 == other.as_bytes()
    }
}

impl PartialEq<&str> for JsonString {
    fn eq(&self, other: &&str) -> bool {
        self.wtf8 == other.as_bytes()
    }
}

impl fmt::Debug for JsonString {
    /// Shows the string as its canonical JSON literal (lone surrogates as `\udxxx`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = Vec::with_capacity(self.wtf8.len() + 2);
        write_string(&self.wtf8, &mut out);
        f.write_str(&String::from_utf8_lossy(&out))
    }
}

/// A JSON object whose members are kept in V8's property order (see the module docs), with
/// duplicate keys already resolved.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct JsonObject {
    entries: Vec<(JsonString, JsonValue)>,
}

impl JsonObject {
    /// An empty object.
    pub fn new() -> JsonObject {
        JsonObject::default()
    }

    /// Builds an object the way `JSON.parse` would from members in textual order: duplicates
    /// keep the first position and the last value, array-index keys move to the front in
    /// ascending numeric order.
    pub fn from_entries<I: IntoIterator<Item = (JsonString, JsonValue)>>(entries: I) -> JsonObject {
        JsonObject::from_parsed(entries.into_iter().collect())
    }

    fn from_parsed(mut entries: Vec<(JsonString, JsonValue)>) -> JsonObject {
        dedupe_keys(&mut entries);
        order_index_keys(&mut entries);
        JsonObject { entries }
    }

    /// Number of (distinct) members.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True if the object has no members.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The value of member `key`, if present.
    pub fn get(&self, key: &str) -> Option<&JsonValue> {
        let key = key.as_bytes();
        self.entries
            .iter()
            .find(|(k, _)| k.wtf8 == key)
            .map(|(_, v)| v)
    }

    /// Members in V8 property order (the order `JSON.stringify` writes them).
    pub fn iter(&self) -> impl Iterator<Item = (&JsonString, &JsonValue)> + '_ {
        self.entries.iter().map(|(k, v)| (k, v))
    }
}

/// A parsed JSON value.
#[derive(Debug, Clone, PartialEq)]
pub enum JsonValue {
    Null,
    Bool(bool),
    /// Always what `JSON.parse` yields: finite, or ±Infinity for literals that overflow (never
    /// NaN). `-0` is kept as `-0.0` and written as `0`.
    Number(f64),
    String(JsonString),
    Array(Vec<JsonValue>),
    Object(JsonObject),
}

impl JsonValue {
    /// Object member lookup; `None` if `self` is not an object or has no such member.
    pub fn get(&self, key: &str) -> Option<&JsonValue> {
        match self {
            JsonValue::Object(obj) => obj.get(key),
            _ => None,
        }
    }

    /// The string value as UTF-8; `None` for non-strings. A lone surrogate is replaced by
    /// U+FFFD (so the result is borrowed unless the string has lone surrogates).
    pub fn as_str(&self) -> Option<Cow<'_, str>> {
        match self {
            JsonValue::String(s) => Some(s.to_string_lossy()),
            _ => None,
        }
    }

    /// True for objects.
    pub fn is_object(&self) -> bool {
        matches!(self, JsonValue::Object(_))
    }

    /// The object, if this is one.
    pub fn as_object(&self) -> Option<&JsonObject> {
        match self {
            JsonValue::Object(obj) => Some(obj),
            _ => None,
        }
    }

    /// The elements, if this is an array.
    pub fn as_array(&self) -> Option<&[JsonValue]> {
        match self {
            JsonValue::Array(items) => Some(items),
            _ => None,
        }
    }

    /// The number, if this is one.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            JsonValue::Number(n) => Some(*n),
            _ => None,
        }
    }

    /// The boolean, if this is one.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            JsonValue::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// Converts to a `serde_json::Value`, lossily where serde_json cannot hold the value:
    /// lone surrogates become U+FFFD, non-finite numbers become `null` (as `JSON.stringify`
    /// writes them), integral numbers of magnitude up to 2^53 become integer numbers, other
    /// numbers floats. Member order follows serde_json's `Map` (sorted unless serde_json's
    /// `preserve_order` feature is on).
    pub fn to_serde(&self) -> serde_json::Value {
        use serde_json::{Map, Value};
        enum Open<'v> {
            Array(std::slice::Iter<'v, JsonValue>, Vec<Value>),
            Object(
                std::slice::Iter<'v, (JsonString, JsonValue)>,
                Map<String, Value>,
                String,
            ),
        }
        // Iterative, like `write_canonical`: no native recursion per nesting level.
        let mut stack: Vec<Open<'_>> = Vec::new();
        let mut current = self;
        loop {
            let mut done = match current {
                JsonValue::Null => Value::Null,
                JsonValue::Bool(b) => Value::Bool(*b),
                JsonValue::Number(n) => number_to_serde(*n),
                JsonValue::String(s) => Value::String(s.to_string_lossy().into_owned()),
                JsonValue::Array(items) => {
                    let mut iter = items.iter();
                    match iter.next() {
                        Some(first) => {
                            stack.push(Open::Array(iter, Vec::with_capacity(items.len())));
                            current = first;
                            continue;
                        }
                        None => Value::Array(Vec::new()),
                    }
                }
                JsonValue::Object(obj) => {
                    let mut iter = obj.entries.iter();
                    match iter.next() {
                        Some((key, first)) => {
                            let key = key.to_string_lossy().into_owned();
                            stack.push(Open::Object(iter, Map::new(), key));
                            current = first;
                            continue;
                        }
                        None => Value::Object(Map::new()),
                    }
                }
            };
            loop {
                match stack.last_mut() {
                    None => return done,
                    Some(Open::Array(iter, items)) => {
                        items.push(done);
                        if let Some(next) = iter.next() {
                            current = next;
                            break;
                        }
                        let Some(Open::Array(_, items)) = stack.pop() else {
                            unreachable!()
                        };
                        done = Value::Array(items);
                    }
                    Some(Open::Object(iter, map, key)) => {
                        map.insert(std::mem::take(key), done);
                        if let Some((next_key, next)) = iter.next() {
                            *key = next_key.to_string_lossy().into_owned();
                            current = next;
                            break;
                        }
                        let Some(Open::Object(_, map, _)) = stack.pop() else {
                            unreachable!()
                        };
                        done = Value::Object(map);
                    }
                }
            }
        }
    }
}

impl fmt::Display for JsonValue {
    /// Writes the canonical (`JSON.stringify`) text.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let out = to_canonical_vec(self);
        // Canonical output is always valid UTF-8 (lone surrogates are escaped).
        f.write_str(&String::from_utf8_lossy(&out))
    }
}

fn number_to_serde(n: f64) -> serde_json::Value {
    const MAX_SAFE: f64 = 9_007_199_254_740_992.0; // 2^53
    if !n.is_finite() {
        return serde_json::Value::Null;
    }
    if n.trunc() == n && n.abs() <= MAX_SAFE {
        return if n >= 0.0 {
            serde_json::Value::from(n as u64)
        } else {
            serde_json::Value::from(n as i64)
        };
    }
    serde_json::Number::from_f64(n).map_or(serde_json::Value::Null, serde_json::Value::Number)
}

// ---------------------------------------------------------------------------------------------
// Parsing
// ---------------------------------------------------------------------------------------------

/// Parses `input` with `JSON.parse` semantics and [`DEFAULT_MAX_DEPTH`].
pub fn parse(input: &[u8]) -> Result<JsonValue, JsonError> {
    parse_with_max_depth(input, DEFAULT_MAX_DEPTH)
}

/// Parses `input` with `JSON.parse` semantics, rejecting more than `max_depth` nested
/// arrays/objects (`0` allows only scalars). The parser is iterative; see the module docs for
/// why very large limits are still unwise.
pub fn parse_with_max_depth(input: &[u8], max_depth: usize) -> Result<JsonValue, JsonError> {
    let text = std::str::from_utf8(input).map_err(|e| JsonError::InvalidUtf8 {
        offset: e.valid_up_to(),
    })?;
    Parser {
        text,
        bytes: input,
        pos: 0,
    }
    .parse_document(max_depth)
}

/// `JSON.stringify(JSON.parse(input))` as UTF-8 bytes.
pub fn canonicalize(input: &[u8]) -> Result<Vec<u8>, JsonError> {
    let value = parse(input)?;
    let mut out = Vec::with_capacity(input.len());
    write_canonical(&value, &mut out);
    Ok(out)
}

/// Bytes that end the fast scan inside a string literal: `"`, `\` and control characters.
static STRING_SPECIAL: [bool; 256] = {
    let mut table = [false; 256];
    let mut i = 0;
    while i < 0x20 {
        table[i] = true;
        i += 1;
    }
    table[b'"' as usize] = true;
    table[b'\\' as usize] = true;
    table
};

enum Frame {
    Array(Vec<JsonValue>),
    /// Members so far, and the key whose value is being parsed.
    Object(Vec<(JsonString, JsonValue)>, JsonString),
}

struct Parser<'a> {
    /// The same bytes as `bytes`, known to be valid UTF-8 (used for error messages).
    text: &'a str,
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Parser<'a> {
    #[inline]
    fn skip_ws(&mut self) {
        while let Some(&b) = self.bytes.get(self.pos) {
            if b == b' ' || b == b'\n' || b == b'\r' || b == b'\t' {
                self.pos += 1;
            } else {
                break;
            }
        }
    }

    #[inline]
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    /// The error for whatever is at `offset`: end of input or an unexpected character.
    #[cold]
    fn unexpected_at(&self, offset: usize) -> JsonError {
        match self.text.get(offset..).and_then(|rest| rest.chars().next()) {
            Some(ch) => JsonError::UnexpectedCharacter { ch, offset },
            None if offset >= self.bytes.len() => JsonError::UnexpectedEnd,
            None => JsonError::UnexpectedCharacter {
                ch: char::REPLACEMENT_CHARACTER,
                offset,
            },
        }
    }

    #[cold]
    fn unexpected(&self) -> JsonError {
        self.unexpected_at(self.pos)
    }

    fn parse_document(mut self, max_depth: usize) -> Result<JsonValue, JsonError> {
        let mut stack: Vec<Frame> = Vec::new();
        'value: loop {
            self.skip_ws();
            let mut value = match self.peek() {
                None => return Err(JsonError::UnexpectedEnd),
                Some(b'{') => {
                    if stack.len() >= max_depth {
                        return Err(JsonError::TooDeep {
                            max_depth,
                            offset: self.pos,
                        });
                    }
                    self.pos += 1;
                    self.skip_ws();
                    match self.peek() {
                        Some(b'}') => {
                            self.pos += 1;
                            JsonValue::Object(JsonObject::new())
                        }
                        Some(b'"') => {
                            let key = self.parse_key()?;
                            stack.push(Frame::Object(Vec::new(), key));
                            continue 'value;
                        }
                        _ => return Err(self.unexpected()),
                    }
                }
                Some(b'[') => {
                    if stack.len() >= max_depth {
                        return Err(JsonError::TooDeep {
                            max_depth,
                            offset: self.pos,
                        });
                    }
                    self.pos += 1;
                    self.skip_ws();
                    if self.peek() == Some(b']') {
                        self.pos += 1;
                        JsonValue::Array(Vec::new())
                    } else {
                        stack.push(Frame::Array(Vec::new()));
                        continue 'value;
                    }
                }
                Some(b'"') => JsonValue::String(self.parse_string()?),
                Some(b't') => {
                    self.expect_literal(b"true")?;
                    JsonValue::Bool(true)
                }
                Some(b'f') => {
                    self.expect_literal(b"false")?;
                    JsonValue::Bool(false)
                }
                Some(b'n') => {
                    self.expect_literal(b"null")?;
                    JsonValue::Null
                }
                Some(b'-' | b'0'..=b'9') => JsonValue::Number(self.parse_number()?),
                Some(_) => return Err(self.unexpected()),
            };

            // `value` is complete: hand it to the enclosing containers, closing as many as the
            // text closes here.
            loop {
                self.skip_ws();
                match stack.last_mut() {
                    None => {
                        return if self.pos == self.bytes.len() {
                            Ok(value)
                        } else {
                            Err(self.unexpected())
                        };
                    }
                    Some(Frame::Array(items)) => {
                        items.push(value);
                        match self.peek() {
                            Some(b',') => {
                                self.pos += 1;
                                continue 'value;
                            }
                            Some(b']') => {
                                self.pos += 1;
                                let Some(Frame::Array(items)) = stack.pop() else {
                                    unreachable!("top frame is an array")
                                };
                                value = JsonValue::Array(items);
                            }
                            _ => return Err(self.unexpected()),
                        }
                    }
                    Some(Frame::Object(entries, key)) => {
                        entries.push((std::mem::take(key), value));
                        match self.peek() {
                            Some(b',') => {
                                self.pos += 1;
                                self.skip_ws();
                                if self.peek() != Some(b'"') {
                                    return Err(self.unexpected());
                                }
                                *key = self.parse_key()?;
                                continue 'value;
                            }
                            Some(b'}') => {
                                self.pos += 1;
                                let Some(Frame::Object(entries, _)) = stack.pop() else {
                                    unreachable!("top frame is an object")
                                };
                                value = JsonValue::Object(JsonObject::from_parsed(entries));
                            }
                            _ => return Err(self.unexpected()),
                        }
                    }
                }
            }
        }
    }

    fn expect_literal(&mut self, literal: &[u8]) -> Result<(), JsonError> {
        for (i, &expected) in literal.iter().enumerate() {
            if self.bytes.get(self.pos + i) != Some(&expected) {
                return Err(self.unexpected_at(self.pos + i));
            }
        }
        self.pos += literal.len();
        Ok(())
    }

    /// A member name (at `"`), the whitespace after it and the `:`.
    fn parse_key(&mut self) -> Result<JsonString, JsonError> {
        let key = self.parse_string()?;
        self.skip_ws();
        if self.peek() != Some(b':') {
            return Err(self.unexpected());
        }
        self.pos += 1;
        Ok(key)
    }

    /// A string literal starting at the `"` at `self.pos`.
    fn parse_string(&mut self) -> Result<JsonString, JsonError> {
        let bytes = self.bytes;
        let start = self.pos + 1;
        let mut i = start;
        // Fast path: no escapes, one copy.
        loop {
            let Some(&b) = bytes.get(i) else {
                return Err(JsonError::UnexpectedEnd);
            };
            if !STRING_SPECIAL[b as usize] {
                i += 1;
                continue;
            }
            if b == b'"' {
                self.pos = i + 1;
                return Ok(JsonString {
                    wtf8: bytes[start..i].to_vec(),
                });
            }
            if b == b'\\' {
                break;
            }
            return Err(self.control_char(i));
        }
        // Slow path: decode escapes into a buffer.
        let mut buf = Vec::with_capacity(i - start + 16);
        buf.extend_from_slice(&bytes[start..i]);
        loop {
            let run_start = i;
            while i < bytes.len() && !STRING_SPECIAL[bytes[i] as usize] {
                i += 1;
            }
            buf.extend_from_slice(&bytes[run_start..i]);
            let Some(&b) = bytes.get(i) else {
                return Err(JsonError::UnexpectedEnd);
            };
            match b {
                b'"' => {
                    self.pos = i + 1;
                    return Ok(JsonString { wtf8: buf });
                }
                b'\\' => i = self.parse_escape(i, &mut buf)?,
                _ => return Err(self.control_char(i)),
            }
        }
    }

    #[cold]
    fn control_char(&self, offset: usize) -> JsonError {
        JsonError::ControlCharacterInString {
            ch: char::from(self.bytes[offset]),
            offset,
        }
    }

    /// Decodes the escape whose backslash is at `i`; returns the index after it.
    fn parse_escape(&self, i: usize, buf: &mut Vec<u8>) -> Result<usize, JsonError> {
        let Some(&c) = self.bytes.get(i + 1) else {
            return Err(JsonError::UnexpectedEnd);
        };
        let simple = match c {
            b'"' => b'"',
            b'\\' => b'\\',
            b'/' => b'/',
            b'b' => 0x08,
            b'f' => 0x0C,
            b'n' => b'\n',
            b'r' => b'\r',
            b't' => b'\t',
            b'u' => {
                let unit = self.hex4(i)?;
                if (0xD800..0xDC00).contains(&unit)
                    && self.bytes.get(i + 6) == Some(&b'\\')
                    && self.bytes.get(i + 7) == Some(&b'u')
                {
                    if let Ok(low @ 0xDC00..=0xDFFF) = self.hex4(i + 6) {
                        let cp = 0x1_0000 + ((unit - 0xD800) << 10) + (low - 0xDC00);
                        push_code_point(buf, cp);
                        return Ok(i + 12);
                    }
                }
                // Anything else, lone surrogates included, is one code unit. (A following
                // malformed escape is reported when the loop gets to it.)
                push_code_point(buf, unit);
                return Ok(i + 6);
            }
            _ => return Err(JsonError::InvalidEscape { offset: i }),
        };
        buf.push(simple);
        Ok(i + 2)
    }

    /// The four hex digits of the `\u` escape whose backslash is at `i`.
    fn hex4(&self, i: usize) -> Result<u32, JsonError> {
        let mut unit = 0u32;
        for k in 0..4 {
            let Some(&h) = self.bytes.get(i + 2 + k) else {
                return Err(JsonError::UnexpectedEnd);
            };
            let digit = match h {
                b'0'..=b'9' => h - b'0',
                b'a'..=b'f' => h - b'a' + 10,
                b'A'..=b'F' => h - b'A' + 10,
                _ => return Err(JsonError::InvalidUnicodeEscape { offset: i }),
            };
            unit = (unit << 4) | u32::from(digit);
        }
        Ok(unit)
    }

    /// A number starting at `self.pos` (a `-` or a digit).
    fn parse_number(&mut self) -> Result<f64, JsonError> {
        let bytes = self.bytes;
        let start = self.pos;
        let negative = bytes[start] == b'-';
        let int_start = start + usize::from(negative);
        let mut i = int_start;
        match bytes.get(i) {
            // A leading zero stands alone; a digit after it is reported by the caller.
            Some(b'0') => i += 1,
            Some(b'1'..=b'9') => {
                i += 1;
                while matches!(bytes.get(i), Some(b'0'..=b'9')) {
                    i += 1;
                }
            }
            _ => return Err(self.unexpected_at(i)),
        }
        let int_end = i;
        let mut is_integer = true;
        if bytes.get(i) == Some(&b'.') {
            is_integer = false;
            i += 1;
            if !matches!(bytes.get(i), Some(b'0'..=b'9')) {
                return Err(self.unexpected_at(i));
            }
            while matches!(bytes.get(i), Some(b'0'..=b'9')) {
                i += 1;
            }
        }
        if matches!(bytes.get(i), Some(b'e' | b'E')) {
            is_integer = false;
            i += 1;
            if matches!(bytes.get(i), Some(b'+' | b'-')) {
                i += 1;
            }
            if !matches!(bytes.get(i), Some(b'0'..=b'9')) {
                return Err(self.unexpected_at(i));
            }
            while matches!(bytes.get(i), Some(b'0'..=b'9')) {
                i += 1;
            }
        }
        self.pos = i;
        if is_integer && int_end - int_start <= 19 {
            // At most 19 digits fit in a u64, and u64 -> f64 rounds to nearest-even, exactly
            // like decimal parsing would.
            let mut v = 0u64;
            for &d in &bytes[int_start..int_end] {
                v = v * 10 + u64::from(d - b'0');
            }
            let v = v as f64;
            return Ok(if negative { -v } else { v });
        }
        // Rust's float parsing is correctly rounded for any number of digits, and accepts
        // every JSON number (overflow gives ±inf, underflow ±0).
        self.text[start..i]
            .parse::<f64>()
            .map_err(|_| self.unexpected_at(start))
    }
}

/// Appends a code point (surrogates included, as WTF-8's three-byte form).
#[inline]
fn push_code_point(buf: &mut Vec<u8>, cp: u32) {
    if cp < 0x80 {
        buf.push(cp as u8);
    } else if cp < 0x800 {
        buf.extend_from_slice(&[0xC0 | (cp >> 6) as u8, 0x80 | (cp & 0x3F) as u8]);
    } else if cp < 0x1_0000 {
        buf.extend_from_slice(&[
            0xE0 | (cp >> 12) as u8,
            0x80 | ((cp >> 6) & 0x3F) as u8,
            0x80 | (cp & 0x3F) as u8,
        ]);
    } else {
        buf.extend_from_slice(&[
            0xF0 | (cp >> 18) as u8,
            0x80 | ((cp >> 12) & 0x3F) as u8,
            0x80 | ((cp >> 6) & 0x3F) as u8,
            0x80 | (cp & 0x3F) as u8,
        ]);
    }
}

/// Calls `f` with each code point of well-formed WTF-8 (lone surrogates as their values).
fn for_each_code_point(wtf8: &[u8], mut f: impl FnMut(u32)) {
    let mut i = 0;
    while i < wtf8.len() {
        let b = wtf8[i];
        let cont = |k: usize| u32::from(wtf8.get(i + k).copied().unwrap_or(0x80) & 0x3F);
        let (cp, len) = if b < 0x80 {
            (u32::from(b), 1)
        } else if b < 0xE0 {
            ((u32::from(b & 0x1F) << 6) | cont(1), 2)
        } else if b < 0xF0 {
            ((u32::from(b & 0x0F) << 12) | (cont(1) << 6) | cont(2), 3)
        } else {
            (
                (u32::from(b & 0x07) << 18) | (cont(1) << 12) | (cont(2) << 6) | cont(3),
                4,
            )
        };
        f(cp);
        i += len;
    }
}

/// If `key` is an array index (canonical decimal of an integer in `0..=4294967294`), its value.
#[inline]
fn array_index(key: &[u8]) -> Option<u32> {
    if key.is_empty() || key.len() > 10 || (key[0] == b'0' && key.len() > 1) {
        return None;
    }
    let mut v = 0u64;
    for &d in key {
        if !d.is_ascii_digit() {
            return None;
        }
        v = v * 10 + u64::from(d - b'0');
    }
    if v <= 4_294_967_294 {
        Some(v as u32)
    } else {
        None
    }
}

/// Resolves duplicate keys in textual-order members: first position, last value.
fn dedupe_keys(entries: &mut Vec<(JsonString, JsonValue)>) {
    let n = entries.len();
    if n < 2 {
        return;
    }
    if n <= 16 {
        let mut kept = 1;
        for r in 1..n {
            let (head, tail) = entries.split_at_mut(r);
            let current = &mut tail[0];
            if let Some(first) = head[..kept].iter_mut().find(|e| e.0 == current.0) {
                first.1 = std::mem::replace(&mut current.1, JsonValue::Null);
            } else {
                entries.swap(kept, r);
                kept += 1;
            }
        }
        entries.truncate(kept);
        return;
    }
    // Larger objects: sort positions by key (stable, so equal keys stay in textual order).
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| entries[a].0.wtf8.cmp(&entries[b].0.wtf8));
    let mut drop_slot = Vec::new();
    let mut g = 0;
    while g < n {
        let mut end = g + 1;
        while end < n && entries[order[end]].0 == entries[order[g]].0 {
            end += 1;
        }
        if end - g > 1 {
            let first = order[g];
            let last = order[end - 1];
            let value = std::mem::replace(&mut entries[last].1, JsonValue::Null);
            entries[first].1 = value;
            drop_slot.extend_from_slice(&order[g + 1..end]);
        }
        g = end;
    }
    if drop_slot.is_empty() {
        return;
    }
    let mut keep = vec![true; n];
    for &slot in &drop_slot {
        keep[slot] = false;
    }
    let mut slot = 0;
    entries.retain(|_| {
        let k = keep[slot];
        slot += 1;
        k
    });
}

/// Moves array-index keys to the front, ascending (keys are already unique).
fn order_index_keys(entries: &mut Vec<(JsonString, JsonValue)>) {
    if !entries.iter().any(|(k, _)| array_index(&k.wtf8).is_some()) {
        return;
    }
    let mut indexed = Vec::new();
    let mut named = Vec::with_capacity(entries.len());
    for (k, v) in entries.drain(..) {
        match array_index(&k.wtf8) {
            Some(index) => indexed.push((index, (k, v))),
            None => named.push((k, v)),
        }
    }
    indexed.sort_unstable_by_key(|(index, _)| *index);
    entries.extend(indexed.into_iter().map(|(_, entry)| entry));
    entries.append(&mut named);
}

// ---------------------------------------------------------------------------------------------
// Writing
// ---------------------------------------------------------------------------------------------

/// Appends `JSON.stringify(value)` (no indentation) to `out`. Iterative: no native recursion.
pub fn write_canonical(value: &JsonValue, out: &mut Vec<u8>) {
    enum Open<'v> {
        Array(std::slice::Iter<'v, JsonValue>),
        Object(std::slice::Iter<'v, (JsonString, JsonValue)>),
    }
    let mut stack: Vec<Open<'_>> = Vec::new();
    let mut current = value;
    loop {
        match current {
            JsonValue::Null => out.extend_from_slice(b"null"),
            JsonValue::Bool(true) => out.extend_from_slice(b"true"),
            JsonValue::Bool(false) => out.extend_from_slice(b"false"),
            JsonValue::Number(n) => write_number(*n, out),
            JsonValue::String(s) => write_string(&s.wtf8, out),
            JsonValue::Array(items) => {
                let mut iter = items.iter();
                if let Some(first) = iter.next() {
                    out.push(b'[');
                    stack.push(Open::Array(iter));
                    current = first;
                    continue;
                }
                out.extend_from_slice(b"[]");
            }
            JsonValue::Object(obj) => {
                let mut iter = obj.entries.iter();
                if let Some((key, first)) = iter.next() {
                    out.push(b'{');
                    write_string(&key.wtf8, out);
                    out.push(b':');
                    stack.push(Open::Object(iter));
                    current = first;
                    continue;
                }
                out.extend_from_slice(b"{}");
            }
        }
        // `current` is written: move to the next sibling, closing finished containers.
        loop {
            match stack.last_mut() {
                None => return,
                Some(Open::Array(iter)) => {
                    if let Some(next) = iter.next() {
                        out.push(b',');
                        current = next;
                        break;
                    }
                    out.push(b']');
                    stack.pop();
                }
                Some(Open::Object(iter)) => {
                    if let Some((key, next)) = iter.next() {
                        out.push(b',');
                        write_string(&key.wtf8, out);
                        out.push(b':');
                        current = next;
                        break;
                    }
                    out.push(b'}');
                    stack.pop();
                }
            }
        }
    }
}

/// `JSON.stringify(value)` as a new buffer.
pub fn to_canonical_vec(value: &JsonValue) -> Vec<u8> {
    let mut out = Vec::with_capacity(estimate_len(value));
    write_canonical(value, &mut out);
    out
}

/// A cheap lower-bound-ish size guess (top level only) to avoid the first few reallocations.
fn estimate_len(value: &JsonValue) -> usize {
    match value {
        JsonValue::String(s) => s.wtf8.len() + 2,
        JsonValue::Array(items) => 2 + items.len() * 8,
        JsonValue::Object(obj) => 2 + obj.entries.len() * 16,
        _ => 24,
    }
}

/// ECMAScript `Number::toString`, with non-finite numbers as `null` (JSON.stringify).
fn write_number(n: f64, out: &mut Vec<u8>) {
    if !n.is_finite() {
        out.extend_from_slice(b"null");
        return;
    }
    if n.trunc() == n && n.abs() < 1e15 {
        // Integers below 10^21 are written in plain decimal; this covers the common case
        // without the general algorithm. (-0 becomes "0".)
        let mut v = n as i64;
        if v < 0 {
            out.push(b'-');
            v = -v;
        }
        let mut digits = [0u8; 20];
        let mut at = digits.len();
        let mut v = v as u64;
        loop {
            at -= 1;
            digits[at] = b'0' + (v % 10) as u8;
            v /= 10;
            if v == 0 {
                break;
            }
        }
        out.extend_from_slice(&digits[at..]);
        return;
    }
    let mut buffer = ryu_js::Buffer::new();
    out.extend_from_slice(buffer.format_finite(n).as_bytes());
}

/// What to write for each byte of a string: 0 = copy, `b'u'` = `\u00xx`, other = `\` + that.
static STRING_ESCAPE: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut i = 0;
    while i < 0x20 {
        table[i] = b'u';
        i += 1;
    }
    table[0x08] = b'b';
    table[0x09] = b't';
    table[0x0A] = b'n';
    table[0x0C] = b'f';
    table[0x0D] = b'r';
    table[b'"' as usize] = b'"';
    table[b'\\' as usize] = b'\\';
    table[0xED] = 1; // may start a lone surrogate
    table
};

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Writes a WTF-8 string as a JSON string literal (JSON.stringify's QuoteJSONString).
fn write_string(wtf8: &[u8], out: &mut Vec<u8>) {
    out.reserve(wtf8.len() + 2);
    out.push(b'"');
    let mut copied = 0;
    let mut i = 0;
    while i < wtf8.len() {
        let b = wtf8[i];
        let action = STRING_ESCAPE[b as usize];
        if action == 0 {
            i += 1;
            continue;
        }
        if action == 1 {
            // 0xED: U+D000..U+D7FF (second byte < 0xA0) is ordinary; otherwise a lone
            // surrogate, written as \udxxx.
            if wtf8.get(i + 1).is_some_and(|&b1| b1 >= 0xA0) {
                out.extend_from_slice(&wtf8[copied..i]);
                let unit =
                    0xD000 | (u32::from(wtf8[i + 1] & 0x3F) << 6) | u32::from(wtf8[i + 2] & 0x3F);
                out.extend_from_slice(&[
                    b'\\',
                    b'u',
                    HEX[(unit >> 12) as usize],
                    HEX[((unit >> 8) & 0xF) as usize],
                    HEX[((unit >> 4) & 0xF) as usize],
                    HEX[(unit & 0xF) as usize],
                ]);
                i += 3;
                copied = i;
            } else {
                i += 1;
            }
            continue;
        }
        out.extend_from_slice(&wtf8[copied..i]);
        if action == b'u' {
            out.extend_from_slice(&[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[(b >> 4) as usize],
                HEX[(b & 0xF) as usize],
            ]);
        } else {
            out.extend_from_slice(&[b'\\', action]);
        }
        i += 1;
        copied = i;
    }
    out.extend_from_slice(&wtf8[copied..]);
    out.push(b'"');
}

// ---------------------------------------------------------------------------------------------
// The webhook envelope: what the pipeline reads from a body, without building a tree.

/// What the webhook pipeline reads from a body: whether it is an object, its `event`, and
/// `data.appointment_id` / `data.p_aid`, each exactly as [`parse`] followed by
/// [`JsonValue::get`] / [`JsonValue::as_str`] would give it (the last of duplicate keys wins; a
/// member whose value is not a string is `None`; lone surrogates become U+FFFD).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Envelope {
    pub is_object: bool,
    pub event: Option<String>,
    pub appointment_id: Option<String>,
    pub p_aid: Option<String>,
}

/// Accepts and rejects exactly the texts [`parse`] does, with the same errors, and reads the
/// [`Envelope`] in the same pass — without allocating a tree (a 16 KB body is one scan).
pub fn read_envelope(input: &[u8]) -> Result<Envelope, JsonError> {
    read_envelope_with_max_depth(input, DEFAULT_MAX_DEPTH)
}

/// [`read_envelope`] with the nesting limit of [`parse_with_max_depth`].
pub fn read_envelope_with_max_depth(input: &[u8], max_depth: usize) -> Result<Envelope, JsonError> {
    let text = std::str::from_utf8(input).map_err(|e| JsonError::InvalidUtf8 {
        offset: e.valid_up_to(),
    })?;
    Parser {
        text,
        bytes: input,
        pos: 0,
    }
    .skim_document(max_depth)
}

/// Which envelope field the value being read fills.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    Other,
    Event,
    Data,
    AppointmentId,
    PAid,
}

/// True when any of the eight bytes of `word` is one [`STRING_SPECIAL`] marks: below 0x20, `"`
/// or `\\`. (SWAR: a byte below n makes `byte - n` borrow into its high bit; equality is a zero
/// byte after XOR. Borrows only run upward from a byte that already matched, so the answer is
/// exact even though which byte matched is not.)
#[inline]
fn has_string_special(word: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let below_space = word.wrapping_sub(ONES * 0x20) & !word;
    let quote = word ^ (ONES * u64::from(b'"'));
    let backslash = word ^ (ONES * u64::from(b'\\'));
    let zero_quote = quote.wrapping_sub(ONES) & !quote;
    let zero_backslash = backslash.wrapping_sub(ONES) & !backslash;
    (below_space | zero_quote | zero_backslash) & HIGH != 0
}

fn lossy_string(wtf8: Cow<'_, [u8]>) -> String {
    match wtf8 {
        Cow::Borrowed(bytes) => JsonString { wtf8: bytes.to_vec() }.to_string_lossy().into_owned(),
        Cow::Owned(bytes) => JsonString { wtf8: bytes }.to_string_lossy().into_owned(),
    }
}

impl<'a> Parser<'a> {
    /// [`parse_document`](Parser::parse_document)'s grammar, checks and errors, in the same
    /// order, keeping only what [`Envelope`] needs.
    fn skim_document(mut self, max_depth: usize) -> Result<Envelope, JsonError> {
        let mut envelope = Envelope::default();
        // One entry per open container: true for an object.
        let mut stack: Vec<bool> = Vec::new();
        let mut slot = Slot::Other;
        // True while inside the top-level object's `data` object (depth 2).
        let mut in_data = false;
        'value: loop {
            self.skip_ws();
            match self.peek() {
                None => return Err(JsonError::UnexpectedEnd),
                Some(b'{') => {
                    if stack.len() >= max_depth {
                        return Err(JsonError::TooDeep {
                            max_depth,
                            offset: self.pos,
                        });
                    }
                    if stack.is_empty() {
                        envelope.is_object = true;
                    }
                    let opens_data = slot == Slot::Data;
                    self.pos += 1;
                    self.skip_ws();
                    match self.peek() {
                        Some(b'}') => self.pos += 1,
                        Some(b'"') => {
                            stack.push(true);
                            if stack.len() <= 2 {
                                in_data = opens_data;
                            }
                            slot = self.skim_key(stack.len(), in_data, &mut envelope)?;
                            continue 'value;
                        }
                        _ => return Err(self.unexpected()),
                    }
                }
                Some(b'[') => {
                    if stack.len() >= max_depth {
                        return Err(JsonError::TooDeep {
                            max_depth,
                            offset: self.pos,
                        });
                    }
                    self.pos += 1;
                    self.skip_ws();
                    if self.peek() == Some(b']') {
                        self.pos += 1;
                    } else {
                        stack.push(false);
                        slot = Slot::Other;
                        continue 'value;
                    }
                }
                Some(b'"') => {
                    let text = self.skim_string()?;
                    match slot {
                        Slot::Event => envelope.event = Some(lossy_string(text)),
                        Slot::AppointmentId => envelope.appointment_id = Some(lossy_string(text)),
                        Slot::PAid => envelope.p_aid = Some(lossy_string(text)),
                        Slot::Other | Slot::Data => {}
                    }
                }
                Some(b't') => self.expect_literal(b"true")?,
                Some(b'f') => self.expect_literal(b"false")?,
                Some(b'n') => self.expect_literal(b"null")?,
                Some(b'-' | b'0'..=b'9') => {
                    self.parse_number()?;
                }
                Some(_) => return Err(self.unexpected()),
            }

            // A value is complete: close as many containers as the text closes here.
            loop {
                self.skip_ws();
                match stack.last() {
                    None => {
                        return if self.pos == self.bytes.len() {
                            Ok(envelope)
                        } else {
                            Err(self.unexpected())
                        };
                    }
                    Some(false) => match self.peek() {
                        Some(b',') => {
                            self.pos += 1;
                            slot = Slot::Other;
                            continue 'value;
                        }
                        Some(b']') => {
                            self.pos += 1;
                            stack.pop();
                        }
                        _ => return Err(self.unexpected()),
                    },
                    Some(true) => match self.peek() {
                        Some(b',') => {
                            self.pos += 1;
                            self.skip_ws();
                            if self.peek() != Some(b'"') {
                                return Err(self.unexpected());
                            }
                            slot = self.skim_key(stack.len(), in_data, &mut envelope)?;
                            continue 'value;
                        }
                        Some(b'}') => {
                            self.pos += 1;
                            stack.pop();
                            if stack.len() == 1 {
                                in_data = false;
                            }
                        }
                        _ => return Err(self.unexpected()),
                    },
                }
            }
        }
    }

    /// A member name (at `"`) and its `:`, as [`parse_key`](Parser::parse_key) reads it; returns
    /// the envelope field its value fills, clearing that field (the last duplicate wins, and a
    /// non-string value leaves it `None`).
    fn skim_key(&mut self, depth: usize, in_data: bool, envelope: &mut Envelope) -> Result<Slot, JsonError> {
        let key = self.skim_string()?;
        self.skip_ws();
        if self.peek() != Some(b':') {
            return Err(self.unexpected());
        }
        self.pos += 1;
        let slot = match (depth, &*key) {
            (1, b"event") => Slot::Event,
            (1, b"data") => Slot::Data,
            (2, b"appointment_id") if in_data => Slot::AppointmentId,
            (2, b"p_aid") if in_data => Slot::PAid,
            _ => Slot::Other,
        };
        match slot {
            Slot::Event => envelope.event = None,
            Slot::Data => {
                envelope.appointment_id = None;
                envelope.p_aid = None;
            }
            Slot::AppointmentId => envelope.appointment_id = None,
            Slot::PAid => envelope.p_aid = None,
            Slot::Other => {}
        }
        Ok(slot)
    }

    /// A string literal at `"`, validated like [`parse_string`](Parser::parse_string): its bytes
    /// as written when it has no escapes (no copy), else decoded to WTF-8.
    #[inline(always)]
    fn skim_string(&mut self) -> Result<Cow<'a, [u8]>, JsonError> {
        let bytes = self.bytes;
        let start = self.pos + 1;
        let mut i = start;
        loop {
            // Eight bytes at a time while none of them ends the fast scan (string bodies are
            // most of a webhook payload).
            while let Some(chunk) = bytes.get(i..i + 8) {
                if has_string_special(u64::from_le_bytes(chunk.try_into().expect("8 bytes"))) {
                    break;
                }
                i += 8;
            }
            let Some(&b) = bytes.get(i) else {
                return Err(JsonError::UnexpectedEnd);
            };
            if !STRING_SPECIAL[b as usize] {
                i += 1;
                continue;
            }
            if b == b'"' {
                self.pos = i + 1;
                return Ok(Cow::Borrowed(&bytes[start..i]));
            }
            if b == b'\\' {
                // Escapes: decode it the one way there is (self.pos is still at the quote).
                return Ok(Cow::Owned(self.parse_string()?.wtf8));
            }
            return Err(self.control_char(i));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canon(input: &str) -> String {
        match canonicalize(input.as_bytes()) {
            Ok(out) => String::from_utf8(out).expect("canonical output is UTF-8"),
            Err(e) => panic!("{input:?} was rejected: {e}"),
        }
    }

    fn err(input: &str) -> JsonError {
        match canonicalize(input.as_bytes()) {
            Ok(out) => panic!(
                "{input:?} was accepted as {:?}",
                String::from_utf8_lossy(&out)
            ),
            Err(e) => e,
        }
    }

    fn assert_all(cases: &[(&str, &str)]) {
        for (input, expected) in cases {
            assert_eq!(canon(input), *expected, "input {input:?}");
        }
    }

    #[test]
    fn top_level_scalars_and_containers() {
        assert_all(&[
            ("\"x\"", "\"x\""),
            ("1", "1"),
            ("null", "null"),
            ("true", "true"),
            ("false", "false"),
            ("[]", "[]"),
            ("{}", "{}"),
            (" \t\n\r[ 1 , {\"a\" :\r\n null } ]\n", "[1,{\"a\":null}]"),
            ("[ ]", "[]"),
            ("{\n}", "{}"),
        ]);
    }

    #[test]
    fn only_four_whitespace_characters() {
        for input in [
            "\u{b}1",
            "\u{c}1",
            "\u{a0}1",
            "\u{feff}1",
            "1\u{feff}",
            "\u{2028}1",
            "[1,\u{3000}2]",
        ] {
            assert!(
                matches!(err(input), JsonError::UnexpectedCharacter { .. }),
                "{input:?}"
            );
        }
        // A UTF-8 byte-order mark is rejected like JSON.parse rejects U+FEFF.
        assert_eq!(
            canonicalize(b"\xEF\xBB\xBF{}"),
            Err(JsonError::UnexpectedCharacter {
                ch: '\u{feff}',
                offset: 0
            })
        );
        assert_eq!(err(""), JsonError::UnexpectedEnd);
        assert_eq!(err(" \n\t\r"), JsonError::UnexpectedEnd);
    }

    #[test]
    fn strict_grammar() {
        for input in [
            "01",
            "-01",
            "00",
            "+1",
            ".5",
            "1.",
            "1.e5",
            "-",
            "-.5",
            "1e",
            "1e+",
            "1E-",
            "0x10",
            "1_000",
            "- 1",
            "1.5.5",
            "--1",
            "[01]",
            "[1.]",
            "1 2",
            "[1,]",
            "[,1]",
            "[1,,2]",
            "[1 2]",
            "{\"a\":1,}",
            "{\"a\" 1}",
            "{a:1}",
            "{1:2}",
            "{'a':1}",
            "'a'",
            "[1,2",
            "{\"a\":1",
            "{\"a\":}",
            "[}",
            "{\"a\":1]",
            "[]]",
            "{}{}",
            "// c\n1",
            "/* c */ 1",
            "[1 /* c */]",
            "tru",
            "nul",
            "True",
            "nulll",
            "NaN",
            "Infinity",
            "-Infinity",
            "undefined",
            "\"abc",
            "\"\\x41\"",
            "\"\\U0041\"",
            "\"\\0\"",
            "\"\\'\"",
            "\"\\u12\"",
            "\"\\u00G1\"",
            "\"\\u{41}\"",
            "\"\\",
            "\"\\n",
            "[",
            "{",
            "{\"a\"",
            "{\"a\":",
        ] {
            let e = err(input);
            assert!(!e.is_too_deep(), "{input:?}: {e}");
        }
    }

    #[test]
    fn control_characters_must_be_escaped() {
        for b in 0u8..0x20 {
            let input = [b'"', b'a', b, b'"'];
            assert_eq!(
                canonicalize(&input),
                Err(JsonError::ControlCharacterInString {
                    ch: char::from(b),
                    offset: 2
                }),
                "byte {b:#x}"
            );
            // ... after an escape as well (slow path).
            let input = [b'"', b'\\', b'n', b, b'"'];
            assert!(canonicalize(&input).is_err());
        }
        // DEL and C1 controls are fine raw.
        assert_eq!(canon("\"\u{7f}\u{80}\u{9f}\""), "\"\u{7f}\u{80}\u{9f}\"");
    }

    #[test]
    fn error_messages_name_the_byte() {
        assert_eq!(
            err("{\"a\":[1,2,3]x").to_string(),
            "unexpected character 'x' at byte 12"
        );
        assert_eq!(err("[1,2").to_string(), "unexpected end of JSON input");
        assert_eq!(
            canonicalize(b"[\"ab\xFF\"]").unwrap_err().to_string(),
            "invalid UTF-8 at byte 4"
        );
        assert_eq!(
            parse_with_max_depth(b"[[1]]", 1).unwrap_err().to_string(),
            "JSON nested deeper than 1 levels"
        );
        assert_eq!(
            err(&"[".repeat(1001)).to_string(),
            "JSON nested deeper than 1000 levels"
        );
        assert_eq!(
            err("\"a\\qb\"").to_string(),
            "invalid escape sequence at byte 2"
        );
        assert_eq!(
            err("\"\\u12x4\"").to_string(),
            "invalid \\u escape at byte 1"
        );
        assert_eq!(
            err("\"a\nb\"").to_string(),
            "unescaped control character '\\n' in string at byte 2"
        );
        assert_eq!(
            err("1 é"),
            JsonError::UnexpectedCharacter {
                ch: 'é', offset: 2
            }
        );
        assert_eq!(
            err("[1]   ]"),
            JsonError::UnexpectedCharacter { ch: ']', offset: 6 }
        );
        assert_eq!(
            err("truX"),
            JsonError::UnexpectedCharacter { ch: 'X', offset: 3 }
        );
        assert_eq!(err("tr"), JsonError::UnexpectedEnd);
        assert_eq!(err("-"), JsonError::UnexpectedEnd);
        assert_eq!(
            err("01"),
            JsonError::UnexpectedCharacter { ch: '1', offset: 1 }
        );
    }

    #[test]
    fn invalid_utf8_is_rejected() {
        for (bytes, offset) in [
            (&b"\"\xFF\""[..], 1),
            (b"\"\x80\"", 1),
            (b"\"\xC0\xAF\"", 1),         // overlong '/'
            (b"\"\xED\xA0\x80\"", 1),     // CESU-8 surrogate: JSON needs an escape for that
            (b"\"\xE4\xB8\"", 1),         // truncated sequence
            (b"\"\xF4\x90\x80\x80\"", 1), // above U+10FFFF
            (b"[1,\xFF]", 3),
            (b"\"abc\xE4\xB8", 4),
        ] {
            assert_eq!(
                parse(bytes),
                Err(JsonError::InvalidUtf8 { offset }),
                "{bytes:?}"
            );
        }
        assert_eq!(
            canon("\"é中😀\u{d7ff}\u{e000}\""),
            "\"é中😀\u{d7ff}\u{e000}\""
        );
    }

    #[test]
    fn numbers_follow_number_to_string() {
        assert_all(&[
            ("1", "1"),
            ("1.0", "1"),
            ("1.50", "1.5"),
            ("0.10", "0.1"),
            ("1E2", "100"),
            ("1e+2", "100"),
            ("1E-2", "0.01"),
            ("10.00e-1", "1"),
            ("-0", "0"),
            ("-0.0", "0"),
            ("-0e-10", "0"),
            ("0e10", "0"),
            ("1e21", "1e+21"),
            ("1e20", "100000000000000000000"),
            ("999999999999999999999", "1e+21"),
            ("123456789012345680000", "123456789012345680000"),
            ("1e-6", "0.000001"),
            ("1e-7", "1e-7"),
            ("0.30000000000000004", "0.30000000000000004"),
            ("5e-324", "5e-324"),
            ("2.4703282292062327e-324", "0"),
            ("2.4703282292062328e-324", "5e-324"),
            ("1e-400", "0"),
            ("-1e-400", "0"),
            ("1.7976931348623157e308", "1.7976931348623157e+308"),
            ("1.7976931348623159e308", "null"),
            ("1e400", "null"),
            ("-1e400", "null"),
            ("9007199254740993", "9007199254740992"),
            ("9007199254740995", "9007199254740996"),
            ("-9007199254740993", "-9007199254740992"),
            ("9007199254740993.0000000000000000001", "9007199254740994"),
            ("9999999999999999999", "10000000000000000000"),
            ("18446744073709551615", "18446744073709552000"),
            ("123e-20", "1.23e-18"),
            ("1.5e300", "1.5e+300"),
            ("-1.5E-10", "-1.5e-10"),
            ("1E+0021", "1e+21"),
            ("3.14159265358979323846264338327950288", "3.141592653589793"),
            (
                "[1,-1,0.5,-0.5,100,1e15,1e16,-123456789]",
                "[1,-1,0.5,-0.5,100,1000000000000000,10000000000000000,-123456789]",
            ),
        ]);
        assert_eq!(canon(&format!("0.{}1", "0".repeat(300))), "1e-301");
        assert_eq!(canon(&format!("0.{}1", "0".repeat(330))), "0");
        let big = format!("1{}", "0".repeat(310));
        assert_eq!(canon(&big), "null");
        match parse(b"-0").unwrap() {
            JsonValue::Number(n) => assert!(n == 0.0 && n.is_sign_negative()),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn string_output_escapes() {
        assert_all(&[
            (
                r#""\" \\ \/ \b \f \n \r \t""#,
                r#""\" \\ / \b \f \n \r \t""#,
            ),
            (r#""\u0041\u0062c""#, r#""Abc""#),
            (r#""\u00E9\u00e9\u4E2D""#, "\"éé中\""),
            (
                r#""\u0000\u0001\u000b\u000e\u001b\u001F""#,
                r#""\u0000\u0001\u000b\u000e\u001b\u001f""#,
            ),
            (
                r#""\u007f\u0080\u2028\u2029\ufeff\uffff""#,
                "\"\u{7f}\u{80}\u{2028}\u{2029}\u{feff}\u{ffff}\"",
            ),
            ("\"\u{2028}\u{2029}\"", "\"\u{2028}\u{2029}\""),
            (r#""\uD83D\uDE00\ud83d\ude00""#, "\"😀😀\""),
            (r#""\ud800""#, r#""\ud800""#),
            (r#""\uDBFF""#, r#""\udbff""#),
            (r#""\udc00""#, r#""\udc00""#),
            (r#""\udc00\ud800""#, r#""\udc00\ud800""#),
            (r#""\ud800\ud800\udc00""#, "\"\\ud800𐀀\""),
            (r#""\ud800abc\udfff""#, r#""\ud800abc\udfff""#),
            (r#""\ud800\n""#, r#""\ud800\n""#),
            (r#""\ud7ff\ue000""#, "\"\u{d7ff}\u{e000}\""),
            (r#"{"\udead":"\ud800"}"#, r#"{"\udead":"\ud800"}"#),
        ]);
        // Every code unit below 0x20.
        for u in 0u32..0x20 {
            let expected = match u {
                0x08 => "\"\\b\"".to_string(),
                0x09 => "\"\\t\"".to_string(),
                0x0A => "\"\\n\"".to_string(),
                0x0C => "\"\\f\"".to_string(),
                0x0D => "\"\\r\"".to_string(),
                _ => format!("\"\\u{u:04x}\""),
            };
            assert_eq!(canon(&format!("\"\\u{u:04X}\"")), expected);
        }
        // Long strings: fast path and slow path.
        let plain = "abcdefghij".repeat(500);
        assert_eq!(canon(&format!("\"{plain}\"")), format!("\"{plain}\""));
        let escaped = "ab\\ncd\\u0000é".repeat(200);
        let written = "ab\\ncd\\u0000é".repeat(200);
        assert_eq!(canon(&format!("\"{escaped}\"")), format!("\"{written}\""));
    }

    #[test]
    fn strings_keep_utf16_code_units() {
        let value = parse(br#""a\ud800b\ud83d\ude00""#).unwrap();
        let JsonValue::String(s) = &value else {
            panic!()
        };
        assert_eq!(s.to_utf16(), vec![0x61, 0xD800, 0x62, 0xD83D, 0xDE00]);
        assert!(s.has_lone_surrogates());
        assert_eq!(s.as_utf8(), None);
        assert_eq!(s.to_string_lossy(), "a\u{fffd}b😀");
        assert_eq!(value.as_str().unwrap(), "a\u{fffd}b😀");
        assert_eq!(JsonString::from_utf16(&s.to_utf16()), *s);
        // Two lone escapes that form a pair are one character, same as the raw character.
        assert_eq!(
            parse(br#""\ud83d\ude00""#).unwrap(),
            parse("\"😀\"".as_bytes()).unwrap()
        );
        assert_eq!(format!("{s:?}"), r#""a\ud800b😀""#);
        let plain = JsonString::from("héllo");
        assert_eq!(plain.as_utf8(), Some("héllo"));
        assert!(matches!(plain.to_string_lossy(), Cow::Borrowed("héllo")));
        assert_eq!(plain, "héllo");
        assert_eq!(
            JsonString::from_utf16(&[0xDC00, 0xD800, 0x41]).to_utf16(),
            vec![0xDC00, 0xD800, 0x41]
        );
    }

    #[test]
    fn object_key_order_matches_v8() {
        assert_all(&[
            (r#"{"b":1,"a":2,"c":3}"#, r#"{"b":1,"a":2,"c":3}"#),
            (
                r#"{"b":1,"2":2,"a":3,"0":4,"10":5,"1":6}"#,
                r#"{"0":4,"1":6,"2":2,"10":5,"b":1,"a":3}"#,
            ),
            (
                r#"{"4294967295":1,"4294967294":2,"1":3}"#,
                r#"{"1":3,"4294967294":2,"4294967295":1}"#,
            ),
            (
                r#"{"01":1,"-1":2,"1.0":3," 1":4,"1 ":5,"+1":6,"1e3":7,"00":8,"-0":9,"0":10}"#,
                r#"{"0":10,"01":1,"-1":2,"1.0":3," 1":4,"1 ":5,"+1":6,"1e3":7,"00":8,"-0":9}"#,
            ),
            (
                r#"{"9007199254740993":1,"4294967296":2,"5":3}"#,
                r#"{"5":3,"9007199254740993":1,"4294967296":2}"#,
            ),
            (r#"{"b":1,"\u0031":2}"#, r#"{"1":2,"b":1}"#),
            (
                r#"[{"b":1,"0":2},{"1":1,"a":2,"0":3}]"#,
                r#"[{"0":2,"b":1},{"0":3,"1":1,"a":2}]"#,
            ),
        ]);
        assert_eq!(array_index(b"0"), Some(0));
        assert_eq!(array_index(b"4294967294"), Some(4_294_967_294));
        for key in [
            "",
            "01",
            "-1",
            "1.0",
            " 1",
            "4294967295",
            "99999999999",
            "1a",
            "+1",
        ] {
            assert_eq!(array_index(key.as_bytes()), None, "{key:?}");
        }
    }

    #[test]
    fn duplicate_keys_keep_first_position_and_last_value() {
        assert_all(&[
            (r#"{"a":1,"b":2,"a":3}"#, r#"{"a":3,"b":2}"#),
            (
                r#"{"a":1,"b":2,"a":3,"c":4,"b":5}"#,
                r#"{"a":3,"b":5,"c":4}"#,
            ),
            (
                r#"{"b":1,"a":2,"b":3,"1":4,"0":5,"1":6}"#,
                r#"{"0":5,"1":6,"b":3,"a":2}"#,
            ),
            (r#"{"a":1,"\u0061":2,"b":3}"#, r#"{"a":2,"b":3}"#),
            (r#"{"":1,"":2}"#, r#"{"":2}"#),
            (
                r#"{"a":{"x":1},"0":{"b":2,"a":[]},"a":{"1":1}}"#,
                r#"{"0":{"b":2,"a":[]},"a":{"1":1}}"#,
            ),
        ]);
        // Objects above the small-object threshold take the sort-based path; compare with a
        // straightforward model.
        let mut text = String::from("{");
        let mut model: Vec<(String, usize)> = Vec::new();
        for i in 0..300 {
            let key = format!("{}{}", char::from(b'a' + (i % 26) as u8), i % 50);
            if i > 0 {
                text.push(',');
            }
            text.push_str(&format!("\"{key}\":{i}"));
            match model.iter_mut().find(|(k, _)| *k == key) {
                Some(slot) => slot.1 = i,
                None => model.push((key, i)),
            }
        }
        text.push('}');
        let expected = format!(
            "{{{}}}",
            model
                .iter()
                .map(|(k, v)| format!("\"{k}\":{v}"))
                .collect::<Vec<_>>()
                .join(",")
        );
        assert_eq!(canon(&text), expected);
        let value = parse(text.as_bytes()).unwrap();
        assert_eq!(value.as_object().unwrap().len(), model.len());
    }

    #[test]
    fn proto_is_an_ordinary_key() {
        assert_all(&[
            (r#"{"__proto__":1,"a":2}"#, r#"{"__proto__":1,"a":2}"#),
            (
                r#"{"__proto__":{"x":1},"__proto__":2}"#,
                r#"{"__proto__":2}"#,
            ),
            (r#"{"\u005f_proto__":[]}"#, r#"{"__proto__":[]}"#),
            (
                r#"{"toJSON":1,"constructor":2}"#,
                r#"{"toJSON":1,"constructor":2}"#,
            ),
        ]);
    }

    #[test]
    fn from_entries_applies_the_same_rules() {
        let obj = JsonObject::from_entries([
            (JsonString::from("b"), JsonValue::Bool(true)),
            (JsonString::from("7"), JsonValue::Null),
            (JsonString::from("b"), JsonValue::Number(2.0)),
            (JsonString::from("0"), JsonValue::String("z".into())),
        ]);
        let keys: Vec<_> = obj
            .iter()
            .map(|(k, _)| k.to_string_lossy().into_owned())
            .collect();
        assert_eq!(keys, ["0", "7", "b"]);
        assert_eq!(obj.get("b"), Some(&JsonValue::Number(2.0)));
        assert_eq!(
            to_canonical_vec(&JsonValue::Object(obj)),
            br#"{"0":"z","7":null,"b":2}"#.to_vec()
        );
    }

    fn nested_arrays(depth: usize) -> String {
        format!("{}{}", "[".repeat(depth), "]".repeat(depth))
    }

    fn nested_objects(depth: usize) -> String {
        format!("{}1{}", "{\"a\":".repeat(depth), "}".repeat(depth))
    }

    /// Runs `f` on a thread with a 2 MB stack (the default for spawned threads, and less than
    /// a main thread gets), so deep inputs prove they need no deep native recursion.
    fn on_small_stack(f: impl FnOnce() + Send + 'static) {
        std::thread::Builder::new()
            .stack_size(2 << 20)
            .spawn(f)
            .unwrap()
            .join()
            .unwrap();
    }

    #[test]
    fn depth_limit() {
        on_small_stack(|| {
            for text in [nested_arrays(1000), nested_objects(1000)] {
                let value = parse(text.as_bytes()).unwrap();
                assert_eq!(to_canonical_vec(&value), text.as_bytes());
                let serde = value.to_serde();
                assert!(serde.is_array() || serde.is_object());
                drop(value);
            }
            for text in [
                nested_arrays(1001),
                nested_objects(1001),
                format!("{}{{}}{}", "[".repeat(1000), "]".repeat(1000)),
                nested_arrays(100_000),
                nested_objects(100_000),
                "[".repeat(100_000),
            ] {
                let e = parse(text.as_bytes()).unwrap_err();
                assert!(e.is_too_deep(), "{e}");
                assert_eq!(
                    e,
                    JsonError::TooDeep {
                        max_depth: 1000,
                        offset: if text.starts_with('{') { 5000 } else { 1000 }
                    }
                );
            }
        });
        assert_eq!(parse_with_max_depth(b"1", 0), Ok(JsonValue::Number(1.0)));
        assert!(parse_with_max_depth(b"[]", 0).unwrap_err().is_too_deep());
        assert!(parse_with_max_depth(b"{}", 0).unwrap_err().is_too_deep());
        assert!(parse_with_max_depth(b"[[]]", 2).is_ok());
        assert!(parse_with_max_depth(b"[[[]]]", 2)
            .unwrap_err()
            .is_too_deep());
        assert!(parse_with_max_depth(b"[[],[1],{\"a\":1}]", 2).is_ok());
        assert!(parse_with_max_depth(b"[[],[1],{\"a\":[]}]", 2)
            .unwrap_err()
            .is_too_deep());
        assert!(!err("[1,]").is_too_deep());
    }

    #[test]
    fn deep_values_with_a_raised_limit_do_not_recurse_in_parse_write_or_to_serde() {
        on_small_stack(|| {
            for text in [nested_arrays(5_000), nested_objects(5_000)] {
                let value = parse_with_max_depth(text.as_bytes(), 5_000).unwrap();
                assert_eq!(to_canonical_vec(&value), text.as_bytes());
                if text.starts_with('[') {
                    // (serde_json's own drop of deep maps is the limit for objects.)
                    assert!(value.to_serde().is_array());
                }
                // Dropping is recursive but cheap per level; 5,000 levels fit in 2 MB even
                // in a debug build.
                drop(value);
            }
        });
    }

    #[test]
    fn value_accessors() {
        let value = parse(
            br#"{"event":"appointment.created","n":1718000000123,"f":1.5,"ok":true,"s":"\ud800x","list":[1,"a"],"big":1e400}"#,
        )
        .unwrap();
        assert!(value.is_object());
        assert_eq!(
            value.get("event").and_then(JsonValue::as_str).as_deref(),
            Some("appointment.created")
        );
        assert_eq!(
            value.get("s").and_then(JsonValue::as_str).as_deref(),
            Some("\u{fffd}x")
        );
        assert_eq!(
            value.get("n").and_then(JsonValue::as_f64),
            Some(1_718_000_000_123.0)
        );
        assert_eq!(value.get("ok").and_then(JsonValue::as_bool), Some(true));
        assert_eq!(
            value
                .get("list")
                .and_then(JsonValue::as_array)
                .map(<[_]>::len),
            Some(2)
        );
        assert_eq!(value.get("missing"), None);
        assert_eq!(value.get("n").unwrap().get("x"), None);
        assert_eq!(value.get("n").unwrap().as_str(), None);
        assert!(!value.get("list").unwrap().is_object());
        assert_eq!(
            value.to_serde(),
            serde_json::json!({
                "event": "appointment.created", "n": 1_718_000_000_123u64, "f": 1.5, "ok": true,
                "s": "\u{fffd}x", "list": [1, "a"], "big": null
            })
        );
        assert_eq!(parse(b"-3").unwrap().to_serde(), serde_json::json!(-3));
        assert_eq!(parse(b"-0").unwrap().to_serde(), serde_json::json!(0));
        assert_eq!(
            parse(b"1e300").unwrap().to_serde(),
            serde_json::json!(1e300)
        );
        assert_eq!(
            value.to_string(),
            String::from_utf8(to_canonical_vec(&value)).unwrap()
        );
    }

    #[test]
    fn write_canonical_appends() {
        let mut out = b"prefix:".to_vec();
        write_canonical(&parse(b" [ 1.0 , \"\\u0041\" ] ").unwrap(), &mut out);
        assert_eq!(out, b"prefix:[1,\"A\"]");
        assert_eq!(to_canonical_vec(&JsonValue::Number(f64::NAN)), b"null");
        assert_eq!(
            to_canonical_vec(&JsonValue::Number(f64::NEG_INFINITY)),
            b"null"
        );
        assert_eq!(to_canonical_vec(&JsonValue::Array(vec![])), b"[]");
        assert_eq!(
            to_canonical_vec(&JsonValue::Object(JsonObject::new())),
            b"{}"
        );
    }

    /// Random values: writing, parsing and writing again is stable, and canonical text is a
    /// fixed point of `canonicalize`.
    #[test]
    fn random_round_trips_are_stable() {
        use rand::{RngExt, SeedableRng};
        fn random_value(rng: &mut rand::rngs::StdRng, depth: usize) -> JsonValue {
            match rng.random_range(0..if depth > 4 { 5 } else { 7 }) {
                0 => JsonValue::Null,
                1 => JsonValue::Bool(rng.random()),
                2 => JsonValue::Number(match rng.random_range(0..3) {
                    0 => f64::from_bits(
                        rng.random::<u64>() & !(0x7FF << 52)
                            | (u64::from(rng.random_range(0..2046u32)) << 52),
                    ),
                    1 => f64::from(rng.random::<i32>()),
                    _ => rng.random::<f64>() * 1e-5,
                }),
                3 | 4 => {
                    let units: Vec<u16> = (0..rng.random_range(0..12))
                        .map(|_| match rng.random_range(0..4) {
                            0 => rng.random_range(0..0x80),
                            1 => rng.random_range(0xD800..0xE000),
                            _ => rng.random(),
                        })
                        .collect();
                    JsonValue::String(JsonString::from_utf16(&units))
                }
                5 => JsonValue::Array(
                    (0..rng.random_range(0..5))
                        .map(|_| random_value(rng, depth + 1))
                        .collect(),
                ),
                _ => JsonValue::Object(JsonObject::from_entries((0..rng.random_range(0..6)).map(
                    |_| {
                        let key = match rng.random_range(0..3) {
                            0 => rng.random_range(0..20u32).to_string(),
                            1 => char::from(rng.random_range(b'a'..=b'e')).to_string(),
                            _ => format!("k{}", rng.random::<u8>()),
                        };
                        (JsonString::from(key), random_value(rng, depth + 1))
                    },
                ))),
            }
        }
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        for _ in 0..2000 {
            let value = random_value(&mut rng, 0);
            let text = to_canonical_vec(&value);
            let reparsed =
                parse(&text).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&text)));
            assert_eq!(to_canonical_vec(&reparsed), text);
            assert_eq!(canonicalize(&text).unwrap(), text);
            assert_eq!(reparsed, value);
        }
    }

    /// Replays the corpus generated by `tests/fixtures/make_canonical_corpus.mjs` (expected
    /// outputs computed by Node's `JSON.stringify(JSON.parse(input))`).
    #[test]
    fn node_corpus() {
        let corpus: Vec<serde_json::Value> =
            serde_json::from_str(include_str!("../tests/fixtures/canonical_corpus.json")).unwrap();
        assert!(corpus.len() >= 150, "corpus has {} cases", corpus.len());
        let mut failures = Vec::new();
        for case in &corpus {
            let name = case["name"].as_str().unwrap();
            let input: Vec<u8> = match (case.get("input"), case.get("input_hex")) {
                (Some(text), None) => text.as_str().unwrap().as_bytes().to_vec(),
                (None, Some(hex)) => {
                    let hex = hex.as_str().unwrap();
                    (0..hex.len())
                        .step_by(2)
                        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
                        .collect()
                }
                _ => panic!("{name}: needs input or input_hex"),
            };
            let got = canonicalize(&input);
            let flag =
                |field: &str| case.get(field).and_then(serde_json::Value::as_bool) == Some(true);
            let ok = if let Some(expected) = case.get("expected") {
                got.as_deref() == Ok(expected.as_str().unwrap().as_bytes())
            } else {
                assert!(flag("error"), "{name}: needs expected or error");
                match &got {
                    Ok(_) => false,
                    Err(e) if flag("too_deep") => e.is_too_deep(),
                    Err(e) if flag("invalid_utf8") => matches!(e, JsonError::InvalidUtf8 { .. }),
                    Err(e) => !e.is_too_deep() && !matches!(e, JsonError::InvalidUtf8 { .. }),
                }
            };
            if !ok {
                let got = got.map(|v| {
                    String::from_utf8_lossy(&v)
                        .chars()
                        .take(200)
                        .collect::<String>()
                });
                failures.push(format!("{name}: got {got:?}"));
            }
        }
        assert!(
            failures.is_empty(),
            "{} corpus failures:\n{}",
            failures.len(),
            failures.join("\n")
        );
    }
}

#[cfg(test)]
pub(crate) mod envelope_tests {
    use super::*;

    /// What the pipeline read before `read_envelope` existed: the tree, then lookups.
    fn via_tree(input: &[u8]) -> Result<Envelope, JsonError> {
        let value = parse(input)?;
        let text = |v: Option<&JsonValue>| v.and_then(JsonValue::as_str).map(Cow::into_owned);
        let data = value.get("data");
        Ok(Envelope {
            is_object: value.is_object(),
            event: text(value.get("event")),
            appointment_id: text(data.and_then(|d| d.get("appointment_id"))),
            p_aid: text(data.and_then(|d| d.get("p_aid"))),
        })
    }

    fn same(input: &[u8]) {
        assert_eq!(read_envelope(input), via_tree(input), "input {:?}", String::from_utf8_lossy(input));
    }

    /// Envelope-shaped texts: duplicate, escaped, nested and non-string `event` / `data` /
    /// `appointment_id` / `p_aid`, and non-object documents. Also `envelope_scan`'s cases.
    pub(crate) const ENVELOPE_CASES: &[&str] = &[
        r#"{"event":"prescription.created","data":{"appointment_id":"a-1","p_aid":"a-0"}}"#,
        r#"{"data":{"appointment_id":"a-1"},"event":"appointment.created"}"#,
        r#"{"event":"x","event":"y"}"#,
        r#"{"event":"x","event":1}"#,
        r#"{"event":null}"#,
        r#"{"event":""}"#,
        r#"{"\u0065vent":"esc\u00e9aped","d\u0061ta":{"appointment\u005fid":"\ud800x"}}"#,
        r#"{"data":{"appointment_id":"a"},"data":{"p_aid":"b"}}"#,
        r#"{"data":{"appointment_id":"a"},"data":"no"}"#,
        r#"{"data":[{"appointment_id":"a"}]}"#,
        r#"{"data":{"nested":{"appointment_id":"deep"},"appointment_id":["x"]}}"#,
        r#"{"data":{"nested":{"appointment_id":"deep"}},"x":{"event":"inner","data":{"appointment_id":"no"}}}"#,
        r#"{"x":{"data":{"appointment_id":"no"}},"event":"e"}"#,
        r#"{"data":{},"event":"e","data":{"appointment_id":"last"}}"#,
        r#"{"data":{"p_aid":"p","appointment_id":"a","p_aid":7}}"#,
        r#"{"data":{"nested":{"x":{"y":1}},"list":[{"a":1}],"appointment_id":"after"}}"#,
        r#"{"data":{"nested":{"appointment_id":"deep"}},"event":{"a":"b"}}"#,
        r#"{"a":[1,2.5e-3,-0,{"event":"no"}],"event":"yes","t":true,"f":false,"n":null}"#,
        "{ \"event\" : \"spaced\" , \"data\" : { \"appointment_id\" : \"s\" } }",
        r#"["event","x"]"#,
        r#""event""#,
        "12",
        "{}",
        "[]",
];

    #[test]
    fn envelope_fields_as_the_tree_gives_them() {
        for input in ENVELOPE_CASES {
            same(input.as_bytes());
        }
    }

    #[test]
    fn same_errors_as_parse() {
        for input in [
            "", " ", "{", "{\"event\"", "{\"event\":", "{\"event\":\"x\"", "{\"event\":\"x\",}", "{,}", "[1,]",
            "{\"a\" 1}", "{\"a\":01}", "{\"a\":1.}", "{\"a\":-}", "{\"a\":tru}", "{\"a\":\"\\x\"}",
            "{\"a\":\"\\u12G4\"}", "{\"a\":\"\u{1}\"}", "{\"a\":1} x", "\u{feff}{}", "{\"a\":[}", "{'a':1}",
        ] {
            assert_eq!(read_envelope(input.as_bytes()), parse(input.as_bytes()).map(|_| unreachable!()), "input {input:?}");
        }
        let invalid_utf8 = b"{\"event\":\"\xff\"}";
        assert_eq!(read_envelope(invalid_utf8), via_tree(invalid_utf8));
        let deep = format!("{}{}", "[".repeat(1001), "]".repeat(1001));
        assert!(read_envelope(deep.as_bytes()).unwrap_err().is_too_deep());
        let ok = format!("{{\"event\":\"e\",\"x\":{}{}}}", "[".repeat(999), "]".repeat(999));
        same(ok.as_bytes());
        assert!(read_envelope_with_max_depth(b"{\"a\":{}}", 1).unwrap_err().is_too_deep());
        assert_eq!(read_envelope_with_max_depth(b"{\"a\":{}}", 1), parse_with_max_depth(b"{\"a\":{}}", 1).map(|_| unreachable!()));
    }

    /// Random documents built from envelope-shaped pieces (duplicate, escaped, nested and
    /// non-string `event` / `data` / `appointment_id` / `p_aid`), some of them truncated.
    #[test]
    fn random_documents_agree() {
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = move |n: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n as u64) as usize
        };
        const KEYS: [&str; 9] = ["event", "data", "appointment_id", "p_aid", "\\u0065vent", "dat\\u0061", "x", "p_aid ", ""];
        const SCALARS: [&str; 12] = [r#""s""#, r#""""#, r#""a\ud800""#, r#""\u00e9\n""#, "1", "-0.5e3", "true", "null", "\"\u{1F600}\"", "[]", "{}", r#""\"q""#];
        fn value(next: &mut impl FnMut(usize) -> usize, depth: usize, out: &mut String) {
            match if depth > 3 { 0 } else { next(4) } {
                0 | 1 => out.push_str(SCALARS[next(SCALARS.len())]),
                2 => {
                    out.push('[');
                    for i in 0..next(3) {
                        if i > 0 {
                            out.push(',');
                        }
                        value(next, depth + 1, out);
                    }
                    out.push(']');
                }
                _ => {
                    out.push('{');
                    for i in 0..next(5) {
                        if i > 0 {
                            out.push(',');
                        }
                        out.push_str(&format!("\"{}\" : ", KEYS[next(KEYS.len())]));
                        value(next, depth + 1, out);
                    }
                    out.push('}');
                }
            }
        }
        for _ in 0..20_000 {
            let mut doc = String::new();
            value(&mut next, 0, &mut doc);
            if next(10) == 0 {
                let cut = next(doc.len() + 1);
                if doc.is_char_boundary(cut) {
                    doc.truncate(cut);
                }
            }
            same(doc.as_bytes());
        }
    }

    #[test]
    fn swar_special_byte_test_is_exact() {
        // Every byte value in every lane, on top of ordinary and non-ASCII neighbours.
        for base in [*b"abcdefgh", [0xC3, 0xA9, 0xE2, 0x80, 0xA8, 0xF0, 0x9F, 0x98], [0x7F; 8], [0x21; 8], [0xFF; 8]] {
            for lane in 0..8 {
                for b in 0..=255u8 {
                    let mut bytes = base;
                    bytes[lane] = b;
                    let expected = bytes.iter().any(|&x| STRING_SPECIAL[x as usize]);
                    assert_eq!(has_string_special(u64::from_le_bytes(bytes)), expected, "{bytes:?}");
                }
            }
        }
        // Two specials in one word, and long strings around the 8-byte boundaries.
        assert!(has_string_special(u64::from_le_bytes(*b"\x01\"aaaa\\x")));
        for len in 0..40 {
            for tail in ["", "\\n", "\\u00e9", "\u{e9}"] {
                let doc = format!("{{\"event\":\"{}{}\",\"data\":{{\"appointment_id\":\"{}\"}}}}", "e".repeat(len), tail, "a".repeat(len));
                same(doc.as_bytes());
                let cut = &doc.as_bytes()[..doc.len() - 3];
                same(cut);
            }
        }
    }

    /// Every case of the Node-generated corpus, wrapped in envelope positions too.
    #[test]
    fn node_corpus_agrees() {
        let corpus: Vec<serde_json::Value> =
            serde_json::from_str(include_str!("../tests/fixtures/canonical_corpus.json")).unwrap();
        for case in &corpus {
            let input: Vec<u8> = match (case.get("input"), case.get("input_hex")) {
                (Some(text), None) => text.as_str().unwrap().as_bytes().to_vec(),
                (None, Some(hex)) => {
                    let hex = hex.as_str().unwrap();
                    (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap()).collect()
                }
                _ => continue,
            };
            same(&input);
            for (before, after) in [
                (&b"{\"event\":"[..], &b"}"[..]),
                (b"{\"data\":{\"appointment_id\":", b"}}"),
                (b"{\"data\":{\"p_aid\":", b"},\"event\":\"e\"}"),
                (b"{\"data\":", b",\"event\":\"e\"}"),
            ] {
                same(&[before, &input[..], after].concat());
            }
        }
    }
}
