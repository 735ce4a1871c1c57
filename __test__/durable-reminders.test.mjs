// Durable reminders (sdk.reminders) on every backend, with real processes and databases:
// exactly-once fires across 3 instances, a kill -9 mid-run, restarts with the missed-fire
// policy, reminders following their appointment, fresh state at fire time, retries.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { fileURLToPath } from 'node:url'

import { BACKENDS } from './support/backends.mjs'
import { startProcess } from './support/processes.mjs'
import { CLIENT, SIGNING_KEY, WebhookSDK, appointmentPayload, collectWarnings, signedHeaders, startSimulator } from './support/sdk.mjs'

const WORKER = fileURLToPath(new URL('./support/reminder-worker.mjs', import.meta.url))
const REMINDERS = 1000
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))
/** Short leases and polls keep the test quick; the defaults are 60 s and 1 s. */
const FAST = { leaseSeconds: 2, pollIntervalMs: 200 }

function quantile(values, q) {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]
}

async function startWorker(t, sdk, extra = {}) {
  const env = { ...process.env, REMINDER_WORKER: JSON.stringify({ sdk, ...extra }) }
  const worker = await startProcess(t, process.execPath, [WORKER], { env, ready: /"ready":true/, timeoutMs: 60_000 })
  worker.lines = () =>
    worker
      .output()
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line))
  return worker
}

async function waitFor(what, check, timeoutMs, pollMs = 250) {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await check()
    if (value) return value
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(pollMs)
  }
}

