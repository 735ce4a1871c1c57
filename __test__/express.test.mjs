// sdk.expressMiddleware() mounted in real Express 5 and Express 4 apps, after express.json(),
// after express.raw(), and alone.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import http from 'node:http'
import net from 'node:net'
import { once } from 'node:events'
import express5 from 'express'
import express4 from 'express4'
import {
  APPOINTMENT_CREATED,
  BOUNDED,
  PRETTY_BODY,
  SAMPLE,
  assertAccepted,
  assertSignatureRejected,
  assertTooLarge,
  listen,
  postWebhook,
  signedHeaders,
  startSdk,
} from './support/webhooks.mjs'

const EXPRESSES = [
  ['Express 5', express5],
  ['Express 4', express4],
]

/** The body parser mounted before the SDK middleware, by mode. */
const PARSERS = {
  'express.json()': (express) => [express.json()],
  "express.raw({ type: '*/*' })": (express) => [express.raw({ type: '*/*' })],
  'no body parser': () => [],
}

/**
 * An app with the SDK middleware on POST /hook behind `parsers`. It records the `ekaEvent` each
 * response finished with and the errors the middleware passed to next().
 */
async function startApp(t, express, { parsers = [], middlewareOptions, sdkConfig } = {}) {
  const { sim, sdk } = await startSdk(t, sdkConfig)
  const app = express()
  const seen = { events: [], errors: [] }
  app.use((req, res, next) => {
    res.on('finish', () => seen.events.push(res.locals.ekaEvent))
    next()
  })
  app.post('/hook', ...parsers, sdk.expressMiddleware(middlewareOptions))
  app.use((error, req, res, _next) => {
    seen.errors.push(error)
    res.status(599).json({ handledBy: 'app error handler', code: error.code })
  })
  const url = await listen(t, http.createServer(app))
  return { url: `${url}/hook`, sim, sdk, seen }
}

/** Waits for the 'finish' listener of the last response to have run. */
async function finishedEvents(seen, count) {
  for (let i = 0; i < 100 && seen.events.length < count; i++) await new Promise((r) => setTimeout(r, 10))
  return seen.events
}

