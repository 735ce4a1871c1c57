// Faults of the Eka Care API and of user code: bounded retries, documented statuses, no storms.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { setupFor, appointmentPayload, signedHeaders, SAMPLE } from './support/sdk.mjs'

let deliveries = 0

/** A new delivery (its own transaction_id) of `payload`, by default an appointment.created. */
async function deliver(t, payload = appointmentPayload()) {
  const delivery = { ...payload, transaction_id: `txn-fault-${deliveries++}` }
  return t.sdk.handleRequest(delivery, signedHeaders(delivery))
}

test('a transient 503, a connection reset and a 502 are retried with backoff', async (ctx) => {
  const t = await setupFor(ctx)
  for (const fault of [{ status: 503, times: 1 }, { kind: 'reset', times: 1 }, { status: 502, times: 2 }]) {
    t.simulator.clearFaults()
    t.simulator.resetStats()
    t.simulator.setFault('appointment', SAMPLE.appointmentId, fault)
    const r = await deliver(t)
    assert.equal(r.status, 200, JSON.stringify(fault))
    assert.equal(t.simulator.stats().byId[`appointment:${SAMPLE.appointmentId}`], 1 + (fault.times ?? 1))
  }
})

test('retries are bounded: a persistent 503 gives 502 after 3 attempts', async (ctx) => {
  const t = await setupFor(ctx)
  t.simulator.setFault('appointment', SAMPLE.appointmentId, { status: 503 })
  const started = performance.now()
  const r = await deliver(t)
  assert.equal(r.status, 502)
  assert.match(r.body.error, /HTTP 503/)
  assert.equal(t.simulator.stats().byId[`appointment:${SAMPLE.appointmentId}`], 3)
  assert.ok(performance.now() - started < 2000)
})

test('429 honours Retry-After', async (ctx) => {
  const t = await setupFor(ctx)
  t.simulator.setFault('appointment', SAMPLE.appointmentId, { status: 429, headers: { 'retry-after': '1' }, times: 1 })
  const started = performance.now()
  const r = await deliver(t)
  assert.equal(r.status, 200)
  assert.ok(performance.now() - started >= 950, 'waited the Retry-After second')
})

test('client errors, 500 and garbage JSON are not retried', async (ctx) => {
  const t = await setupFor(ctx)
  for (const fault of [{ status: 500 }, { status: 400 }, 'garbage']) {
    t.simulator.clearFaults()
    t.simulator.resetStats()
    t.simulator.setFault('appointment', SAMPLE.appointmentId, fault)
    const r = await deliver(t)
    assert.equal(r.status, 502, JSON.stringify(fault))
    assert.equal(t.simulator.stats().byId[`appointment:${SAMPLE.appointmentId}`], 1, JSON.stringify(fault))
  }
  assert.match((await deliver(t)).body.error, /invalid response .*not JSON/)
})

test('token expiry in the middle of a burst: one re-login, no storm', async (ctx) => {
  const t = await setupFor(ctx, {}, { latencyMs: 5 })
  await deliver(t)
  const burst = Array.from({ length: 60 }, (_, i) => {
    if (i === 20) t.simulator.expireTokens()
    return deliver(t)
  })
  const results = await Promise.all(burst)
  assert.ok(results.every((r) => r.status === 200))
  assert.equal(t.simulator.stats().logins, 2, 'the initial login and one per expiry')
})

test('onEventTimeoutMs: an onEvent that hangs answers 500 in time', async (ctx) => {
  const t = await setupFor(ctx, { onEventTimeoutMs: 200, onEvent: () => new Promise(() => {}) })
  const payload = { event: 'prescription.created' }
  const started = performance.now()
  const r = await t.sdk.handleRequest(payload, signedHeaders(payload))
  assert.equal(r.status, 500)
  assert.deepEqual(r.body, { error: 'Internal server error while processing webhook event' })
  assert.equal(r.error, 'onEvent did not settle within 200 ms')
  assert.ok(performance.now() - started < 1500)
})
