// Secure defaults, each a documented departure from the Python SDK (see the README's Security
// section): an empty signing key is a config error, and unsigned mode is never silent.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { CLIENT, SIGNING_KEY, WebhookSDK } from './support/sdk.mjs'

test('secure defaults: signingKey "" is a config error; no key at all warns once that verification is disabled', async () => {
  assert.throws(() => new WebhookSDK({ ...CLIENT, signingKey: '' }), (e) => e.code === 'ERR_INVALID_CONFIG' && /signingKey' must not be empty/.test(e.message))
  const warnings = []
  const onWarning = (w) => warnings.push(w)
  process.on('warning', onWarning)
  try {
    const signed = new WebhookSDK({ ...CLIENT, signingKey: SIGNING_KEY })
    const unsigned = new WebhookSDK({ ...CLIENT })
    await new Promise((resolve) => setImmediate(resolve))
    const disabled = warnings.filter((w) => /signature verification is disabled/.test(w.message))
    assert.equal(disabled.length, 1)
    assert.equal(disabled[0].code, 'EKA_UNSIGNED')
    await Promise.all([signed.close(), unsigned.close()])
  } finally {
    process.off('warning', onWarning)
  }
})

test('replay window: 300 s by default, 0 turns it off; inside it a replay is a ledger duplicate', async () => {
  const { setup, signedHeaders } = await import('./support/sdk.mjs')
  const t = await setup()
  const off = await setup({ signatureToleranceSeconds: 0 })
  try {
    const payload = { event: 'prescription.created', transaction_id: 'txn-replay', data: {} }
    const now = Math.floor(Date.now() / 1000)
    const stale = signedHeaders(payload, SIGNING_KEY, now - 301)
    assert.equal((await t.sdk.handleRequest(payload, stale)).status, 403)
    assert.equal((await off.sdk.handleRequest(payload, stale)).status, 200)
    const fresh = signedHeaders(payload, SIGNING_KEY, now - 10)
    assert.equal((await t.sdk.handleRequest(payload, fresh)).status, 200)
    const replay = await t.sdk.handleRequest(payload, fresh)
    assert.deepEqual([replay.status, replay.duplicate], [200, true])
  } finally {
    await t.close()
    await off.close()
  }
})
