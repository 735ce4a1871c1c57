//! The webhook [`Envelope`] of a text already known to be JSON — V8's `JSON.parse` accepted it,
//! or `JSON.stringify` wrote it — read without checking the grammar a second time.
//!
//! The JS doors parse a string or Buffer body with `JSON.parse` anyway (the event's payload is
//! that object), and an object body arrives as `JSON.stringify` output; validating such a text
//! again in Rust cost as much as hashing it. Our grammar is `JSON.parse`'s (see
//! [`canonical_json`]), so what is left to check is only what V8 does not check our way: UTF-8
//! (a Buffer is decoded with U+FFFD replacement before `JSON.parse` sees it) and the nesting
//! limit. For such texts [`read_envelope_of_valid_json`] gives exactly what
//! [`canonical_json::read_envelope_with_max_depth`] gives; for other texts its answer is
//! unspecified, but it never panics.
//!
//! The top-level object and its `data` object are read member by member; every other nested
//! value is skipped 64 bytes at a time: bitmasks of quotes, backslashes and brackets (AVX2
//! where the CPU has it), a prefix-XOR for what lies inside strings, and a walk over the
//! brackets only (the structural stage of simdjson, without the validation).

use std::borrow::Cow;

use crate::canonical_json::{self, Envelope, JsonError};

/// See the module docs. `max_depth` is the limit of [`canonical_json::parse_with_max_depth`].
pub fn read_envelope_of_valid_json(input: &[u8], max_depth: usize) -> Result<Envelope, JsonError> {
    if let Err(e) = std::str::from_utf8(input) {
        return Err(JsonError::InvalidUtf8 { offset: e.valid_up_to() });
    }
    let mut scan = Scan { bytes: input, pos: 0, max_depth };
    let mut envelope = Envelope::default();
    scan.skip_ws();
    match scan.peek() {
        Some(b'{') => {
            envelope.is_object = true;
            scan.read_object(0, Level::Top, &mut envelope)?;
        }
        Some(b'[') => scan.skip_container(0)?,
        _ => {}
    }
    Ok(envelope)
}

/// Which object is being read: the top level (`event`, `data`) or its `data`
/// (`appointment_id`, `p_aid`).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Level {
    Top,
    Data,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Field {
    Event,
    Data,
    AppointmentId,
    PAid,
    Other,
}

impl Level {
    fn field(self, key: &[u8]) -> Field {
        match (self, key) {
            (Level::Top, b"event") => Field::Event,
            (Level::Top, b"data") => Field::Data,
            (Level::Data, b"appointment_id") => Field::AppointmentId,
            (Level::Data, b"p_aid") => Field::PAid,
            _ => Field::Other,
        }
    }
}

struct Scan<'a> {
    bytes: &'a [u8],
    pos: usize,
    max_depth: usize,
}

