// Reminders (issue 4): scheduling 100,000 reminders (time, resident memory added) and 10,000
// reminders due in the same second (lateness). Two latenesses are reported for the burst:
// `firedAt` − due (the scheduler's own precision: the target) and callback − due, which also
// includes fetching fresh appointment, patient, doctor and clinic details for all 10,000 (40,000
// requests to the simulator, 64 reminders' fetches in flight), so it is bounded by API throughput.
// Run with --expose-gc (the runner does).
import { createRequire } from 'node:module'
import { emit, percentile, progress, summarize, QUICK } from './lib/report.mjs'

const require = createRequire(import.meta.url)
const { WebhookSDK } = require('../lib/index.js')
const { startSimulator } = require('../simulator/index.js')

const SECTION = '6. Reminders (issue 4)'
const SCHEDULED = QUICK ? 20_000 : 100_000
const BURST = QUICK ? 2_000 : 10_000
const RUNS = QUICK ? 2 : 3

if (typeof globalThis.gc !== 'function') throw new Error('run with node --expose-gc')

async function rssMb() {
  for (let i = 0; i < 3; i++) {
    globalThis.gc()
    await new Promise((resolve) => setImmediate(resolve))
  }
  return process.memoryUsage().rss / 2 ** 20
}

const simulator = await startSimulator()
const ids = simulator.addAppointments(BURST, {}, { prefix: 'reminder-' })
const config = { clientId: 'demo-client', clientSecret: 'demo-secret', apiBaseUrl: simulator.url }

async function scheduleMany() {
  const sdk = new WebhookSDK(config)
  const due = new Date(Date.now() + 3_600_000)
  const before = await rssMb()
  const started = performance.now()
  for (let i = 0; i < SCHEDULED; i++) {
    sdk.scheduleReminder({ cronTime: due, appointmentId: ids[i % ids.length], callback() {} })
  }
  const ms = performance.now() - started
  const added = (await rssMb()) - before
  await sdk.close()
  return { ms, added }
}

async function burst() {
  const sdk = new WebhookSDK(config)
  const due = new Date(Math.ceil((Date.now() + 2000) / 1000) * 1000)
  const reminders = []
  const callbackLateness = []
  await new Promise((resolve) => {
    for (const id of ids.slice(0, BURST)) {
      reminders.push(
        sdk.scheduleReminder({
          cronTime: due,
          appointmentId: id,
          callback() {
            callbackLateness.push(Date.now() - due.getTime())
            if (callbackLateness.length === BURST) resolve()
          },
        }),
      )
    }
  })
  const firedLateness = reminders.map((r) => r.firedAt.getTime() - due.getTime()).sort((a, b) => a - b)
  callbackLateness.sort((a, b) => a - b)
  await sdk.close()
  return {
    firedP50: percentile(firedLateness, 50),
    firedP99: percentile(firedLateness, 99),
    callbackP50: percentile(callbackLateness, 50),
    callbackP99: percentile(callbackLateness, 99),
  }
}

try {
  const schedules = []
  const bursts = []
  for (let run = 0; run < RUNS; run++) {
    schedules.push(await scheduleMany())
    progress(`scheduled ${SCHEDULED}: ${schedules.at(-1).ms.toFixed(0)} ms, +${schedules.at(-1).added.toFixed(1)} MB`)
    bursts.push(await burst())
    progress(`burst of ${BURST}: ${JSON.stringify(bursts.at(-1))}`)
  }
  const row = (name, values, unit, target) => emit({ section: SECTION, name, unit, ...summarize(values), ...(target ? { target } : {}) })
  row(`schedule ${SCHEDULED.toLocaleString('en')} reminders, total`, schedules.map((s) => s.ms), 'ms')
  row(`schedule, per reminder`, schedules.map((s) => (s.ms * 1000) / SCHEDULED), 'µs')
  row(`resident memory added by ${SCHEDULED.toLocaleString('en')} pending reminders`, schedules.map((s) => s.added), 'MB', {
    op: '<=',
    value: 64 * (SCHEDULED / 100_000),
    text: `≤ ${64 * (SCHEDULED / 100_000)} MB`,
  })
  row(`${BURST.toLocaleString('en')} due in the same second: fired (firedAt − due) p50`, bursts.map((b) => b.firedP50), 'ms')
  row(`${BURST.toLocaleString('en')} due in the same second: fired (firedAt − due) p99`, bursts.map((b) => b.firedP99), 'ms', { op: '<=', value: 50, text: '≤ 50 ms' })
  row(`… callback with fresh details (callback − due) p50`, bursts.map((b) => b.callbackP50), 'ms')
  row(`… callback with fresh details (callback − due) p99`, bursts.map((b) => b.callbackP99), 'ms')
} finally {
  await simulator.close()
}
