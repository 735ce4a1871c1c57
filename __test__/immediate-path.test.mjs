// handleRequest answers failures and unenriched events on the calling thread (handleNow) when
// there is no onEvent; with an onEvent every request takes the async native path. Both must give
// the same results for every kind of input: this replays one corpus through both.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { setup, generateSignatureHeader, appointmentPayload, SIGNING_KEY } from './support/sdk.mjs'

const prescription = { service: 'prescription', event: 'prescription.created', event_time: 1893456000, data: { prescription_id: 'rx-1', text: 'ünïcødé ✓ 😀', n: [1, 2.5, -0, 1e21] } }
const signed = (text) => ({ 'eka-webhook-signature': generateSignatureHeader(text, SIGNING_KEY, 1893456000) })

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

test('handleNow (no onEvent) and the async path (onEvent) give identical results', async () => {
  const immediate = await setup()
  let delivered = 0
  const viaAsync = await setup({ onEvent: () => { delivered++ } })
  try {
    for (const [name, body, headers] of cases()) {
      const a = await immediate.sdk.handleRequest(body, headers)
      const b = await viaAsync.sdk.handleRequest(body, headers)
      assert.deepStrictEqual(a, b, name)
    }
    assert.ok(delivered > 0)
  } finally {
    await immediate.close()
    await viaAsync.close()
  }
})

test('the immediate path hands back the payload: the caller\'s object itself, or the string / Buffer parsed', async () => {
  const env = await setup()
  try {
    const text = JSON.stringify(prescription)
    const fromObject = await env.sdk.handleRequest(prescription, signed(text))
    assert.equal(fromObject.status, 200)
    assert.equal(fromObject.event.payload, prescription, 'the same object, as in the Python SDK')
    for (const body of [text, Buffer.from(text)]) {
      const r = await env.sdk.handleRequest(body, signed(text))
      assert.equal(r.status, 200)
      assert.deepStrictEqual(r.event, { type: 'prescription.created', payload: JSON.parse(text) })
    }
  } finally {
    await env.close()
  }
})

test('a closed SDK rejects handleRequest with ERR_CLOSED on both paths', async () => {
  const env = await setup()
  await env.close()
  await assert.rejects(env.sdk.handleRequest(prescription, signed(JSON.stringify(prescription))), { code: 'ERR_CLOSED' })
})

test('every immediate answer has a body of its own: changing one leaves the next intact', async () => {
  const env = await setup()
  try {
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
  } finally {
    await env.close()
  }
})
