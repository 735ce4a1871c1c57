// handleRequest: the glue parses the body once with JSON.parse, the native side answers
// failures and unenriched events at once (a promise only for enriched events), and the glue
// calls onEvent afterwards with the result's own event. With or without an onEvent, results
// must be the same for every kind of input: this replays one corpus through both.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { setup, setupFor, generateSignatureHeader, appointmentPayload, SIGNING_KEY } from './support/sdk.mjs'

const prescription = { service: 'prescription', event: 'prescription.created', event_time: 1893456000, data: { prescription_id: 'rx-1', text: 'ünïcødé ✓ 😀', n: [1, 2.5, -0, 1e21] } }
const signed = (text) => ({ 'eka-webhook-signature': generateSignatureHeader(text, SIGNING_KEY) })

function cases() {
  const text = JSON.stringify(prescription)
  const pretty = JSON.stringify(prescription, null, 2)
  const lone = '{"event":"prescription.updated","data":{"s":"a\ud800b"}}' // a raw lone surrogate in a JS string
  const escapedLone = '{"event":"prescription.updated","data":{"s":"a\\ud800b","k":"\\u0041"}}'
  const deep = `{"event":"prescription.created","x":${'['.repeat(1001)}${']'.repeat(1001)}}`
  const list = [
    ['object', prescription, signed(text)],
    ['string', text, signed(text)],
    ['Buffer', Buffer.from(text), signed(text)],
    ['Uint8Array', new Uint8Array(Buffer.from(text)), signed(text)],
    ['pretty string, canonical signature', pretty, signed(text)],
    ['pretty Buffer, canonical signature', Buffer.from(pretty), signed(text)],
    ['raw lone surrogate in a string', lone, signed(lone)],
    ['escaped lone surrogate', escapedLone, signed(escapedLone)],
    ['escaped lone surrogate as Buffer', Buffer.from(escapedLone), signed(escapedLone)],
    ['invalid UTF-8 Buffer', Buffer.concat([Buffer.from('{"event":"prescription.created","x":"'), Buffer.from([0xff]), Buffer.from('"}')]), signed('x')],
    ['invalid JSON', '{"event":', signed('{"event":')],
    ['array body', '[1,2]', signed('[1,2]')],
    ['too deep', deep, signed(deep)],
    ['null body', null, signed('null')],
    ['empty string', '', signed('')],
    ['no signature', text, {}],
    ['bad signature', text, signed(`${text} `)],
    ['malformed header', text, { 'eka-webhook-signature': 'garbage' }],
    ['missing event', '{"data":{}}', signed('{"data":{}}')],
    ['empty event', '{"event":""}', signed('{"event":""}')],
    ['event not a string', '{"event":7}', signed('{"event":7}')],
    ['event not allowed', '{"event":"unknown.event"}', signed('{"event":"unknown.event"}')],
    ['duplicate event keys, last wins', '{"event":"nope","event":"prescription.updated"}', signed('{"event":"nope","event":"prescription.updated"}')],
    ['appointment event without appointment_id', JSON.stringify(appointmentPayload('appointment.created', '')), signed(JSON.stringify(appointmentPayload('appointment.created', '')))],
    ['appointment event (enriched, async in both)', JSON.stringify(appointmentPayload()), signed(JSON.stringify(appointmentPayload()))],
    ['headers with array values and odd case', Buffer.from(text), { 'EKA-Webhook-Signature': [signed(text)['eka-webhook-signature']] }],
    ['Fetch Headers', text, new Headers(signed(text))],
  ]
  return list
}

test('with and without an onEvent, every input gives the same result', async () => {
  // Some cases are the same delivery sent in another shape: no ledger, so each one runs.
  const immediate = await setup({ deliveryLedger: false })
  const delivered = []
  const viaAsync = await setup({ deliveryLedger: false, onEvent: async (event) => { delivered.push(event) } })
  try {
    for (const [name, body, headers] of cases()) {
      const a = await immediate.sdk.handleRequest(body, headers)
      const before = delivered.length
      const b = await viaAsync.sdk.handleRequest(body, headers)
      assert.deepStrictEqual(a, b, name)
      // onEvent ran, before the result, exactly for the accepted events, with the result's own event.
      assert.equal(delivered.length - before, b.status === 200 ? 1 : 0, name)
      if (b.status === 200) {
        assert.equal(delivered.at(-1), b.event, name)
        assert.equal(delivered.at(-1).payload, b.event.payload, name)
      }
    }
    assert.ok(delivered.length > 5)
  } finally {
    await immediate.close()
    await viaAsync.close()
  }
})

