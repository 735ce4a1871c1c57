'use strict'
// Argument shaping shared by every door: the text the native side verifies, the payload V8 parses
// from it, and the signature header picked out of whatever header shape the framework has.

const SIGNATURE_HEADER = 'eka-webhook-signature'

const INVALID_JSON_BODY = 'Invalid JSON body'
const BODY_REQUIRED = 'Request body is required'

/**
 * The exact text to sign or verify: a string or Buffer as received (any other byte view as a
 * Buffer over the same memory), anything else through `JSON.stringify` (the canonical form by
 * definition, `isCanonical`). Returns `{ text, isCanonical }` (`text` null for no body), or
 * `{ failure }` when a JS value cannot be serialised.
 */
function shapeBody(body) {
  if (body === undefined || body === null) return { text: null, isCanonical: false }
  if (typeof body === 'string' || Buffer.isBuffer(body)) return { text: body, isCanonical: false }
  if (body instanceof Uint8Array) {
    return { text: Buffer.from(body.buffer, body.byteOffset, body.byteLength), isCanonical: false }
  }
  if (body instanceof ArrayBuffer) return { text: Buffer.from(body), isCanonical: false }
  let text
  try {
    text = JSON.stringify(body)
  } catch (error) {
    // A RangeError here is V8 running out of stack on a very deep object.
    return { failure: error instanceof RangeError ? 'JSON body is nested too deeply' : INVALID_JSON_BODY }
  }
  return text === undefined ? { text: null, isCanonical: false } : { text, isCanonical: true }
}

/**
 * `shapeBody` for the pipeline, which also needs the payload: parsed here, once, with
 * `JSON.parse` (an object body is its own payload). Returns `{ text, isCanonical, payload }`,
 * or `{ failure }` for a body that is missing, not JSON or not a JSON object.
 */
function shapeRequestBody(body) {
  if (typeof body === 'string' || Buffer.isBuffer(body)) return parsedText(body)
  const shaped = shapeBody(body)
  if (shaped.failure) return shaped
  if (shaped.text === null) return { failure: BODY_REQUIRED }
  if (!shaped.isCanonical) return parsedText(shaped.text)
  // JSON.stringify writes an object, and only an object, starting with '{'.
  if (!shaped.text.startsWith('{')) return { failure: BODY_REQUIRED }
  return { text: shaped.text, isCanonical: true, payload: body }
}

function parsedText(text) {
  let payload
  try {
    payload = JSON.parse(typeof text === 'string' ? text : text.toString('utf8'))
  } catch {
    return { failure: INVALID_JSON_BODY }
  }
  if (payload === null || typeof payload !== 'object' || Array.isArray(payload)) return { failure: BODY_REQUIRED }
  return { text, isCanonical: false, payload }
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true })

/**
 * `JSON.stringify(JSON.parse(text))`, the text a sender that signs its payload object signed;
 * `undefined` when the text is not UTF-8 JSON or has no JSON form (too deep for `stringify`).
 */
function canonicalText(text) {
  try {
    return JSON.stringify(JSON.parse(typeof text === 'string' ? text : strictUtf8.decode(text)))
  } catch {
    return undefined
  }
}

/**
 * The `Eka-Webhook-Signature` value from a plain object (any name case; arrays give their
 * first value, as the Python SDK does), a Fetch `Headers`, or a `Map`.
 */
function signatureHeaderOf(headers) {
  if (headers === null || typeof headers !== 'object') return null
  if (typeof headers.get === 'function' && typeof headers.has === 'function') {
    const value = headers.get(SIGNATURE_HEADER) ?? headers.get('Eka-Webhook-Signature')
    return firstValue(value)
  }
  if (SIGNATURE_HEADER in headers) return firstValue(headers[SIGNATURE_HEADER])
  for (const name of Object.keys(headers)) {
    if (name.toLowerCase() === SIGNATURE_HEADER) return firstValue(headers[name])
  }
  return null
}

function firstValue(value) {
  if (Array.isArray(value)) value = value[0]
  return typeof value === 'string' ? value : null
}

module.exports = { shapeBody, shapeRequestBody, canonicalText, signatureHeaderOf, SIGNATURE_HEADER }