impl<'a> Scan<'a> {
    #[inline]
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    #[inline]
    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\n' | b'\r' | b'\t')) {
            self.pos += 1;
        }
    }

    /// Refuses a container opened inside `open` others when that goes over the limit, as the
    /// parser does (at its opening bracket).
    fn check_depth(&self, open: usize, offset: usize) -> Result<(), JsonError> {
        if open >= self.max_depth {
            return Err(JsonError::TooDeep { max_depth: self.max_depth, offset });
        }
        Ok(())
    }

    /// The object at `self.pos` (its `{`) inside `open` containers: each member's key is
    /// matched against the level's fields; the last duplicate wins, and a value that is not a
    /// string (or, for `data`, not an object) leaves its field(s) empty, as the tree gives them.
    fn read_object(&mut self, open: usize, level: Level, envelope: &mut Envelope) -> Result<(), JsonError> {
        self.check_depth(open, self.pos)?;
        self.pos += 1;
        self.skip_ws();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(());
        }
        loop {
            let key = self.string();
            self.skip_ws();
            self.pos += 1; // ':'
            self.skip_ws();
            let field = level.field(&key);
            match field {
                Field::Event => envelope.event = None,
                Field::Data => {
                    envelope.appointment_id = None;
                    envelope.p_aid = None;
                }
                Field::AppointmentId => envelope.appointment_id = None,
                Field::PAid => envelope.p_aid = None,
                Field::Other => {}
            }
            match (field, self.peek()) {
                (Field::Data, Some(b'{')) => self.read_object(open + 1, Level::Data, envelope)?,
                (Field::Event | Field::AppointmentId | Field::PAid, Some(b'"')) => {
                    // Valid UTF-8: a slice of the checked input between quotes, or decoded.
                    let text = String::from_utf8(self.string().into_owned()).ok();
                    match field {
                        Field::Event => envelope.event = text,
                        Field::AppointmentId => envelope.appointment_id = text,
                        _ => envelope.p_aid = text,
                    }
                }
                _ => self.skip_value(open + 1)?,
            }
            self.skip_ws();
            match self.peek() {
                Some(b',') => {
                    self.pos += 1;
                    self.skip_ws();
                }
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(());
                }
                // Not JSON after all: nothing more to read.
                _ => return Ok(()),
            }
        }
    }

    /// The string literal at `self.pos` (its `"`) as [`canonical_json::JsonValue::as_str`]
    /// gives it, in UTF-8 bytes.
    fn string(&mut self) -> Cow<'a, [u8]> {
        let start = self.pos;
        let (end, escaped) = self.skip_string();
        let bytes: &'a [u8] = self.bytes;
        if !escaped {
            return Cow::Borrowed(&bytes[(start + 1).min(end)..end]);
        }
        // Escapes are rare in the few members read here: decode them the one way there is.
        match canonical_json::parse(&bytes[start..self.pos.min(bytes.len())]) {
            Ok(value) => value.as_str().map(|s| Cow::Owned(s.into_owned().into_bytes())).unwrap_or_default(),
            Err(_) => Cow::Borrowed(&[]),
        }
    }

    /// Moves past the string literal at `self.pos` (its `"`); returns the offset of its closing
    /// quote and whether it has escapes.
    fn skip_string(&mut self) -> (usize, bool) {
        let mut i = self.pos + 1;
        let mut escaped = false;
        loop {
            // Eight bytes at a time up to the next quote or backslash (a `notes` field can be
            // most of a body).
            while let Some(chunk) = self.bytes.get(i..i + 8) {
                if has_quote_or_backslash(u64::from_le_bytes(chunk.try_into().expect("8 bytes"))) {
                    break;
                }
                i += 8;
            }
            match self.bytes.get(i) {
                None | Some(b'"') => break,
                Some(b'\\') => {
                    escaped = true;
                    i += 2;
                }
                Some(_) => i += 1,
            }
        }
        let end = i.min(self.bytes.len());
        self.pos = end + 1;
        (end, escaped)
    }

    /// Any value at `self.pos`, inside `open` containers.
    fn skip_value(&mut self, open: usize) -> Result<(), JsonError> {
        match self.peek() {
            Some(b'"') => {
                self.skip_string();
            }
            Some(b'{' | b'[') => self.skip_container(open)?,
            _ => {
                while !matches!(self.peek(), None | Some(b',' | b'}' | b']' | b' ' | b'\n' | b'\r' | b'\t')) {
                    self.pos += 1;
                }
            }
        }
        Ok(())
    }

    /// The array or object at `self.pos` (its bracket) inside `open` containers, 64 bytes at a
    /// time; checks the nesting limit at every bracket inside it.
    fn skip_container(&mut self, open: usize) -> Result<(), JsonError> {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2, checked just above.
            return unsafe { self.skip_container_avx2(open) };
        }
        self.skip_container_with(open, BlockMasks::of_bytes)
    }

    /// [`skip_container`](Scan::skip_container) with the masks built 32 bytes at a time.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    fn skip_container_avx2(&mut self, open: usize) -> Result<(), JsonError> {
        // The closure inherits this function's AVX2 (and inlines into it).
        self.skip_container_with(open, |block| BlockMasks::of_avx2(block))
    }

    #[inline(always)]
    fn skip_container_with(&mut self, open: usize, masks_of: impl Fn(&[u8; 64]) -> BlockMasks) -> Result<(), JsonError> {
        let bytes = self.bytes;
        let mut depth = open;
        let mut in_string = 0u64; // all ones when the previous block ended inside a string
        let mut escape_carry = 0u64; // 1 when the block's first byte is escaped
        let mut base = self.pos;
        while base < bytes.len() {
            let masks = masks_of(&load_block(bytes, base));
            let escaped = escaped_bits(masks.backslash, &mut escape_carry);
            let inside = prefix_xor(masks.quote & !escaped) ^ in_string;
            in_string = ((inside as i64) >> 63) as u64;
            let mut brackets = (masks.open | masks.close) & !inside;
            while brackets != 0 {
                let bit = brackets.trailing_zeros() as usize;
                brackets &= brackets - 1;
                if masks.open >> bit & 1 == 1 {
                    self.check_depth(depth, base + bit)?;
                    depth += 1;
                } else {
                    depth -= 1;
                    if depth == open {
                        self.pos = base + bit + 1;
                        return Ok(());
                    }
                }
            }
            base += 64;
        }
        self.pos = bytes.len();
        Ok(())
    }
}

/// True when any of the eight bytes of `word` is `"` or `\\` (SWAR: a zero byte after XOR borrows
/// into its high bit; borrows only run upward from a byte that matched, so the answer is exact).
#[inline]
fn has_quote_or_backslash(word: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let quote = word ^ (ONES * u64::from(b'"'));
    let backslash = word ^ (ONES * u64::from(b'\\'));
    (quote.wrapping_sub(ONES) & !quote | backslash.wrapping_sub(ONES) & !backslash) & HIGH != 0
}