test('onEvent gets the very payload object of the result, the caller\'s own for an object body', async (ctx) => {
  let seen
  const env = await setupFor(ctx, { onEvent: (event) => { seen = event } })
  const text = JSON.stringify(prescription)
  const fromObject = await env.sdk.handleRequest(prescription, signed(text))
  assert.equal(fromObject.status, 200)
  assert.equal(seen.payload, prescription)
  assert.equal(fromObject.event.payload, prescription)
  const appointment = appointmentPayload()
  const enriched = await env.sdk.handleRequest(Buffer.from(JSON.stringify(appointment)), signed(JSON.stringify(appointment)))
  assert.equal(enriched.status, 200)
  assert.equal(seen, enriched.event)
  assert.deepStrictEqual(seen.payload, appointment)
  assert.equal(seen.appointmentDetails.appointment_id, appointment.data.appointment_id)
  assert.notEqual(enriched.body.appointmentDetails, enriched.event.appointmentDetails, 'the body owns its objects')
})

test('a body signed in canonical form verifies when sent re-formatted, on every door shape', async (ctx) => {
  const env = await setupFor(ctx)
  const text = JSON.stringify(prescription)
  const pretty = JSON.stringify(prescription, null, 2)
  for (const body of [pretty, Buffer.from(pretty), new Uint8Array(Buffer.from(pretty))]) {
    const r = await env.sdk.handleRequest(body, signed(text))
    assert.equal(r.status, 200)
    assert.deepStrictEqual(r.event.payload, JSON.parse(pretty))
  }
  const wrong = await env.sdk.handleRequest(pretty, signed(`${text} `))
  assert.deepStrictEqual(wrong, { status: 403, body: { error: 'Invalid signature' }, error: 'Invalid signature' })
})

test('the payload is the caller\'s own object, or the string / Buffer parsed', async (ctx) => {
  const env = await setupFor(ctx)
  const text = JSON.stringify(prescription)
  const fromObject = await env.sdk.handleRequest(prescription, signed(text))
  assert.equal(fromObject.status, 200)
  assert.equal(fromObject.event.payload, prescription, 'the same object, as in the Python SDK')
  for (const body of [text, Buffer.from(text)]) {
    const r = await env.sdk.handleRequest(body, signed(text))
    assert.equal(r.status, 200)
    assert.deepStrictEqual(r.event, { type: 'prescription.created', payload: JSON.parse(text) })
  }
})

test('a closed SDK rejects handleRequest with ERR_CLOSED', async () => {
  const env = await setup()
  await env.close()
  await assert.rejects(env.sdk.handleRequest(prescription, signed(JSON.stringify(prescription))), { code: 'ERR_CLOSED' })
})

test('every answer has a body of its own: changing one leaves the next intact', async (ctx) => {
  const env = await setupFor(ctx, { deliveryLedger: false })
  const text = JSON.stringify(prescription)
  for (const headers of [signed(text), signed(`${text} `)]) {
    const first = await env.sdk.handleRequest(text, headers)
    const expected = structuredClone(first.body)
    first.body.success = 'changed'
    first.body.error = 'changed'
    const second = await env.sdk.handleRequest(text, headers)
    assert.notEqual(second.body, first.body)
    assert.deepStrictEqual(second.body, expected)
  }
})

test('successes answered after onEvent are counted once each, whether stats() is read at once or a turn later', async (ctx) => {
  const env = await setupFor(ctx, { deliveryLedger: false, onEvent: async () => {} })
  const text = JSON.stringify(prescription)
  const results = await Promise.all(Array.from({ length: 20 }, () => env.sdk.handleRequest(text, signed(text))))
  assert.ok(results.every((r) => r.status === 200))
  assert.deepEqual(env.sdk.stats().deliveries.byReason, { ok: 20 })
  await env.sdk.handleRequest(text, signed(text))
  await new Promise(setImmediate)
  assert.deepEqual(env.sdk.stats().deliveries.byReason, { ok: 21 })
})

test('each handleRequest counts one delivery in stats(): glue-answered, retried in canonical form, failed in onEvent', async (ctx) => {
  let throwing = false
  const env = await setupFor(ctx, { deliveryLedger: false, onEvent: () => { if (throwing) throw new Error('boom') } })
  const text = JSON.stringify(prescription)
  const pretty = JSON.stringify(prescription, null, 2)
  assert.equal((await env.sdk.handleRequest('{"event":', signed('x'))).status, 400)
  assert.equal((await env.sdk.handleRequest(pretty, signed(text))).status, 200)
  assert.equal((await env.sdk.handleRequest(pretty, signed(`${text} `))).status, 403)
  throwing = true
  assert.equal((await env.sdk.handleRequest(text, signed(text))).status, 500)
  const { deliveries } = env.sdk.stats()
  assert.equal(deliveries.total, 4)
  assert.deepEqual(deliveries.byReason, { invalid_json: 1, ok: 1, signature_invalid: 1, on_event_failed: 1 })
})
