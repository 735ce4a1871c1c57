#!/usr/bin/env node
// `npm run bench`: sets up what the benchmarks need, runs every bench/*.bench.mjs in its own
// process, collects their rows (bench/lib/report.mjs: one `##bench-row <json>` line each) and prints
// one table. Options:
//   --quick            fewer, shorter runs (a smoke test, ~2 min)
//   --only a,b         run only bench files whose name contains one of these
//   --verbose          show each bench's progress
//   --update-readme    write the table into bench/README.md (between the bench-table markers)
//   --no-setup         skip the set-up step
import { spawn, spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { cpus, loadavg } from 'node:os'
import path from 'node:path'
import { createInterface } from 'node:readline'
import { ROOT } from './lib/paths.mjs'
import { ROW_PREFIX, formatValue, isMet } from './lib/report.mjs'

const args = process.argv.slice(2)
const flag = (name) => args.includes(name)
const only = args.includes('--only') ? args[args.indexOf('--only') + 1].split(',') : null
const quick = flag('--quick')
const verbose = flag('--verbose')

/** The order first; any other bench file (persistence, reminders, ...) after, by name. */
const ORDER = ['handle-request', 'verify-signature', 'enrichment', 'server', 'memory']
const BENCH_DIR = path.join(ROOT, 'bench')

function log(message) {
  process.stderr.write(`[bench] ${message}\n`)
}

function sh(command, commandArgs, options = {}) {
  const result = spawnSync(command, commandArgs, { cwd: ROOT, stdio: verbose ? ['ignore', 2, 2] : 'pipe', encoding: 'utf8', ...options })
  return { ok: result.status === 0, output: `${result.stdout ?? ''}${result.stderr ?? ''}`, error: result.error }
}

const notes = []

function setup() {
  const started = Date.now()
  if (!existsSync(path.join(ROOT, 'node_modules', 'autocannon')) || !existsSync(path.join(ROOT, 'node_modules', 'express'))) {
    log('npm install (express, autocannon)')
    if (!sh('npm', ['install', '--no-audit', '--no-fund']).ok) throw new Error('npm install failed')
  }
  if (!sh(process.execPath, ['-e', "require('./binding.js')"]).ok) {
    log('building the native addon (release; this takes a few minutes)')
    const build = sh('npm', ['run', 'build'])
    if (!build.ok) throw new Error(`native build failed:\n${build.output.slice(-3000)}`)
  }
  log('python venv (eka-webhook-sdk==0.1.4)')
  const venv = sh('bash', ['scripts/setup-venv.sh'])
  if (!venv.ok) throw new Error(`scripts/setup-venv.sh failed:\n${venv.output.slice(-3000)}`)
  if (process.env.BENCH_LOADGEN !== 'autocannon' && sh('wrk', ['--version'], { stdio: 'ignore' }).error?.code === 'ENOENT') {
    const root = typeof process.getuid === 'function' && process.getuid() === 0
    if (root && !sh('apt-get', ['--version']).error) {
      log('installing wrk (apt-get install wrk)')
      let install = sh('apt-get', ['install', '-y', '-qq', 'wrk'])
      if (!install.ok) {
        sh('apt-get', ['update', '-qq'])
        install = sh('apt-get', ['install', '-y', '-qq', 'wrk'])
      }
    }
    if (sh('wrk', ['--version'], { stdio: 'ignore' }).error?.code === 'ENOENT') {
      notes.push('wrk is not installed (and could not be installed): the server benchmark used autocannon, a Node load generator that shares the 2 cores and may be the bottleneck.')
      log('wrk unavailable: falling back to autocannon')
    }
  }
  log(`set-up done in ${((Date.now() - started) / 1000).toFixed(0)} s`)
}

function benchFiles() {
  const files = readdirSync(BENCH_DIR).filter((f) => f.endsWith('.bench.mjs'))
  const rank = (f) => {
    const i = ORDER.indexOf(f.replace('.bench.mjs', ''))
    return i < 0 ? ORDER.length : i
  }
  return files
    .sort((a, b) => rank(a) - rank(b) || a.localeCompare(b))
    .filter((f) => !only || only.some((o) => f.includes(o)))
}

function runBench(file) {
  return new Promise((resolve) => {
    const rows = []
    const started = Date.now()
    const child = spawn(process.execPath, ['--expose-gc', path.join(BENCH_DIR, file)], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, BENCH_UNDER_RUNNER: '1', BENCH_QUICK: quick ? '1' : '0' },
    })
    createInterface({ input: child.stdout }).on('line', (line) => {
      if (line.startsWith(ROW_PREFIX)) rows.push(JSON.parse(line.slice(ROW_PREFIX.length)))
      else if (verbose) process.stderr.write(`  ${line}\n`)
    })
    let stderr = ''
    child.stderr.on('data', (d) => {
      stderr += d
      if (verbose) process.stderr.write(d)
    })
    child.on('exit', (code) => {
      const seconds = (Date.now() - started) / 1000
      if (code !== 0) {
        log(`${file} FAILED (exit ${code}) after ${seconds.toFixed(0)} s:\n${stderr.slice(-2000)}`)
        rows.push({ section: file, name: `${file} failed (exit ${code})`, kind: 'figure', unit: '', median: NaN, min: NaN, max: NaN, runs: 0, failed: true })
      } else {
        log(`${file}: ${rows.length} rows in ${seconds.toFixed(0)} s`)
      }
      resolve(rows)
    })
  })
}

