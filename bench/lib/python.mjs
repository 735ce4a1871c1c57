// A long-lived Python process running the reference SDK (bench/py/worker.py), driven one JSON
// command at a time so Node and Python batches can alternate in the same run.
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { createInterface } from 'node:readline'
import path from 'node:path'
import { ROOT } from './paths.mjs'

export const PYTHON = path.join(ROOT, '.venv', 'bin', 'python')

export function pythonAvailable() {
  return existsSync(PYTHON)
}

export function startPythonWorker() {
  if (!pythonAvailable()) throw new Error(`${PYTHON} is missing: run scripts/setup-venv.sh (npm run bench does it)`)
  const child = spawn(PYTHON, [path.join(ROOT, 'bench', 'py', 'worker.py')], { stdio: ['pipe', 'pipe', 'inherit'] })
  const lines = createInterface({ input: child.stdout })
  const waiting = []
  lines.on('line', (line) => waiting.shift()?.resolve(line))
  child.on('exit', (code) => {
    for (const w of waiting.splice(0)) w.reject(new Error(`python worker exited (${code})`))
  })
  return {
    async call(command) {
      const line = await new Promise((resolve, reject) => {
        waiting.push({ resolve, reject })
        child.stdin.write(`${JSON.stringify(command)}\n`)
      })
      const answer = JSON.parse(line)
      if (answer.error) throw new Error(`python ${command.op}: ${answer.error}`)
      return answer
    },
    async close() {
      if (child.exitCode !== null) return
      child.stdin.write('{"op":"exit"}\n')
      await new Promise((resolve) => {
        const timer = setTimeout(() => { child.kill('SIGKILL'); resolve() }, 3000)
        child.once('exit', () => { clearTimeout(timer); resolve() })
      })
    },
  }
}
