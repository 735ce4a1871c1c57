// Wire compatibility with the reference Python SDK (eka-webhook-sdk 0.1.4), run for real.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { runPython } from './support/python.mjs'
import { setup, generateSignatureHeader, verifySignature, SIGNING_KEY } from './support/sdk.mjs'

// Payloads whose canonical text is the same for json.dumps(separators, ensure_ascii=False) and
// JSON.stringify (Python writes 1e-07 and 1.0 where V8 writes 1e-7 and 1, so those go through the
// raw-bytes cases below instead).
const SHARED_CORPUS = [
  { event: 'appointment.created', data: { appointment_id: 'apt-1' } },
  { event: 'prescription.created', data: { text: 'ünïcødé ✓ 中文 😀', quote: 'say "hi"', slash: 'a\\b/c' } },
  { event: 'prescription.updated', data: { control: '\u0001\u001f\n\t', sep: '\u2028\u2029', del: '\u007f' } },
  { event: 'x', nested: { deeper: { list: [1, 2, [3, { four: 4 }]], empty: {}, none: null, yes: true } } },
  { event: 'x', numbers: [0, -5, 9007199254740991, 0.5, 3.14159, -2.5e-3, 1e21, 12345.678] },
  { event: 'x', b: 2, a: 1, z: { y: 1, x: 2 } },
  { service: 'appointment', event: 'appointment.updated', event_time: 1893456000, transaction_id: 't-1', business_id: 'b', client_id: 'c', data: { appointment_id: 'apt-2', p_aid: 'apt-1' } },
]

test('Python verify_signature accepts headers made by generateSignatureHeader', () => {
  const t = 1893456000
  const cases = SHARED_CORPUS.map((payload) => ({
    op: 'verify',
    body: JSON.stringify(payload),
    header: generateSignatureHeader(payload, SIGNING_KEY, t),
    key: SIGNING_KEY,
  }))
  for (const [i, result] of runPython('signature_interop.py', cases).entries()) {
    assert.deepEqual(result, { valid: true, reason: null }, JSON.stringify(SHARED_CORPUS[i]))
  }
})

test("ours accepts headers made for Python's canonical form, as the object and as Python's bytes", async () => {
  const payloads = [...SHARED_CORPUS, { event: 'x', pythonOnly: [1.0, 1e-7, 2.50] }]
  const signed = runPython('signature_interop.py', payloads.map((p) => ({ op: 'sign', body: JSON.stringify(p), key: SIGNING_KEY, t: 1700000000 })))
  // Fixed timestamps, as the Python SDK (which checks no window) is given: our window off.
  const env = await setup({ signatureToleranceSeconds: 0, allowedEvents: ['x', 'appointment.created', 'appointment.updated', 'prescription.created', 'prescription.updated'] })
  try {
    for (const [i, { header, signed_body: pythonBytes }] of signed.entries()) {
      assert.equal(verifySignature(Buffer.from(pythonBytes), header, SIGNING_KEY).valid, true, `bytes ${pythonBytes}`)
      if (i < SHARED_CORPUS.length) {
        assert.equal(verifySignature(payloads[i], header, SIGNING_KEY).valid, true, `object ${pythonBytes}`)
      }
      const r = await env.sdk.handleRequest(pythonBytes, { 'eka-webhook-signature': header })
      assert.notEqual(r.status, 403, `handleRequest ${pythonBytes}: ${JSON.stringify(r.body)}`)
    }
  } finally {
    await env.close()
  }
})

test('for bad inputs both SDKs give the same status and reason', async () => {
  const payload = { event: 'prescription.created', data: {} }
  const body = JSON.stringify(payload)
  const good = generateSignatureHeader(payload, SIGNING_KEY, 1700000000)
  const signed = (p) => generateSignatureHeader(p, SIGNING_KEY, 1700000000)
  const cases = [
    { body, header: null },
    { body, header: '' },
    { body, header: 'garbage' },
    { body, header: 't=1700000000' },
    { body, header: 'v1=abcdef' },
    { body, header: 't=,v1=abcdef' },
    { body, header: 't=1700000000,v1=zz' },
    { body, header: 't=1700000000,v1=abc' },
    { body, header: 't=1700000000,v1=00' },
    { body, header: 't=1700000000,extra' },
    { body, header: generateSignatureHeader(payload, 'wrong-key', 1700000000) },
    { body, header: good.replace('t=1700000000', 't=1700000001') },
    { body, header: good.toUpperCase().replace('T=', 't=').replace('V1=', 'v1=') },
    { body: '{', header: good, as_string: true },
    { body: '{"event": "prescription.created"', header: good, as_string: true },
    { body: JSON.stringify({ data: {} }), header: signed({ data: {} }) },
    { body: JSON.stringify({ event: 'unknown.event' }), header: signed({ event: 'unknown.event' }) },
    { body: JSON.stringify({ event: 'appointment.created', data: {} }), header: signed({ event: 'appointment.created', data: {} }) },
    { body: JSON.stringify({ event: 'appointment.updated', data: { appointment_id: '' } }), header: signed({ event: 'appointment.updated', data: { appointment_id: '' } }) },
  ]
  const python = runPython('signature_interop.py', cases.map((c) => ({ op: 'handle', key: SIGNING_KEY, ...c })))
  // The Python SDK checks no replay window; the same inputs with ours off.
  const env = await setup({ signatureToleranceSeconds: 0 })
  try {
    for (const [i, c] of cases.entries()) {
      const input = c.as_string ? c.body : JSON.parse(c.body)
      const ours = await env.sdk.handleRequest(input, c.header === null ? {} : { 'eka-webhook-signature': c.header })
      assert.equal(ours.status, python[i].status, `case ${i} ${JSON.stringify(c)}: status`)
      assert.deepEqual(ours.body, python[i].body, `case ${i} ${JSON.stringify(c)}: body`)
    }
  } finally {
    await env.close()
  }
})
