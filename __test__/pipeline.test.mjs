// handleRequest: every row of the status table, enrichment, login sharing, onEvent.
import { test, describe } from 'node:test'
import assert from 'node:assert/strict'
import { setup, setupFor, appointmentPayload, signedHeaders, SAMPLE, SIGNING_KEY, CLIENT, WebhookSDK, generateSignatureHeader } from './support/sdk.mjs'

describe('status table', () => {
  test('400 Invalid JSON body for a string or Buffer that is not JSON', async (ctx) => {
    const t = await setupFor(ctx)
    for (const body of ['{', 'not json', '', Buffer.from('{"a":'), Buffer.from([0xff, 0xfe])]) {
      const r = await t.sdk.handleRequest(body, {})
      assert.equal(r.status, 400, `body ${String(body)}`)
      assert.deepEqual(r.body, { error: 'Invalid JSON body' })
      assert.equal(r.error, 'Invalid JSON body')
    }
  })

  test('400 Request body is required for null, undefined and JSON that is not an object', async (ctx) => {
    const t = await setupFor(ctx)
    for (const body of [null, undefined, '[1,2]', '"text"', '42', 'null', [1, 2], 7, true]) {
      const r = await t.sdk.handleRequest(body, {})
      assert.equal(r.status, 400, `body ${JSON.stringify(body)}`)
      assert.deepEqual(r.body, { error: 'Request body is required' })
    }
  })

  test('403 with the exact reasons', async (ctx) => {
    const t = await setupFor(ctx)
    const payload = appointmentPayload()
    const cases = [
      [{}, 'Missing Eka-Webhook-Signature header'],
      [{ 'eka-webhook-signature': 'nonsense' }, 'Invalid signature header format'],
      [{ 'eka-webhook-signature': 't=123' }, "Invalid signature header format: missing 't' or 'v1' fields"],
      [{ 'eka-webhook-signature': 't=123,v1=abcd' }, 'Invalid signature'],
      [signedHeaders(payload, 'another-key'), 'Invalid signature'],
    ]
    for (const [headers, reason] of cases) {
      const r = await t.sdk.handleRequest(payload, headers)
      assert.equal(r.status, 403)
      assert.deepEqual(r.body, { error: reason })
    }
    assert.equal(t.simulator.stats().requests.appointment, 0, 'nothing fetched for rejected requests')
  })

  test('400 for a missing or non-string event, and for an event not allowed', async (ctx) => {
    const t = await setupFor(ctx, { allowedEvents: ['appointment.created'] })
    for (const payload of [{ data: {} }, { event: '' }, { event: 42 }]) {
      const r = await t.sdk.handleRequest(payload, signedHeaders(payload))
      assert.equal(r.status, 400)
      assert.deepEqual(r.body, { error: "Missing 'event' field in webhook payload" })
    }
    const payload = { event: 'prescription.created', data: {} }
    const r = await t.sdk.handleRequest(payload, signedHeaders(payload))
    assert.equal(r.status, 400)
    assert.equal(r.body.error, "Event type 'prescription.created' is not in the allowed events list. Allowed: ['appointment.created']")
  })

  test("400 Missing 'appointment_id' for appointment events without one", async (ctx) => {
    const t = await setupFor(ctx)
    for (const data of [undefined, {}, { appointment_id: '' }, { appointment_id: 5 }, 'str']) {
      const payload = { event: 'appointment.updated', data }
      const r = await t.sdk.handleRequest(payload, signedHeaders(payload))
      assert.equal(r.status, 400)
      assert.deepEqual(r.body, { error: "Missing 'appointment_id' in webhook payload data" })
    }
  })

  test('502 when the appointment cannot be fetched', async (ctx) => {
    const t = await setupFor(ctx)
    const payload = appointmentPayload('appointment.created', 'apt-does-not-exist')
    const r = await t.sdk.handleRequest(payload, signedHeaders(payload))
    assert.equal(r.status, 502)
    assert.match(r.body.error, /^Failed to fetch appointment details: Eka Care API returned HTTP 404/)
    t.simulator.setFault('appointment', SAMPLE.appointmentId, { status: 503 })
    const r2 = await t.sdk.handleRequest(appointmentPayload(), signedHeaders(appointmentPayload()))
    assert.equal(r2.status, 502)
    assert.match(r2.body.error, /HTTP 503/)
  })

  test('200 for a prescription event, passed through unenriched', async (ctx) => {
    const t = await setupFor(ctx)
    const payload = { event: 'prescription.created', data: { prescription_id: 'rx-1', appointment_id: SAMPLE.appointmentId } }
    const r = await t.sdk.handleRequest(payload, signedHeaders(payload))
    assert.equal(r.status, 200)
    assert.deepEqual(r.body, { success: true, event: 'prescription.created' })
    assert.deepEqual(r.event, { type: 'prescription.created', payload })
    assert.equal(t.simulator.stats().requests.appointment, 0)
    assert.equal(t.simulator.stats().logins, 0)
  })

  test('200 with enrichment for appointment events, body keys in the documented order', async (ctx) => {
    const t = await setupFor(ctx)
    const payload = appointmentPayload()
    const r = await t.sdk.handleRequest(payload, signedHeaders(payload))
    assert.equal(r.status, 200)
    assert.deepEqual(Object.keys(r.body), ['success', 'event', 'appointmentDetails', 'patientDetails', 'doctorDetails', 'clinicDetails'])
    assert.equal(r.body.appointmentDetails.appointment_id, SAMPLE.appointmentId)
    assert.equal(r.body.patientDetails.patient_id, SAMPLE.patientId)
    assert.equal(r.body.doctorDetails.doctor_id, SAMPLE.doctorId, 'doctor unwrapped')
    assert.equal(r.body.clinicDetails.clinic_id, SAMPLE.clinicId, 'clinic unwrapped')
    assert.deepEqual(r.event.payload, payload)
    assert.deepEqual(r.event.appointmentDetails, r.body.appointmentDetails)
    assert.equal(r.error, undefined)
  })

  test('no signing key configured: no verification at all', async (ctx) => {
    const t = await setupFor(ctx, { signingKey: undefined })
    const payload = { event: 'prescription.updated' }
    const r = await t.sdk.handleRequest(payload, { 'eka-webhook-signature': 'garbage' })
    assert.equal(r.status, 200)
  })
})

