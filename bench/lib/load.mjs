// HTTP load generation in a separate process: wrk (C, from Debian's `wrk` package) when it is
// installed, else autocannon (npm, a devDependency). bench/run.mjs installs wrk when it can.
import { execFileSync, spawn } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { ROOT } from './paths.mjs'

export function loadGenerator() {
  if (process.env.BENCH_LOADGEN === 'autocannon') return 'autocannon'
  try {
    execFileSync('wrk', ['--version'], { stdio: 'ignore' })
    return 'wrk'
  } catch (error) {
    // `wrk --version` exits 1 after printing its version.
    return error.code === 'ENOENT' ? 'autocannon' : 'wrk'
  }
}

function run(command, args) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    let err = ''
    child.stdout.on('data', (d) => { out += d })
    child.stderr.on('data', (d) => { err += d })
    child.on('error', reject)
    child.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`${command} exited ${code}: ${err || out}`))))
  })
}

const UNIT_MS = { us: 0.001, ms: 1, s: 1000, m: 60000 }

function wrkDuration(text) {
  const m = /^([\d.]+)(us|ms|s|m)$/.exec(text)
  if (!m) throw new Error(`cannot read wrk duration ${text}`)
  return Number(m[1]) * UNIT_MS[m[2]]
}

function luaString(s) {
  return `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`
}

/**
 * POSTs `body` with `headers` to `url` for `seconds` over `connections` keep-alive connections.
 * Returns `{ requestsPerSecond, p50Ms, p99Ms, requests, errors, non2xx }`.
 */
export async function blast(tool, { url, body, headers, connections, seconds }) {
  if (tool === 'wrk') {
    const dir = mkdtempSync(path.join(tmpdir(), 'eka-bench-'))
    const script = path.join(dir, 'post.lua')
    const lines = ['wrk.method = "POST"', `wrk.body = ${luaString(body)}`]
    for (const [name, value] of Object.entries({ 'content-type': 'application/json', ...headers })) {
      lines.push(`wrk.headers[${luaString(name)}] = ${luaString(value)}`)
    }
    writeFileSync(script, `${lines.join('\n')}\n`)
    const out = await run('wrk', ['-t1', `-c${connections}`, `-d${seconds}s`, '--latency', '--timeout', '5s', '-s', script, url])
    const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1])
    const p50 = /^\s+50%\s+(\S+)/m.exec(out)?.[1]
    const p99 = /^\s+99%\s+(\S+)/m.exec(out)?.[1]
    const requests = Number(/(\d+) requests in/.exec(out)?.[1])
    const non2xx = Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(out)?.[1] ?? 0)
    const socketErrors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out)
    const errors = socketErrors ? socketErrors.slice(1).reduce((a, b) => a + Number(b), 0) : 0
    if (!Number.isFinite(rps) || !p50 || !p99) throw new Error(`cannot read wrk output:\n${out}`)
    return { requestsPerSecond: rps, p50Ms: wrkDuration(p50), p99Ms: wrkDuration(p99), requests, errors, non2xx }
  }
  const cli = path.join(ROOT, 'node_modules', 'autocannon', 'autocannon.js')
  const args = [cli, '--json', '-c', String(connections), '-d', String(seconds), '-m', 'POST', '-b', body, '-H', 'content-type=application/json']
  for (const [name, value] of Object.entries(headers)) args.push('-H', `${name}=${value}`)
  args.push(url)
  const result = JSON.parse(await run(process.execPath, args))
  return {
    requestsPerSecond: result.requests.average,
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    requests: result.requests.total,
    errors: result.errors + result.timeouts,
    non2xx: result.non2xx,
  }
}
