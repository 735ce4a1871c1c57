#!/usr/bin/env node
'use strict'
// eka-webhook: serve | sign | send | demo | doctor. Run with --help for usage.
// `doctor` runs before anything else loads: it must work where the SDK cannot (an older Node,
// a native addon that does not load), so the SDK is required only by the commands that use it.

if (process.argv[2] === 'doctor') {
  process.exitCode = require('../lib/cli/doctor.js').runDoctor(process.argv.slice(3))
  return
}

const { parseArgs } = require('node:util')
const { readFileSync } = require('node:fs')
const { WebhookSDK, generateSignatureHeader, SUPPORTED_EVENTS } = require('../lib/index.js')
const { parsePersistenceUrl, DEFAULT_PERSISTENCE_URL } = require('../lib/cli/persistence-url.js')
const { samplePayload } = require('../lib/cli/samples.js')

const USAGE = `Usage: eka-webhook <command> [options]

Commands:
  serve   Run the standalone webhook server.
          Environment: EKA_CLIENT_ID, EKA_CLIENT_SECRET (required), EKA_API_KEY, EKA_SIGNING_KEY,
          PORT (default 3000), EKA_API_BASE_URL, EKA_PERSISTENCE_URL (default ${DEFAULT_PERSISTENCE_URL};
          also mysql://user:pass@host:3306/db, postgres://user:pass@host:5432/db,
          dynamodb://region?endpoint=URL, or "none"),
          EKA_WEBHOOK_PATH (default /). Options: --port N, --path P, --persistence URL, --debug
  sign    Print an Eka-Webhook-Signature header for a payload file (signed as its exact bytes).
          eka-webhook sign --file payload.json [EKA_SIGNING_KEY | --key K] [--timestamp UNIX]
  send    Sign a sample (or given) event and POST it to a URL; prints the status and body.
          eka-webhook send <url> [--event TYPE] [--appointment-id ID] [--file payload.json]
                                 [EKA_SIGNING_KEY | --key K]
  demo    Run everything locally against the Eka Care API simulator: a server with SQLite
          persistence, signed events of all four types, the stored rows, a range query and a
          reminder firing.
  doctor  Check a project for what keeps the SDK from working (old Node, an addon that cannot
          load, Next.js / Edge / express.json() traps) and print what to change.
          eka-webhook doctor [dir] [--json]   (exit 0: no problems, 1: problems found)
`

class UsageError extends Error {}

function parse(args, options, allowPositionals = false) {
  try {
    return parseArgs({ args, options: { help: { type: 'boolean', short: 'h' }, ...options }, allowPositionals, strict: true })
  } catch (error) {
    throw new UsageError(error.message)
  }
}

function required(value, what) {
  if (value === undefined || value === '') throw new UsageError(`missing ${what}`)
  return value
}

function integerOption(value, what) {
  if (value === undefined) return undefined
  if (!/^\d+$/.test(value)) throw new UsageError(`${what} must be a non-negative integer, got ${JSON.stringify(value)}`)
  return Number(value)
}

/**
 * One log line per event: when, what, and ids only. Names, phone numbers and other patient data
 * stay out of logs (which often end up in shared log stores).
 */
function oneLine(event) {
  const details = event.appointmentDetails
  const parts = [new Date().toISOString(), event.type]
  if (details) {
    parts.push(String(details.appointment_id), `status=${details.status}`, `visit_type=${details.visit_type}`)
    for (const who of ['patient', 'doctor', 'clinic']) {
      const id = details[`${who}_id`] ?? event[`${who}Details`]?.[`${who}_id`]
      if (id !== undefined) parts.push(`${who}=${JSON.stringify(String(id))}`)
    }
  } else {
    const data = event.payload.data ?? {}
    const ids = Object.entries(data).filter(([k, v]) => k.endsWith('_id') && typeof v === 'string')
    if (event.payload.transaction_id !== undefined) ids.unshift(['transaction_id', String(event.payload.transaction_id)])
    parts.push(...ids.map(([k, v]) => `${k}=${JSON.stringify(v)}`))
  }
  return parts.join(' ')
}

