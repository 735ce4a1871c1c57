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

module.exports = { shapeBody, signatureHeaderOf, SIGNATURE_HEADER }
