// The one row format every bench file prints and bench/run.mjs collects.
//
// A bench file prints each result as one stdout line `##bench-row <json>`; anything else it
// prints is progress, shown by the runner with --verbose. A row is
//
//   { section: '1. handleRequest (prescription.created)',   // groups rows in the table
//     name: 'ours Buffer / pure JS, 1 KB',                  // what was measured
//     kind: 'figure' | 'ratio',
//     unit: 'ops/s' | 'µs' | 'ms' | 'req/s' | 'events/s' | 'MB' | '%' | '×',
//     median, min, max,                                     // over `runs` runs
//     runs,
//     target?: { op: '>=' | '<=', value, text },            // met = median op value
//     note? }
//
// Other issues' benches (persistence, reminders) add rows by printing the same lines from their
// own `bench/<name>.bench.mjs`; the runner picks up every such file.

export const ROW_PREFIX = '##bench-row '

export function median(values) {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
}

export function percentile(sortedValues, p) {
  if (sortedValues.length === 0) return NaN
  const index = Math.min(sortedValues.length - 1, Math.max(0, Math.ceil((p / 100) * sortedValues.length) - 1))
  return sortedValues[index]
}

/** `{ median, min, max, runs }` of a list of per-run values. */
export function summarize(values) {
  return { median: median(values), min: Math.min(...values), max: Math.max(...values), runs: values.length }
}

export function isMet(row) {
  if (!row.target) return undefined
  return row.target.op === '>=' ? row.median >= row.target.value : row.median <= row.target.value
}

/** Prints one row for the runner (and a readable line on stderr for a standalone run). */
export function emit(row) {
  const full = { kind: 'figure', ...row }
  process.stdout.write(`${ROW_PREFIX}${JSON.stringify(full)}\n`)
  if (!process.env.BENCH_UNDER_RUNNER) {
    process.stderr.write(`  ${full.name}: ${formatValue(full.median, full.unit)} (${formatValue(full.min, full.unit)}–${formatValue(full.max, full.unit)}, ${full.runs} runs)${full.target ? `  target ${full.target.text}: ${isMet(full) ? 'met' : 'NOT met'}` : ''}\n`)
  }
}

/** Progress for --verbose / standalone runs. */
export function progress(message) {
  process.stderr.write(`${message}\n`)
}

export function formatValue(value, unit) {
  if (value === undefined || value === null || Number.isNaN(value)) return 'n/a'
  let text
  if (unit === '×') text = value >= 100 ? value.toFixed(0) : value >= 10 ? value.toFixed(1) : value.toFixed(2)
  else if (Math.abs(value) >= 100_000) text = `${(value / 1000).toFixed(0)}k`
  else if (Math.abs(value) >= 10_000) text = `${(value / 1000).toFixed(1)}k`
  else if (Math.abs(value) >= 100) text = value.toFixed(0)
  else if (Math.abs(value) >= 10) text = value.toFixed(1)
  else text = value.toFixed(2)
  return unit === '×' ? `${text}×` : unit === '%' ? `${text} %` : `${text} ${unit}`
}

/** Quick mode (BENCH_QUICK=1, `npm run bench -- --quick`): fewer, shorter runs for a smoke test. */
export const QUICK = process.env.BENCH_QUICK === '1'