describe('bodies and headers in every shape', () => {
  test('object, string, pretty string, Buffer, Uint8Array; header names in any case, arrays, Fetch Headers', async (ctx) => {
    const t = await setupFor(ctx)
    const payload = { event: 'prescription.created', data: { note: 'ünïcødé ✓ "quoted"', n: 1.5 } }
    const header = generateSignatureHeader(payload, SIGNING_KEY)
    const pretty = JSON.stringify(payload, null, 4)
    const bodies = [payload, JSON.stringify(payload), pretty, Buffer.from(pretty), new Uint8Array(Buffer.from(pretty))]
    const headerShapes = [
      { 'eka-webhook-signature': header },
      { 'Eka-Webhook-Signature': header },
      { 'EKA-WEBHOOK-SIGNATURE': [header, 'ignored'] },
      new Headers({ 'Eka-Webhook-Signature': header }),
    ]
    for (const body of bodies) {
      for (const headers of headerShapes) {
        const r = await t.sdk.handleRequest(body, headers)
        assert.equal(r.status, 200, `${typeof body} ${JSON.stringify(headers)}`)
        assert.deepEqual(r.event.payload, payload)
      }
    }
  })

  test("an object body is the result's payload itself, as in the Python SDK; other bodies are parsed", async (ctx) => {
    const t = await setupFor(ctx)
    for (const payload of [{ event: 'prescription.created', data: { n: 1 } }, appointmentPayload()]) {
      const r = await t.sdk.handleRequest(payload, signedHeaders(payload))
      assert.equal(r.status, 200)
      assert.equal(r.event.payload, payload, 'the same object')
      const fromText = await t.sdk.handleRequest(JSON.stringify(payload), signedHeaders(payload))
      assert.notEqual(fromText.event.payload, payload)
      assert.deepEqual(fromText.event.payload, payload)
    }
  })

  test('raw bytes are tried first: a body signed as sent (not canonical) verifies', async (ctx) => {
    const t = await setupFor(ctx)
    const raw = '{ "event" : "prescription.created", "data": {"b": 1.0, "a": 1e2} }'
    const r = await t.sdk.handleRequest(raw, { 'eka-webhook-signature': generateSignatureHeader(raw, SIGNING_KEY) })
    assert.equal(r.status, 200)
    assert.deepEqual(r.event.payload, JSON.parse(raw))
  })

  test('an object that JSON.stringify cannot serialise is a 400, not a crash', async (ctx) => {
    const t = await setupFor(ctx)
    const circular = { event: 'prescription.created' }
    circular.self = circular
    const r = await t.sdk.handleRequest(circular, {})
    assert.equal(r.status, 400)
    assert.equal(r.body.error, 'Invalid JSON body')
    const r2 = await t.sdk.handleRequest({ event: 'prescription.created', big: 10n }, {})
    assert.equal(r2.status, 400)
  })
})

