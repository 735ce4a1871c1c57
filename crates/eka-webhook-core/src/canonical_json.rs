// TEMPORARY compile shim until the real V8-exact module lands (being written in parallel).
use std::borrow::Cow;
pub const DEFAULT_MAX_DEPTH: usize = 1000;
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum JsonError { #[error("invalid JSON: {0}")] Invalid(String) }
impl JsonError { pub fn is_too_deep(&self) -> bool { false } }
#[derive(Debug, Clone, PartialEq)]
pub enum JsonValue { Null, Bool(bool), Number(f64), String(String), Array(Vec<JsonValue>), Object(Vec<(String, JsonValue)>) }
pub fn parse(input: &[u8]) -> Result<JsonValue, JsonError> {
    let v: serde_json::Value = serde_json::from_slice(input).map_err(|e| JsonError::Invalid(e.to_string()))?;
    Ok(from_serde(v))
}
fn from_serde(v: serde_json::Value) -> JsonValue {
    match v { serde_json::Value::Null => JsonValue::Null, serde_json::Value::Bool(b) => JsonValue::Bool(b),
      serde_json::Value::Number(n) => JsonValue::Number(n.as_f64().unwrap_or(0.0)), serde_json::Value::String(s) => JsonValue::String(s),
      serde_json::Value::Array(a) => JsonValue::Array(a.into_iter().map(from_serde).collect()),
      serde_json::Value::Object(o) => JsonValue::Object(o.into_iter().map(|(k, v)| (k, from_serde(v))).collect()) }
}
pub fn to_canonical_vec(value: &JsonValue) -> Vec<u8> { serde_json::to_vec(&value.to_serde()).unwrap_or_default() }
pub fn canonicalize(input: &[u8]) -> Result<Vec<u8>, JsonError> { parse(input).map(|v| to_canonical_vec(&v)) }
impl JsonValue {
    pub fn get(&self, key: &str) -> Option<&JsonValue> { match self { JsonValue::Object(o) => o.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v), _ => None } }
    pub fn as_str(&self) -> Option<Cow<'_, str>> { match self { JsonValue::String(s) => Some(Cow::Borrowed(s)), _ => None } }
    pub fn is_object(&self) -> bool { matches!(self, JsonValue::Object(_)) }
    pub fn to_serde(&self) -> serde_json::Value { match self { JsonValue::Null => serde_json::Value::Null, JsonValue::Bool(b) => (*b).into(), JsonValue::Number(n) => serde_json::json!(n), JsonValue::String(s) => s.clone().into(), JsonValue::Array(a) => a.iter().map(|v| v.to_serde()).collect(), JsonValue::Object(o) => serde_json::Value::Object(o.iter().map(|(k, v)| (k.clone(), v.to_serde())).collect()) } }
}