/// 64 bytes from `at`, zero-padded past the end (a zero byte is nothing the scan looks for).
#[inline]
fn load_block(bytes: &[u8], at: usize) -> [u8; 64] {
    let mut block = [0u8; 64];
    let available = &bytes[at..bytes.len().min(at + 64)];
    block[..available.len()].copy_from_slice(available);
    block
}

/// One bit per byte of a block: quotes, backslashes, opening and closing brackets.
#[derive(Debug, PartialEq, Eq)]
struct BlockMasks {
    quote: u64,
    backslash: u64,
    open: u64,
    close: u64,
}

impl BlockMasks {
    /// [`BlockMasks::of_bytes`] with AVX2, in two 32-byte halves.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    #[inline]
    fn of_avx2(block: &[u8; 64]) -> BlockMasks {
        use std::arch::x86_64::{
            _mm256_cmpeq_epi8, _mm256_loadu_si256, _mm256_movemask_epi8, _mm256_or_si256, _mm256_set1_epi8,
        };
        let mut masks = BlockMasks { quote: 0, backslash: 0, open: 0, close: 0 };
        for half in 0..2 {
            // SAFETY: the 32 bytes read lie inside `block` (half * 32 + 32 <= 64).
            let v = unsafe { _mm256_loadu_si256(block.as_ptr().add(half * 32).cast()) };
            let folded = _mm256_or_si256(v, _mm256_set1_epi8(0x20));
            let [quote, backslash, open, close] = [
                _mm256_cmpeq_epi8(v, _mm256_set1_epi8(b'"' as i8)),
                _mm256_cmpeq_epi8(v, _mm256_set1_epi8(b'\\' as i8)),
                _mm256_cmpeq_epi8(folded, _mm256_set1_epi8(b'{' as i8)),
                _mm256_cmpeq_epi8(folded, _mm256_set1_epi8(b'}' as i8)),
            ]
            .map(|m| u64::from(_mm256_movemask_epi8(m) as u32));
            let shift = half * 32;
            masks.quote |= quote << shift;
            masks.backslash |= backslash << shift;
            masks.open |= open << shift;
            masks.close |= close << shift;
        }
        masks
    }

    /// The masks a byte at a time: CPUs without AVX2, other targets, and the reference in
    /// tests.
    #[inline]
    fn of_bytes(block: &[u8; 64]) -> BlockMasks {
        let mut masks = BlockMasks { quote: 0, backslash: 0, open: 0, close: 0 };
        for (i, &b) in block.iter().enumerate() {
            let bit = 1u64 << i;
            match b {
                b'"' => masks.quote |= bit,
                b'\\' => masks.backslash |= bit,
                b'{' | b'[' => masks.open |= bit,
                b'}' | b']' => masks.close |= bit,
                _ => {}
            }
        }
        masks
    }
}

/// Bit i set when byte i is escaped: it follows an odd run of backslashes. `carry` is 1 when
/// the block's first byte is escaped by the previous block's last backslash, and is set for the
/// next block. Backslashes are rare in webhook bodies, so this walks them one by one.
#[inline]
fn escaped_bits(backslash: u64, carry: &mut u64) -> u64 {
    let mut escaped = *carry;
    *carry = 0;
    // A backslash that is itself escaped escapes nothing.
    let mut escaping = backslash & !escaped;
    while escaping != 0 {
        let bit = escaping.trailing_zeros();
        if bit == 63 {
            *carry = 1;
            break;
        }
        let next = 1u64 << (bit + 1);
        escaped |= next;
        escaping &= !(next | (1u64 << bit));
    }
    escaped
}

/// Bit i is the XOR of bits 0..=i: over unescaped quotes, set from an opening quote up to the
/// byte before its closing quote.
#[inline]
fn prefix_xor(mut bits: u64) -> u64 {
    for shift in [1, 2, 4, 8, 16, 32] {
        bits ^= bits << shift;
    }
    bits
}

#[cfg(test)]
mod tests {
    use super::*;

    fn same(input: &str) {
        assert!(canonical_json::parse_with_max_depth(input.as_bytes(), 100_000).is_ok(), "not JSON: {input:?}");
        for max_depth in [0, 1, 2, 3, canonical_json::DEFAULT_MAX_DEPTH] {
            let expected = canonical_json::read_envelope_with_max_depth(input.as_bytes(), max_depth);
            let ours = read_envelope_of_valid_json(input.as_bytes(), max_depth);
            match (&expected, &ours) {
                (Err(a), Err(b)) => assert!(a.is_too_deep() && b.is_too_deep(), "{input:?} at {max_depth}: {a} / {b}"),
                _ => assert_eq!(ours, expected, "{input:?} at max depth {max_depth}"),
            }
        }
    }