for (const backend of BACKENDS) {
  test(`${backend.name}: 3 instances, ${REMINDERS} reminders, one killed mid-run: each completes once`, { timeout: 180_000 }, async (t) => {
    const simulator = await startSimulator()
    const place = await backend.open(`durable-${backend.name}`)
    t.after(async () => {
      await simulator.close()
      await place.cleanup()
    })
    // moto is one Python process serving every request in turn: far slower than DynamoDB, so
    // fires there take longer than a 2 s lease, and its lateness says nothing of DynamoDB's.
    const onMoto = backend.name === 'dynamodb'
    const reminders = onMoto ? { ...FAST, leaseSeconds: 20 } : FAST
    const sdk = { ...CLIENT, apiBaseUrl: simulator.url, persistence: place.persistence, reminders }
    // Due within 10 s, after the instances have scheduled them all: all three schedule all.
    const first = Date.now() + (onMoto ? 20_000 : 5000)
    const schedule = Array.from({ length: REMINDERS }, (_, i) => ({ appointmentId: 'apt-bk-1', name: 'load', atMs: first + i * 10 }))
    const workers = await Promise.all([0, 1, 2].map(() => startWorker(t, sdk, { schedule, handlerMs: 100 })))

    const observer = new WebhookSDK({ ...CLIENT, apiBaseUrl: simulator.url, persistence: place.persistence })
    t.after(() => observer.close())
    assert.equal((await observer.reminders.list()).length, REMINDERS, 'scheduled three times over, stored once each')

    // Kill one instance while it is firing.
    await waitFor('the first fires', () => workers[0].lines().some((l) => l.started), 40_000)
    await sleep(1500)
    const inFlight = () => {
      const lines = workers[0].lines()
      return lines.filter((l) => l.started).length > lines.filter((l) => l.ended).length
    }
    // Polled often: a handler lasts 100 ms, so one seen starting is still running at the kill
    // (a 250 ms poll could see it start just before it ended; on moto fires are sparse).
    await waitFor('a handler in flight', inFlight, 20_000, 5)
    workers[0].child.kill('SIGKILL')
    await workers[0].exited
    const killedStarted = new Set(workers[0].lines().filter((l) => l.started).map((l) => l.started.id))
    const killedEnded = new Set(workers[0].lines().filter((l) => l.ended).map((l) => l.ended.id))

    await waitFor(
      'every reminder done',
      async () => (await observer.reminders.list({ status: 'done' })).length === REMINDERS,
      onMoto ? 100_000 : 60_000,
    )
    const rows = await observer.reminders.list()
    assert.ok(rows.every((r) => r.status === 'done'))

    const survivorsEnded = workers.slice(1).flatMap((w) => w.lines().filter((l) => l.ended).map((l) => l.ended))
    const counts = new Map()
    for (const fire of survivorsEnded) counts.set(fire.id, (counts.get(fire.id) ?? 0) + 1)
    const twice = survivorsEnded.filter((f) => counts.get(f.id) > 1)
    assert.deepEqual(twice, [], 'no reminder ran twice on the surviving instances')
    for (const row of rows) {
      assert.ok(counts.has(row.id) || killedEnded.has(row.id), `reminder ${row.id} ran to its end somewhere`)
    }
    const refired = survivorsEnded.filter((f) => killedStarted.has(f.id))
    const interrupted = [...killedStarted].filter((id) => !killedEnded.has(id))
    assert.ok(interrupted.length > 0, 'the instance was killed with handlers in flight')
    for (const id of interrupted) assert.ok(counts.has(id), `interrupted ${id} was fired again elsewhere`)
    assert.ok(refired.every((f) => f.attempt === 2), 're-fires after the lease expired have attempt 2')
    // (A reminder the killed instance had claimed but not yet handed to its handler is fired
    // again with attempt 2 as well; nothing is fired a third time.)
    assert.ok(survivorsEnded.every((f) => f.attempt === 1 || f.attempt === 2))

    const lateness = workers.flatMap((w) => w.lines().filter((l) => l.started && l.started.attempt === 1).map((l) => l.started.lateByMs))
    const p99 = quantile(lateness, 0.99)
    t.diagnostic(`${backend.name}: first-fire lateness p50 ${quantile(lateness, 0.5)} ms, p99 ${p99} ms`)
    if (!onMoto) assert.ok(p99 <= 2000, `p99 lateness ${p99} ms is within 2 s`)
  })

  test(`${backend.name}: restart after downtime: late reminders fire, those past the grace are missed`, { timeout: 60_000 }, async (t) => {
    const simulator = await startSimulator()
    const place = await backend.open(`durable-restart-${backend.name}`)
    t.after(async () => {
      await simulator.close()
      await place.cleanup()
    })
    const sdk = { ...CLIENT, apiBaseUrl: simulator.url, persistence: place.persistence }
    // No instance runs (this one only schedules: it defines no handler, so it does not poll).
    const scheduler = new WebhookSDK(sdk)
    t.after(() => scheduler.close())
    const now = Date.now()
    for (let i = 0; i < 20; i++) {
      await scheduler.reminders.schedule({ appointmentId: 'apt-bk-1', name: 'load', at: new Date(now + 200 + i) })
    }
    for (let i = 0; i < 5; i++) {
      await scheduler.reminders.schedule({ appointmentId: 'apt-bk-1', name: 'load', at: new Date(now - 60_000 - i) })
    }
    await sleep(1500)
    const worker = await startWorker(t, { ...sdk, reminders: { ...FAST, missedGraceSeconds: 30 } })
    await waitFor('20 fires', () => worker.lines().filter((l) => l.ended).length === 20, 20_000)
    const fires = worker.lines().filter((l) => l.started).map((l) => l.started)
    assert.equal(fires.length, 20)
    assert.ok(fires.every((f) => f.lateByMs >= 1000), 'lateByMs says how late each came')
    await waitFor('5 missed', async () => (await scheduler.reminders.list({ status: 'missed' })).length === 5, 10_000)
    assert.equal((await scheduler.reminders.list({ status: 'done' })).length, 20)
    await sleep(500)
    assert.equal(worker.lines().filter((l) => l.started).length, 20, 'the missed ones were not fired')
  })

  test(`${backend.name}: beforeStart follows the appointment; fresh state and retries`, { timeout: 60_000 }, async (t) => {
    const simulator = await startSimulator()
    const place = await backend.open(`durable-follow-${backend.name}`)
    const sdk = new WebhookSDK({
      ...CLIENT,
      signingKey: SIGNING_KEY,
      apiBaseUrl: simulator.url,
      persistence: place.persistence,
      reminders: { poll: false, maxAttempts: 2 },
    })
    t.after(async () => {
      await sdk.close()
      await simulator.close()
      await place.cleanup()
    })
    const calls = []
    let failNext = 0
    sdk.reminders.define('follow', async (context, info) => {
      calls.push({ info, status: context.appointmentDetails.status })
      if (failNext-- > 0) throw new Error('SMS gateway down')
    })
    const base = simulator.getAppointment('apt-bk-1')
    const start = Math.floor(Date.now() / 1000) + 3600
    simulator.setAppointment({ ...base, appointment_id: 'apt-move-1', start_time: start, end_time: start + 900 })
    const scheduled = await sdk.reminders.schedule({ appointmentId: 'apt-move-1', name: 'follow', beforeStart: 600 })
    assert.equal(scheduled.dueAt.getTime(), (start - 600) * 1000)
    assert.equal(scheduled.status, 'pending')

    // Rescheduled: a new appointment whose p_aid is the old one.
    const later = start + 7200
    simulator.setAppointment({ ...base, appointment_id: 'apt-move-2', start_time: later, end_time: later + 900 })
    const reschedule = appointmentPayload('appointment.created', 'apt-move-2', { p_aid: 'apt-move-1' })
    assert.equal((await sdk.handleRequest(reschedule, signedHeaders(reschedule))).status, 200)
    let [row] = await sdk.reminders.list({ appointmentId: 'apt-move-2' })
    assert.equal(row.id, scheduled.id)
    assert.equal(row.dueAt.getTime(), (later - 600) * 1000, 're-armed to the new start')
    assert.deepEqual(await sdk.reminders.list({ appointmentId: 'apt-move-1' }), [])

    // Cancelled: the reminder is cancelled at once.
    simulator.setAppointment({ ...simulator.getAppointment('apt-move-2'), status: 'CND' })
    const cancel = appointmentPayload('appointment.updated', 'apt-move-2')
    assert.equal((await sdk.handleRequest(cancel, signedHeaders(cancel))).status, 200)
    ;[row] = await sdk.reminders.list({ appointmentId: 'apt-move-2' })
    assert.equal(row.status, 'cancelled')

    // Fresh state wins: cancelled after scheduling, with no webhook, so the fire finds CND.
    simulator.setAppointment({ ...base, appointment_id: 'apt-fresh-1', status: 'BK' })
    await sdk.reminders.schedule({ appointmentId: 'apt-fresh-1', name: 'follow', at: new Date(Date.now() - 10) })
    simulator.setAppointment({ ...simulator.getAppointment('apt-fresh-1'), status: 'CND' })
    assert.equal((await sdk.reminders.runDue()).cancelled, 1)
    assert.equal(calls.length, 0, 'the handler is not called for a cancelled appointment')

    // A throwing handler is retried (attempt 2), then, failing again, marked failed.
    failNext = 2
    const due = await sdk.reminders.schedule({ appointmentId: 'apt-bk-1', name: 'follow', at: new Date(Date.now() - 10) })
    assert.equal((await sdk.reminders.runDue()).retried, 1)
    await sleep(1100)
    assert.equal((await sdk.reminders.runDue()).failed, 1)
    assert.deepEqual(calls.map((c) => c.info.attempt), [1, 2])
    ;[row] = await sdk.reminders.list({ status: 'failed' })
    assert.equal(row.id, due.id)
    assert.equal(row.lastError, 'SMS gateway down')
    // Scheduling it again re-arms it.
    assert.equal((await sdk.reminders.schedule({ appointmentId: 'apt-bk-1', name: 'follow', at: due.dueAt })).status, 'pending')
    assert.equal((await sdk.reminders.runDue()).done, 1)

    // A pass ends once nothing is due, also after a batch exactly the claim's size (64).
    const past = Date.now() - 1000
    for (let i = 0; i < 64; i++) {
      await sdk.reminders.schedule({ appointmentId: 'apt-bk-1', name: 'follow', at: new Date(past + i) })
    }
    const started = Date.now()
    assert.deepEqual(await sdk.reminders.runDue({ maxMs: 60_000 }), { claimed: 64, done: 64, retried: 0, failed: 0, missed: 0, cancelled: 0 })
    assert.ok(Date.now() - started < 30_000, 'runDue returned without waiting out maxMs')
  })
}

