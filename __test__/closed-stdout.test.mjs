// The core's log lines go to stdout; a closed stdout (EPIPE) must not break the SDK that logs.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import path from 'node:path'
import { ROOT } from './support/python.mjs'

// With debug on, every webhook below logs [WARN] retry lines and the login backoff.
const CHILD = `
const { WebhookSDK, generateSignatureHeader } = require(${JSON.stringify(path.join(ROOT, 'lib', 'index.js'))})
const sdk = new WebhookSDK({ clientId: 'c', clientSecret: 's', signingKey: 'k', debug: true, apiBaseUrl: 'http://127.0.0.1:1' })
const payload = { event: 'appointment.created', data: { appointment_id: 'apt-1' } }
;(async () => {
  const statuses = []
  for (let i = 0; i < 5; i++) {
    const r = await sdk.handleRequest(payload, { 'eka-webhook-signature': generateSignatureHeader(payload, 'k') })
    statuses.push(r.status)
  }
  await sdk.close()
  process.stderr.write('statuses ' + JSON.stringify(statuses) + '\\n')
})()
`

test('with stdout closed (EPIPE), logging is skipped and webhooks are still answered', async () => {
  const child = spawn(process.execPath, ['-e', CHILD], { stdio: ['ignore', 'pipe', 'pipe'] })
  child.stdout.destroy()
  let stderr = ''
  child.stderr.on('data', (d) => (stderr += d))
  const code = await new Promise((resolve) => child.on('exit', resolve))
  assert.equal(code, 0, stderr)
  assert.match(stderr, /statuses \[502,502,502,502,502\]/)
  assert.doesNotMatch(stderr, /panicked|failed printing/)
})