function table(rows) {
  const out = []
  let section = null
  // One block per section, in order of first appearance (a bench file may alternate sections).
  const order = [...new Set(rows.map((row) => row.section))]
  const grouped = order.flatMap((name) => rows.filter((row) => row.section === name))
  for (const row of grouped) {
    if (row.section !== section) {
      section = row.section
      out.push('', `**${section}**`, '', '| measurement | median | min–max | runs | target | met |', '|---|--:|--:|--:|:-:|:-:|')
    }
    const met = isMet(row)
    const range = row.runs > 1 ? `${formatValue(row.min, row.unit)} – ${formatValue(row.max, row.unit)}` : '—'
    const name = row.note ? `${row.name} (${row.note})` : row.name
    out.push(`| ${name} | ${row.failed ? 'FAILED' : formatValue(row.median, row.unit)} | ${range} | ${row.runs} | ${row.target?.text ?? ''} | ${met === undefined ? '' : met ? 'met' : '**not met**'} |`)
  }
  return out.join('\n').trim()
}

function environment(loadStart) {
  const cpu = cpus()
  return [
    `Run ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC${quick ? ' (--quick)' : ''}: ${cpu.length} × ${cpu[0]?.model ?? 'CPU'}, Node ${process.version},`,
    `load average at start ${loadStart.map((l) => l.toFixed(1)).join(' / ')} (the machine is shared; figures are medians of alternating runs).`,
    ...notes,
  ].join('\n')
}

const startedAt = Date.now()
const loadStart = loadavg()
if (!flag('--no-setup')) setup()
const rows = []
for (const file of benchFiles()) {
  log(`running ${file}`)
  rows.push(...(await runBench(file)))
}
const markdown = `${environment(loadStart)}\n\n${table(rows)}\n`
process.stdout.write(`\n${markdown}\n`)
const results = path.join(BENCH_DIR, 'results')
mkdirSync(results, { recursive: true })
writeFileSync(path.join(results, 'last.json'), `${JSON.stringify({ at: new Date().toISOString(), quick, rows }, null, 2)}\n`)
writeFileSync(path.join(results, 'last.md'), markdown)
if (flag('--update-readme')) {
  const readme = path.join(BENCH_DIR, 'README.md')
  const text = readFileSync(readme, 'utf8')
  const start = '<!-- bench-table:start -->'
  const end = '<!-- bench-table:end -->'
  const a = text.indexOf(start)
  const b = text.indexOf(end)
  if (a < 0 || b < a) throw new Error(`${readme} lacks the ${start} / ${end} markers`)
  writeFileSync(readme, `${text.slice(0, a + start.length)}\n${markdown}\n${text.slice(b)}`)
  log('bench/README.md updated')
}
const missed = rows.filter((r) => isMet(r) === false).length
const failed = rows.filter((r) => r.failed).length
log(`done in ${((Date.now() - startedAt) / 1000).toFixed(0)} s: ${rows.filter((r) => r.target).length} targets, ${missed} not met, ${failed} bench files failed`)
process.exitCode = failed ? 1 : 0
