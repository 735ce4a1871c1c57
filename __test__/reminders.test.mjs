// scheduleReminder: one-shot firing with fresh data, cancellation, errors, process lifetime.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import path from 'node:path'
import { setupFor, collectWarnings, SAMPLE } from './support/sdk.mjs'
import { ROOT } from './support/python.mjs'
import { run as runProcess } from './support/processes.mjs'

const within = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

function deferred() {
  let resolve
  const promise = new Promise((r) => (resolve = r))
  return { promise, resolve }
}

test('a Date 300 ms ahead fires once with details changed after scheduling', async (ctx) => {
  const t = await setupFor(ctx, { signingKey: undefined })
  const fired = deferred()
  const calls = []
  const due = new Date(Date.now() + 300)
  const reminder = t.sdk.scheduleReminder({
    cronTime: due,
    appointmentId: SAMPLE.appointmentId,
    callback: (context) => {
      calls.push({ at: Date.now(), context })
      fired.resolve()
    },
  })
  assert.match(reminder.id, /^eka-reminder-apt-bk-1-/)
  assert.equal(reminder.nextRun.getTime(), due.getTime())
  assert.equal(reminder.cancelled, false)
  assert.equal(reminder.firedAt, null)
  t.simulator.setAppointment({ ...t.simulator.getAppointment(SAMPLE.appointmentId), status: 'CND', note: 'changed later' })
  await fired.promise
  await within(300)
  assert.equal(calls.length, 1)
  assert.ok(calls[0].at >= due.getTime(), 'not early')
  assert.ok(reminder.firedAt instanceof Date && reminder.firedAt.getTime() >= due.getTime(), 'firedAt recorded')
  assert.ok(reminder.firedAt.getTime() <= calls[0].at)
  const { context } = calls[0]
  assert.equal(context.appointmentDetails.status, 'CND', 'fresh data at fire time')
  assert.equal(context.appointmentDetails.note, 'changed later')
  assert.equal(context.patientDetails.patient_id, SAMPLE.patientId)
  assert.equal(context.doctorDetails.doctor_id, SAMPLE.doctorId)
  assert.equal(context.clinicDetails.clinic_id, SAMPLE.clinicId)
})

test('a 6-field cron for the next second fires once; a recurring cron fires exactly once', async (ctx) => {
  const t = await setupFor(ctx, { signingKey: undefined })
  const next = new Date(Date.now() + 1000)
  const expression = `${next.getSeconds()} ${next.getMinutes()} ${next.getHours()} * * *`
  const counts = { exact: 0, recurring: 0 }
  const exact = t.sdk.scheduleReminder({ cronTime: expression, appointmentId: SAMPLE.appointmentId, callback: () => counts.exact++ })
  assert.equal(exact.nextRun.getTime(), Math.floor(next.getTime() / 1000) * 1000)
  t.sdk.scheduleReminder({ cronTime: '* * * * * *', appointmentId: SAMPLE.followupAppointmentId, callback: () => counts.recurring++ })
  await within(3300)
  assert.deepEqual(counts, { exact: 1, recurring: 1 })
})

test('async callbacks are awaited; throwing and rejecting callbacks are logged and others still fire', async (ctx) => {
  const t = await setupFor(ctx, { signingKey: undefined })
  const script = `
    const { WebhookSDK } = require(${JSON.stringify(path.join(ROOT, 'lib', 'index.js'))})
    const sdk = new WebhookSDK({ clientId: 'demo-client', clientSecret: 'demo-secret', apiBaseUrl: process.env.SIM, debug: true })
    const at = new Date(Date.now() + 200)
    sdk.scheduleReminder({ cronTime: at, appointmentId: 'apt-bk-1', callback: () => { throw new Error('sync boom') } })
    sdk.scheduleReminder({ cronTime: at, appointmentId: 'apt-bk-1', callback: async () => { throw new Error('async boom') } })
    sdk.scheduleReminder({ cronTime: new Date(at.getTime() + 150), appointmentId: 'apt-bk-1', callback: async () => {
      console.log('start')
      await new Promise((r) => setTimeout(r, 100))
      console.log('end')
      setTimeout(() => sdk.close(), 50)
    } })
  `
  const run = await runChild(script, { SIM: t.simulator.url })
  assert.equal(run.code, 0, run.output)
  assert.match(run.output, /\[ERROR\] WebhookSDK: reminder callback eka-reminder-apt-bk-1-\w+ failed: sync boom/)
  assert.match(run.output, /\[ERROR\] WebhookSDK: reminder callback eka-reminder-apt-bk-1-\w+ failed: async boom/)
  assert.match(run.output, /start\nend/, 'the async callback was awaited and the later reminder still fired')
})

