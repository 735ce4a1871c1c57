// The outbound API client: no redirects, https only off loopback, bounded responses, one login at
// a time with a backoff after a failure, and a deadline on each webhook's API part.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { setupFor, appointmentPayload, signedHeaders, WebhookSDK, CLIENT, SAMPLE } from './support/sdk.mjs'

let deliveries = 0

/** A new delivery (its own transaction_id, so the ledger runs each one) of `payload`. */
async function deliver(t, payload = appointmentPayload()) {
  const delivery = { ...payload, transaction_id: `txn-outbound-${deliveries++}` }
  return t.sdk.handleRequest(delivery, signedHeaders(delivery))
}

test("plain http to a non-loopback apiBaseUrl is refused as ERR_INVALID_CONFIG", () => {
  for (const apiBaseUrl of ['http://example.com', 'http://10.1.2.3:8080/api']) {
    assert.throws(() => new WebhookSDK({ ...CLIENT, apiBaseUrl }), (err) => {
      assert.equal(err.code, 'ERR_INVALID_CONFIG')
      assert.match(err.message, /only https is allowed, except for loopback hosts \(127\.0\.0\.0\/8, ::1, localhost\)/)
      return true
    })
  }
  for (const apiBaseUrl of ['https://api.eka.care', 'http://localhost:1', 'http://127.0.0.2:1', 'http://[::1]:1']) {
    new WebhookSDK({ ...CLIENT, apiBaseUrl }).close()
  }
})

test('a redirect is an error naming its status, and is not followed', async (ctx) => {
  const t = await setupFor(ctx)
  const target = `${t.simulator.url}/dr/v1/appointment/${SAMPLE.appointmentId}`
  t.simulator.setFault('appointment', SAMPLE.appointmentId, { status: 302, headers: { location: target }, times: 1 })
  const r = await deliver(t)
  assert.equal(r.status, 502)
  assert.match(r.body.error, /redirect \(HTTP 302 to http:\/\/127\.0\.0\.1:\d+\/dr\/v1\/appointment\/apt-bk-1\); redirects are not followed/)
  assert.equal(t.simulator.stats().byId[`appointment:${SAMPLE.appointmentId}`], 1, 'the Location was not fetched')
})

test('API responses over 8 MiB are refused, declared or streamed', async (ctx) => {
  const t = await setupFor(ctx)
  const declared = { status: 200, body: JSON.stringify({ data: { pad: 'x'.repeat(9 * 1024 * 1024) } }) }
  for (const fault of [declared, 'oversized']) {
    t.simulator.clearFaults()
    t.simulator.setFault('appointment', SAMPLE.appointmentId, fault)
    const r = await deliver(t)
    assert.equal(r.status, 502)
    assert.match(r.body.error, /response for \/dr\/v1\/appointment\/apt-bk-1 is larger than the 8388608 bytes allowed/)
  }
})

test('a hanging login is shared by every waiting webhook, bounded by the request timeout', async (ctx) => {
  const t = await setupFor(ctx, { requestTimeoutMs: 300 })
  t.simulator.setFault('login', '*', 'hang')
  const started = performance.now()
  const results = await Promise.all(Array.from({ length: 20 }, () => deliver(t)))
  const elapsed = performance.now() - started
  for (const r of results) {
    assert.equal(r.status, 502)
    assert.match(r.body.error, /login timed out after 300 ms/)
  }
  assert.equal(t.simulator.stats().requests.login, 1, 'one login for the 20 webhooks')
  assert.ok(elapsed < 1500, `all 20 answered within one login timeout (took ${elapsed} ms)`)
})

test('a failed login is backed off: waiting webhooks get its error until the pause has passed', async (ctx) => {
  const t = await setupFor(ctx)
  t.simulator.setFault('login', '*', { status: 503 })
  const first = await deliver(t)
  assert.equal(first.status, 502)
  assert.match(first.body.error, /HTTP 503 for \/connect-auth\/v1\/account\/login/)
  const logins = t.simulator.stats().requests.login
  assert.equal(logins, 1, "a failed login is not retried by the GET's own retries")
  const again = await Promise.all(Array.from({ length: 10 }, () => deliver(t)))
  assert.deepEqual(again.map((r) => r.body.error), Array(10).fill(first.body.error))
  assert.equal(t.simulator.stats().requests.login, logins, 'no login during the backoff')
  t.simulator.clearFaults()
  await new Promise((resolve) => setTimeout(resolve, 1100))
  assert.equal((await deliver(t)).status, 200, 'logs in again once the first 1 s pause has passed')
  assert.equal(t.simulator.stats().requests.login, logins + 1)
})

test("webhookTimeoutMs bounds a webhook's API part: 504 with the reason", async (ctx) => {
  const t = await setupFor(ctx, { webhookTimeoutMs: 400 })
  t.simulator.setRouteLatency('patient', 3000)
  const started = performance.now()
  const r = await deliver(t)
  assert.equal(r.status, 504)
  assert.match(r.body.error, /did not answer within 400 ms \('webhookTimeoutMs'\)/)
  assert.ok(performance.now() - started < 1500)
  assert.throws(() => new WebhookSDK({ ...CLIENT, webhookTimeoutMs: 0 }), /webhookTimeoutMs/)
})
