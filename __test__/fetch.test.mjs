// sdk.fetchHandler() called with Node's own Request objects, and served by Hono on
// @hono/node-server.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { Hono } from 'hono'
import { serve } from '@hono/node-server'
import {
  APPOINTMENT_CREATED,
  BOUNDED,
  PRETTY_BODY,
  assertAccepted,
  assertSignatureRejected,
  assertTooLarge,
  closeServer,
  postWebhook,
  signedHeaders,
  startSdk,
} from './support/webhooks.mjs'

const URL_ = 'http://webhooks.example/hook'

function webhookRequest(body, headers = signedHeaders(body)) {
  return new Request(URL_, { method: 'POST', headers, body })
}

async function jsonOf(response) {
  assert.equal(response.headers.get('content-type'), 'application/json')
  return response.json()
}

/** A body stream that never ends: only a handler that stops at its limit can answer it. */
function endlessStream() {
  const state = { pulled: 0, cancelled: false }
  const chunk = new TextEncoder().encode(' '.repeat(1024))
  const stream = new ReadableStream({
    pull(controller) {
      state.pulled++
      controller.enqueue(chunk)
    },
    cancel() {
      state.cancelled = true
    },
  })
  return { stream, state }
}

test('fetchHandler: a signed webhook is 200 with the event (no patient details)', BOUNDED, async (t) => {
  const { sdk } = await startSdk(t)
  const response = await sdk.fetchHandler()(webhookRequest(JSON.stringify(APPOINTMENT_CREATED)))
  assert.equal(response.status, 200)
  assertAccepted(assert, await jsonOf(response))
})

test('fetchHandler: a pretty-printed body verifies on its raw bytes; header names are case-insensitive', BOUNDED, async (t) => {
  const { sdk } = await startSdk(t)
  const { 'eka-webhook-signature': signature } = signedHeaders(PRETTY_BODY)
  const response = await sdk.fetchHandler()(
    webhookRequest(PRETTY_BODY, { 'Content-Type': 'application/json', 'Eka-Webhook-Signature': signature }),
  )
  assert.equal(response.status, 200)
  assertAccepted(assert, await jsonOf(response))
})

test('fetchHandler: signature failures are 403 with the exact reason', BOUNDED, async (t) => {
  const { sdk, sim } = await startSdk(t)
  const handler = sdk.fetchHandler()
  const body = JSON.stringify(APPOINTMENT_CREATED)
  const cases = [
    [signedHeaders(body, 'another-key'), 'Invalid signature'],
    [{ 'content-type': 'application/json' }, 'Missing Eka-Webhook-Signature header'],
    [{ 'eka-webhook-signature': 'garbage' }, 'Invalid signature header format'],
  ]
  for (const [headers, reason] of cases) {
    const response = await handler(webhookRequest(body, headers))
    assert.equal(response.status, 403)
    assert.deepEqual(await jsonOf(response), { error: reason })
  }
  assert.equal(sim.stats().logins, 0)
})

test('fetchHandler: invalid JSON is 400, an empty body is 400 Request body is required', BOUNDED, async (t) => {
  const { sdk } = await startSdk(t)
  const handler = sdk.fetchHandler()
  const invalid = await handler(webhookRequest('{"event":'))
  assert.equal(invalid.status, 400)
  assert.deepEqual(await jsonOf(invalid), { error: 'Invalid JSON body' })
  for (const body of [undefined, '']) {
    const empty = await handler(new Request(URL_, { method: 'POST', headers: signedHeaders('{}'), body }))
    assert.equal(empty.status, 400)
    assert.deepEqual(await jsonOf(empty), { error: 'Request body is required' })
  }
})