    #[test]
    fn envelopes_of_valid_texts_as_the_validating_reader_gives_them() {
        let more = [
            r#"{"a":"}{][\"","b":["\\",{"c":"\\\"]"}],"event":"after \\ brackets"}"#,
            r#"{"a":["\\\\\"[[[["],"event":"e"}"#,
            "{\n  \"data\": {\n    \"list\": [ 1, [ 2, { \"k\": [] } ] ],\n    \"appointment_id\": \"p\"\n  }\n}",
            r#"[[[]]]"#,
            "true",
        ];
        for input in canonical_json::envelope_tests::ENVELOPE_CASES.iter().chain(&more) {
            same(input);
        }
    }

    #[test]
    fn nested_values_across_block_boundaries() {
        // Strings, escapes and brackets at every offset around the 64-byte block edges.
        for pad in 0..140 {
            let filler = "x".repeat(pad);
            for nested in [
                format!(r#"[{{"s":"{filler}"}},"\\\\",{{"t":"]\\\"}}"}}]"#),
                format!(r#"{{"k":"{filler}\\\"}}","l":[[["{filler}"]]]}}"#),
                format!(r#"["{filler}\\\\\\\\","[{{","\\u005d"]"#),
            ] {
                same(&format!(
                    r#"{{"a":{nested},"n":"{filler}\"{filler}","event":"e{filler}\\","data":{{"x":{nested},"n":"{filler}\\","appointment_id":"i\"{filler}"}}}}"#
                ));
            }
        }
    }

    /// Skipping with the bytewise masks (CPUs without AVX2) ends where the default skip ends.
    #[test]
    fn bytewise_skip_ends_where_the_default_skip_ends() {
        for pad in 0..140 {
            let filler = "x".repeat(pad);
            let text = format!(r#"[["{filler}\\\"]",{{"k":"[{filler}"}}],["{filler}"]] tail"#);
            for max_depth in [1, 2, 3, 1000] {
                let mut bytewise = Scan { bytes: text.as_bytes(), pos: 0, max_depth };
                let mut default = Scan { bytes: text.as_bytes(), pos: 0, max_depth };
                let outcome = bytewise.skip_container_with(0, BlockMasks::of_bytes);
                assert_eq!(outcome, default.skip_container(0), "{text} at {max_depth}");
                assert_eq!(bytewise.pos, default.pos, "{text} at {max_depth}");
                if outcome.is_ok() {
                    assert_eq!(&text[bytewise.pos..], " tail");
                }
            }
        }
    }

    #[test]
    fn the_nesting_limit_inside_skipped_values() {
        let deep = |n: usize| format!(r#"{{"a":{}{},"event":"e"}}"#, "[".repeat(n), "]".repeat(n));
        assert!(read_envelope_of_valid_json(deep(1000).as_bytes(), 1000).unwrap_err().is_too_deep());
        assert_eq!(read_envelope_of_valid_json(deep(999).as_bytes(), 1000).unwrap().event.as_deref(), Some("e"));
        same(&deep(999));
        same(&deep(1000));
    }

    #[test]
    fn invalid_utf8_is_refused_like_the_parser_refuses_it() {
        let input = b"{\"event\":\"\xff\"}";
        assert_eq!(read_envelope_of_valid_json(input, 1000), canonical_json::read_envelope(input));
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn simd_masks_match_the_bytewise_ones() {
        let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
        let alphabet = b"\"\\{}[]:,a 0\x7b\x7d\x5b\x5d\xff\x80";
        for _ in 0..2000 {
            let mut block = [0u8; 64];
            for byte in &mut block {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                *byte = alphabet[(seed % alphabet.len() as u64) as usize];
            }
            #[cfg(target_arch = "x86_64")]
            if std::arch::is_x86_feature_detected!("avx2") {
                // SAFETY: the CPU has AVX2, checked just above.
                assert_eq!(unsafe { BlockMasks::of_avx2(&block) }, BlockMasks::of_bytes(&block));
            }
        }
    }

    #[test]
    fn escaped_bits_follow_odd_backslash_runs() {
        let mut carry = 0;
        // bytes 0-2 backslashes (3: odd), 3 escaped; 5-6 two backslashes: 7 not escaped.
        assert_eq!(escaped_bits(0b111 | 0b110_0000, &mut carry), 0b1010 | 0b100_0000);
        assert_eq!(carry, 0);
        assert_eq!(escaped_bits(1 << 63, &mut carry), 0);
        assert_eq!(carry, 1);
        // The carried escape covers byte 0, which is a backslash that escapes nothing.
        assert_eq!(escaped_bits(0b1, &mut carry), 0b1);
        assert_eq!(carry, 0);
    }
}
