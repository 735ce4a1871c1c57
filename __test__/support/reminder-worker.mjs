// One instance of an app using durable reminders, for the multi-process tests: an SDK on the
// given database, the handler `load` defined (it prints a line when it starts and when it ends),
// the given reminders scheduled. Config: the JSON in REMINDER_WORKER
// `{ sdk, schedule: [{ appointmentId, name, atMs }], handlerMs }`.
import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)
const { WebhookSDK } = require('../../lib/index.js')

const { sdk: config, schedule = [], handlerMs = 0 } = JSON.parse(process.env.REMINDER_WORKER)
const sdk = new WebhookSDK(config)
const print = (line) => process.stdout.write(`${JSON.stringify(line)}\n`)

sdk.reminders.define('load', async (context, info) => {
  const fire = { id: info.id, attempt: info.attempt, lateByMs: info.lateByMs, pid: process.pid }
  print({ started: fire, appointmentId: context.appointmentDetails.appointment_id })
  if (handlerMs > 0) await new Promise((resolve) => setTimeout(resolve, handlerMs))
  print({ ended: fire })
})

// All instances schedule the same reminders at once (25 in flight each): each must become one row.
const queue = [...schedule]
await Promise.all(
  Array.from({ length: 25 }, async () => {
    for (let next = queue.shift(); next; next = queue.shift()) {
      await sdk.reminders.schedule({ appointmentId: next.appointmentId, name: next.name, at: new Date(next.atMs) })
    }
  }),
)
print({ ready: true })
// The poller runs on Rust threads; this keeps the process alive until it is stopped.
const keepAlive = setInterval(() => {}, 1 << 30)
process.once('SIGTERM', async () => {
  clearInterval(keepAlive)
  print({ stats: sdk.reminders.stats() })
  await sdk.close()
})
