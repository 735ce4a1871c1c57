// Alternating, same-run measurement: every run times one batch of each contender, in an order
// rotated from run to run, so background load (other developers compiling on the same 2 cores)
// hits all contenders alike; ratios are taken run by run.
import { QUICK, summarize } from './report.mjs'

/**
 * A contender: `{ name, run(n) → Promise<seconds> }` where run performs n operations and returns
 * the time they took (measured by whoever runs them: Node's clock, or Python's for the worker).
 */

/** Finds n so that one batch takes about `batchMs`. */
export async function calibrate(contender, batchMs, startN = 64) {
  let n = startN
  for (;;) {
    const seconds = await contender.run(n)
    if (seconds * 1000 >= batchMs / 4 || n >= 1e8) return Math.max(1, Math.round((n * batchMs) / (seconds * 1000)))
    n *= 4
  }
}

/**
 * Runs `runs` rounds; returns `{ [name]: number[] }` of operations per second, one per round.
 * `warmupMs` of each contender first (JIT, connection pools, caches).
 */
export async function alternate(contenders, { runs = QUICK ? 3 : 7, batchMs = QUICK ? 80 : 200, warmupMs = QUICK ? 100 : 300 } = {}) {
  const sizes = new Map()
  for (const c of contenders) {
    await c.run(await calibrate(c, warmupMs))
    sizes.set(c.name, await calibrate(c, batchMs))
  }
  const opsPerSecond = Object.fromEntries(contenders.map((c) => [c.name, []]))
  for (let round = 0; round < runs; round++) {
    const order = contenders.map((_, i) => contenders[(i + round) % contenders.length])
    if (round % 2) order.reverse()
    for (const c of order) {
      const n = sizes.get(c.name)
      const seconds = await c.run(n)
      opsPerSecond[c.name].push(n / seconds)
    }
  }
  return opsPerSecond
}

/** Per-run ratios a[i] / b[i], summarised. */
export function ratio(a, b) {
  return summarize(a.map((value, i) => value / b[i]))
}

/** Sequential async loop: n awaited calls. */
export function sequential(fn) {
  return async (n) => {
    const start = process.hrtime.bigint()
    for (let i = 0; i < n; i++) await fn()
    return Number(process.hrtime.bigint() - start) / 1e9
  }
}

/** `depth` concurrent chains of awaited calls, n calls in all (a server with requests in flight). */
export function concurrent(fn, depth) {
  return async (n) => {
    const per = Math.max(1, Math.ceil(n / depth))
    const start = process.hrtime.bigint()
    await Promise.all(Array.from({ length: depth }, async () => {
      for (let i = 0; i < per; i++) await fn()
    }))
    return (Number(process.hrtime.bigint() - start) / 1e9) * (n / (per * depth))
  }
}

/** Synchronous loop. */
export function synchronous(fn) {
  return async (n) => {
    const start = process.hrtime.bigint()
    for (let i = 0; i < n; i++) fn()
    return Number(process.hrtime.bigint() - start) / 1e9
  }
}