test('without durable persistence, reminders.schedule rejects with ERR_PERSISTENCE_NOT_CONFIGURED', async () => {
  for (const persistence of [undefined, { type: 'sqlite', filename: ':memory:' }]) {
    const sdk = new WebhookSDK({ ...CLIENT, persistence })
    sdk.reminders.define('x', () => {})
    await assert.rejects(
      sdk.reminders.schedule({ appointmentId: 'a', name: 'x', at: new Date() }),
      (error) => error.code === 'ERR_PERSISTENCE_NOT_CONFIGURED' && /needs durable persistence: .+/.test(error.message),
    )
    await sdk.close()
  }
})

test('reminders config and arguments are checked', async () => {
  assert.throws(() => new WebhookSDK({ ...CLIENT, reminders: { leaseSecs: 1 } }), /reminders\.leaseSecs/)
  assert.throws(() => new WebhookSDK({ ...CLIENT, reminders: { onMissed: 'later' } }), /reminders\.onMissed/)
  const sdk = new WebhookSDK({ ...CLIENT })
  await assert.rejects(sdk.reminders.schedule({ appointmentId: 'a', name: 'x' }), /exactly one of at, cronTime, beforeStart/)
  await assert.rejects(sdk.reminders.schedule({ appointmentId: 'a', name: 'x', beforeStart: -1 }), /beforeStart/)
  await assert.rejects(sdk.reminders.list({ status: 'nope' }), /status must be one of/)
  await sdk.close()
})

