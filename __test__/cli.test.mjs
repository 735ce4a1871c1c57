// The eka-webhook command line: usage errors, sign, send, serve.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, spawnSync } from 'node:child_process'
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { ROOT } from './support/python.mjs'
import { setupFor, generateSignatureHeader, SIGNING_KEY, startSimulator, SAMPLE } from './support/sdk.mjs'
import { createPostgresSchema, postgresRows, POSTGRES } from './support/sql.mjs'

const CLI = path.join(ROOT, 'bin', 'eka-webhook.js')

function cli(args, env = {}) {
  return spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 30_000, env: { ...process.env, ...env } })
}

function cliAsync(args, env = {}) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, ...env } })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => (stdout += d))
    child.stderr.on('data', (d) => (stderr += d))
    child.on('exit', (status) => resolve({ status, stdout, stderr }))
  })
}

test('bad commands, flags and missing variables: a usage message naming the problem, exit 2', () => {
  const cases = [
    [['frobnicate'], {}, /unknown command "frobnicate"/],
    [['serve', '--bogus'], {}, /bogus/],
    [['serve'], { EKA_CLIENT_ID: '', EKA_CLIENT_SECRET: '' }, /missing environment variable EKA_CLIENT_ID/],
    [['serve'], { EKA_CLIENT_ID: 'id', EKA_CLIENT_SECRET: '' }, /missing environment variable EKA_CLIENT_SECRET/],
    [['serve', '--port', 'abc'], { EKA_CLIENT_ID: 'id', EKA_CLIENT_SECRET: 's' }, /port must be a non-negative integer/],
    [['serve', '--persistence', 'redis://x'], { EKA_CLIENT_ID: 'id', EKA_CLIENT_SECRET: 's' }, /unsupported persistence URL scheme/],
    [['serve', '--persistence', 'postgres://x'], { EKA_CLIENT_ID: 'id', EKA_CLIENT_SECRET: 's' }, /postgres persistence URL must look like/],
    [['sign'], { EKA_SIGNING_KEY: 'k' }, /missing --file/],
    [['sign', '--file', 'x.json'], { EKA_SIGNING_KEY: '' }, /missing EKA_SIGNING_KEY \(or --key\)/],
    [['send'], { EKA_SIGNING_KEY: 'k' }, /missing the target URL/],
    [['send', 'http://127.0.0.1:9', '--event', 'nope'], { EKA_SIGNING_KEY: 'k' }, /--event must be one of/],
  ]
  for (const [args, env, message] of cases) {
    const r = cli(args, env)
    assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`)
    assert.match(r.stderr, message)
    assert.match(r.stderr, /Usage: eka-webhook <command>/)
  }
  const help = cli(['--help'])
  assert.equal(help.status, 0)
  assert.match(help.stdout, /serve.*\n.*sign|sign/)
})

test('a bad persistence URL is shown with its password replaced by ***', () => {
  const env = { EKA_CLIENT_ID: 'id', EKA_CLIENT_SECRET: 's' }
  const cases = [
    ['mysql://eka:hunter2-pw@db.internal:99999/app', /persistence URL "mysql:\/\/eka:\*\*\*@db\.internal:99999\/app" is not a URL/],
    ['mysql//eka:hunter2@pw/x@db/app', /persistence URL "mysql\/\/eka:\*\*\*@db\/app" is not a URL/],
    ['eka:hunter2/pw@db', /unsupported persistence URL scheme "eka:"/],
  ]
  for (const [bad, message] of cases) {
    for (const r of [cli(['serve', '--persistence', bad], env), cli(['serve'], { ...env, EKA_PERSISTENCE_URL: bad })]) {
      assert.equal(r.status, 2, r.stderr)
      assert.match(r.stderr, message)
      assert.doesNotMatch(r.stderr + r.stdout, /hunter2/)
    }
  }
})

test('sign prints the header for the file exactly as its bytes', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'eka-cli-'))
  try {
    const file = path.join(dir, 'payload.json')
    const text = '{ "event": "prescription.created" }\n'
    writeFileSync(file, text)
    const r = cli(['sign', '--file', file, '--timestamp', '1700000000'], { EKA_SIGNING_KEY: 'k1' })
    assert.equal(r.status, 0, r.stderr)
    assert.equal(r.stdout.trim(), generateSignatureHeader(Buffer.from(text), 'k1', 1700000000))
    assert.equal(r.stderr, '', 'no warning when the key comes from the environment')
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

test('sign --key works but warns that ps shows it; EKA_SIGNING_KEY wins when both are given', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'eka-cli-'))
  try {
    const file = path.join(dir, 'payload.json')
    writeFileSync(file, '{"event":"prescription.created"}')
    const args = ['sign', '--file', file, '--key', 'k-arg', '--timestamp', '1700000000']
    const alone = cli(args, { EKA_SIGNING_KEY: '' })
    assert.equal(alone.status, 0, alone.stderr)
    assert.equal(alone.stdout.trim(), generateSignatureHeader(Buffer.from('{"event":"prescription.created"}'), 'k-arg', 1700000000))
    assert.match(alone.stderr, /warning: --key is visible to other users of this machine \(ps\).*prefer the EKA_SIGNING_KEY/)
    assert.doesNotMatch(alone.stderr, /k-arg/)
    const both = cli(args, { EKA_SIGNING_KEY: 'k-env' })
    assert.equal(both.stdout.trim(), generateSignatureHeader(Buffer.from('{"event":"prescription.created"}'), 'k-env', 1700000000))
    assert.match(both.stderr, /EKA_SIGNING_KEY is set and used instead/)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

test('send signs a sample event and prints the status and body', async (ctx) => {
  const t = await setupFor(ctx)
  const server = t.sdk.listen(0)
  const r = await cliAsync(['send', `http://127.0.0.1:${server.port}/`, '--event', 'appointment.created', '--appointment-id', SAMPLE.appointmentId], { EKA_SIGNING_KEY: SIGNING_KEY })
  assert.equal(r.status, 0, r.stderr)
  assert.match(r.stdout, /^HTTP 200\n/)
  assert.deepEqual(JSON.parse(r.stdout.split('\n')[1]), { success: true, event: 'appointment.created' })
  const forged = await cliAsync(['send', `http://127.0.0.1:${server.port}/`, '--event', 'prescription.created', '--key', 'wrong'], { EKA_SIGNING_KEY: '' })
  assert.equal(forged.status, 1)
  assert.match(forged.stdout, /HTTP 403/)
})

for (const persistence of ['none', 'postgres']) test(`serve (persistence ${persistence}) runs the standalone server from the environment and logs each event on one line`, async () => {
  const simulator = await startSimulator()
  const schema = persistence === 'postgres' ? createPostgresSchema('cli') : null
  // The password must appear nowhere in the output (the test server trusts loopback).
  const url = schema && `postgres://${POSTGRES.user}:cli-db-pass@${POSTGRES.host}:${POSTGRES.port}/${POSTGRES.database}?schema=${schema.name}`
  const child = spawn(process.execPath, [CLI, 'serve', '--port', '0', ...(schema ? [] : ['--persistence', 'none'])], {
    env: { ...process.env, EKA_CLIENT_ID: 'demo-client', EKA_CLIENT_SECRET: 'demo-secret', EKA_SIGNING_KEY: SIGNING_KEY, EKA_API_BASE_URL: simulator.url, EKA_WEBHOOK_PATH: '/hook', EKA_PERSISTENCE_URL: url ?? '' },
  })
  let output = ''
  child.stdout.on('data', (d) => (output += d))
  child.stderr.on('data', (d) => (output += d))
  try {
    const port = await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no listening line: ${output}`)), 10_000)
      const check = () => {
        const match = new RegExp(`listening on http://0\\.0\\.0\\.0:(\\d+)/hook \\(signatures verified; persistence: ${persistence}\\)`).exec(output)
        if (match) {
          clearTimeout(timer)
          resolve(Number(match[1]))
        } else setTimeout(check, 20)
      }
      check()
    })
    /** Delivers a signed event; resolves with the log line it printed. */
    const deliver = async (payload) => {
      const response = await fetch(`http://127.0.0.1:${port}/hook`, {
        method: 'POST',
        body: JSON.stringify(payload),
        headers: { 'eka-webhook-signature': generateSignatureHeader(payload, SIGNING_KEY) },
      })
      assert.equal(response.status, 200)
      await new Promise((r) => setTimeout(r, 100))
      return output.trim().split('\n').at(-1)
    }
    const appointment = { event: 'appointment.created', data: { appointment_id: SAMPLE.appointmentId } }
    assert.match(await deliver(appointment), /^\d{4}-\d\d-\d\dT[\d:.]+Z appointment\.created apt-bk-1 status=BK visit_type=NEW patient="pat-1" doctor="doc-1" clinic="cln-1"$/)
    const other = { event: 'prescription.created', transaction_id: 'txn-9', data: { prescription_id: 'rx-1', patient_name: 'Ananya Sharma' } }
    assert.match(await deliver(other), /Z prescription\.created transaction_id="txn-9" prescription_id="rx-1"$/)
    assert.doesNotMatch(output, /Ananya|Sharma|Kavya|Iyer|99999/, 'ids only, no patient or doctor names')
    assert.doesNotMatch(output, /demo-secret|whsec_test_signing_key|cli-db-pass/)
    if (schema) assert.equal(postgresRows(schema.name).get(SAMPLE.appointmentId).status, 'BK')
  } finally {
    child.kill('SIGTERM')
    await new Promise((r) => child.once('exit', r))
    await simulator.close()
    schema?.drop()
  }
})

