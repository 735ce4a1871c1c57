// close() with an onEvent that never settles (the SDK's, or a standalone server's for its own
// deliveries): it returns within `closeTimeoutMs`, says what it cut (a warning and its report),
// the cut deliveries answer 500 with their ledger claims released (the sender's retry runs them),
// and nothing keeps the process alive afterwards.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { setup, appointmentPayload, signedHeaders, collectWarnings, SAMPLE } from './support/sdk.mjs'
import { SAMPLE_NAMES } from './support/webhooks.mjs'

const BOUNDED = { timeout: 30_000 }
const ON_EVENT_FAILED = { error: 'Internal server error while processing webhook event' }

/** An onEvent that never settles, and a promise of its first call. */
function hangingOnEvent() {
  let called
  const firstCall = new Promise((resolve) => (called = resolve))
  return { onEvent: (event) => (called(event), new Promise(() => {})), firstCall }
}

/** Warnings are emitted on the next tick. */
const nextTick = () => new Promise((resolve) => setImmediate(resolve))

for (const door of ['handleRequest', 'sdk.listen()']) {
  test(`${door}: close() cuts an onEvent that never settles after closeTimeoutMs, answers 500 and releases the claim`, BOUNDED, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'eka-close-timeout-'))
    const persistence = { type: 'sqlite', filename: join(dir, 'schedule.db') }
    const hanging = hangingOnEvent()
    const t = await setup({ onEvent: hanging.onEvent, closeTimeoutMs: 300, persistence })
    const warnings = collectWarnings((code) => code === 'EKA_CLOSE_TIMEOUT')
    let retry
    try {
      const payload = appointmentPayload('appointment.created', SAMPLE.appointmentId)
      const body = JSON.stringify(payload)
      let answered
      if (door === 'handleRequest') {
        answered = t.sdk.handleRequest(body, signedHeaders(payload)).then((r) => ({ status: r.status, body: r.body }))
      } else {
        const server = t.sdk.listen(0)
        answered = fetch(`http://127.0.0.1:${server.port}/`, { method: 'POST', body, headers: signedHeaders(payload) })
          .then(async (r) => ({ status: r.status, body: await r.json() }))
      }
      await hanging.firstCall

      const started = performance.now()
      const report = await t.sdk.close()
      const elapsed = performance.now() - started
      assert.ok(elapsed >= 290 && elapsed < 2000, `close() took ${elapsed} ms`)
      const cut = [{ eventType: 'appointment.created', deliveryId: payload.transaction_id }]
      assert.deepEqual(report, { cutDeliveries: cut, unflushedWrites: 0 })
      assert.deepEqual(await answered, { status: 500, body: ON_EVENT_FAILED })

      await nextTick()
      assert.equal(warnings.warnings.length, 1)
      const { message } = warnings.warnings[0]
      assert.match(message, /close\(\) stopped waiting after 300 ms \('closeTimeoutMs'\): 1 delivery was still in onEvent/)
      assert.ok(message.includes(`appointment.created (transaction_id "${payload.transaction_id}")`), message)
      assert.doesNotMatch(message, SAMPLE_NAMES)

      // The sender's retry, on another instance sharing the database, runs it: the claim was released.
      const retried = []
      retry = await setup({ onEvent: (event) => retried.push(event.type), persistence })
      const again = await retry.sdk.handleRequest(body, signedHeaders(payload))
      assert.equal(again.status, 200, JSON.stringify(again.body))
      assert.deepEqual(retried, ['appointment.created'])
    } finally {
      warnings.stop()
      await t.simulator.close()
      await retry?.close()
      rmSync(dir, { recursive: true, force: true })
    }
  })
}

test("a standalone server's own close() cuts its hanging onEvent after closeTimeoutMs, and no handleRequest call", BOUNDED, async () => {
  const calls = []
  const onEvent = (event) => (calls.push(event.payload.transaction_id), new Promise(() => {}))
  const t = await setup({ onEvent, closeTimeoutMs: 300, deliveryLedger: false })
  const warnings = collectWarnings((code) => code === 'EKA_CLOSE_TIMEOUT')
  try {
    const viaServer = { ...appointmentPayload(), transaction_id: 'txn-server' }
    const viaGlue = { ...appointmentPayload(), transaction_id: 'txn-glue' }
    const server = t.sdk.listen(0)
    const body = JSON.stringify(viaServer)
    const answered = fetch(`http://127.0.0.1:${server.port}/`, { method: 'POST', body, headers: signedHeaders(viaServer) })
      .then(async (r) => ({ status: r.status, body: await r.json() }))
    let glueAnswered = false
    const glue = t.sdk.handleRequest(viaGlue, signedHeaders(viaGlue)).finally(() => (glueAnswered = true))
    while (calls.length < 2) await nextTick()

    const started = performance.now()
    await server.close()
    const elapsed = performance.now() - started
    assert.ok(elapsed >= 290 && elapsed < 2000, `server.close() took ${elapsed} ms`)
    assert.deepEqual(await answered, { status: 500, body: ON_EVENT_FAILED })
    await nextTick()
    assert.equal(warnings.warnings.length, 1)
    assert.match(warnings.warnings[0].message, /1 delivery was still in onEvent: appointment\.created \(transaction_id "txn-server"\)/)
    assert.equal(glueAnswered, false, "the server's close left the handleRequest call running")

    const report = await t.sdk.close()
    assert.deepEqual(report.cutDeliveries, [{ eventType: 'appointment.created', deliveryId: 'txn-glue' }])
    assert.equal((await glue).status, 500)
  } finally {
    warnings.stop()
    await t.simulator.close()
  }
})