test('cancel before the fire time: no callback and no API call; cancel after firing is a no-op', async (ctx) => {
  const t = await setupFor(ctx, { signingKey: undefined })
  let calls = 0
  const reminder = t.sdk.scheduleReminder({ cronTime: new Date(Date.now() + 200), appointmentId: SAMPLE.appointmentId, callback: () => calls++ })
  reminder.cancel()
  assert.equal(reminder.cancelled, true)
  reminder.cancel()
  await within(500)
  assert.equal(calls, 0)
  assert.equal(t.simulator.stats().requests.appointment, 0)

  const fired = deferred()
  const later = t.sdk.scheduleReminder({ cronTime: new Date(Date.now() + 100), appointmentId: SAMPLE.appointmentId, callback: () => fired.resolve() })
  await fired.promise
  later.cancel()
  assert.equal(later.cancelled, false, 'a reminder that already fired is not marked cancelled')
})

test('a failed fetch (API errors switched on) and a throwing callback reach onError and warn once per kind, with ids only', async (ctx) => {
  const errors = []
  const t = await setupFor(ctx, { onError: (error) => errors.push(error) })
  const { warnings, stop } = collectWarnings((code) => code.startsWith('EKA_REMINDER_'))
  ctx.after(stop)
  t.simulator.setFault('appointment', SAMPLE.appointmentId, { status: 500 })
  let calls = 0
  const soon = () => new Date(Date.now() + 100)
  const unfetched = t.sdk.scheduleReminder({ cronTime: soon(), appointmentId: SAMPLE.appointmentId, callback: () => calls++ })
  const throwing = t.sdk.scheduleReminder({
    cronTime: soon(),
    appointmentId: SAMPLE.followupAppointmentId,
    callback: async () => {
      throw new Error('SMS gateway down')
    },
  })
  const deadline = Date.now() + 20_000
  while (errors.length < 2 && Date.now() < deadline) await within(50)
  assert.equal(calls, 0, 'no callback without fresh details')
  const byFault = Object.fromEntries(errors.map((e) => [e.fault, e]))
  assert.deepEqual(Object.keys(byFault).toSorted(), ['EKA_REMINDER_CALLBACK_FAILED', 'EKA_REMINDER_FETCH_FAILED'])
  const fetchFailed = byFault.EKA_REMINDER_FETCH_FAILED
  assert.ok(fetchFailed instanceof Error)
  assert.equal(fetchFailed.code, 'ERR_REMINDER')
  assert.equal(fetchFailed.appointmentId, SAMPLE.appointmentId)
  assert.match(fetchFailed.message, new RegExp(`schedule_reminder error for appointment ${SAMPLE.appointmentId} \\(reminder ${unfetched.id}\\)`))
  const callbackFailed = byFault.EKA_REMINDER_CALLBACK_FAILED
  assert.equal(callbackFailed.code, 'ERR_REMINDER')
  assert.equal(callbackFailed.appointmentId, SAMPLE.followupAppointmentId)
  assert.match(callbackFailed.message, new RegExp(`reminder callback ${throwing.id} failed: SMS gateway down`))
  assert.deepEqual(warnings.map((w) => w.code).toSorted(), ['EKA_REMINDER_CALLBACK_FAILED', 'EKA_REMINDER_FETCH_FAILED'])
  for (const text of [...errors, ...warnings].map((e) => e.message)) {
    assert.doesNotMatch(text, /demo-secret|whsec_|Ananya|Sharma|\+91/, 'ids only: no secret, no patient details')
  }
})

test('a failing fetch at fire time is logged and the callback is not called', async (ctx) => {
  const t = await setupFor(ctx, { signingKey: undefined })
  let calls = 0
  t.sdk.scheduleReminder({ cronTime: new Date(Date.now() + 100), appointmentId: 'apt-missing', callback: () => calls++ })
  await within(600)
  assert.equal(calls, 0)
  assert.equal(t.simulator.stats().requests.appointment, 1)
})

test('bad input throws a clear error and schedules nothing', async (ctx) => {
  const t = await setupFor(ctx, { signingKey: undefined })
  const cases = [
    [{ cronTime: '* * * *', appointmentId: 'a', callback() {} }, /5 or 6 fields/],
    [{ cronTime: '60 * * * *', appointmentId: 'a', callback() {} }, /got value 60 expected range 0-59/],
    [{ cronTime: '* * * * * * *', appointmentId: 'a', callback() {} }, /5 or 6 fields/],
    [{ cronTime: 'banana', appointmentId: 'a', callback() {} }, /invalid cron expression "banana"/],
    [{ cronTime: '0 0 30 2 *', appointmentId: 'a', callback() {} }, /invalid cron expression "0 0 30 2 \*"/],
    [{ cronTime: new Date(Date.now() - 1000), appointmentId: 'a', callback() {} }, /in the past/],
    [{ cronTime: new Date('nope'), appointmentId: 'a', callback() {} }, /invalid Date/],
    [{ cronTime: 12345, appointmentId: 'a', callback() {} }, /Date or a cron string/],
    [{ cronTime: new Date(Date.now() + 1000), appointmentId: '', callback() {} }, /appointmentId/],
    [{ cronTime: new Date(Date.now() + 1000), appointmentId: 'a', callback: 'no' }, /callback must be a function/],
  ]
  for (const [options, message] of cases) {
    assert.throws(() => t.sdk.scheduleReminder(options), (e) => e.code === 'ERR_INVALID_ARGUMENT' && message.test(e.message), String(message))
  }
  await within(100)
  assert.equal(t.simulator.stats().requests.appointment, 0)
})

