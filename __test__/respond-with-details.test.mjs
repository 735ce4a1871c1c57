// What the HTTP doors answer a success with: `{success, event}` by default, so the patient data
// enrichment fetched goes to onEvent and never back to the sender; the Python SDK's detailed
// body with `respondWithDetails: true`. handleRequest's result.body keeps the Python shape.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import http from 'node:http'
import express from 'express'
import Fastify from 'fastify'
import { ekaWebhookRoute } from '@eka-care/webhook-sdk/fastify'
import {
  APPOINTMENT_CREATED,
  BOUNDED,
  SAMPLE_NAMES,
  assertAccepted,
  assertEnriched,
  listen,
  signedHeaders,
  startSdk,
} from './support/webhooks.mjs'

/** Each door as `(t, sdk) => post`, where `post(text, headers)` resolves to `{ status, text }`. */
const DOORS = {
  'sdk.listen()': async (t, sdk) => {
    const server = sdk.listen(0)
    t.after(() => server.close())
    return poster(`http://127.0.0.1:${server.port}/`)
  },
  expressMiddleware: async (t, sdk) => {
    const app = express()
    app.post('/hook', sdk.expressMiddleware())
    return poster(`${await listen(t, http.createServer(app))}/hook`)
  },
  fetchHandler: async (t, sdk) => {
    const handler = sdk.fetchHandler()
    return async (text, headers) => {
      const response = await handler(new Request('http://webhooks.example/hook', { method: 'POST', headers, body: text }))
      return { status: response.status, text: await response.text() }
    }
  },
  'Fastify route': async (t, sdk) => {
    const app = Fastify()
    app.register(ekaWebhookRoute(sdk, { path: '/hook' }))
    t.after(() => app.close())
    return poster(`${await app.listen({ port: 0, host: '127.0.0.1' })}/hook`)
  },
  nextApiHandler: async (t, sdk) => poster(await listen(t, http.createServer(sdk.nextApiHandler()))),
}

function poster(url) {
  return async (text, headers) => {
    const response = await fetch(url, { method: 'POST', headers, body: text, signal: AbortSignal.timeout(10_000) })
    return { status: response.status, text: await response.text() }
  }
}

for (const [door, open] of Object.entries(DOORS)) {
  for (const respondWithDetails of [undefined, false, true]) {
    test(`${door}, respondWithDetails ${respondWithDetails}: the success body, a duplicate's, a failure's`, BOUNDED, async (t) => {
      const seen = []
      const config = { onEvent: (event) => seen.push(event) }
      if (respondWithDetails !== undefined) config.respondWithDetails = respondWithDetails
      const { sdk } = await startSdk(t, config)
      const post = await open(t, sdk)
      const text = JSON.stringify({ ...APPOINTMENT_CREATED, transaction_id: `txn-details-${respondWithDetails}` })

      const first = await post(text, signedHeaders(text))
      assert.equal(first.status, 200, first.text)
      if (respondWithDetails) {
        assertEnriched(assert, JSON.parse(first.text))
        assert.match(first.text, SAMPLE_NAMES)
      } else {
        assertAccepted(assert, JSON.parse(first.text))
        assert.doesNotMatch(first.text, SAMPLE_NAMES)
      }
      // Enriched all the same: the details went to onEvent.
      assert.equal(seen.length, 1)
      assert.equal(seen[0].patientDetails.fln, 'Ananya Sharma')

      const again = await post(text, signedHeaders(text))
      assert.deepEqual([again.status, JSON.parse(again.text)], [200, { success: true, event: 'appointment.created', duplicate: true }])
      const forged = await post(text, signedHeaders(text, 'another-key'))
      assert.deepEqual([forged.status, JSON.parse(forged.text)], [403, { error: 'Invalid signature' }])
      assert.equal(seen.length, 1)
    })
  }
}

for (const respondWithDetails of [false, true]) {
  test(`handleRequest, respondWithDetails ${respondWithDetails}: result.body keeps the Python SDK shape, details included`, BOUNDED, async (t) => {
    const { sdk } = await startSdk(t, { respondWithDetails })
    const text = JSON.stringify(APPOINTMENT_CREATED)
    const result = await sdk.handleRequest(text, signedHeaders(text))
    assert.equal(result.status, 200)
    assertEnriched(assert, result.body)
    assert.match(JSON.stringify(result.body), SAMPLE_NAMES)
  })
}
