// 1. handleRequest for a signed prescription.created (no API calls), 1 KB and 16 KB, body as
// object / string / Buffer, against pure JS (JSON.parse + JSON.stringify + node:crypto HMAC +
// timingSafeEqual; bench/lib/pure-js.mjs) and the Python SDK's handle_request in-process. Every
// call is awaited before the next (one caller); the pure-JS handler is an async function too, so
// both pay one await. Every call also reads result.event.payload.data, so a payload built lazily
// could not flatter the SDK. For information: a sharper pure-JS handler that HMACs the raw bytes
// first (no JSON.stringify), against the Buffer body.
// 1b. The same with `onEvent: async () => {}` (the README's first example), 64 calls in flight,
// against the pure-JS handler that also awaits the same onEvent.
import { createRequire } from 'node:module'
import { emit, progress } from './lib/report.mjs'
import { alternate, concurrent, ratio, sequential } from './lib/measure.mjs'
import { SIGNING_KEY, CLIENT, REPLAYED_FIXTURE, SIZES, signedBodies } from './lib/fixtures.mjs'
import { pureJsHandler } from './lib/pure-js.mjs'
import { startPythonWorker } from './lib/python.mjs'
import { summarize, QUICK } from './lib/report.mjs'

const require = createRequire(import.meta.url)
const { WebhookSDK } = require('../lib/index.js')

const SECTION = '1. handleRequest, signed prescription.created, no API calls (ops/s, one caller awaiting each call)'
const SECTION_ON_EVENT = '1b. handleRequest with onEvent: async () => {}, signed prescription.created (ops/s, 64 in flight)'
const IN_FLIGHT = 64
const sdk = new WebhookSDK({ ...CLIENT, ...REPLAYED_FIXTURE, signingKey: SIGNING_KEY })
const pure = pureJsHandler(SIGNING_KEY)
let delivered = 0
const onEvent = async (event) => { delivered += event.payload.data ? 1 : 0 }
const sdkWithOnEvent = new WebhookSDK({ ...CLIENT, ...REPLAYED_FIXTURE, signingKey: SIGNING_KEY, onEvent })
const pureWithOnEvent = async (body, headers) => {
  const result = await pure(body, headers)
  if (result.event) await onEvent(result.event)
  return result
}
const pureRawFirst = pureJsHandler(SIGNING_KEY, { rawFirst: true })
let sink = 0
const read = (result) => { sink += result.event.payload.data ? 1 : 0 }
const python = startPythonWorker()

async function expectOk(what, promise) {
  const result = await promise
  if (result.status !== 200) throw new Error(`${what}: status ${result.status} ${JSON.stringify(result.body)}`)
}

try {
  for (const size of SIZES) {
    const b = signedBodies(size.bytes)
    const forms = { object: b.object, string: b.text, Buffer: b.buffer }
    for (const [form, body] of Object.entries(forms)) {
      await expectOk(`ours ${form}`, sdk.handleRequest(body, b.headers))
      await expectOk(`pure JS ${form}`, pure(body, b.headers))
    }
    await python.call({ op: 'handle_setup', body: b.text, header: b.headers['eka-webhook-signature'], key: SIGNING_KEY })
    const contenders = []
    for (const [form, body] of Object.entries(forms)) {
      contenders.push({ name: `ours ${form}`, run: sequential(() => sdk.handleRequest(body, b.headers).then(read)) })
      contenders.push({ name: `pure JS ${form}`, run: sequential(() => pure(body, b.headers).then(read)) })
    }
    contenders.push({ name: 'pure JS Buffer, raw bytes first', run: sequential(() => pureRawFirst(b.buffer, b.headers).then(read)) })
    for (const as of ['dict', 'str']) {
      contenders.push({ name: `Python ${as}`, run: async (n) => (await python.call({ op: 'handle_run', n, as })).seconds })
    }
    progress(`handleRequest ${size.label}: ${contenders.length} contenders, alternating`)
    // Many short rounds: a load spike from a neighbour then spoils one round's ratio, not the median.
    const ops = await alternate(contenders, QUICK ? {} : { runs: 15, batchMs: 100 })
    const label = `${size.label} (${b.bytes} B)`
    for (const c of contenders) emit({ section: SECTION, name: `${c.name}, ${label}`, unit: 'ops/s', ...summarize(ops[c.name]) })
    for (const form of Object.keys(forms)) {
      const target = form === 'object' ? { op: '>=', value: 1.0, text: '≥ 1.0×' } : { op: '>=', value: 1.5, text: '≥ 1.5×' }
      emit({ section: SECTION, kind: 'ratio', name: `ours ${form} / pure JS ${form}, ${size.label}`, unit: '×', ...ratio(ops[`ours ${form}`], ops[`pure JS ${form}`]), target })
    }
    for (const [form, as] of [['object', 'dict'], ['string', 'str'], ['Buffer', 'str']]) {
      emit({ section: SECTION, kind: 'ratio', name: `ours ${form} / Python ${as}, ${size.label}`, unit: '×', ...ratio(ops[`ours ${form}`], ops[`Python ${as}`]), target: { op: '>=', value: 3, text: '≥ 3×' } })
    }
    emit({ section: SECTION, kind: 'ratio', name: `ours Buffer / pure JS Buffer raw bytes first, ${size.label}`, unit: '×', ...ratio(ops['ours Buffer'], ops['pure JS Buffer, raw bytes first']), note: 'information: the sharper baseline' })

    const withOnEvent = []
    for (const [form, body] of Object.entries(forms)) {
      await expectOk(`ours ${form} with onEvent`, sdkWithOnEvent.handleRequest(body, b.headers))
      withOnEvent.push({ name: `ours ${form}`, run: concurrent(() => sdkWithOnEvent.handleRequest(body, b.headers).then(read), IN_FLIGHT) })
      withOnEvent.push({ name: `pure JS ${form}`, run: concurrent(() => pureWithOnEvent(body, b.headers).then(read), IN_FLIGHT) })
    }
    progress(`handleRequest with onEvent ${size.label}: ${withOnEvent.length} contenders, alternating`)
    const opsOnEvent = await alternate(withOnEvent, QUICK ? {} : { runs: 15, batchMs: 100 })
    for (const c of withOnEvent) emit({ section: SECTION_ON_EVENT, name: `${c.name}, ${label}`, unit: 'ops/s', ...summarize(opsOnEvent[c.name]) })
    for (const form of Object.keys(forms)) {
      emit({ section: SECTION_ON_EVENT, kind: 'ratio', name: `ours ${form} / pure JS ${form} with onEvent, ${size.label}`, unit: '×', ...ratio(opsOnEvent[`ours ${form}`], opsOnEvent[`pure JS ${form}`]), target: { op: '>=', value: 1.0, text: '≥ 1.0×' } })
    }
  }
  if (sink === 0) throw new Error('no payload was read')
  if (delivered === 0) throw new Error('onEvent never ran')
} finally {
  await python.close()
  await sdk.close()
  await sdkWithOnEvent.close()
}