test('sqlite: a retried, a failed and a missed reminder reach onError and warn once per kind, with ids only', { timeout: 60_000 }, async (t) => {
  const simulator = await startSimulator()
  const place = await BACKENDS.find((backend) => backend.name === 'sqlite').open('durable-faults')
  const errors = []
  const { warnings, stop: stopWarnings } = collectWarnings((code) => code.startsWith('EKA_REMINDER_'))
  const reminders = { poll: false, maxAttempts: 2, missedGraceSeconds: 30 }
  const sdk = new WebhookSDK({ ...CLIENT, apiBaseUrl: simulator.url, persistence: place.persistence, reminders, onError: (error) => errors.push(error) })
  t.after(async () => {
    stopWarnings()
    await sdk.close()
    await simulator.close()
    await place.cleanup()
  })
  sdk.reminders.define('sms', () => {
    throw new Error('SMS gateway down')
  })
  const flaky = await sdk.reminders.schedule({ appointmentId: 'apt-bk-1', name: 'sms', at: new Date(Date.now() - 10) })
  assert.equal((await sdk.reminders.runDue()).retried, 1)
  await sleep(1100)
  assert.equal((await sdk.reminders.runDue()).failed, 1)
  const late = await sdk.reminders.schedule({ appointmentId: 'apt-bk-2', name: 'sms', at: new Date(Date.now() - 60_000) })
  assert.equal((await sdk.reminders.runDue()).missed, 1)

  await waitFor('onError heard of all three', () => errors.length === 3, 10_000)
  assert.deepEqual(
    errors.map((e) => [e.code, e.fault, e.appointmentId]),
    [
      ['ERR_REMINDER', 'EKA_REMINDER_RETRY', 'apt-bk-1'],
      ['ERR_REMINDER', 'EKA_REMINDER_FAILED', 'apt-bk-1'],
      ['ERR_REMINDER', 'EKA_REMINDER_MISSED', 'apt-bk-2'],
    ],
  )
  assert.ok(errors.every((e) => e instanceof Error))
  assert.match(errors[0].message, new RegExp(`reminder ${flaky.id} \\('sms'\\) attempt 1 failed, retrying .*: SMS gateway down`))
  assert.match(errors[1].message, new RegExp(`reminder ${flaky.id} \\('sms'\\) failed after attempt 2: SMS gateway down`))
  assert.match(errors[2].message, new RegExp(`reminder ${late.id} \\('sms'\\) was missed: \\d+ ms past due`))
  await waitFor('the warnings', () => warnings.length === 3, 5000)
  assert.deepEqual(warnings.map((w) => w.code), ['EKA_REMINDER_RETRY', 'EKA_REMINDER_FAILED', 'EKA_REMINDER_MISSED'])
  for (const text of [...errors, ...warnings].map((e) => e.message)) {
    assert.doesNotMatch(text, /demo-secret|Ananya|Sharma|\+91/, 'ids only: no secret, no patient details')
  }
})

test('sqlite: the reminders database failing while polling and while following a webhook reaches onError, one warning a minute', { timeout: 60_000 }, async (t) => {
  const simulator = await startSimulator()
  const errors = []
  const { warnings, stop: stopWarnings } = collectWarnings((code) => code.startsWith('EKA_REMINDER_'))
  // A file in a directory that does not exist: every store call fails, as with a database away.
  const persistence = { type: 'sqlite', filename: `/nonexistent-eka-${process.pid}/reminders.db` }
  const sdk = new WebhookSDK({
    ...CLIENT,
    signingKey: SIGNING_KEY,
    apiBaseUrl: simulator.url,
    persistence,
    reminders: { pollIntervalMs: 100 },
    onError: (error) => errors.push(error),
  })
  t.after(async () => {
    stopWarnings()
    await sdk.close()
    await simulator.close()
  })
  sdk.reminders.define('sms', () => {})
  const storeErrors = () => errors.filter((e) => e.fault === 'EKA_REMINDER_STORE')
  await waitFor('two failed polls', () => storeErrors().length >= 2, 10_000)
  const polled = storeErrors()[0]
  assert.equal(polled.code, 'ERR_REMINDER')
  assert.equal(polled.appointmentId, undefined)
  assert.match(polled.message, /polling for due reminders failed: .*cannot open the file/)

  const moved = appointmentPayload('appointment.updated', 'apt-bk-1')
  assert.equal((await sdk.handleRequest(moved, signedHeaders(moved))).status, 200, 'the webhook still succeeds')
  const rearm = await waitFor('the failed re-arm', () => storeErrors().find((e) => e.appointmentId === 'apt-bk-1'), 10_000)
  assert.match(rearm.message, /could not update the reminders of appointment apt-bk-1: /)
  assert.deepEqual(warnings.map((w) => w.code), ['EKA_REMINDER_STORE'], 'one warning a minute for the kind')
})
