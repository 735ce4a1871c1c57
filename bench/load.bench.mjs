// Load (issue 5): 10,000 signed appointment.created webhooks through the standalone server at
// concurrency 256, with enrichment from the simulator and MySQL persistence (the local MariaDB).
// Reports throughput, non-2xx answers (target 0), rows missing afterwards (target 0) and resident
// memory growth after a warm-up of 10,000 webhooks that are not counted (target: flat, within
// 10 %; RSS climbs for the first ~10,000 as allocator arenas and V8 heap grow, then levels
// off), with the growth over the second half (the leak slope) beside it. Run with --expose-gc
// (the runner does).
import http from 'node:http'
import { execFileSync } from 'node:child_process'
import { createRequire } from 'node:module'
import { emit, percentile, progress, summarize, QUICK } from './lib/report.mjs'
import { startSimulatorProcess } from './lib/simulator-process.mjs'

const require = createRequire(import.meta.url)
const { WebhookSDK, generateSignatureHeader } = require('../lib/index.js')

const SECTION = '7. Load: listen() + enrichment + MySQL (issue 5)'
const TOTAL = QUICK ? 2_000 : 10_000
const WARMUP = QUICK ? 1_000 : 10_000
const CONCURRENCY = 256
const KEY = 'whsec_load'
const MYSQL = { host: process.env.EKA_TEST_MYSQL_HOST ?? '127.0.0.1', port: Number(process.env.EKA_TEST_MYSQL_PORT ?? 3306), user: process.env.EKA_TEST_MYSQL_USER ?? 'root', password: process.env.EKA_TEST_MYSQL_PASSWORD ?? '' }

if (typeof globalThis.gc !== 'function') throw new Error('run with node --expose-gc')

function mysql(sql, database) {
  const args = ['--protocol=tcp', '-h', MYSQL.host, '-P', String(MYSQL.port), '-u', MYSQL.user, '-N', '-B', '-e', sql]
  if (MYSQL.password) args.push(`-p${MYSQL.password}`)
  if (database) args.push('-D', database)
  return execFileSync('mysql', args, { encoding: 'utf8' })
}

async function rssMb() {
  for (let i = 0; i < 3; i++) {
    globalThis.gc()
    await new Promise((resolve) => setImmediate(resolve))
  }
  return process.memoryUsage().rss / 2 ** 20
}

const database = `eka_bench_load_${process.pid}`
mysql(`CREATE DATABASE \`${database}\``)
// In its own process, so that its memory (request log, per-id counters) is not counted as ours.
const simulator = await startSimulatorProcess({ bulk: WARMUP + TOTAL, prefix: 'load-' })
const ids = Array.from({ length: WARMUP + TOTAL }, (_, i) => `load-${i}`)
const sdk = new WebhookSDK({
  clientId: 'demo-client',
  clientSecret: 'demo-secret',
  signingKey: KEY,
  apiBaseUrl: simulator.url,
  persistence: { type: 'mysql', connection: { host: MYSQL.host, port: MYSQL.port, user: MYSQL.user, password: MYSQL.password, database } },
})
const server = sdk.listen(0)
const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY })

function post(id) {
  const body = JSON.stringify({ event: 'appointment.created', transaction_id: `txn-${id}`, data: { appointment_id: id } })
  return new Promise((resolve, reject) => {
    const started = performance.now()
    const req = http.request(
      { host: '127.0.0.1', port: server.port, method: 'POST', path: '/', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'eka-webhook-signature': generateSignatureHeader(body, KEY) } },
      (res) => {
        res.resume()
        res.on('end', () => resolve({ status: res.statusCode, ms: performance.now() - started }))
      },
    )
    req.on('error', reject)
    req.end(body)
  })
}

async function send(list) {
  let next = 0
  const results = []
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < list.length) results.push(await post(list[next++]))
    }),
  )
  return results
}

try {
  await send(ids.slice(0, WARMUP))
  const afterWarmup = await rssMb()
  progress(`warm-up of ${WARMUP} done; rss ${afterWarmup.toFixed(1)} MB`)
  const measured = ids.slice(WARMUP)
  const timed = async (list) => {
    const started = performance.now()
    const results = await send(list)
    return { results, seconds: (performance.now() - started) / 1000 }
  }
  const first = await timed(measured.slice(0, TOTAL / 2))
  const halfway = await rssMb()
  const second = await timed(measured.slice(TOTAL / 2))
  const afterLoad = await rssMb()
  const results = [...first.results, ...second.results]
  const seconds = first.seconds + second.seconds
  await sdk.close() // flushes any write still waiting for the database
  const stored = Number(mysql('SELECT COUNT(*) FROM eka_webhook_schedule_appointment', database).trim()) - WARMUP
  const latencies = results.map((r) => r.ms).sort((a, b) => a - b)
  const non2xx = results.filter((r) => r.status < 200 || r.status > 299).length
  const one = (name, value, unit, target) => emit({ section: SECTION, name, unit, ...summarize([value]), ...(target ? { target } : {}) })
  one(`${TOTAL.toLocaleString('en')} webhooks at concurrency ${CONCURRENCY}: throughput`, results.length / seconds, 'req/s')
  one('latency p50', percentile(latencies, 50), 'ms')
  one('latency p99', percentile(latencies, 99), 'ms')
  one('non-2xx answers to valid requests', non2xx, 'count', { op: '<=', value: 0, text: '0' })
  one('rows missing afterwards', TOTAL - stored, 'count', { op: '<=', value: 0, text: '0' })
  one(`resident memory growth after a warm-up of ${WARMUP.toLocaleString('en')} (${afterWarmup.toFixed(0)} → ${afterLoad.toFixed(0)} MB)`, ((afterLoad - afterWarmup) / afterWarmup) * 100, '%', { op: '<=', value: 10, text: '≤ 10 %' })
  one('resident memory growth over the second half (the leak slope)', ((afterLoad - halfway) / halfway) * 100, '%')
} finally {
  agent.destroy()
  await sdk.close()
  await simulator.close()
  mysql(`DROP DATABASE IF EXISTS \`${database}\``)
}