test('demo: the main job runs end to end and exits 0', async () => {
  const r = await cliAsync(['demo'])
  assert.equal(r.status, 0, r.stderr + r.stdout)
  assert.match(r.stdout, /onEvent: appointment\.created apt-bk-1 status=BK visit_type=NEW patient=Ananya Sharma doctor=Dr\. Kavya Iyer clinic=Eka Family Clinic\n/)
  assert.match(r.stdout, /appointment\.created apt-bk-1 → HTTP 200 \{"success":true,"event":"appointment\.created"\}\n/)
  assert.match(r.stdout, /prescription\.updated apt-bk-1 → HTTP 200/)
  assert.match(r.stdout, /a forged signature → HTTP 403/)
  assert.match(r.stdout, /'apt-demo-old'\s*│[^\n]*'RES'/)
  assert.match(r.stdout, /'apt-demo-cancelled'\s*│[^\n]*'CND'/)
  assert.match(r.stdout, /appointments \(BK\):\s+apt-bk-1, apt-demo-new\n/)
  assert.match(r.stdout, /followupAppointments \(FLW\): apt-flw-1\n/)
  assert.match(r.stdout, /reminder eka-reminder-apt-bk-1-\w+ fired: apt-bk-1 for .+\(\+91-99999-00000\)/)
  assert.match(r.stdout, /reminderSent recorded reminder_sent_at=\d+/)
  assert.match(r.stdout, /instance 1 stopped before it was due/)
  assert.match(r.stdout, /instance 2: 'visit-reminder' fired for apt-bk-1 \(.+\), attempt 1, [1-9]\d* ms late/)
  assert.match(r.stdout, /stored: rem_\w+ status=done attempt=1/)
})
