// examples/nextjs built with `next build` and served by `next start`, receiving webhooks against
// the simulator at its App Router route and at its two Pages Router API routes (the body parser
// off, as recommended, and left on).
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
  assertAccepted,
  assertSignatureRejected,
  postWebhook,
  signedHeaders,
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

/** What every route answers alike: signed compact bodies accepted (no patient details), forgeries and bad input refused. */
async function assertReceives(url) {
  const compact = await postWebhook(url, APPOINTMENT_CREATED)
  assert.equal(compact.status, 200, `${url}: ${compact.text}`)
  assert.match(compact.headers.get('content-type'), /^application\/json/)
  assertAccepted(assert, compact.json)

  await assertSignatureRejected(assert, url)

  const prescription = await postWebhook(url, { event: 'prescription.created', data: { prescription_id: 'rx-1' } })
  assert.equal(prescription.status, 200, `${url}: ${prescription.text}`)
  assert.deepEqual(prescription.json, { success: true, event: 'prescription.created' })

  const get = await fetch(url, { signal: AbortSignal.timeout(10_000) })
  assert.equal(get.status, 405, url)
}

/** A route that reads the body itself: the pretty-printed bytes verify, bad JSON is the SDK's 400. */
async function assertReadsRawBytes(url) {
  const pretty = await postWebhook(url, PRETTY_BODY)
  assert.equal(pretty.status, 200, pretty.text)
  assertAccepted(assert, pretty.json)
  const invalid = await postWebhook(url, '{"event": "appointment.created"')
  assert.equal(invalid.status, 400)
  assert.deepEqual(invalid.json, { error: 'Invalid JSON body' })
}

test('Next.js example: next build, next start, signed webhooks at the App and Pages Router routes', { timeout: 300_000 }, async (t) => {
  await installExample()
  // Built without any EKA_ variable: the routes must not need the secrets at build time.
  rmSync(join(APP, '.next'), { recursive: true, force: true })
  const build = await runOk(process.execPath, [NEXT_BIN, 'build'], { cwd: APP, env: baseEnv(), timeoutMs: 150_000 })
  for (const route of ['/api/eka-webhook', '/api/pages-router/eka-webhook', '/api/pages-router/eka-webhook-body-parsed']) {
    assert.ok(build.includes(route), `next build lists ${route}:\n${build}`)
  }

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
  const base = server.match[1]

  await t.test('App Router: export const POST = sdk.fetchHandler()', async () => {
    const url = `${base}/api/eka-webhook`
    await assertReceives(url)
    await assertReadsRawBytes(url)
  })

  await t.test('Pages Router, bodyParser: false: the raw bytes are verified', async () => {
    const url = `${base}/api/pages-router/eka-webhook`
    await assertReceives(url)
    await assertReadsRawBytes(url)
  })

  await t.test("Pages Router, Next's body parser: the parsed object's canonical form is verified", async () => {
    const url = `${base}/api/pages-router/eka-webhook-body-parsed`
    // The same payload as the other routes, which share one SDK: signed at a later second, it is
    // a new delivery for the ledger (no transaction_id, so its key is the signature's t and v1).
    await new Promise((resolve) => setTimeout(resolve, 1100))
    await assertReceives(url)
    // Signed over other whitespace than JSON.stringify's: only the raw bytes could verify it,
    // and the parser threw them away. This is why bodyParser: false is the recommended form.
    const pretty = await postWebhook(url, PRETTY_BODY)
    assert.equal(pretty.status, 403, pretty.text)
    assert.deepEqual(pretty.json, { error: 'Invalid signature' })
    // Next's parser answers invalid JSON itself, before the route runs.
    const invalid = await postWebhook(url, '{"event": "appointment.created"')
    assert.equal(invalid.status, 400)
    // A text body (any content type other than JSON) reaches the SDK as text: raw bytes again.
    const text = JSON.stringify(APPOINTMENT_CREATED, null, 1)
    const asText = await postWebhook(url, text, {
      headers: { ...signedHeaders(text), 'content-type': 'text/plain' },
    })
    assert.equal(asText.status, 200, asText.text)
    assertAccepted(assert, asText.json)
  })

  const log = server.output()
  assert.match(log, /Eka webhook: appointment\.created apt-bk-1/)
  assert.match(log, /Eka webhook: prescription\.created \(not enriched\)/)
  // Compact at each route, pretty at two, text at one; forgeries never reach the API.
  assert.equal(sim.stats().requests.appointment, 3 + 2 + 1)
})
