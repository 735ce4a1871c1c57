// Durable reminders (issue 14): 10,000 reminders due within one minute, fired by 3 instances
// (separate Node processes) sharing one MariaDB database: lateness of each first fire (handler
// start − due, fresh details fetched included) and store calls per fire (database requests; a
// claim's transaction counts once), beside the in-memory scheduler on the same load in one process.
import { spawn } from 'node:child_process'
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'
import { createInterface } from 'node:readline'
import { createMysqlDatabase } from '../__test__/support/sql.mjs'
import { emit, percentile, progress, QUICK } from './lib/report.mjs'

const require = createRequire(import.meta.url)
const { WebhookSDK } = require('../lib/index.js')
const { startSimulator } = require('../simulator/index.js')

const SECTION = '7. Durable reminders (issue 14)'
const COUNT = QUICK ? 1_000 : 10_000
const WINDOW_MS = QUICK ? 10_000 : 60_000
const INSTANCES = 3
const LEAD_MS = 5_000
const WORKER = fileURLToPath(new URL('../__test__/support/reminder-worker.mjs', import.meta.url))

const simulator = await startSimulator()
const client = { clientId: 'demo-client', clientSecret: 'demo-secret', apiBaseUrl: simulator.url }

function startWorker(sdkConfig) {
  const child = spawn(process.execPath, [WORKER], {
    env: { ...process.env, REMINDER_WORKER: JSON.stringify({ sdk: sdkConfig }) },
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  const lines = []
  const ready = new Promise((resolve) => {
    createInterface({ input: child.stdout }).on('line', (line) => {
      if (!line.startsWith('{')) return
      const parsed = JSON.parse(line)
      lines.push(parsed)
      if (parsed.ready) resolve()
    })
  })
  const exited = new Promise((resolve) => child.once('exit', resolve))
  return { child, lines, ready, exited }
}

async function durable() {
  const db = createMysqlDatabase('bench-durable')
  try {
    const sdkConfig = { ...client, persistence: { type: 'mysql', connection: db.connection } }
    const scheduler = new WebhookSDK(sdkConfig)
    const first = Date.now() + LEAD_MS + COUNT / 2
    const queue = Array.from({ length: COUNT }, (_, i) => first + Math.floor((i * WINDOW_MS) / COUNT))
    await Promise.all(
      Array.from({ length: 32 }, async () => {
        for (let at = queue.shift(); at !== undefined; at = queue.shift()) {
          await scheduler.reminders.schedule({ appointmentId: 'apt-bk-1', name: 'load', at: new Date(at) })
        }
      }),
    )
    progress(`scheduled ${COUNT} (${Math.max(0, first - Date.now())} ms before the first is due)`)
    const workers = Array.from({ length: INSTANCES }, () => startWorker(sdkConfig))
    await Promise.all(workers.map((w) => w.ready))
    const ended = () => workers.reduce((n, w) => n + w.lines.filter((l) => l.ended).length, 0)
    while (ended() < COUNT) await new Promise((resolve) => setTimeout(resolve, 500))
    for (const w of workers) w.child.kill('SIGTERM')
    await Promise.all(workers.map((w) => w.exited))
    await scheduler.close()
    const lateness = workers.flatMap((w) => w.lines.filter((l) => l.started).map((l) => l.started.lateByMs)).sort((a, b) => a - b)
    const stats = workers.map((w) => w.lines.find((l) => l.stats)?.stats ?? { fired: NaN, storeCalls: NaN })
    const fired = stats.reduce((n, s) => n + s.fired, 0)
    const storeCalls = stats.reduce((n, s) => n + s.storeCalls, 0)
    return { p50: percentile(lateness, 50), p99: percentile(lateness, 99), callsPerFire: storeCalls / fired, fired }
  } finally {
    db.drop()
  }
}

async function inMemory() {
  const sdk = new WebhookSDK(client)
  const first = Date.now() + LEAD_MS
  const lateness = []
  await new Promise((resolve) => {
    for (let i = 0; i < COUNT; i++) {
      const due = first + Math.floor((i * WINDOW_MS) / COUNT)
      sdk.scheduleReminder({
        cronTime: new Date(due),
        appointmentId: 'apt-bk-1',
        callback() {
          lateness.push(Date.now() - due)
          if (lateness.length === COUNT) resolve()
        },
      })
    }
  })
  await sdk.close()
  lateness.sort((a, b) => a - b)
  return { p50: percentile(lateness, 50), p99: percentile(lateness, 99) }
}

try {
  const d = await durable()
  progress(`durable: ${JSON.stringify(d)}`)
  const m = await inMemory()
  progress(`in-memory: ${JSON.stringify(m)}`)
  const label = `${COUNT.toLocaleString('en')} due within ${WINDOW_MS / 1000} s`
  const row = (name, value, unit, target) =>
    emit({ section: SECTION, name, unit, median: value, min: value, max: value, runs: 1, ...(target ? { target } : {}) })
  row(`${label}, 3 instances on MariaDB: handler lateness p50`, d.p50, 'ms')
  row(`${label}, 3 instances on MariaDB: handler lateness p99`, d.p99, 'ms', { op: '<=', value: 2000, text: '≤ 2 s' })
  row(`… store calls (database requests) per fire`, d.callsPerFire, '')
  row(`${label}, in-memory scheduleReminder (1 process): callback lateness p50`, m.p50, 'ms')
  row(`${label}, in-memory scheduleReminder (1 process): callback lateness p99`, m.p99, 'ms')
} finally {
  await simulator.close()
}
