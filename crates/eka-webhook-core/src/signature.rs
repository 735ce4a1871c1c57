//! `Eka-Webhook-Signature: t=<unix>,v1=<hex>` — HMAC-SHA256 over `"<t>.<body>"`, wire-compatible
//! with the Python SDK 0.1.4 (same header grammar, same reasons, same hex leniency).

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::secret::Secret;

/// Lower-case header name; HTTP header names are case-insensitive.
pub const SIGNATURE_HEADER: &str = "eka-webhook-signature";

type HmacSha256 = Hmac<Sha256>;

/// Why a request's signature was rejected. `reason()` texts are part of the wire contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VerifyFailure {
    KeyNotConfigured,
    MissingHeader,
    InvalidFormat,
    MissingFields,
    InvalidSignature,
    /// Tolerance is configured and `t` is not an integer.
    InvalidTimestamp,
    TimestampTooOld,
    TimestampInFuture,
}

/// The answer to a signature that matches no key (the glue then tries the canonical form).
pub const INVALID_SIGNATURE: &str = "Invalid signature";

impl VerifyFailure {
    pub fn reason(self) -> &'static str {
        match self {
            VerifyFailure::KeyNotConfigured => "Signing key is not configured",
            VerifyFailure::MissingHeader => "Missing Eka-Webhook-Signature header",
            VerifyFailure::InvalidFormat => "Invalid signature header format",
            VerifyFailure::MissingFields => {
                "Invalid signature header format: missing 't' or 'v1' fields"
            }
            VerifyFailure::InvalidSignature => INVALID_SIGNATURE,
            VerifyFailure::InvalidTimestamp => "Invalid signature timestamp",
            VerifyFailure::TimestampTooOld => "Signature timestamp is too old",
            VerifyFailure::TimestampInFuture => "Signature timestamp is in the future",
        }
    }
}

/// A parsed header: the timestamp text exactly as sent (it is part of the signed string) and
/// every `v1` signature decoded. Signatures that are not valid hex are kept as `None`: they can
/// never match, but must not turn into a format error (the Python SDK says "Invalid signature").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureHeader<'a> {
    pub timestamp: &'a str,
    pub signatures: Vec<Option<Vec<u8>>>,
}

/// Parses the header with the Python SDK's grammar: comma-separated `key=value` items, every
/// item must contain `=`, keys are exact (`t`, `v1`), unknown keys are ignored, the last `t` wins.
/// Several `v1` entries are all kept (the Python SDK keeps only the last): any one may match.
pub fn parse_header(header: Option<&str>) -> Result<SignatureHeader<'_>, VerifyFailure> {
    let header = match header {
        Some(h) if !h.is_empty() => h,
        _ => return Err(VerifyFailure::MissingHeader),
    };
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for item in header.split(',') {
        let (key, value) = item.split_once('=').ok_or(VerifyFailure::InvalidFormat)?;
        match key {
            "t" => timestamp = Some(value),
            "v1" if !value.is_empty() => signatures.push(decode_hex_like_python(value)),
            "v1" => {}
            _ => {}
        }
    }
    match timestamp {
        Some(t) if !t.is_empty() && !signatures.is_empty() => Ok(SignatureHeader {
            timestamp: t,
            signatures,
        }),
        _ => Err(VerifyFailure::MissingFields),
    }
}

/// Python's `bytes.fromhex`: pairs of hex digits (either case), ASCII whitespace allowed between
/// pairs but not inside one. "Whitespace" is CPython's `Py_ISSPACE`: space, `\t \n \v \f \r`
/// (Rust's `is_ascii_whitespace` lacks the vertical tab).
fn decode_hex_like_python(text: &str) -> Option<Vec<u8>> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len() / 2);
    let mut i = 0;
    while i < bytes.len() {
        if matches!(bytes[i], b' ' | b'\t' | b'\n' | 0x0B | 0x0C | b'\r') {
            i += 1;
            continue;
        }
        let high = hex_value(bytes[i])?;
        let low = hex_value(*bytes.get(i + 1)?)?;
        out.push(high << 4 | low);
        i += 2;
    }
    Some(out)
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// HMAC-SHA256(key, "<timestamp>.<body>").
pub fn compute_signature(key: &[u8], timestamp: &str, body: &[u8]) -> [u8; 32] {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC accepts keys of any length");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.finalize().into_bytes().into()
}