test('close() waits for an onEvent that settles within closeTimeoutMs, and cuts nothing', BOUNDED, async () => {
  let finish
  const onEvent = () => new Promise((resolve) => (finish = resolve))
  const t = await setup({ onEvent, closeTimeoutMs: 5000 })
  const warnings = collectWarnings((code) => code === 'EKA_CLOSE_TIMEOUT')
  try {
    const payload = appointmentPayload()
    const answered = t.sdk.handleRequest(payload, signedHeaders(payload))
    while (finish === undefined) await nextTick()
    const closed = t.sdk.close()
    setTimeout(() => finish(), 200)
    assert.deepEqual(await closed, { cutDeliveries: [], unflushedWrites: 0 })
    assert.equal((await answered).status, 200)
    await nextTick()
    assert.deepEqual(warnings.warnings, [])
  } finally {
    warnings.stop()
    await t.simulator.close()
  }
})

for (const door of ['handleRequest', 'sdk.listen()']) {
  test(`${door}: an onEvent already answered 500 by onEventTimeoutMs is not waited for by close()`, BOUNDED, async () => {
    const hanging = hangingOnEvent()
    const t = await setup({ onEvent: hanging.onEvent, onEventTimeoutMs: 100, closeTimeoutMs: 5000 })
    try {
      const payload = appointmentPayload()
      let status
      if (door === 'handleRequest') {
        status = (await t.sdk.handleRequest(payload, signedHeaders(payload))).status
      } else {
        const server = t.sdk.listen(0)
        const body = JSON.stringify(payload)
        status = (await fetch(`http://127.0.0.1:${server.port}/`, { method: 'POST', body, headers: signedHeaders(payload) })).status
      }
      assert.equal(status, 500)
      const started = performance.now()
      assert.deepEqual(await t.sdk.close(), { cutDeliveries: [], unflushedWrites: 0 })
      assert.ok(performance.now() - started < 2000, 'close() did not wait for closeTimeoutMs')
    } finally {
      await t.simulator.close()
    }
  })
}

// A process whose onEvent never settles, on both doors: after close() it must exit by itself.
const CHILD = `
const { WebhookSDK } = require(${JSON.stringify(fileURLToPath(new URL('../lib/index.js', import.meta.url)))})
const sdk = new WebhookSDK({
  clientId: 'c', clientSecret: 's', signingKey: 'k', apiBaseUrl: 'http://127.0.0.1:9',
  closeTimeoutMs: 300, onEvent: () => new Promise(() => {}),
})
process.on('warning', (w) => { if (w.code === 'EKA_CLOSE_TIMEOUT') console.log('warning: ' + w.message) })
const { generateSignatureHeader } = require(${JSON.stringify(fileURLToPath(new URL('../lib/index.js', import.meta.url)))})
const body = (id) => JSON.stringify({ event: 'prescription.created', transaction_id: id, data: {} })
const server = sdk.listen(0)
const viaServer = fetch('http://127.0.0.1:' + server.port + '/', { method: 'POST', body: body('txn-server'), headers: { 'eka-webhook-signature': generateSignatureHeader(body('txn-server'), 'k') } })
const viaHandleRequest = sdk.handleRequest(body('txn-glue'), { 'eka-webhook-signature': generateSignatureHeader(body('txn-glue'), 'k') })
setTimeout(async () => {
  const report = await sdk.close()
  console.log('report: ' + JSON.stringify(report))
  console.log('answers: ' + (await viaServer).status + ' ' + (await viaHandleRequest).status)
}, 300)
`

test('after close() cut a hanging onEvent, nothing keeps the process alive', BOUNDED, async () => {
  const child = spawn(process.execPath, ['-e', CHILD], { stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  child.stdout.on('data', (d) => (output += d))
  child.stderr.on('data', (d) => (output += d))
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })))
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000)
  try {
    assert.deepEqual(await exited, { code: 0, signal: null }, output)
  } finally {
    clearTimeout(timer)
  }
  const report = JSON.parse(/^report: (.*)$/m.exec(output)[1])
  const ids = report.cutDeliveries.map((d) => `${d.eventType} ${d.deliveryId}`).sort()
  assert.deepEqual(ids, ['prescription.created txn-glue', 'prescription.created txn-server'])
  assert.match(output, /^answers: 500 500$/m)
  assert.match(output, /^warning: .*2 deliveries were still in onEvent/m)
})
