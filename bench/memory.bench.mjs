// 5. Memory: resident set size after 1,000,000 handleRequest calls against after the first
// 100,000 (no leak across the napi boundary). Bodies rotate object / string / Buffer; every 4th
// call goes to an SDK with an onEvent callback (the async path and the threadsafe-function
// bridge), the others to one without (the synchronous path); every 8th call carries a bad
// signature (the 403 path, which also builds the canonical form). Measured after a full GC; run
// with --expose-gc (the runner does).
import { createRequire } from 'node:module'
import { emit, progress, QUICK } from './lib/report.mjs'
import { SIGNING_KEY, CLIENT, REPLAYED_FIXTURE, signedBodies } from './lib/fixtures.mjs'

const require = createRequire(import.meta.url)
const { WebhookSDK } = require('../lib/index.js')

const SECTION = '5. Memory, 1,000,000 handleRequest calls (1 KB; object / string / Buffer; 1 in 4 with onEvent; 1 in 8 rejected)'
// BENCH_MEMORY_CALLS overrides the total (a multiple of 1,600) for longer leak hunts.
const TOTAL = Number(process.env.BENCH_MEMORY_CALLS) || (QUICK ? 320_000 : 1_000_000)
const FIRST = TOTAL / 10
const CHECKPOINTS = 10
const IN_FLIGHT = 16

if (typeof globalThis.gc !== 'function') throw new Error('run with node --expose-gc')

let events = 0
const sdk = new WebhookSDK({ ...CLIENT, ...REPLAYED_FIXTURE, signingKey: SIGNING_KEY })
const withOnEvent = new WebhookSDK({ ...CLIENT, ...REPLAYED_FIXTURE, signingKey: SIGNING_KEY, onEvent: () => { events++ } })
const b = signedBodies(1024)
const forms = [b.object, b.text, b.buffer]
const badHeaders = { 'eka-webhook-signature': b.headers['eka-webhook-signature'].replace(/v1=./, 'v1=0') }

let done = 0
let failures = 0
async function calls(n) {
  const per = n / IN_FLIGHT
  await Promise.all(Array.from({ length: IN_FLIGHT }, async (_, lane) => {
    for (let i = 0; i < per; i++) {
      const k = done + lane * per + i
      const bad = k % 8 === 5
      const target = k % 4 === 3 ? withOnEvent : sdk
      const result = await target.handleRequest(forms[k % 3], bad ? badHeaders : b.headers)
      if (result.status !== (bad ? 403 : 200)) failures++
    }
  }))
  done += n
}

async function settle() {
  for (let i = 0; i < 3; i++) {
    globalThis.gc()
    await new Promise((resolve) => setImmediate(resolve))
  }
  const m = process.memoryUsage()
  return { rss: m.rss / 2 ** 20, heap: m.heapUsed / 2 ** 20, heapTotal: m.heapTotal / 2 ** 20, external: m.external / 2 ** 20 }
}

try {
  const start = Date.now()
  await calls(FIRST)
  const first = await settle()
  progress(`memory after ${done}: rss ${first.rss.toFixed(1)} MB heap ${first.heap.toFixed(1)} MB`)
  const trace = [first.rss]
  const step = (TOTAL - FIRST) / (CHECKPOINTS - 1)
  while (done < TOTAL) {
    await calls(step)
    const m = await settle()
    trace.push(m.rss)
    progress(`memory after ${done}: rss ${m.rss.toFixed(1)} MB heap ${m.heap.toFixed(1)} MB (of ${m.heapTotal.toFixed(1)}) external ${m.external.toFixed(1)} MB`)
  }
  const last = await settle()
  if (failures) throw new Error(`${failures} calls answered an unexpected status`)
  if (events !== TOTAL / 4) throw new Error(`onEvent ran ${events} times, expected ${TOTAL / 4}`)
  const seconds = (Date.now() - start) / 1000
  const growth = ((last.rss - first.rss) / first.rss) * 100
  const one = (value) => ({ median: value, min: value, max: value, runs: 1 })
  emit({ section: SECTION, name: `RSS after the first ${FIRST.toLocaleString('en')} calls`, unit: 'MB', ...one(first.rss) })
  emit({ section: SECTION, name: `RSS after ${TOTAL.toLocaleString('en')} calls`, unit: 'MB', ...one(last.rss), note: `RSS at each tenth: ${trace.map((v) => v.toFixed(0)).join(', ')} MB` })
  emit({ section: SECTION, name: `RSS growth, ${FIRST.toLocaleString('en')} → ${TOTAL.toLocaleString('en')} calls`, unit: '%', ...one(growth), target: { op: '<=', value: 10, text: '≤ 10 %' } })
  const half = trace[CHECKPOINTS / 2 - 1] // after TOTAL / 2 calls
  emit({ section: SECTION, name: `RSS growth over the second half, ${(TOTAL / 2).toLocaleString('en')} → ${TOTAL.toLocaleString('en')} calls (the leak slope; the first half includes allocator warm-up)`, unit: '%', ...one(((last.rss - half) / half) * 100) })
  emit({ section: SECTION, name: `JS heap used after ${TOTAL.toLocaleString('en')} calls (after the first ${FIRST.toLocaleString('en')}: ${first.heap.toFixed(1)} MB)`, unit: 'MB', ...one(last.heap) })
  emit({ section: SECTION, name: 'calls per second during the run', unit: 'ops/s', ...one(TOTAL / seconds) })
} finally {
  await sdk.close()
  await withOnEvent.close()
}