/// The header value Eka Care would send for `body` (already the exact bytes to sign).
pub fn generate_header(body: &[u8], key: &str, timestamp: i64) -> String {
    let t = timestamp.to_string();
    format!(
        "t={t},v1={}",
        hex::encode(compute_signature(key.as_bytes(), &t, body))
    )
}

impl SignatureHeader<'_> {
    /// True when any key's HMAC over `body` equals any `v1` entry. Every comparison is
    /// constant-time and all of them run, so timing does not reveal which entry matched.
    pub fn matches(&self, body: &[u8], keys: &[Secret]) -> bool {
        let mut matched = subtle::Choice::from(0);
        for key in keys {
            let expected = compute_signature(key.expose().as_bytes(), self.timestamp, body);
            for candidate in self.signatures.iter().flatten() {
                if candidate.len() == expected.len() {
                    matched |= candidate.as_slice().ct_eq(&expected);
                }
            }
        }
        matched.into()
    }

    /// Applies `signatureToleranceSeconds` (beyond the Python SDK): checked only after the
    /// signature matched, so the timestamp reasons only ever describe authentic deliveries.
    pub fn check_tolerance(
        &self,
        tolerance_seconds: Option<u64>,
        now: i64,
    ) -> Result<(), VerifyFailure> {
        let Some(tolerance) = tolerance_seconds else {
            return Ok(());
        };
        let t: i64 = self
            .timestamp
            .trim()
            .parse()
            .map_err(|_| VerifyFailure::InvalidTimestamp)?;
        let tolerance = i64::try_from(tolerance).unwrap_or(i64::MAX);
        if now.saturating_sub(t) > tolerance {
            Err(VerifyFailure::TimestampTooOld)
        } else if t.saturating_sub(now) > tolerance {
            Err(VerifyFailure::TimestampInFuture)
        } else {
            Ok(())
        }
    }
}

/// Options of a verification beyond the keys.
#[derive(Debug, Clone, Copy)]
pub struct VerifyOptions {
    pub tolerance_seconds: Option<u64>,
    /// Unix seconds.
    pub now: i64,
}

impl VerifyOptions {
    pub fn at_current_time(tolerance_seconds: Option<u64>) -> Self {
        Self {
            tolerance_seconds,
            now: unix_now(),
        }
    }
}

pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Verifies against each candidate body in turn (the exact bytes received first, then the
/// canonical re-serialisation). Candidates are produced lazily: the canonical form is only
/// computed when the raw bytes did not match.
pub fn verify<'b>(
    header: Option<&str>,
    keys: &[Secret],
    options: VerifyOptions,
    candidates: impl IntoIterator<Item = std::borrow::Cow<'b, [u8]>>,
) -> Result<(), VerifyFailure> {
    if keys.is_empty() || keys.iter().all(Secret::is_empty) {
        return Err(VerifyFailure::KeyNotConfigured);
    }
    let parsed = parse_header(header)?;
    if !candidates
        .into_iter()
        .any(|body| parsed.matches(&body, keys))
    {
        return Err(VerifyFailure::InvalidSignature);
    }
    parsed.check_tolerance(options.tolerance_seconds, options.now)
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use super::*;

    const BODY: &[u8] = br#"{"event":"prescription.created","data":{"id":1}}"#;

    fn keys(k: &[&str]) -> Vec<Secret> {
        k.iter().map(|s| Secret::new(*s)).collect()
    }

    fn check(
        header: Option<&str>,
        key_list: &[&str],
        tolerance: Option<u64>,
        now: i64,
    ) -> Result<(), VerifyFailure> {
        verify(
            header,
            &keys(key_list),
            VerifyOptions {
                tolerance_seconds: tolerance,
                now,
            },
            [Cow::Borrowed(BODY)],
        )
    }

    #[test]
    fn known_vector_matches_python_hmac() {
        // python3 -c "import hmac,hashlib;print(hmac.new(b'key',b'1700000000.'+BODY,hashlib.sha256).hexdigest())"
        let header = generate_header(BODY, "key", 1_700_000_000);
        assert_eq!(
            header,
            format!(
                "t=1700000000,v1={}",
                hex::encode(compute_signature(b"key", "1700000000", BODY))
            )
        );
        assert_eq!(check(Some(&header), &["key"], None, 0), Ok(()));
    }

    #[test]
    fn reasons_in_python_order() {
        assert_eq!(
            check(Some("t=1,v1=00"), &[], None, 0),
            Err(VerifyFailure::KeyNotConfigured)
        );
        use VerifyFailure::{InvalidFormat, InvalidSignature, MissingFields, MissingHeader};
        let cases = [
            (None, MissingHeader),
            (Some(""), MissingHeader),
            (Some("garbage"), InvalidFormat),
            (Some("t=1,oops"), InvalidFormat),
            (Some("t=1"), MissingFields),
            (Some("v1=ab"), MissingFields),
            (Some("t=,v1=ab"), MissingFields),
            (Some(" t=1,v1=ab"), MissingFields),
            (Some("t=1,v1=zz"), InvalidSignature),
            (Some("t=1,v1=abc"), InvalidSignature),
            (Some("t=1,v1=00"), InvalidSignature),
        ];
        for (header, reason) in cases {
            assert_eq!(check(header, &["k"], None, 0), Err(reason), "{header:?}");
        }
    }

    /// The hex signature (`v1=`) that `generate_header` writes for `BODY`.
    fn v1_of(key: &str, timestamp: i64) -> String {
        let header = generate_header(BODY, key, timestamp);
        header.split("v1=").nth(1).unwrap().to_string()
    }

    #[test]
    fn hex_is_lenient_like_python_fromhex() {
        let sig = &v1_of("k", 5);
        let upper = format!("t=5,v1={}", sig.to_uppercase());
        assert_eq!(check(Some(&upper), &["k"], None, 0), Ok(()));
        let spaced = format!("t=5,v1={} {}", &sig[..10], &sig[10..]);
        assert_eq!(check(Some(&spaced), &["k"], None, 0), Ok(()));
        // CPython's whitespace includes the vertical tab, which Rust's is_ascii_whitespace
        // does not (found by the signature_header fuzz target).
        let vertical_tab = format!("t=5,v1={}\x0b{}\x0c", &sig[..10], &sig[10..]);
        assert_eq!(check(Some(&vertical_tab), &["k"], None, 0), Ok(()));
        let split_pair = format!("t=5,v1={} {}", &sig[..9], &sig[9..]);
        assert_eq!(
            check(Some(&split_pair), &["k"], None, 0),
            Err(VerifyFailure::InvalidSignature)
        );
    }

    #[test]
    fn any_v1_entry_and_any_key_may_match() {
        let sig = v1_of("new", 9);
        let header = format!("t=9,v1=deadbeef,v1={sig},v1=00");
        assert_eq!(check(Some(&header), &["old", "new"], None, 0), Ok(()));
        assert_eq!(
            check(Some(&header), &["old"], None, 0),
            Err(VerifyFailure::InvalidSignature)
        );
    }

    #[test]
    fn last_timestamp_wins_like_python() {
        let sig = v1_of("k", 7);
        assert_eq!(
            check(Some(&format!("t=1,t=7,v1={sig}")), &["k"], None, 0),
            Ok(())
        );
        assert_eq!(
            check(Some(&format!("t=7,t=1,v1={sig}")), &["k"], None, 0),
            Err(VerifyFailure::InvalidSignature)
        );
    }

    #[test]
    fn tolerance_rejects_stale_and_future_after_a_match() {
        let header = generate_header(BODY, "k", 1000);
        assert_eq!(check(Some(&header), &["k"], Some(180), 1180), Ok(()));
        assert_eq!(check(Some(&header), &["k"], Some(180), 820), Ok(()));
        assert_eq!(
            check(Some(&header), &["k"], Some(180), 1181),
            Err(VerifyFailure::TimestampTooOld)
        );
        assert_eq!(
            check(Some(&header), &["k"], Some(180), 819),
            Err(VerifyFailure::TimestampInFuture)
        );
        assert_eq!(check(Some(&header), &["k"], None, 99_999), Ok(()));
        let sig = v1_of("k", 0);
        let resigned = format!(
            "t=abc,v1={}",
            hex::encode(compute_signature(b"k", "abc", BODY))
        );
        assert_ne!(sig, "");
        assert_eq!(
            check(Some(&resigned), &["k"], Some(10), 0),
            Err(VerifyFailure::InvalidTimestamp)
        );
        assert_eq!(check(Some(&resigned), &["k"], None, 0), Ok(()));
    }

    #[test]
    fn later_candidates_are_tried() {
        let header = generate_header(BODY, "k", 3);
        let result = verify(
            Some(&header),
            &keys(&["k"]),
            VerifyOptions {
                tolerance_seconds: None,
                now: 0,
            },
            [
                Cow::Borrowed(&b"{ \"pretty\": 1 }"[..]),
                Cow::Borrowed(BODY),
            ],
        );
        assert_eq!(result, Ok(()));
    }
}
