// The delivery ledger: each delivery (its transaction_id, else its signature's t and v1) runs
// onEvent, enrichment and the schedule write once; a duplicate answers 200 with
// `duplicate: true`; a delivery whose onEvent failed is released so the retry runs it. Without
// persistence the ledger is a window in memory; with it, a table shared by every instance.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { setup, appointmentPayload, signedHeaders, CLIENT, SIGNING_KEY } from './support/sdk.mjs'
import { BACKENDS } from './support/backends.mjs'
import { startProcess } from './support/processes.mjs'
import { tempDir } from './support/sql.mjs'

const here = path.dirname(fileURLToPath(import.meta.url))
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))
const prescription = (id) => ({ event: 'prescription.created', transaction_id: id, data: { prescription_id: 'rx-1' } })

/** An SDK whose onEvent counts its runs (and takes `holdMs` to finish; the first throws if `failFirst`). */
async function counting({ failFirst = false, ...config } = {}, holdMs = 0) {
  const runs = []
  const t = await setup({
    ...config,
    onEvent: async (event) => {
      runs.push(event.payload.transaction_id)
      if (failFirst && runs.length === 1) throw new Error('first run fails')
      await sleep(holdMs)
    },
  })
  return { ...t, runs }
}

test('the same delivery twice in sequence runs once; the second answer says duplicate', async () => {
  const t = await counting({ signatureToleranceSeconds: 0 })
  try {
    const payload = prescription('txn-seq')
    const first = await t.sdk.handleRequest(payload, signedHeaders(payload))
    assert.equal(first.status, 200)
    assert.equal(first.duplicate, undefined)
    const second = await t.sdk.handleRequest(payload, signedHeaders(payload))
    assert.deepEqual(second.body, { success: true, event: 'prescription.created', duplicate: true })
    assert.equal(second.status, 200)
    assert.equal(second.duplicate, true)
    assert.deepEqual(t.runs, ['txn-seq'])
    assert.equal(t.sdk.stats().deliveries.total, 2)
  } finally {
    await t.close()
  }
})

test('50 copies at once: one onEvent, one enrichment; the rest are duplicates or 409 in progress', async () => {
  const t = await counting({}, 30)
  try {
    const payload = appointmentPayload()
    const headers = signedHeaders(payload)
    const results = await Promise.all(Array.from({ length: 50 }, () => t.sdk.handleRequest(payload, headers)))
    assert.equal(t.runs.length, 1)
    assert.equal(t.simulator.requestLog().filter((e) => e.route === 'appointment').length, 1)
    assert.equal(results.filter((r) => r.status === 200 && !r.duplicate).length, 1)
    for (const r of results) assert.ok(r.status === 409 || (r.status === 200), JSON.stringify(r.body))
    assert.equal((await t.sdk.handleRequest(payload, headers)).duplicate, true)
  } finally {
    await t.close()
  }
})

test('a failed onEvent is not recorded: the retry runs it, and only then it is a duplicate', async () => {
  const t = await counting({ failFirst: true })
  try {
    const payload = prescription('txn-retry')
    assert.equal((await t.sdk.handleRequest(payload, signedHeaders(payload))).status, 500)
    const retry = await t.sdk.handleRequest(payload, signedHeaders(payload))
    assert.equal(retry.status, 200)
    assert.equal(retry.duplicate, undefined)
    assert.equal((await t.sdk.handleRequest(payload, signedHeaders(payload))).duplicate, true)
    assert.deepEqual(t.runs, ['txn-retry', 'txn-retry'])
  } finally {
    await t.close()
  }
})

test('without a transaction_id the signature (t, v1) is the key; deliveryLedger: false runs every copy', async () => {
  const t = await counting()
  const off = await counting({ deliveryLedger: false })
  try {
    const payload = { event: 'prescription.created', data: {} }
    const headers = signedHeaders(payload, SIGNING_KEY, Math.floor(Date.now() / 1000))
    assert.equal((await t.sdk.handleRequest(payload, headers)).duplicate, undefined)
    assert.equal((await t.sdk.handleRequest(payload, headers)).duplicate, true)
    // Signed again at another second: another delivery.
    const later = signedHeaders(payload, SIGNING_KEY, Math.floor(Date.now() / 1000) - 7)
    assert.equal((await t.sdk.handleRequest(payload, later)).duplicate, undefined)
    assert.equal(t.runs.length, 2)
    for (let i = 0; i < 3; i++) assert.equal((await off.sdk.handleRequest(payload, headers)).status, 200)
    assert.equal(off.runs.length, 3)
  } finally {
    await t.close()
    await off.close()
  }
})

