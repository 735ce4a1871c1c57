// examples/express.mjs run as its top comment says, against the simulator.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { fileURLToPath } from 'node:url'
import { createRequire } from 'node:module'
import { APPOINTMENT_CREATED, SIGNING_KEY, assertAccepted, assertSignatureRejected, postWebhook } from './support/webhooks.mjs'
import { run, startProcess, stopProcess } from './support/processes.mjs'

const require = createRequire(import.meta.url)
const { startSimulator } = require('../simulator/index.js')
const EXAMPLE = fileURLToPath(new URL('../examples/express.mjs', import.meta.url))

test('examples/express.mjs answers signed webhooks and stops cleanly on SIGTERM', { timeout: 60_000 }, async (t) => {
  const sim = await startSimulator()
  t.after(() => sim.close())
  const env = {
    ...process.env,
    PORT: '0',
    EKA_CLIENT_ID: 'demo-client',
    EKA_CLIENT_SECRET: 'demo-secret',
    EKA_SIGNING_KEY: SIGNING_KEY,
    EKA_API_BASE_URL: sim.url,
  }
  const server = await startProcess(t, process.execPath, [EXAMPLE], { env, ready: /Listening on (http:\S+)/ })
  const url = server.match[1]

  const ok = await postWebhook(url, APPOINTMENT_CREATED)
  assert.equal(ok.status, 200)
  assertAccepted(assert, ok.json)
  await assertSignatureRejected(assert, url)
  assert.match(server.output(), /appointment\.created apt-bk-1 \(BK\)/)

  assert.deepEqual(await stopProcess(server.child, server.exited), { code: 0, signal: null })
})

test('examples/express.mjs says which variable is missing', { timeout: 30_000 }, async () => {
  const env = { ...process.env, PORT: '0', EKA_CLIENT_ID: '', EKA_CLIENT_SECRET: '' }
  const { code, output } = await run(process.execPath, [EXAMPLE], { env, timeoutMs: 20_000 })
  assert.equal(code, 1)
  assert.match(output, /Set EKA_CLIENT_ID/)
})
