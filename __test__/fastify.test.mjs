// ekaWebhookRoute from `@eka-care/webhook-sdk/fastify` (resolved through the package's own
// exports map) registered in real Fastify 5 apps.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import Fastify from 'fastify'
import { ekaWebhookRoute } from '@eka-care/webhook-sdk/fastify'
import {
  APPOINTMENT_CREATED,
  BOUNDED,
  PRETTY_BODY,
  assertAccepted,
  assertSignatureRejected,
  assertTooLarge,
  postWebhook,
  signedHeaders,
  startSdk,
} from './support/webhooks.mjs'

/**
 * A Fastify app with ordinary JSON routes registered before and after the webhook plugin, and an
 * error handler that records what reaches it.
 */
async function startApp(t, sdk, { routeOptions, registerOptions, configure } = {}) {
  const app = Fastify()
  const errors = []
  app.setErrorHandler((error, request, reply) => {
    errors.push(error)
    return reply.code(599).send({ handledBy: 'app error handler', code: error.code })
  })
  configure?.(app)
  app.post('/before', async (request) => ({ parsed: request.body }))
  app.register(ekaWebhookRoute(sdk, routeOptions), registerOptions)
  app.post('/after', async (request) => ({ parsed: request.body }))
  t.after(() => app.close())
  const base = await app.listen({ port: 0, host: '127.0.0.1' })
  return { base, errors }
}

test('Fastify: signed webhooks, compact and pretty-printed, are 200 with the event (no patient details)', BOUNDED, async (t) => {
  const { sdk } = await startSdk(t)
  const { base } = await startApp(t, sdk, { routeOptions: { path: '/eka-webhook' } })
  for (const body of [APPOINTMENT_CREATED, PRETTY_BODY]) {
    const res = await postWebhook(`${base}/eka-webhook`, body)
    assert.equal(res.status, 200)
    assert.match(res.headers.get('content-type'), /^application\/json/)
    assertAccepted(assert, res.json)
  }
})

test('Fastify: any content type, or none, reaches the SDK as raw bytes', BOUNDED, async (t) => {
  // The same delivery in four content types: no ledger, so each one runs.
  const { sdk } = await startSdk(t, { deliveryLedger: false })
  const { base } = await startApp(t, sdk)
  const { 'eka-webhook-signature': signature } = signedHeaders(PRETTY_BODY)
  for (const contentType of ['text/plain', 'application/octet-stream', 'application/json; charset=utf-8', undefined]) {
    const headers = { 'eka-webhook-signature': signature }
    if (contentType) headers['content-type'] = contentType
    const res = await postWebhook(`${base}/`, PRETTY_BODY, { headers })
    assert.equal(res.status, 200, `${contentType}: ${res.text}`)
    assertAccepted(assert, res.json)
  }
})

test('Fastify: bad signatures are 403, invalid JSON 400, an empty body 400', BOUNDED, async (t) => {
  const { sdk } = await startSdk(t)
  const { base } = await startApp(t, sdk)
  const url = `${base}/`
  await assertSignatureRejected(assert, url, PRETTY_BODY)
  const invalid = await postWebhook(url, '{"event": "appointment.created"')
  assert.equal(invalid.status, 400)
  assert.deepEqual(invalid.json, { error: 'Invalid JSON body' })
  const empty = await postWebhook(url, '', { headers: { 'content-type': 'application/json' } })
  assert.equal(empty.status, 400)
  assert.deepEqual(empty.json, { error: 'Request body is required' })
})

test('Fastify: the raw parser is scoped to the webhook route; other routes still get parsed JSON', BOUNDED, async (t) => {
  const { sdk } = await startSdk(t)
  const { base } = await startApp(t, sdk, { routeOptions: { path: '/eka' }, registerOptions: { prefix: '/webhooks' } })
  for (const route of ['/before', '/after']) {
    const res = await postWebhook(`${base}${route}`, { hello: 'world' })
    assert.equal(res.status, 200)
    assert.deepEqual(res.json, { parsed: { hello: 'world' } })
  }
  const hook = await postWebhook(`${base}/webhooks/eka`, PRETTY_BODY)
  assert.equal(hook.status, 200)
  assertAccepted(assert, hook.json)
  const unprefixed = await postWebhook(`${base}/eka`, PRETTY_BODY)
  assert.equal(unprefixed.status, 404)
})

test("Fastify: an app's own application/json parser neither clashes with nor leaks into the route", BOUNDED, async (t) => {
  const { sdk } = await startSdk(t)
  const { base } = await startApp(t, sdk, {
    configure(app) {
      app.removeContentTypeParser('application/json')
      app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) =>
        done(null, { custom: JSON.parse(body) }),
      )
    },
  })
  const other = await postWebhook(`${base}/after`, { a: 1 })
  assert.deepEqual(other.json, { parsed: { custom: { a: 1 } } })
  const hook = await postWebhook(`${base}/`, PRETTY_BODY)
  assert.equal(hook.status, 200)
  assertAccepted(assert, hook.json)
})

test('Fastify: bodies over the limit are 413 with the SDK body; the app error handler is not involved', BOUNDED, async (t) => {
  const { sdk } = await startSdk(t)
  const { base, errors } = await startApp(t, sdk, { routeOptions: { limit: 64 } })
  await assertTooLarge(assert, `${base}/`)
  assert.deepEqual(errors, [])
})

test('Fastify: errors the route cannot answer for reach the app error handler', BOUNDED, async (t) => {
  const { sdk } = await startSdk(t)
  const { base, errors } = await startApp(t, sdk)
  await sdk.close()
  const res = await postWebhook(`${base}/`, APPOINTMENT_CREATED)
  assert.equal(res.status, 599)
  assert.deepEqual(res.json, { handledBy: 'app error handler', code: 'ERR_CLOSED' })
  assert.equal(errors.length, 1)
})

test('ekaWebhookRoute validates its arguments when called', BOUNDED, async (t) => {
  const { sdk } = await startSdk(t)
  const invalid = [
    [{}, {}],
    [null, {}],
    [sdk, { path: 'no-slash' }],
    [sdk, { path: 42 }],
    [sdk, { limit: 0 }],
  ]
  for (const [candidate, options] of invalid) {
    assert.throws(() => ekaWebhookRoute(candidate, options), { name: 'TypeError', code: 'ERR_INVALID_ARGUMENT' })
  }
})
