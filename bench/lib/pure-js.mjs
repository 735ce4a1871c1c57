// The pure-JS baseline: what a Node developer writes without the SDK, and the same result shape as
// handleRequest (same statuses for the paths the benchmarks take).
//
// Default, the definition: JSON.parse the body (when it is text), JSON.stringify the
// payload (the signed form, as the Python SDK and Eka's examples verify it), HMAC-SHA256 with
// node:crypto, timingSafeEqual, the event check.
// { rawFirst: true }: a sharper baseline that HMACs the raw bytes first and re-serialises only when
// they do not match (what the SDK does) — no JSON.stringify on the common path.
import { createHmac, timingSafeEqual } from 'node:crypto'

const SUPPORTED = new Set(['appointment.created', 'appointment.updated', 'prescription.created', 'prescription.updated'])

function parseHeader(header) {
  if (typeof header !== 'string' || header === '') return null
  let t = null
  const v1 = []
  for (const item of header.split(',')) {
    const eq = item.indexOf('=')
    if (eq < 0) return null
    const key = item.slice(0, eq)
    if (key === 't') t = item.slice(eq + 1)
    else if (key === 'v1') v1.push(Buffer.from(item.slice(eq + 1), 'hex'))
  }
  return t && v1.length ? { t, v1 } : null
}

function matches(key, t, bytes, signatures) {
  const expected = createHmac('sha256', key).update(`${t}.`).update(bytes).digest()
  return signatures.some((s) => s.length === expected.length && timingSafeEqual(s, expected))
}

export function pureJsHandler(signingKey, { rawFirst = false } = {}) {
  return async function handle(body, headers) {
    let payload
    let bytes
    let raw = false
    if (typeof body === 'string' || Buffer.isBuffer(body)) {
      try {
        payload = JSON.parse(typeof body === 'string' ? body : body.toString('utf8'))
      } catch {
        return { status: 400, body: { error: 'Invalid JSON body' }, error: 'Invalid JSON body' }
      }
      bytes = body
      raw = true
    } else {
      payload = body
      bytes = JSON.stringify(body)
    }
    if (payload === null || typeof payload !== 'object' || Array.isArray(payload)) {
      return { status: 400, body: { error: 'Request body is required' }, error: 'Request body is required' }
    }
    const header = parseHeader(headers['eka-webhook-signature'])
    if (!header) return { status: 403, body: { error: 'Invalid signature header format' }, error: 'Invalid signature header format' }
    const ok = raw && !rawFirst
      ? matches(signingKey, header.t, JSON.stringify(payload), header.v1)
      : matches(signingKey, header.t, bytes, header.v1) || (raw && matches(signingKey, header.t, JSON.stringify(payload), header.v1))
    if (!ok) return { status: 403, body: { error: 'Invalid signature' }, error: 'Invalid signature' }
    const type = payload.event
    if (typeof type !== 'string' || type === '') return { status: 400, body: { error: "Missing 'event' field in webhook payload" } }
    if (!SUPPORTED.has(type)) return { status: 400, body: { error: `Event type '${type}' is not allowed` } }
    return { status: 200, body: { success: true, event: type }, event: { type, payload } }
  }
}
