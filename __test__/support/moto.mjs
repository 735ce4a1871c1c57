// A real moto DynamoDB server for a test file: `startMoto()` picks a free loopback port,
// starts moto's server (scripts/moto-server.py: one request at a time, so conditional writes are
// atomic as in DynamoDB), polls until it answers, and `stop()` kills it (it is also
// killed when the test process exits without calling `stop()`).

import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import net from 'node:net'
import { fileURLToPath } from 'node:url'
import { once } from 'node:events'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
export const VENV_PYTHON = `${ROOT}.venv/bin/python`
const MOTO_SERVER = `${ROOT}scripts/moto-server.py`
const START_TIMEOUT_MS = 60_000

export const REGION = 'us-east-1'
export const ACCESS_KEY_ID = 'AKIDMOTOTEST'
export const SECRET_ACCESS_KEY = 'moto-secret-key-never-printed'

export function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address()
      server.close(() => resolve(port))
    })
  })
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

async function startOnce(env) {
  const port = await freePort()
  const endpoint = `http://127.0.0.1:${port}`
  const child = spawn(VENV_PYTHON, [MOTO_SERVER, '-H', '127.0.0.1', '-p', String(port)], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  })
  let output = ''
  const collect = (chunk) => {
    output = (output + chunk).slice(-4_000)
  }
  child.stdout.on('data', collect)
  child.stderr.on('data', collect)
  let exited = null
  child.once('exit', (code, signal) => {
    exited = signal ?? code
  })
  const killOnExit = () => child.kill('SIGKILL')
  process.once('exit', killOnExit)

  const stop = async () => {
    process.removeListener('exit', killOnExit)
    if (exited === null) {
      const gone = once(child, 'exit')
      child.kill('SIGKILL')
      await gone
    }
  }

  const deadline = Date.now() + START_TIMEOUT_MS
  while (Date.now() < deadline) {
    if (exited !== null) {
      await stop()
      return { failure: `moto_server exited early (${exited}):\n${output}` }
    }
    try {
      const res = await fetch(`${endpoint}/moto-api/`, { signal: AbortSignal.timeout(2_000) })
      await res.arrayBuffer()
      if (res.ok) return { endpoint, stop }
    } catch {
      // not listening yet
    }
    await sleep(100)
  }
  await stop()
  return { failure: `moto_server did not answer on ${endpoint} within ${START_TIMEOUT_MS} ms:\n${output}` }
}

/**
 * @param {{ env?: Record<string, string> }} [options] extra environment for the server, e.g.
 *   `{ INITIAL_NO_AUTH_ACTION_COUNT: '0' }` to make moto check credentials.
 * @returns {Promise<{ endpoint: string, stop(): Promise<void> }>}
 */
export async function startMoto({ env = {} } = {}) {
  if (!existsSync(VENV_PYTHON)) {
    throw new Error(`${VENV_PYTHON} is missing: run scripts/setup-venv.sh in the repository root to create .venv with moto[server]`)
  }
  // A freed port can be taken again before moto binds it: try a few.
  let failure = ''
  for (let attempt = 0; attempt < 3; attempt++) {
    const started = await startOnce(env)
    if (!started.failure) return started
    failure = started.failure
  }
  throw new Error(`moto_server did not start: ${failure}`)
}

/** Empties every table of the server (moto's own reset endpoint). */
export async function resetMoto(endpoint) {
  const res = await fetch(`${endpoint}/moto-api/reset`, { method: 'POST' })
  await res.arrayBuffer()
  if (!res.ok) throw new Error(`moto reset failed: ${res.status}`)
}

/**
 * One raw DynamoDB JSON-protocol call (moto does not check the signature unless asked to), for
 * inspecting the table independently of the SDK under test.
 */
export async function dynamo(endpoint, operation, body) {
  const res = await fetch(endpoint, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-amz-json-1.0',
      'x-amz-target': `DynamoDB_20120810.${operation}`,
      authorization: `AWS4-HMAC-SHA256 Credential=${ACCESS_KEY_ID}/20300101/${REGION}/dynamodb/aws4_request, SignedHeaders=host, Signature=0`,
    },
    body: JSON.stringify(body),
  })
  const json = await res.json()
  if (!res.ok) throw new Error(`DynamoDB ${operation} failed: ${res.status} ${JSON.stringify(json)}`)
  return json
}

/** The raw item (DynamoDB JSON: `{ attr: { S | N: ... } }`) or undefined. */
export async function getItem(endpoint, appointmentId) {
  const out = await dynamo(endpoint, 'GetItem', {
    TableName: 'eka_webhook_schedule_appointment',
    Key: { appointment_id: { S: appointmentId } },
    ConsistentRead: true,
  })
  return out.Item
}