function serve(args) {
  const { values } = parse(args, {
    port: { type: 'string' },
    path: { type: 'string' },
    persistence: { type: 'string' },
    debug: { type: 'boolean' },
  })
  if (values.help) return console.log(USAGE)
  const env = process.env
  const clientId = required(env.EKA_CLIENT_ID, 'environment variable EKA_CLIENT_ID')
  const clientSecret = required(env.EKA_CLIENT_SECRET, 'environment variable EKA_CLIENT_SECRET')
  const port = integerOption(values.port ?? env.PORT ?? '3000', 'port')
  const path = values.path ?? env.EKA_WEBHOOK_PATH ?? '/'
  const persistenceUrl = values.persistence ?? env.EKA_PERSISTENCE_URL ?? DEFAULT_PERSISTENCE_URL
  let persistence
  try {
    persistence = persistenceUrl === 'none' ? undefined : parsePersistenceUrl(persistenceUrl)
  } catch (error) {
    throw new UsageError(error.message)
  }
  const sdk = new WebhookSDK({
    clientId,
    clientSecret,
    apiKey: env.EKA_API_KEY || undefined,
    signingKey: env.EKA_SIGNING_KEY || undefined,
    apiBaseUrl: env.EKA_API_BASE_URL || undefined,
    path,
    persistence,
    debug: Boolean(values.debug),
    onEvent: (event) => console.log(oneLine(event)),
  })
  const server = sdk.listen(port, () => {
    const verification = env.EKA_SIGNING_KEY ? 'signatures verified' : 'WARNING: no EKA_SIGNING_KEY, signatures are not verified'
    console.log(
      `eka-webhook listening on http://0.0.0.0:${server.port}${path} (${verification}; persistence: ${persistence ? persistence.type : 'none'})`,
    )
  })
  const stop = () => sdk.close().then(() => process.exit(0))
  process.once('SIGINT', stop)
  process.once('SIGTERM', stop)
}

/** EKA_SIGNING_KEY first: a --key argument is visible to other users (ps, /proc) and history. */
function signingKeyFrom(values) {
  const fromEnv = process.env.EKA_SIGNING_KEY
  if (values.key !== undefined) {
    const use = fromEnv ? 'EKA_SIGNING_KEY is set and used instead' : 'prefer the EKA_SIGNING_KEY environment variable'
    console.error(`eka-webhook: warning: --key is visible to other users of this machine (ps) and in shell history; ${use}`)
  }
  return required(fromEnv || values.key, 'EKA_SIGNING_KEY (or --key)')
}

function readPayloadFile(file) {
  try {
    return readFileSync(file)
  } catch (error) {
    throw new UsageError(`cannot read ${file}: ${error.message}`)
  }
}

function sign(args) {
  const { values } = parse(args, { file: { type: 'string' }, key: { type: 'string' }, timestamp: { type: 'string' } })
  if (values.help) return console.log(USAGE)
  const file = required(values.file, '--file')
  const key = signingKeyFrom(values)
  console.log(generateSignatureHeader(readPayloadFile(file), key, integerOption(values.timestamp, '--timestamp')))
}

async function send(args) {
  const { values, positionals } = parse(
    args,
    { event: { type: 'string' }, 'appointment-id': { type: 'string' }, file: { type: 'string' }, key: { type: 'string' } },
    true,
  )
  if (values.help) return console.log(USAGE)
  const [url, ...extra] = positionals
  required(url, 'the target URL')
  if (extra.length) throw new UsageError(`unexpected arguments: ${extra.join(' ')}`)
  const event = values.event ?? 'appointment.created'
  if (!values.file && !SUPPORTED_EVENTS.includes(event)) throw new UsageError(`--event must be one of ${SUPPORTED_EVENTS.join(', ')}`)
  const key = signingKeyFrom(values)
  const body = values.file
    ? readPayloadFile(values.file)
    : Buffer.from(JSON.stringify(samplePayload(event, values['appointment-id'] ?? 'apt-bk-1')))
  const response = await fetch(url, {
    method: 'POST',
    body,
    headers: { 'content-type': 'application/json', 'eka-webhook-signature': generateSignatureHeader(body, key) },
  })
  console.log(`HTTP ${response.status}`)
  console.log(await response.text())
  if (!response.ok) process.exitCode = 1
}

async function main(argv) {
  const [command, ...args] = argv
  switch (command) {
    case 'serve':
      return serve(args)
    case 'sign':
      return sign(args)
    case 'send':
      return send(args)
    case 'demo':
      parse(args, {})
      return require('../lib/cli/demo.js').runDemo()
    case undefined:
    case '-h':
    case '--help':
    case 'help':
      return console.log(USAGE)
    default:
      throw new UsageError(`unknown command ${JSON.stringify(command)}`)
  }
}

main(process.argv.slice(2)).catch((error) => {
  if (error instanceof UsageError) {
    console.error(`eka-webhook: ${error.message}\n\n${USAGE}`)
    process.exit(2)
  }
  console.error(`eka-webhook: ${error.code ? `[${error.code}] ` : ''}${error.message}`)
  process.exit(1)
})
