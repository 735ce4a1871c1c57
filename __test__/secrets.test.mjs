// No secret (client secret, access token, signing key, database password, AWS secret key) in any
// log line, error message or result: a child process runs every failure path with debug on, and
// everything it prints, returns and throws is searched.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import path from 'node:path'
import { ROOT } from './support/python.mjs'
import { startSimulator } from './support/sdk.mjs'
import { runOk } from './support/processes.mjs'

const SECRETS = {
  clientSecret: 'S3CRET-client-7f3a',
  wrongSecret: 'S3CRET-wrong-91bc',
  signingKey: 'S3CRET-signing-55de',
  dbPassword: 'S3CRET-dbpass-0a1b',
  awsSecret: 'S3CRET-aws-c0ffee',
}

const SCRIPT = `
const { WebhookSDK, generateSignatureHeader, verifySignature } = require(${JSON.stringify(path.join(ROOT, 'lib', 'index.js'))})
const S = JSON.parse(process.env.SECRETS)
const base = { clientId: 'demo-client', clientSecret: S.clientSecret, signingKey: S.signingKey, apiBaseUrl: process.env.SIM, debug: true, requestTimeoutMs: 500 }
const report = (label, value) => console.log(label, JSON.stringify(value, (k, v) => (v instanceof Error ? { message: v.message, code: v.code, stack: v.stack } : v)))
const attempt = async (label, fn) => { try { report(label, await fn()) } catch (error) { report(label + ' threw', error) } }
;(async () => {
  const sign = (p, key = S.signingKey) => ({ 'eka-webhook-signature': generateSignatureHeader(p, key) })
  const appointment = (id) => ({ event: 'appointment.created', data: { appointment_id: id } })
  const ok = new WebhookSDK({ ...base, onEvent: (e) => { if (e.type === 'prescription.updated') throw new Error('user failure') } })
  await attempt('enriched', () => ok.handleRequest(appointment('apt-bk-1'), sign(appointment('apt-bk-1'))))
  await attempt('orphan', () => ok.handleRequest(appointment('apt-orphan-1'), sign(appointment('apt-orphan-1'))))
  await attempt('missing', () => ok.handleRequest(appointment('nope'), sign(appointment('nope'))))
  await attempt('forged', () => ok.handleRequest(appointment('apt-bk-1'), sign(appointment('apt-bk-1'), 'not-the-key')))
  await attempt('onEvent throws', () => ok.handleRequest({ event: 'prescription.updated' }, sign({ event: 'prescription.updated' })))
  await attempt('verify', () => verifySignature({ a: 1 }, 't=1,v1=00', S.signingKey))
  await attempt('patient 404', () => ok.getPatientDetailsById('nobody'))
  const wrong = new WebhookSDK({ ...base, clientSecret: S.wrongSecret })
  await attempt('bad login', () => wrong.handleRequest(appointment('apt-bk-1'), sign(appointment('apt-bk-1'))))
  await attempt('bad login direct', () => wrong.getAppointmentDetailsById('apt-bk-1'))
  const unreachable = new WebhookSDK({ ...base, apiBaseUrl: 'http://127.0.0.1:9' })
  await attempt('api down', () => unreachable.handleRequest(appointment('apt-bk-1'), sign(appointment('apt-bk-1'))))
  await attempt('bad config', () => new WebhookSDK({ ...base, persistence: { type: 'mysql', connection: { host: 'h', user: 'u', password: S.dbPassword, database: 'd', port: 'x' } } }))
  await attempt('bad dynamo config', () => new WebhookSDK({ ...base, persistence: { type: 'dynamodb', region: 'r', secretAccessKey: S.awsSecret } }))
  await new Promise((resolve) => {
    ok.scheduleReminder({ cronTime: new Date(Date.now() + 100), appointmentId: 'nope', callback: () => {} })
    ok.scheduleReminder({ cronTime: new Date(Date.now() + 150), appointmentId: 'apt-bk-1', callback: () => { setTimeout(resolve, 100); throw new Error('reminder failure') } })
  })
  for (const sdk of [ok, wrong, unreachable]) await sdk.close()
})()
`

test('no secret appears in any log line, error or result, across every failure path', async () => {
  const simulator = await startSimulator({ clients: [{ clientId: 'demo-client', clientSecret: SECRETS.clientSecret }] })
  try {
    const env = { ...process.env, SIM: simulator.url, SECRETS: JSON.stringify(SECRETS) }
    const output = await runOk(process.execPath, ['-e', SCRIPT], { env, timeoutMs: 30_000 })
    // The paths really ran and logged.
    for (const expected of [/^enriched .*"status":200/m, /^missing .*"status":502/m, /^bad login .*"status":502/m, /^bad config threw .*ERR_INVALID_CONFIG/m, /\[ERROR\] /, /reminder failure/, /user failure/]) {
      assert.match(output, expected)
    }
    const tokens = simulator
      .requestLog()
      .map((entry) => /^Bearer (.+)$/.exec(entry.headers.authorization ?? '')?.[1])
      .filter(Boolean)
    assert.ok(tokens.length > 0, 'access tokens were issued and used')
    for (const secret of [...Object.values(SECRETS), ...new Set(tokens)]) {
      assert.equal(output.includes(secret), false, `secret ${secret.slice(0, 8)}… leaked:\n${output}`)
    }
  } finally {
    await simulator.close()
  }
})
