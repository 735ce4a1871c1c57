// Shared fixtures for the framework-integration suites: a simulator-backed SDK, signed webhook
// requests and small HTTP helpers. Not a test file itself (no `.test.` in its name).
import { createRequire } from 'node:module'
import { once } from 'node:events'

const require = createRequire(import.meta.url)
const sdkModule = require('../../lib/index.js')
const { startSimulator, SAMPLE } = require('../../simulator/index.js')

export const { WebhookSDK, generateSignatureHeader } = sdkModule
export { SAMPLE }

/** Per-test bound: a handler that hangs fails its test instead of stalling the run. */
export const BOUNDED = Object.freeze({ timeout: 20_000 })

export const SIGNING_KEY = 'whsec_integration_test_key'
export const CLIENT = { clientId: 'demo-client', clientSecret: 'demo-secret' }

export const APPOINTMENT_CREATED = Object.freeze({
  event: 'appointment.created',
  data: Object.freeze({ appointment_id: SAMPLE.appointmentId }),
})

/** The same payload as Eka might send it: pretty-printed, so only the raw-bytes path verifies it. */
export const PRETTY_BODY = JSON.stringify(APPOINTMENT_CREATED, null, 2)

/**
 * Starts the simulator and an SDK pointed at it; `t.after` closes both. Pass `config` to override
 * SDK options.
 */
export async function startSdk(t, config = {}) {
  const sim = await startSimulator()
  const sdk = new WebhookSDK({ ...CLIENT, signingKey: SIGNING_KEY, apiBaseUrl: sim.url, ...config })
  t.after(async () => {
    await sdk.close()
    await sim.close()
  })
  return { sim, sdk }
}

/** Headers for `body` (the exact text that will be sent) signed with `key`. */
export function signedHeaders(body, key = SIGNING_KEY) {
  return { 'content-type': 'application/json', 'eka-webhook-signature': generateSignatureHeader(body, key) }
}

/**
 * Sends `body` (object → JSON text), signed unless `headers` replaces the signed ones; `chunked`
 * streams it without a Content-Length.
 */
export async function postWebhook(url, body, { headers, chunked = false } = {}) {
  const text = typeof body === 'string' ? body : JSON.stringify(body)
  const response = await fetch(url, {
    method: 'POST',
    headers: headers ?? signedHeaders(text),
    ...(chunked ? { body: new Blob([text]).stream(), duplex: 'half' } : { body: text }),
    signal: AbortSignal.timeout(10_000),
  })
  const responseText = await response.text()
  let json
  try {
    json = JSON.parse(responseText)
  } catch {
    json = undefined
  }
  return { status: response.status, headers: response.headers, text: responseText, json }
}

/** The bad-signature cases and the exact 403 reasons the contract gives them. */
const SIGNATURE_FAILURES = [
  [(body) => signedHeaders(body, 'forged-key'), 'Invalid signature'],
  [() => ({ 'content-type': 'application/json' }), 'Missing Eka-Webhook-Signature header'],
  [
    () => ({ 'content-type': 'application/json', 'eka-webhook-signature': 'v1=abc' }),
    "Invalid signature header format: missing 't' or 'v1' fields",
  ],
]

/** Asserts that `url` answers a forged, an unsigned and a malformed signature 403 with the reason. */
export async function assertSignatureRejected(assert, url, body = JSON.stringify(APPOINTMENT_CREATED)) {
  for (const [headersFor, reason] of SIGNATURE_FAILURES) {
    const res = await postWebhook(url, body, { headers: headersFor(body) })
    assert.equal(res.status, 403, reason)
    assert.deepEqual(res.json, { error: reason })
  }
  return SIGNATURE_FAILURES.length
}

/** Asserts that `url`, limited below PRETTY_BODY's size, answers it 413 declared and chunked. */
export async function assertTooLarge(assert, url) {
  for (const chunked of [false, true]) {
    const res = await postWebhook(url, PRETTY_BODY, { chunked })
    assert.equal(res.status, 413, `chunked: ${chunked}`)
    assert.deepEqual(res.json, { error: 'Request body too large' })
  }
}

/** The names of the simulator's sample patient, doctor and clinic (patient data, for the tests). */
export const SAMPLE_NAMES = /Ananya|Sharma|Kavya|Iyer|Eka Family Clinic/

/**
 * Asserts an HTTP door's default 200 body for an enriched `appointment.created`: the event, and
 * none of the patient data the SDK fetched (`respondWithDetails` is off).
 */
export function assertAccepted(assert, body) {
  assert.deepEqual(body, { success: true, event: 'appointment.created' })
}

/**
 * Asserts the 200 body of an enriched `appointment.created` from the simulator's sample data
 * (`handleRequest`'s `result.body`, or an HTTP door's with `respondWithDetails`).
 */
export function assertEnriched(assert, body) {
  assert.equal(body.success, true)
  assert.equal(body.event, 'appointment.created')
  assert.equal(body.appointmentDetails.appointment_id, SAMPLE.appointmentId)
  assert.equal(body.patientDetails.patient_id, SAMPLE.patientId)
  assert.equal(body.doctorDetails.doctor_id, SAMPLE.doctorId)
  assert.equal(body.clinicDetails.clinic_id, SAMPLE.clinicId)
}

/** Listens on a free loopback port; `t.after` closes the server and its open connections. */
export async function listen(t, server) {
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.after(() => closeServer(server))
  return `http://127.0.0.1:${server.address().port}`
}

export function closeServer(server) {
  return new Promise((resolve) => {
    server.close(() => resolve())
    server.closeAllConnections?.()
  })
}