test('fetchHandler: a streamed body over the limit is 413 and the stream is cancelled', BOUNDED, async (t) => {
  const { sdk } = await startSdk(t)
  const { stream, state } = endlessStream()
  const request = new Request(URL_, { method: 'POST', headers: signedHeaders('{}'), body: stream, duplex: 'half' })
  const response = await sdk.fetchHandler({ limit: 8 * 1024 })(request)
  assert.equal(response.status, 413)
  assert.deepEqual(await jsonOf(response), { error: 'Request body too large' })
  assert.equal(state.cancelled, true)
  assert.ok(state.pulled <= 16, `read ${state.pulled} KiB for an 8 KiB limit`)
})

test('fetchHandler: a body within the limit passes; a declared length over it is 413 unread', BOUNDED, async (t) => {
  const { sdk } = await startSdk(t)
  const handler = sdk.fetchHandler({ limit: PRETTY_BODY.length })
  const fits = await handler(webhookRequest(PRETTY_BODY))
  assert.equal(fits.status, 200)
  const { stream, state } = endlessStream()
  const declared = new Request(URL_, {
    method: 'POST',
    headers: { ...signedHeaders('{}'), 'content-length': String(PRETTY_BODY.length + 1) },
    body: stream,
    duplex: 'half',
  })
  const response = await handler(declared)
  assert.equal(response.status, 413)
  assert.equal(state.cancelled, true)
})

test('fetchHandler: a closed SDK rejects with its error for the framework to report', BOUNDED, async (t) => {
  const { sdk } = await startSdk(t)
  const handler = sdk.fetchHandler()
  await sdk.close()
  await assert.rejects(handler(webhookRequest(JSON.stringify(APPOINTMENT_CREATED))), { code: 'ERR_CLOSED' })
})

test('fetchHandler rejects a limit that is not a positive integer', BOUNDED, async (t) => {
  const { sdk } = await startSdk(t)
  for (const limit of [0, 2.5, '1mb']) {
    assert.throws(() => sdk.fetchHandler({ limit }), { name: 'TypeError', code: 'ERR_INVALID_ARGUMENT' })
  }
})

/** A Hono app on @hono/node-server with the handler on POST /hook and an ordinary JSON route. */
async function startHono(t, sdk, handlerOptions) {
  const app = new Hono()
  const handler = sdk.fetchHandler(handlerOptions)
  app.post('/hook', (c) => handler(c.req.raw))
  app.post('/echo', async (c) => c.json({ echoed: await c.req.json() }))
  const server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' })
  await once(server, 'listening')
  t.after(() => closeServer(server))
  return `http://127.0.0.1:${server.address().port}`
}

test('Hono: signed, pretty-printed, bad signature and invalid JSON webhooks', BOUNDED, async (t) => {
  const { sdk } = await startSdk(t)
  const base = await startHono(t, sdk)
  const compact = await postWebhook(`${base}/hook`, APPOINTMENT_CREATED)
  assert.equal(compact.status, 200)
  assertAccepted(assert, compact.json)

  const pretty = await postWebhook(`${base}/hook`, PRETTY_BODY)
  assert.equal(pretty.status, 200)
  assertAccepted(assert, pretty.json)

  await assertSignatureRejected(assert, `${base}/hook`, PRETTY_BODY)

  const invalid = await postWebhook(`${base}/hook`, '{"event"')
  assert.equal(invalid.status, 400)
  assert.deepEqual(invalid.json, { error: 'Invalid JSON body' })

  const echo = await postWebhook(`${base}/echo`, { ok: 1 })
  assert.deepEqual(echo.json, { echoed: { ok: 1 } })
})

test('Hono: bodies over the limit are 413, declared or chunked', BOUNDED, async (t) => {
  const { sdk } = await startSdk(t)
  const url = `${await startHono(t, sdk, { limit: 64 })}/hook`
  await assertTooLarge(assert, url)
})

test('Hono: a closed SDK surfaces as Hono 500', BOUNDED, async (t) => {
  const { sdk } = await startSdk(t)
  const url = `${await startHono(t, sdk)}/hook`
  await sdk.close()
  const response = await postWebhook(url, APPOINTMENT_CREATED)
  assert.equal(response.status, 500)
})
