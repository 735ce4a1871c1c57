// 7. The delivery ledger's cost: the standalone server with MySQL persistence, ledger on vs off,
// same run, alternating. Every POST is a new delivery (its own transaction_id, signed), so each
// one claims and settles a row in eka_webhook_delivery. Load from this process: keep-alive
// fetch() clients, CONNECTIONS at once.
import { execFileSync } from 'node:child_process'
import { emit, progress, summarize, QUICK } from './lib/report.mjs'
import { prescriptionPayload, signatureHeader } from './lib/fixtures.mjs'
import { startServerProcess } from './lib/server-process.mjs'

const RUNS = QUICK ? 2 : 4
const SECONDS = QUICK ? 1 : 3
const CONNECTIONS = 32
const SECTION = `7. Delivery ledger on MySQL: standalone server, new signed 1 KB deliveries (fetch clients, c=${CONNECTIONS}, ${SECONDS} s per burst)`
const DB = `eka_bench_ledger_${process.pid}`
const mysql = (sql) => execFileSync('mysql', ['-h', '127.0.0.1', '-P', '3306', '-u', 'root', '-e', sql])

const template = prescriptionPayload(1024)
let sequence = 0

/** Requests per second over `seconds`, every request a new delivery; throws on any non-200. */
async function burst(port, seconds) {
  const url = `http://127.0.0.1:${port}/`
  const until = performance.now() + seconds * 1000
  let done = 0
  const client = async () => {
    while (performance.now() < until) {
      const text = JSON.stringify({ ...template, transaction_id: `txn-bench-${process.pid}-${sequence++}` })
      const res = await fetch(url, { method: 'POST', body: text, headers: { 'content-type': 'application/json', 'eka-webhook-signature': signatureHeader(text, undefined, Math.floor(Date.now() / 1000)) } })
      await res.arrayBuffer()
      if (res.status !== 200) throw new Error(`status ${res.status}`)
      done++
    }
  }
  const started = performance.now()
  await Promise.all(Array.from({ length: CONNECTIONS }, client))
  return done / ((performance.now() - started) / 1000)
}

mysql(`CREATE DATABASE ${DB}`)
const servers = {}
try {
  for (const [name, ledger] of [['ledger on', 'on'], ['ledger off', 'off']]) {
    process.env.EKA_BENCH_MYSQL_DB = DB
    process.env.EKA_BENCH_LEDGER = ledger
    servers[name] = await startServerProcess('ours-mysql')
    await burst(servers[name].port, 1)
  }
  const names = Object.keys(servers)
  const rps = Object.fromEntries(names.map((n) => [n, []]))
  for (let round = 0; round < RUNS; round++) {
    for (const name of names.map((_, i) => names[(i + round) % names.length])) {
      progress(`ledger round ${round + 1}/${RUNS}: ${name}`)
      rps[name].push(await burst(servers[name].port, SECONDS))
    }
  }
  for (const name of names) emit({ section: SECTION, name: `sdk.listen() + MySQL, ${name}: throughput`, unit: 'req/s', ...summarize(rps[name]) })
  const ratio = summarize(rps['ledger on'].map((v, i) => v / rps['ledger off'][i]))
  emit({ section: SECTION, kind: 'ratio', name: 'ledger on / ledger off', unit: '×', ...ratio, target: { op: '>=', value: 0.8, text: '≥ 0.8×' } })
} finally {
  await Promise.all(Object.values(servers).map((s) => s.close()))
  mysql(`DROP DATABASE IF EXISTS ${DB}`)
}