test('entries expire after deliveryLedgerTtlSeconds', async () => {
  const t = await counting({ deliveryLedgerTtlSeconds: 1 })
  try {
    const payload = prescription('txn-expiring')
    await t.sdk.handleRequest(payload, signedHeaders(payload))
    assert.equal((await t.sdk.handleRequest(payload, signedHeaders(payload))).duplicate, true)
    await sleep(2100)
    assert.equal((await t.sdk.handleRequest(payload, signedHeaders(payload))).duplicate, undefined)
    assert.equal(t.runs.length, 2)
  } finally {
    await t.close()
  }
})

for (const backend of BACKENDS) {
  test(`${backend.name}: two instances in two processes, 50 copies at once: exactly one onEvent`, async (tt) => {
    const place = await backend.open('ledger')
    tt.after(() => place.cleanup())
    const t = await counting({ persistence: place.persistence }, 50)
    tt.after(() => t.close())
    const tmp = tempDir('ledger-runs')
    tt.after(() => tmp.cleanup())
    const runsFile = tmp.file('runs')
    writeFileSync(runsFile, '')
    const config = { ...CLIENT, signingKey: SIGNING_KEY, apiBaseUrl: t.simulator.url, persistence: place.persistence }
    const env = { ...process.env, EKA_LEDGER_CONFIG: JSON.stringify(config), EKA_LEDGER_RUNS: runsFile }
    const child = await startProcess(tt, process.execPath, [path.join(here, 'support/ledger-instance.mjs')], { env, ready: /ready (\d+)/ })
    const url = `http://127.0.0.1:${child.match[1]}/`

    const payload = appointmentPayload('appointment.created', undefined, {})
    const text = JSON.stringify(payload)
    const headers = signedHeaders(text)
    const viaServer = () => fetch(url, { method: 'POST', body: text, headers: { 'content-type': 'application/json', ...headers } })
      .then(async (res) => ({ status: res.status, body: await res.json() }))
    const viaGlue = () => t.sdk.handleRequest(text, headers)
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) => (i % 2 ? viaServer() : viaGlue())))
    const childRuns = readFileSync(runsFile, 'utf8').split('\n').filter(Boolean)
    assert.equal(t.runs.length + childRuns.length, 1, `runs: here ${t.runs.length}, there ${childRuns.length}`)
    assert.equal(t.simulator.requestLog().filter((e) => e.route === 'appointment').length, 1, 'enriched (and written) once')
    for (const r of results) assert.ok(r.status === 200 || r.status === 409, JSON.stringify(r.body))
    assert.equal(results.filter((r) => r.status === 200 && !r.body.duplicate).length, 1)

    // Settled: a later copy through either door is a duplicate.
    assert.deepEqual((await viaServer()).body, { success: true, event: 'appointment.created', duplicate: true })
    assert.equal((await viaGlue()).duplicate, true)
    assert.deepEqual(await place.deliveries(), [{ id: `txn:${payload.transaction_id}`, event: 'appointment.created', status: 'done' }])
    assert.equal((await place.rows()).size, 1, 'the schedule row is written')
  })

  test(`${backend.name}: without onEvent a delivery is claimed done at once; a copy is a duplicate`, async (tt) => {
    const place = await backend.open('ledger-done')
    tt.after(() => place.cleanup())
    const t = await setup({ persistence: place.persistence })
    tt.after(() => t.close())
    const payload = prescription('txn-done-at-once')
    const first = await t.sdk.handleRequest(payload, signedHeaders(payload))
    assert.equal(first.status, 200)
    assert.equal(first.duplicate, undefined)
    assert.deepEqual(await place.deliveries(), [{ id: 'txn:txn-done-at-once', event: 'prescription.created', status: 'done' }])
    assert.equal((await t.sdk.handleRequest(payload, signedHeaders(payload))).duplicate, true)
    assert.equal(t.sdk.stats().deliveries.total, 2)
  })

  test(`${backend.name}: a failed onEvent then a retry: run twice, recorded once`, async (tt) => {
    const place = await backend.open('ledger-retry')
    tt.after(() => place.cleanup())
    const t = await counting({ persistence: place.persistence, failFirst: true })
    tt.after(() => t.close())
    const payload = prescription('txn-backend-retry')
    assert.equal((await t.sdk.handleRequest(payload, signedHeaders(payload))).status, 500)
    assert.deepEqual(await place.deliveries(), [], 'a failed run leaves no entry')
    assert.equal((await t.sdk.handleRequest(payload, signedHeaders(payload))).status, 200)
    assert.equal((await t.sdk.handleRequest(payload, signedHeaders(payload))).duplicate, true)
    assert.equal(t.runs.length, 2)
    assert.deepEqual(await place.deliveries(), [{ id: 'txn:txn-backend-retry', event: 'prescription.created', status: 'done' }])
  })
}
