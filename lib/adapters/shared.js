'use strict'
// What the framework adapters share: the body limit option and the empty-body rule.

const { argumentError } = require('../errors')

/**
 * The `WebhookSDK` method the HTTP doors call: `handleRequest` with the body an HTTP answer
 * carries. A registered symbol, so a second copy of this package still finds it.
 */
const RESPOND = Symbol.for('@eka-care/webhook-sdk.respond')

const DEFAULT_BODY_LIMIT = 1024 * 1024
const TOO_LARGE_BODY = Object.freeze({ error: 'Request body too large' })

/** `options.limit` in bytes (default 1 MiB), validated once when the adapter is created. */
function bodyLimit(options, adapterName) {
  const limit = options?.limit ?? DEFAULT_BODY_LIMIT
  if (!Number.isSafeInteger(limit) || limit <= 0) {
    throw argumentError(`${adapterName}: 'limit' must be a positive integer (bytes), got ${String(limit)}`)
  }
  return limit
}

/**
 * An empty raw body as no body at all, as the Python SDK's server and Flask view treat it
 * (400 `Request body is required`, not `Invalid JSON body`), whichever parser read it.
 */
function nonEmptyBody(body) {
  if ((typeof body === 'string' || Buffer.isBuffer(body)) && body.length === 0) return null
  return body ?? null
}

module.exports = { bodyLimit, nonEmptyBody, RESPOND, TOO_LARGE_BODY, DEFAULT_BODY_LIMIT }