describe('enrichment', () => {
  test('patient, doctor and clinic are best effort', async (ctx) => {
    const t = await setupFor(ctx)
    const payload = appointmentPayload('appointment.created', SAMPLE.orphanAppointmentId)
    const r = await t.sdk.handleRequest(payload, signedHeaders(payload))
    assert.equal(r.status, 200)
    assert.equal(r.body.appointmentDetails.appointment_id, SAMPLE.orphanAppointmentId)
    assert.equal('patientDetails' in r.body, false)
    assert.equal('doctorDetails' in r.body, false)
    assert.equal('clinicDetails' in r.body, false)

    t.simulator.setFault('doctor', SAMPLE.doctorId, { status: 500 })
    const p2 = appointmentPayload()
    const r2 = await t.sdk.handleRequest(p2, signedHeaders(p2))
    assert.equal(r2.status, 200)
    assert.ok(r2.body.patientDetails && r2.body.clinicDetails)
    assert.equal(r2.body.doctorDetails, undefined)
  })

  test('patient, doctor and clinic are fetched concurrently', async (ctx) => {
    const t = await setupFor(ctx)
    for (const route of ['patient', 'doctor', 'clinic']) t.simulator.setRouteLatency(route, 150)
    t.simulator.resetStats()
    const payload = appointmentPayload()
    const started = performance.now()
    const r = await t.sdk.handleRequest(payload, signedHeaders(payload))
    assert.equal(r.status, 200)
    assert.equal(t.simulator.maxConcurrent(), 3)
    assert.ok(performance.now() - started < 440, 'three 150 ms fetches overlapped')
  })

  test('one login for 50 concurrent requests; Authorization and client-id sent', async (ctx) => {
    const t = await setupFor(ctx, {}, { latencyMs: 20 })
    // 50 deliveries (distinct transactions) for the same appointment.
    const payloads = Array.from({ length: 50 }, (_, i) => ({ ...appointmentPayload(), transaction_id: `txn-burst-${i}` }))
    const results = await Promise.all(payloads.map((payload) => t.sdk.handleRequest(payload, signedHeaders(payload))))
    assert.ok(results.every((r) => r.status === 200))
    assert.equal(t.simulator.stats().logins, 1)
    const calls = t.simulator.requestLog().filter((e) => e.route === 'appointment')
    assert.equal(calls.length, 50)
    for (const call of calls) {
      assert.match(call.headers.authorization, /^Bearer .+/)
      assert.equal(call.headers['client-id'], CLIENT.clientId)
    }
  })

  test('an expired token causes one re-login and a retry, even for a burst', async (ctx) => {
    const t = await setupFor(ctx)
    const payload = appointmentPayload()
    assert.equal((await t.sdk.handleRequest(payload, signedHeaders(payload))).status, 200)
    t.simulator.expireTokens()
    const payloads = Array.from({ length: 20 }, (_, i) => ({ ...payload, transaction_id: `txn-burst-${i}` }))
    const results = await Promise.all(payloads.map((p) => t.sdk.handleRequest(p, signedHeaders(p))))
    assert.ok(results.every((r) => r.status === 200))
    assert.equal(t.simulator.stats().logins, 2)
  })

  test('bad credentials → 502 whose message names the failed login, without the secret', async (ctx) => {
    const t = await setupFor(ctx, { clientSecret: 'wrong-secret-value' })
    const payload = appointmentPayload()
    const r = await t.sdk.handleRequest(payload, signedHeaders(payload))
    assert.equal(r.status, 502)
    assert.match(r.body.error, /HTTP 401 for \/connect-auth\/v1\/account\/login/)
    assert.doesNotMatch(JSON.stringify(r), /wrong-secret-value/)
  })

  test('a request timeout → 502 within the configured timeout', async (ctx) => {
    const t = await setupFor(ctx, { requestTimeoutMs: 300 })
    t.simulator.setFault('appointment', '*', 'hang')
    const payload = appointmentPayload()
    const started = performance.now()
    const r = await t.sdk.handleRequest(payload, signedHeaders(payload))
    assert.equal(r.status, 502)
    assert.match(r.body.error, /timed out after 300 ms/)
    assert.ok(performance.now() - started < 2000)
  })

  test('apiKey is sent at login; partnerId is forwarded as partner_id', async (ctx) => {
    const t = await setupFor(ctx, { apiKey: 'key-123' }, { clients: [{ ...CLIENT, apiKey: 'key-123' }] })
    const details = await t.sdk.getAppointmentDetailsById(SAMPLE.appointmentId, { partnerId: 'partner-9' })
    assert.equal(details.appointment_id, SAMPLE.appointmentId)
    const call = t.simulator.requestLog().find((e) => e.route === 'appointment')
    assert.equal(call.query.partner_id, 'partner-9')
    assert.equal((await t.sdk.getPatientDetailsById(SAMPLE.patientId)).patient_id, SAMPLE.patientId)
    assert.equal((await t.sdk.getDoctorDetailsById(SAMPLE.doctorId)).doctor_id, SAMPLE.doctorId)
    assert.equal((await t.sdk.getClinicDetailsById(SAMPLE.clinicId)).clinic_id, SAMPLE.clinicId)
    await assert.rejects(t.sdk.getPatientDetailsById('nobody'), (e) => e.code === 'ERR_EKA_API' && /HTTP 404/.test(e.message))
    await assert.rejects(t.sdk.getPatientDetailsById(''), (e) => e.code === 'ERR_INVALID_ARGUMENT')
  })

  test('EKA_API_BASE_URL is the default apiBaseUrl', async () => {
    const t = await setup()
    const previous = process.env.EKA_API_BASE_URL
    process.env.EKA_API_BASE_URL = t.simulator.url
    try {
      const sdk = new WebhookSDK({ ...CLIENT })
      assert.equal((await sdk.getClinicDetailsById(SAMPLE.clinicId)).clinic_id, SAMPLE.clinicId)
      await sdk.close()
    } finally {
      if (previous === undefined) delete process.env.EKA_API_BASE_URL
      else process.env.EKA_API_BASE_URL = previous
      await t.close()
    }
  })
})