for (const [name, express] of EXPRESSES) {
  for (const [mode, parsers] of Object.entries(PARSERS)) {
    test(`${name}, ${mode}: a signed webhook is answered 200 with the enriched event in res.locals`, BOUNDED, async (t) => {
      const { url, seen } = await startApp(t, express, { parsers: parsers(express) })
      const res = await postWebhook(url, APPOINTMENT_CREATED)
      assert.equal(res.status, 200)
      assert.match(res.headers.get('content-type'), /^application\/json/)
      assertAccepted(assert, res.json)
      const [event] = await finishedEvents(seen, 1)
      assert.equal(event.type, 'appointment.created')
      assert.deepEqual(event.payload, APPOINTMENT_CREATED)
      assert.equal(event.appointmentDetails.appointment_id, SAMPLE.appointmentId, 'the details go to res.locals, not the sender')
      assert.deepEqual(seen.errors, [])
    })

    test(`${name}, ${mode}: a bad signature is 403 with the reason, and no ekaEvent`, BOUNDED, async (t) => {
      const { url, seen } = await startApp(t, express, { parsers: parsers(express) })
      const count = await assertSignatureRejected(assert, url)
      assert.deepEqual(await finishedEvents(seen, count), Array(count).fill(undefined))
    })
  }

  for (const mode of ["express.raw({ type: '*/*' })", 'no body parser']) {
    test(`${name}, ${mode}: a pretty-printed signed body verifies on its raw bytes`, BOUNDED, async (t) => {
      const { url } = await startApp(t, express, { parsers: PARSERS[mode](express) })
      const res = await postWebhook(url, PRETTY_BODY)
      assert.equal(res.status, 200)
      assertAccepted(assert, res.json)
    })

    test(`${name}, ${mode}: invalid JSON is 400 from the SDK`, BOUNDED, async (t) => {
      const { url } = await startApp(t, express, { parsers: PARSERS[mode](express) })
      const res = await postWebhook(url, '{"event": "appointment.created",')
      assert.equal(res.status, 400)
      assert.deepEqual(res.json, { error: 'Invalid JSON body' })
    })

    test(`${name}, ${mode}: an empty body is 400 'Request body is required'`, BOUNDED, async (t) => {
      const { url } = await startApp(t, express, { parsers: PARSERS[mode](express) })
      const res = await postWebhook(url, '', { headers: { 'content-type': 'application/json' } })
      assert.equal(res.status, 400)
      assert.deepEqual(res.json, { error: 'Request body is required' })
    })
  }

  test(`${name}, express.json(): the parsed object takes the canonical path, so pretty-printed bytes no longer verify`, BOUNDED, async (t) => {
    const { url, seen } = await startApp(t, express, { parsers: [express.json()] })
    const res = await postWebhook(url, PRETTY_BODY)
    assert.equal(res.status, 403)
    assert.deepEqual(res.json, { error: 'Invalid signature' })
    assert.deepEqual(seen.errors, [])
  })

  test(`${name}, express.json(): invalid JSON is rejected 400 by body-parser before the SDK runs`, BOUNDED, async (t) => {
    const { url, seen, sim } = await startApp(t, express, { parsers: [express.json()] })
    const res = await postWebhook(url, '{"event": ')
    assert.equal(res.status, 599)
    assert.equal(seen.errors.length, 1)
    assert.equal(seen.errors[0].status, 400)
    assert.equal(sim.stats().logins, 0)
  })

  test(`${name}: app-wide express.json() that skipped the request (content type not JSON) leaves the stream to the SDK`, BOUNDED, async (t) => {
    // The same delivery in two content types: no ledger, so both run.
    const { sdk } = await startSdk(t, { deliveryLedger: false })
    const app = express()
    app.use(express.json())
    let bodyBefore = 'not observed'
    app.post(
      '/hook',
      (req, res, next) => {
        bodyBefore = req.body
        next()
      },
      sdk.expressMiddleware(),
    )
    const url = `${await listen(t, http.createServer(app))}/hook`
    for (const contentType of ['text/plain', 'application/octet-stream']) {
      const res = await postWebhook(url, PRETTY_BODY, {
        headers: { ...signedHeaders(PRETTY_BODY), 'content-type': contentType },
      })
      assert.equal(res.status, 200, `${contentType}: ${res.text}`)
      assertAccepted(assert, res.json)
    }
    // The state that misleads a naive `req.body !== undefined` check on Express 4.
    assert.deepEqual(bodyBefore, express === express4 ? {} : undefined)
  })

  test(`${name}: express.text() hands the SDK a string, verified on its raw bytes`, BOUNDED, async (t) => {
    const { url } = await startApp(t, express, { parsers: [express.text({ type: '*/*' })] })
    const res = await postWebhook(url, PRETTY_BODY)
    assert.equal(res.status, 200)
    assertAccepted(assert, res.json)
  })

  test(`${name}: a body over the limit is 413, declared or streamed`, BOUNDED, async (t) => {
    const { url, sim } = await startApp(t, express, { middlewareOptions: { limit: 64 } })
    assert.ok(PRETTY_BODY.length > 64)
    await assertTooLarge(assert, url)

    const small = JSON.stringify({ event: 'prescription.created', data: {} })
    assert.ok(small.length <= 64)
    const fits = await postWebhook(url, small)
    assert.equal(fits.status, 200)
    assert.deepEqual(fits.json, { success: true, event: 'prescription.created' })
    assert.equal(sim.stats().logins, 0)
  })

  test(`${name}: a closed SDK passes its error to next()`, BOUNDED, async (t) => {
    const { url, sdk, seen } = await startApp(t, express)
    await sdk.close()
    const res = await postWebhook(url, APPOINTMENT_CREATED)
    assert.equal(res.status, 599)
    assert.deepEqual(res.json, { handledBy: 'app error handler', code: 'ERR_CLOSED' })
    assert.equal(seen.errors.length, 1)
    assert.equal(seen.errors[0].code, 'ERR_CLOSED')
  })

  test(`${name}: a client that leaves mid-body gives next() the stream's error`, BOUNDED, async (t) => {
    const { url, seen } = await startApp(t, express)
    const { port } = new URL(url)
    const socket = net.connect(Number(port), '127.0.0.1')
    await once(socket, 'connect')
    socket.write(
      `POST /hook HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"event":`,
    )
    await new Promise((r) => setTimeout(r, 50))
    socket.destroy()
    for (let i = 0; i < 100 && seen.errors.length === 0; i++) await new Promise((r) => setTimeout(r, 10))
    assert.equal(seen.errors.length, 1)
    assert.equal(seen.errors[0].code, 'ECONNRESET')
  })

  test(`${name}: a request already aborted when the middleware runs goes to next() instead of hanging`, BOUNDED, async (t) => {
    const { sdk } = await startSdk(t)
    const app = express()
    const errors = []
    let aborted
    const abortSeen = new Promise((resolve) => {
      aborted = resolve
    })
    app.post(
      '/hook',
      (req, res, next) => {
        req.once('close', () => setImmediate(next))
        aborted()
      },
      sdk.expressMiddleware(),
    )
    app.use((error, req, res, _next) => {
      errors.push(error)
      res.end()
    })
    const url = `${await listen(t, http.createServer(app))}/hook`
    const socket = net.connect(Number(new URL(url).port), '127.0.0.1')
    await once(socket, 'connect')
    socket.write(`POST /hook HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1000\r\n\r\n{`)
    await abortSeen
    socket.destroy()
    for (let i = 0; i < 100 && errors.length === 0; i++) await new Promise((r) => setTimeout(r, 10))
    assert.equal(errors.length, 1)
    assert.equal(errors[0].code, 'ECONNRESET')
  })
}

test('expressMiddleware rejects a limit that is not a positive integer', BOUNDED, async (t) => {
  const { sdk } = await startSdk(t)
  for (const limit of [0, -1, 1.5, '1mb', Number.NaN]) {
    assert.throws(() => sdk.expressMiddleware({ limit }), { name: 'TypeError', code: 'ERR_INVALID_ARGUMENT' })
  }
})

test('expressMiddleware without a signing key accepts unsigned webhooks', BOUNDED, async (t) => {
  const { url } = await startApp(t, express5, { sdkConfig: { signingKey: undefined } })
  const res = await postWebhook(url, APPOINTMENT_CREATED, { headers: { 'content-type': 'application/json' } })
  assert.equal(res.status, 200)
  assertAccepted(assert, res.json)
})
