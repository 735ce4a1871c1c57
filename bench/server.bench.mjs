// 4. The standalone server (sdk.listen()) under load, in the same run as a minimal node:http
// server (JSON.parse + node:crypto verify), Express 5 with express.json() and sdk.expressMiddleware(),
// and the Python SDK's own standalone server (sdk.listen(port) in Python). Signed 1 KB
// prescription.created POSTs from a load generator in its own process (wrk, else autocannon);
// every server runs in its own process; contenders alternate, one at a time.
import { emit, progress, summarize, QUICK } from './lib/report.mjs'
import { SIGNING_KEY, signedBodies } from './lib/fixtures.mjs'
import { blast, loadGenerator } from './lib/load.mjs'
import { startServerProcess } from './lib/server-process.mjs'
import { startPythonWorker } from './lib/python.mjs'

const RUNS = QUICK ? 2 : 4
const SECONDS = QUICK ? 1 : 3
const CONCURRENCY = [16, 64]
const tool = loadGenerator()
const SECTION = `4. Standalone server, signed 1 KB prescription.created POSTs (${tool}, ${SECONDS} s per burst)`

const b = signedBodies(1024)
const servers = {}
const python = startPythonWorker()
try {
  servers['ours sdk.listen()'] = await startServerProcess('ours')
  servers['node:http + node:crypto'] = await startServerProcess('node-http')
  servers['Express 5 + express.json() + sdk.expressMiddleware()'] = await startServerProcess('express')
  servers['Python sdk.listen()'] = { port: (await python.call({ op: 'listen', key: SIGNING_KEY })).port, close() {} }

  const names = Object.keys(servers)
  const load = (name, connections, seconds) =>
    blast(tool, { url: `http://127.0.0.1:${servers[name].port}/`, body: b.text, headers: b.headers, connections, seconds })

  for (const name of names) {
    const warm = await load(name, 16, 1)
    if (warm.non2xx > 0 || warm.requests === 0) throw new Error(`${name}: ${warm.non2xx} non-2xx responses of ${warm.requests} in warm-up`)
  }

  for (const connections of CONCURRENCY) {
    const rps = Object.fromEntries(names.map((n) => [n, []]))
    const p50 = Object.fromEntries(names.map((n) => [n, []]))
    const p99 = Object.fromEntries(names.map((n) => [n, []]))
    const problems = Object.fromEntries(names.map((n) => [n, 0]))
    for (let round = 0; round < RUNS; round++) {
      const order = names.map((_, i) => names[(i + round) % names.length])
      for (const name of order) {
        progress(`server c=${connections} round ${round + 1}/${RUNS}: ${name}`)
        const r = await load(name, connections, SECONDS)
        rps[name].push(r.requestsPerSecond)
        p50[name].push(r.p50Ms)
        p99[name].push(r.p99Ms)
        problems[name] += r.errors + r.non2xx
      }
    }
    for (const name of names) {
      const note = problems[name] ? `${problems[name]} socket errors / non-2xx over all bursts` : undefined
      emit({ section: SECTION, name: `${name}, c=${connections}: throughput`, unit: 'req/s', ...summarize(rps[name]), note })
      emit({ section: SECTION, name: `${name}, c=${connections}: latency p50`, unit: 'ms', ...summarize(p50[name]) })
      emit({ section: SECTION, name: `${name}, c=${connections}: latency p99`, unit: 'ms', ...summarize(p99[name]) })
    }
    const per = (a, c) => summarize(rps[a].map((v, i) => v / rps[c][i]))
    emit({ section: SECTION, kind: 'ratio', name: `ours sdk.listen() / node:http, c=${connections}`, unit: '×', ...per('ours sdk.listen()', 'node:http + node:crypto'), target: { op: '>=', value: 1.5, text: '≥ 1.5×' } })
    emit({ section: SECTION, kind: 'ratio', name: `ours sdk.listen() / Python sdk.listen(), c=${connections}`, unit: '×', ...per('ours sdk.listen()', 'Python sdk.listen()'), target: { op: '>=', value: 10, text: '≥ 10×' } })
    emit({ section: SECTION, kind: 'ratio', name: `Express + middleware / node:http, c=${connections}`, unit: '×', ...per('Express 5 + express.json() + sdk.expressMiddleware()', 'node:http + node:crypto') })
  }
} finally {
  await Promise.all(Object.values(servers).map((s) => s.close()))
  await python.close()
}