describe('onEvent', () => {
  test('sync and async callbacks get the enriched event; a promise is awaited before the response', async (ctx) => {
    let seen
    let finished = false
    const t = await setupFor(ctx, {
      onEvent: async (event) => {
        await new Promise((resolve) => setTimeout(resolve, 50))
        seen = event
        finished = true
      },
    })
    const payload = appointmentPayload()
    const r = await t.sdk.handleRequest(payload, signedHeaders(payload))
    assert.equal(r.status, 200)
    assert.ok(finished, 'awaited')
    assert.equal(seen.type, 'appointment.created')
    assert.deepEqual(seen.payload, payload)
    assert.equal(seen.patientDetails.patient_id, SAMPLE.patientId)
  })

  test('a throwing or rejecting callback → 500 with the generic body and the message in error', async () => {
    for (const onEvent of [
      () => {
        throw new Error('boom-sync')
      },
      async () => {
        throw new Error('boom-async')
      },
      () => Promise.reject('plain string rejection'),
    ]) {
      const t = await setup({ onEvent })
      try {
        const payload = { event: 'prescription.created' }
        const r = await t.sdk.handleRequest(payload, signedHeaders(payload))
        assert.equal(r.status, 500)
        assert.deepEqual(r.body, { error: 'Internal server error while processing webhook event' })
        assert.match(r.error, /boom-sync|boom-async|plain string rejection/)
      } finally {
        await t.close()
      }
    }
  })

  test('onEvent runs after persistence-free validation only: rejected requests never call it', async (ctx) => {
    let calls = 0
    const t = await setupFor(ctx, { onEvent: () => calls++ })
    await t.sdk.handleRequest({ event: 'prescription.created' }, {})
    await t.sdk.handleRequest('{', {})
    assert.equal(calls, 0)
  })
})

