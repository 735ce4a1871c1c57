// verifySignature / generateSignatureHeader against node:crypto.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createHmac } from 'node:crypto'
import { verifySignature, generateSignatureHeader } from './support/sdk.mjs'

const KEY = 'k3y'
const payload = { event: 'prescription.created', data: { id: 'rx-1', n: [1, 2.5] } }

function nodeHeader(text, t) {
  return `t=${t},v1=${createHmac('sha256', KEY).update(`${t}.${text}`).digest('hex')}`
}

test('generateSignatureHeader equals HMAC-SHA256 over "<t>.<JSON.stringify(payload)>"', () => {
  assert.equal(generateSignatureHeader(payload, KEY, 1700000000), nodeHeader(JSON.stringify(payload), 1700000000))
  const raw = '{ "event": "x" }'
  assert.equal(generateSignatureHeader(raw, KEY, 5), nodeHeader(raw, 5), 'strings are signed as given')
  assert.equal(generateSignatureHeader(Buffer.from(raw), KEY, 5), nodeHeader(raw, 5), 'Buffers are signed as given')
  const now = Math.floor(Date.now() / 1000)
  const t = Number(/^t=(\d+),/.exec(generateSignatureHeader(payload, KEY))[1])
  assert.ok(Math.abs(t - now) <= 2, 'timestamp defaults to now')
})

test('verifySignature: valid, and each failure reason', () => {
  const header = nodeHeader(JSON.stringify(payload), 1700000000)
  assert.deepEqual(verifySignature(payload, header, KEY), { valid: true })
  assert.deepEqual(verifySignature(payload, header, ''), { valid: false, reason: 'Signing key is not configured' })
  assert.deepEqual(verifySignature(payload, undefined, KEY), { valid: false, reason: 'Missing Eka-Webhook-Signature header' })
  assert.deepEqual(verifySignature(payload, null, KEY), { valid: false, reason: 'Missing Eka-Webhook-Signature header' })
  assert.deepEqual(verifySignature(payload, 'x', KEY), { valid: false, reason: 'Invalid signature header format' })
  assert.deepEqual(verifySignature(payload, 'v1=aa', KEY), { valid: false, reason: "Invalid signature header format: missing 't' or 'v1' fields" })
  assert.deepEqual(verifySignature({ ...payload, extra: 1 }, header, KEY), { valid: false, reason: 'Invalid signature' })
  assert.deepEqual(verifySignature(payload, header, 'other'), { valid: false, reason: 'Invalid signature' })
})

test('several v1 entries: any one may match; key arrays: any key may match', () => {
  const text = JSON.stringify(payload)
  const sig = nodeHeader(text, 9).split('v1=')[1]
  assert.equal(verifySignature(payload, `t=9,v1=${'0'.repeat(64)},v1=${sig}`, KEY).valid, true)
  assert.equal(verifySignature(payload, `t=9,v1=${sig},v1=beef`, KEY).valid, true)
  assert.equal(verifySignature(payload, `t=9,v1=${sig}`, ['old', KEY]).valid, true)
  assert.equal(verifySignature(payload, `t=9,v1=${sig}`, ['old', 'older']).valid, false)
})

test('tolerance option: stale and future timestamps, with an injectable now', () => {
  const header = nodeHeader(JSON.stringify(payload), 1000)
  assert.deepEqual(verifySignature(payload, header, KEY, { toleranceSeconds: 60, now: 1050 }), { valid: true })
  assert.deepEqual(verifySignature(payload, header, KEY, { toleranceSeconds: 60, now: 1061 }), { valid: false, reason: 'Signature timestamp is too old' })
  assert.deepEqual(verifySignature(payload, header, KEY, { toleranceSeconds: 60, now: 939 }), { valid: false, reason: 'Signature timestamp is in the future' })
  assert.throws(() => verifySignature(payload, header, KEY, { toleranceSeconds: 1.5 }), (e) => e.code === 'ERR_INVALID_ARGUMENT')
})

test('bad arguments throw clear errors instead of crashing', () => {
  assert.throws(() => generateSignatureHeader(payload, ''), (e) => e.code === 'ERR_INVALID_ARGUMENT' && /signingKey/.test(e.message))
  assert.throws(() => generateSignatureHeader(payload, KEY, 1.5), (e) => e.code === 'ERR_INVALID_ARGUMENT' && /timestamp/.test(e.message))
  assert.throws(() => generateSignatureHeader(undefined, KEY), (e) => e.code === 'ERR_INVALID_ARGUMENT' && /payload is required/.test(e.message))
  assert.throws(() => verifySignature(payload, 't=1,v1=00', 42), (e) => e.code === 'ERR_INVALID_ARGUMENT')
})
