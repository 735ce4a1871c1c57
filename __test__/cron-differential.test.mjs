// Cron semantics against node-schedule, live: for every expression of the corpus, the next run our
// scheduler reports equals node-schedule's next invocation from the same instant, in three time
// zones (each in a child process with TZ set, since both evaluate in the process's local zone).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { ROOT } from './support/python.mjs'

const corpus = JSON.parse(readFileSync(path.join(ROOT, 'crates/eka-webhook-core/tests/fixtures/cron_corpus.json'), 'utf8'))
const valid = [...new Set(corpus.filter((e) => !e.error).map((e) => e.expr))]
const invalid = [...new Set(corpus.filter((e) => e.error).map((e) => e.expr))]

const CHILD = `
const schedule = require('node-schedule')
const { WebhookSDK } = require(${JSON.stringify(path.join(ROOT, 'lib', 'index.js'))})
const sdk = new WebhookSDK({ clientId: 'c', clientSecret: 's', apiBaseUrl: 'http://127.0.0.1:9' })
const { valid, invalid } = JSON.parse(process.env.EXPRESSIONS)
const mismatches = []
let compared = 0
for (const expr of valid) {
  for (let attempt = 0; ; attempt++) {
    const second = Math.floor(Date.now() / 1000)
    const ours = sdk.scheduleReminder({ cronTime: expr, appointmentId: 'a', callback() {} })
    const job = schedule.scheduleJob(expr, () => {})
    const theirs = job?.nextInvocation()?.getTime()
    ours.cancel()
    job?.cancel()
    // Both must have been computed from the same second; otherwise measure again.
    if (Math.floor(Date.now() / 1000) !== second && attempt < 5) continue
    compared++
    if (ours.nextRun.getTime() !== theirs) mismatches.push({ expr, ours: ours.nextRun.toISOString(), theirs: theirs && new Date(theirs).toISOString() })
    break
  }
}
const acceptedInvalid = []
for (const expr of invalid) {
  const job = schedule.scheduleJob(expr, () => {})
  job?.cancel()
  let threw = false
  try { sdk.scheduleReminder({ cronTime: expr, appointmentId: 'a', callback() {} }).cancel() } catch (e) { threw = e.code === 'ERR_INVALID_ARGUMENT' }
  if (!threw || job) acceptedInvalid.push({ expr, nodeSchedule: Boolean(job), ours: !threw })
}
sdk.close().then(() => { console.log(JSON.stringify({ compared, mismatches, acceptedInvalid })); schedule.gracefulShutdown().then(() => process.exit(0)) })
`

for (const tz of ['UTC', 'Asia/Kolkata', 'America/New_York']) {
  test(`${valid.length} expressions agree with node-schedule in ${tz}; ${invalid.length} invalid ones are rejected by both`, () => {
    assert.ok(valid.length >= 50)
    const run = spawnSync(process.execPath, ['-e', CHILD], {
      encoding: 'utf8',
      timeout: 60_000,
      env: { ...process.env, TZ: tz, EXPRESSIONS: JSON.stringify({ valid, invalid }) },
    })
    assert.equal(run.status, 0, run.stderr)
    const result = JSON.parse(run.stdout.trim().split('\n').at(-1))
    assert.equal(result.compared, valid.length)
    assert.deepEqual(result.mismatches, [])
    assert.deepEqual(result.acceptedInvalid, [])
  })
}