describe('configuration and lifecycle', () => {
  test('constructor errors name the field and carry ERR_INVALID_CONFIG', () => {
    const cases = [
      [undefined, /the config must be an object/],
      [{ clientSecret: 's' }, /'clientId' is required/],
      [{ clientId: 'i' }, /'clientSecret' is required/],
      [{ ...CLIENT, onEvent: 'nope' }, /'onEvent' must be a function/],
      [{ ...CLIENT, persistence: { type: 'redis' } }, /unknown persistence type 'redis'/],
      [{ ...CLIENT, persistence: { type: 'postgres' } }, /'persistence.connection' or 'persistence.connectionString' is required/],
      [{ ...CLIENT, persistence: { type: 'postgres', connectionString: 'postgres://u:pw-secret@h/d?sslmode=on' } }, /'sslmode' in 'persistence.connectionString' must be one of disable, allow, prefer, require, verify-ca, verify-full, got "on"$/],
      [{ ...CLIENT, signingKey: 5 }, /'signingKey' must be a string or an array of strings/],
      [{ ...CLIENT, allowedEvents: 'appointment.created' }, /'allowedEvents' must be an array of strings/],
      [{ ...CLIENT, debug: 'yes' }, /'debug' must be a boolean/],
      [{ ...CLIENT, apiBaseUrl: 'ftp://example' }, /'apiBaseUrl' is invalid/],
      [{ ...CLIENT, signinKey: 'typo' }, /unknown option 'signinKey'/],
    ]
    for (const [config, message] of cases) {
      assert.throws(() => new WebhookSDK(config), (e) => e.code === 'ERR_INVALID_CONFIG' && message.test(e.message), String(message))
    }
  })

  test('the config crosses as it is: nested fields are named by path, non-data values are config errors', () => {
    const circular = { maxBodyBytes: 10 }
    circular.self = circular
    const cases = [
      [{ ...CLIENT, server: { maxBodyBytes: 0 } }, /'server\.maxBodyBytes' must be an integer from 1 to/],
      [{ ...CLIENT, server: [1024, 10, 30] }, /'server' must be an object/],
      [{ ...CLIENT, persistence: { type: 'mysql', connection: { host: 'h', user: 'u', database: 'd', sslmode: 'x' } } }, /unknown option 'persistence\.connection\.sslmode'/],
      [{ ...CLIENT, persistence: { type: 'sqlite' } }, /'persistence\.filename' is required/],
      [{ ...CLIENT, server: { onRequest() {} } }, /the config must hold only plain data/],
      [{ ...CLIENT, server: circular }, /the config must hold only plain data/],
      [{ ...CLIENT, debug: Number.NaN }, /the config must hold only plain data/],
    ]
    for (const [config, message] of cases) {
      assert.throws(() => new WebhookSDK(config), (e) => e.code === 'ERR_INVALID_CONFIG' && message.test(e.message), String(message))
    }
  })

  test('undefined and null options are absent', async () => {
    const sdk = new WebhookSDK({ ...CLIENT, signingKey: undefined, persistence: null, server: undefined, debug: null })
    await sdk.close()
  })

  test('signingKey arrays accept any key (rotation)', async (ctx) => {
    const t = await setupFor(ctx, { signingKey: ['old-key', 'new-key'] })
    const payload = { event: 'prescription.created' }
    assert.equal((await t.sdk.handleRequest(payload, signedHeaders(payload, 'old-key'))).status, 200)
    assert.equal((await t.sdk.handleRequest(payload, signedHeaders(payload, 'new-key'))).status, 200)
    assert.equal((await t.sdk.handleRequest(payload, signedHeaders(payload, 'other'))).status, 403)
  })

  test('signatureToleranceSeconds rejects stale and future timestamps with distinct reasons', async (ctx) => {
    const t = await setupFor(ctx, { signatureToleranceSeconds: 180 })
    const payload = { event: 'prescription.created' }
    const now = Math.floor(Date.now() / 1000)
    assert.equal((await t.sdk.handleRequest(payload, signedHeaders(payload, SIGNING_KEY, now - 60))).status, 200)
    const old = await t.sdk.handleRequest(payload, signedHeaders(payload, SIGNING_KEY, now - 600))
    assert.deepEqual([old.status, old.body.error], [403, 'Signature timestamp is too old'])
    const future = await t.sdk.handleRequest(payload, signedHeaders(payload, SIGNING_KEY, now + 600))
    assert.deepEqual([future.status, future.body.error], [403, 'Signature timestamp is in the future'])
  })

  test('after close() calls reject with ERR_CLOSED and close() is idempotent', async () => {
    const t = await setup()
    await t.sdk.close()
    await t.sdk.close()
    await assert.rejects(t.sdk.handleRequest({ event: 'prescription.created' }, {}), (e) => e.code === 'ERR_CLOSED')
    await assert.rejects(t.sdk.getPatientDetailsById(SAMPLE.patientId), (e) => e.code === 'ERR_CLOSED')
    await t.simulator.close()
  })
})
