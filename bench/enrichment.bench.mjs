// 3. Enriched appointment.created against the simulator with 5 ms latency on every request:
// latency p50 (one event at a time) and throughput (many in flight), against the Python SDK's
// handle_request (4 sequential calls) in the same run.
import { createRequire } from 'node:module'
import { emit, progress, summarize, percentile, QUICK } from './lib/report.mjs'
import { SIGNING_KEY, CLIENT, REPLAYED_FIXTURE, signatureHeader, T } from './lib/fixtures.mjs'
import { startPythonWorker } from './lib/python.mjs'
import { startSimulatorProcess } from './lib/simulator-process.mjs'

const require = createRequire(import.meta.url)
const { WebhookSDK } = require('../lib/index.js')

const LATENCY_MS = 5
const SECTION = `3. Enriched appointment.created, simulator with ${LATENCY_MS} ms per request`
const RUNS = QUICK ? 2 : 5
const SEQUENTIAL_EVENTS = QUICK ? 40 : 150
const IN_FLIGHT = 64
const CONCURRENT_MS = QUICK ? 600 : 2000
const PYTHON_EVENTS = QUICK ? 10 : 40
const PYTHON_THREADS = 16

const payload = {
  service: 'appointment',
  event: 'appointment.created',
  event_time: T,
  transaction_id: 'txn-bench-1',
  business_id: '174000000000001',
  client_id: 'demo-client',
  data: { appointment_id: 'apt-bk-1', status: 'BK' },
}
const text = JSON.stringify(payload)
const body = Buffer.from(text)
const headers = { 'eka-webhook-signature': signatureHeader(text) }

const simulator = await startSimulatorProcess({ latencyMs: LATENCY_MS })
const sdk = new WebhookSDK({ ...CLIENT, ...REPLAYED_FIXTURE, signingKey: SIGNING_KEY, apiBaseUrl: simulator.url })
const python = startPythonWorker()

async function oursOne() {
  const start = process.hrtime.bigint()
  const result = await sdk.handleRequest(body, headers)
  if (result.status !== 200 || !result.body.clinicDetails || !result.body.patientDetails || !result.body.doctorDetails) {
    throw new Error(`ours enriched: ${result.status} ${JSON.stringify(result.body)}`)
  }
  return Number(process.hrtime.bigint() - start) / 1e6
}

const contenders = {
  async 'ours, one at a time'() {
    const latencies = []
    const start = process.hrtime.bigint()
    for (let i = 0; i < SEQUENTIAL_EVENTS; i++) latencies.push(await oursOne())
    return { latencies, seconds: Number(process.hrtime.bigint() - start) / 1e9 }
  },
  async [`ours, ${IN_FLIGHT} in flight`]() {
    const latencies = []
    const start = process.hrtime.bigint()
    const deadline = start + BigInt(CONCURRENT_MS) * 1_000_000n
    await Promise.all(Array.from({ length: IN_FLIGHT }, async () => {
      while (process.hrtime.bigint() < deadline) latencies.push(await oursOne())
    }))
    return { latencies, seconds: Number(process.hrtime.bigint() - start) / 1e9 }
  },
  async 'Python, sequential'() {
    const r = await python.call({ op: 'enrich_run', n: PYTHON_EVENTS, threads: 1 })
    if (Object.keys(r.statuses).join() !== '200') throw new Error(`python statuses ${JSON.stringify(r.statuses)}`)
    return { latencies: r.latencies.map((s) => s * 1000), seconds: r.seconds }
  },
  async [`Python, ${PYTHON_THREADS} threads`]() {
    const r = await python.call({ op: 'enrich_run', n: PYTHON_EVENTS * 4, threads: PYTHON_THREADS })
    if (Object.keys(r.statuses).join() !== '200') throw new Error(`python statuses ${JSON.stringify(r.statuses)}`)
    return { latencies: r.latencies.map((s) => s * 1000), seconds: r.seconds }
  },
}

try {
  await python.call({ op: 'enrich_setup', api: simulator.url, body: text, header: headers['eka-webhook-signature'], key: SIGNING_KEY })
  for (let i = 0; i < 20; i++) await oursOne() // login, connection pool, JIT
  const names = Object.keys(contenders)
  const p50 = Object.fromEntries(names.map((n) => [n, []]))
  const p99 = Object.fromEntries(names.map((n) => [n, []]))
  const throughput = Object.fromEntries(names.map((n) => [n, []]))
  for (let round = 0; round < RUNS; round++) {
    const order = names.map((_, i) => names[(i + round) % names.length])
    for (const name of order) {
      progress(`enrichment round ${round + 1}/${RUNS}: ${name}`)
      const { latencies, seconds } = await contenders[name]()
      latencies.sort((a, b) => a - b)
      p50[name].push(percentile(latencies, 50))
      p99[name].push(percentile(latencies, 99))
      throughput[name].push(latencies.length / seconds)
    }
  }
  for (const name of names) {
    emit({
      section: SECTION,
      name: `${name}: latency p50`,
      unit: 'ms',
      ...summarize(p50[name]),
      ...(name === 'ours, one at a time' ? { target: { op: '<=', value: 2.5 * LATENCY_MS, text: `≤ ${2.5 * LATENCY_MS} ms` } } : {}),
    })
    emit({ section: SECTION, name: `${name}: latency p99`, unit: 'ms', ...summarize(p99[name]) })
    emit({ section: SECTION, name: `${name}: throughput`, unit: 'events/s', ...summarize(throughput[name]) })
  }
  const best = `ours, ${IN_FLIGHT} in flight`
  const per = (a, b) => summarize(throughput[a].map((v, i) => v / throughput[b][i]))
  emit({ section: SECTION, kind: 'ratio', name: `throughput ours ${IN_FLIGHT} in flight / Python sequential`, unit: '×', ...per(best, 'Python, sequential'), target: { op: '>=', value: 10, text: '≥ 10×' } })
  emit({ section: SECTION, kind: 'ratio', name: `throughput ours ${IN_FLIGHT} in flight / Python ${PYTHON_THREADS} threads`, unit: '×', ...per(best, `Python, ${PYTHON_THREADS} threads`), note: 'information: Python given threads' })
  emit({ section: SECTION, kind: 'ratio', name: 'latency p50 Python sequential / ours one at a time', unit: '×', ...summarize(p50['Python, sequential'].map((v, i) => v / p50['ours, one at a time'][i])) })
} finally {
  await python.close()
  await sdk.close()
  await simulator.close()
}
