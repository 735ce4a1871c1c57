// sdk.nextApiHandler() as a plain Node `(req, res)` handler on http.createServer: what a Next.js
// Pages Router route with `bodyParser: false` receives. Next itself (both body-parser settings)
// is in nextjs.test.mjs.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createServer } from 'node:http'
import {
  APPOINTMENT_CREATED,
  BOUNDED,
  PRETTY_BODY,
  assertAccepted,
  assertSignatureRejected,
  assertTooLarge,
  listen,
  postWebhook,
  startSdk,
} from './support/webhooks.mjs'

/** Serves `handler`; a rejection is answered 500 with its code, as Next reports a failed route. */
async function serveHandler(t, handler) {
  const server = createServer((req, res) => {
    handler(req, res).catch((error) => {
      res.writeHead(500, { 'content-type': 'text/plain' })
      res.end(`rejected: ${error.code}`)
    })
  })
  return listen(t, server)
}

test('nextApiHandler: signed compact and pretty bodies are verified on their raw bytes', BOUNDED, async (t) => {
  const { sdk } = await startSdk(t)
  const url = await serveHandler(t, sdk.nextApiHandler())
  for (const body of [APPOINTMENT_CREATED, PRETTY_BODY]) {
    const res = await postWebhook(url, body)
    assert.equal(res.status, 200, res.text)
    assert.equal(res.headers.get('content-type'), 'application/json; charset=utf-8')
    assertAccepted(assert, res.json)
  }
  assert.equal(await assertSignatureRejected(assert, url), 3)
  const invalid = await postWebhook(url, '{"event":')
  assert.equal(invalid.status, 400)
  assert.deepEqual(invalid.json, { error: 'Invalid JSON body' })
})

test('nextApiHandler: other methods are 405 with Allow: POST; the limit gives 413', BOUNDED, async (t) => {
  const { sdk, sim } = await startSdk(t)
  const url = await serveHandler(t, sdk.nextApiHandler({ limit: 16 }))
  for (const method of ['GET', 'PUT', 'DELETE']) {
    const res = await fetch(url, { method })
    assert.equal(res.status, 405, method)
    assert.equal(res.headers.get('allow'), 'POST')
    assert.deepEqual(await res.json(), { error: 'Method Not Allowed' })
  }
  await assertTooLarge(assert, url)
  assert.equal(sim.stats().requests.appointment, 0)
  assert.throws(() => sdk.nextApiHandler({ limit: 0 }), { code: 'ERR_INVALID_ARGUMENT', message: /nextApiHandler: 'limit'/ })
})

test('nextApiHandler: a closed SDK rejects the call, for the framework to answer 500', BOUNDED, async (t) => {
  const { sdk } = await startSdk(t)
  const url = await serveHandler(t, sdk.nextApiHandler())
  await sdk.close()
  const res = await postWebhook(url, APPOINTMENT_CREATED)
  assert.equal(res.status, 500)
  assert.equal(res.text, 'rejected: ERR_CLOSED')
})
