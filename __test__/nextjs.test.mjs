// examples/nextjs built with `next build` and served by `next start`, receiving webhooks at its
// App Router route against the simulator.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { copyFileSync, existsSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createRequire } from 'node:module'
import {
  APPOINTMENT_CREATED,
  PRETTY_BODY,
  SIGNING_KEY,
  assertEnriched,
  assertSignatureRejected,
  postWebhook,
} from './support/webhooks.mjs'
import { runOk, startProcess } from './support/processes.mjs'

const require = createRequire(import.meta.url)
const { startSimulator } = require('../simulator/index.js')

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const APP = join(ROOT, 'examples', 'nextjs')
const ADDON = 'eka-webhook-sdk.linux-x64-gnu.node'
const NEXT_BIN = join(APP, 'node_modules', 'next', 'dist', 'bin', 'next')

/** The environment of every step: no telemetry, and none of the developer's own EKA_ settings. */
function baseEnv() {
  const env = { ...process.env, NEXT_TELEMETRY_DISABLED: '1' }
  for (const name of Object.keys(env)) if (name.startsWith('EKA_')) delete env[name]
  return env
}

/**
 * Installs the example's dependencies. It takes the SDK and its platform package as copies
 * (install-links), which npm does not refresh when the sources change, so they are removed first.
 */
async function installExample() {
  const builtAddon = join(ROOT, ADDON)
  assert.ok(existsSync(builtAddon), `${builtAddon} is missing: run \`npm run build:debug\` first`)
  // What `napi artifacts` does for this target: the platform package carries the built addon.
  copyFileSync(builtAddon, join(ROOT, 'npm', 'linux-x64-gnu', ADDON))
  rmSync(join(APP, 'node_modules', '@eka-care'), { recursive: true, force: true })
  await runOk('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline'], {
    cwd: APP,
    env: baseEnv(),
    timeoutMs: 100_000,
  })
}

test('Next.js example: next build, next start, signed webhooks at /api/eka-webhook', { timeout: 300_000 }, async (t) => {
  await installExample()
  // Built without any EKA_ variable: the route must not need the secrets at build time.
  rmSync(join(APP, '.next'), { recursive: true, force: true })
  await runOk(process.execPath, [NEXT_BIN, 'build'], { cwd: APP, env: baseEnv(), timeoutMs: 150_000 })

  const sim = await startSimulator()
  t.after(() => sim.close())
  const env = {
    ...baseEnv(),
    EKA_CLIENT_ID: 'demo-client',
    EKA_CLIENT_SECRET: 'demo-secret',
    EKA_SIGNING_KEY: SIGNING_KEY,
    EKA_API_BASE_URL: sim.url,
  }
  const server = await startProcess(t, process.execPath, [NEXT_BIN, 'start', '-p', '0', '-H', '127.0.0.1'], {
    cwd: APP,
    env,
    ready: /Local:\s+(http:\/\/\S+)[\s\S]*Ready/,
    timeoutMs: 30_000,
  })
  const url = `${server.match[1]}/api/eka-webhook`

  const compact = await postWebhook(url, APPOINTMENT_CREATED)
  assert.equal(compact.status, 200, compact.text)
  assert.match(compact.headers.get('content-type'), /^application\/json/)
  assertEnriched(assert, compact.json)

  const pretty = await postWebhook(url, PRETTY_BODY)
  assert.equal(pretty.status, 200, pretty.text)
  assertEnriched(assert, pretty.json)

  await assertSignatureRejected(assert, url)

  const invalid = await postWebhook(url, '{"event": "appointment.created"')
  assert.equal(invalid.status, 400)
  assert.deepEqual(invalid.json, { error: 'Invalid JSON body' })

  const prescription = await postWebhook(url, { event: 'prescription.created', data: { prescription_id: 'rx-1' } })
  assert.equal(prescription.status, 200)
  assert.deepEqual(prescription.json, { success: true, event: 'prescription.created' })

  assert.match(server.output(), /Eka webhook: appointment\.created apt-bk-1/)
  assert.equal(sim.stats().requests.appointment, 2)
})