// A cron string's first instant is computed as node-schedule computes it (both hand it to
// cron-parser), in the process's local time zone: compared in a child process per zone.
const NODE_SCHEDULE_CHILD = `
const schedule = require('node-schedule')
const { WebhookSDK } = require(${JSON.stringify(path.join(ROOT, 'lib', 'index.js'))})
const sdk = new WebhookSDK({ clientId: 'c', clientSecret: 's', apiBaseUrl: 'http://127.0.0.1:9' })
const compared = []
for (const expr of JSON.parse(process.env.EXPRESSIONS)) {
  for (;;) {
    const second = Math.floor(Date.now() / 1000)
    const ours = sdk.scheduleReminder({ cronTime: expr, appointmentId: 'a', callback() {} })
    const job = schedule.scheduleJob(expr, () => {})
    const theirs = job.nextInvocation().getTime()
    ours.cancel()
    job.cancel()
    // Both from the same second, or measure again.
    if (Math.floor(Date.now() / 1000) !== second) continue
    compared.push({ expr, ours: ours.nextRun.toISOString(), theirs: new Date(theirs).toISOString() })
    break
  }
}
sdk.close().then(() => console.log(JSON.stringify(compared)))
`

for (const tz of ['UTC', 'Asia/Kolkata', 'America/New_York']) {
  test(`a cron string's first run is node-schedule's next invocation (TZ=${tz})`, () => {
    const expressions = ['*/5 * * * *', '*/7 * * * * *', '30 2 * * *', '0 9 * * MON', '0 0 L * *', '15 10 1-7 * 5', '0 0 1 jan,jul *', '@daily']
    const run = spawnSync(process.execPath, ['-e', NODE_SCHEDULE_CHILD], {
      encoding: 'utf8',
      timeout: 30_000,
      env: { ...process.env, TZ: tz, EXPRESSIONS: JSON.stringify(expressions) },
    })
    assert.equal(run.status, 0, run.stderr)
    const compared = JSON.parse(run.stdout.trim().split('\n').at(-1))
    assert.equal(compared.length, expressions.length)
    for (const { expr, ours, theirs } of compared) assert.equal(ours, theirs, expr)
  })
}

test('a cron string is read in the local time zone', () => {
  const script = `
    const { WebhookSDK } = require(${JSON.stringify(path.join(ROOT, 'lib', 'index.js'))})
    const sdk = new WebhookSDK({ clientId: 'c', clientSecret: 's', apiBaseUrl: 'http://127.0.0.1:9' })
    const reminder = sdk.scheduleReminder({ cronTime: '0 30 9 * * *', appointmentId: 'a', callback() {} })
    console.log(reminder.nextRun.toISOString())
    sdk.close()
  `
  const run = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 30_000, env: { ...process.env, TZ: 'Asia/Kolkata' } })
  assert.equal(run.status, 0, run.stderr)
  assert.match(run.stdout, /T04:00:00\.000Z/, '09:30 IST is 04:00 UTC')
})

/** Runs `script` in a child Node with `env` added; resolves `{ code, output, ms }`. */
async function runChild(script, env) {
  const started = Date.now()
  const result = await runProcess(process.execPath, ['-e', script], { cwd: ROOT, env: { ...process.env, ...env }, timeoutMs: 15_000 })
  return { ...result, ms: Date.now() - started }
}

test('a pending reminder keeps the process alive until it fires; close() lets it exit promptly', async (ctx) => {
  const t = await setupFor(ctx, { signingKey: undefined })
  const script = (closeFirst) => `
    const { WebhookSDK } = require(${JSON.stringify(path.join(ROOT, 'lib', 'index.js'))})
    const sdk = new WebhookSDK({ clientId: 'demo-client', clientSecret: 'demo-secret', apiBaseUrl: process.env.SIM })
    sdk.scheduleReminder({ cronTime: new Date(Date.now() + 1500), appointmentId: 'apt-bk-1', callback: (c) => console.log('fired ' + c.appointmentDetails.appointment_id) })
    ${closeFirst ? "sdk.close().then(() => console.log('closed'))" : ''}
  `
  const waited = await runChild(script(false), { SIM: t.simulator.url })
  assert.equal(waited.code, 0, waited.output)
  assert.match(waited.output, /fired apt-bk-1/)
  assert.ok(waited.ms >= 1400, `stayed alive until the reminder fired (${waited.ms} ms)`)
  const closed = await runChild(script(true), { SIM: t.simulator.url })
  assert.equal(closed.code, 0, closed.output)
  assert.match(closed.output, /closed/)
  assert.doesNotMatch(closed.output, /fired/)
  assert.ok(closed.ms < 1400, `exited promptly after close() (${closed.ms} ms)`)
})
