'use strict'
// Argument shaping shared by every door: what the native pipeline receives as the body, and the
// signature header picked out of whatever header shape the framework has.

const SIGNATURE_HEADER = 'eka-webhook-signature'

/**
 * The cheapest exact bytes for a body: a string or Buffer as received (the raw-bytes signature
 * path), anything else through V8's own JSON.stringify (exact canonical form by definition).
 * Returns `{ body, isCanonical }`, or `{ failure }` when a JS value cannot be serialised.
 */
function shapeBody(body) {
  if (body === undefined || body === null) return { body: null, isCanonical: false }
  if (typeof body === 'string' || Buffer.isBuffer(body)) return { body, isCanonical: false }
  if (body instanceof Uint8Array) {
    return { body: Buffer.from(body.buffer, body.byteOffset, body.byteLength), isCanonical: false }
  }
  if (body instanceof ArrayBuffer) return { body: Buffer.from(body), isCanonical: false }
  let text
  try {
    text = JSON.stringify(body)
  } catch (error) {
    // A RangeError here is V8 running out of stack on a very deep object.
    return { failure: error instanceof RangeError ? 'JSON body is nested too deeply' : 'Invalid JSON body' }
  }
  return text === undefined ? { body: null, isCanonical: false } : { body: text, isCanonical: true }
}

/**
 * `shapeBody` for the pipeline, which also needs the event's payload: a string or Buffer body is
 * parsed here, once, with `JSON.parse`, and goes over as `kind` `'parsed'` — the native side then
 * need not check the grammar again (it is `JSON.parse`'s). Text `JSON.parse` refuses goes over
 * as `'raw'`, for the native side to name the precise error. Returns `{ body, kind, payload }`
 * (`payload` when the body parsed, or was an object), or `{ failure }`.
 */
function shapeRequestBody(body) {
  if (typeof body === 'string' || Buffer.isBuffer(body)) return parsedText(body)
  const shaped = shapeBody(body)
  if (shaped.failure) return shaped
  if (shaped.isCanonical) return { body: shaped.body, kind: 'canonical', payload: body }
  return shaped.body === null ? { body: null, kind: 'raw' } : parsedText(shaped.body)
}

function parsedText(bytes) {
  let payload
  try {
    payload = JSON.parse(verifiedText(bytes))
  } catch {
    return { body: bytes, kind: 'raw' }
  }
  return { body: bytes, kind: 'parsed', payload }
}

/**
 * The text the native side verifies, as a JS string: a Buffer as UTF-8 (the native side refuses
 * it if it is not valid UTF-8); a string reaches Rust as UTF-8 with each lone surrogate replaced
 * by U+FFFD, so do the same.
 */
function verifiedText(body) {
  if (typeof body !== 'string') return body.toString('utf8')
  return isWellFormed(body) ? body : toWellFormed(body)
}

const isWellFormed = typeof String.prototype.isWellFormed === 'function'
  ? (text) => text.isWellFormed()
  : (text) => !/\p{Surrogate}/u.test(text)
const toWellFormed = typeof String.prototype.toWellFormed === 'function'
  ? (text) => text.toWellFormed()
  : (text) => text.replace(/\p{Surrogate}/gu, '\ufffd')

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

module.exports = { shapeBody, shapeRequestBody, signatureHeaderOf, SIGNATURE_HEADER }
