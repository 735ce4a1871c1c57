// A server under test in its own process: bench/servers/<kind>.mjs prints its port on stdout.
import { spawn } from 'node:child_process'
import { createInterface } from 'node:readline'
import path from 'node:path'
import { ROOT } from './paths.mjs'

export async function startServerProcess(kind) {
  const child = spawn(process.execPath, [path.join(ROOT, 'bench', 'servers', `${kind}.mjs`)], { stdio: ['ignore', 'pipe', 'inherit'] })
  const port = await new Promise((resolve, reject) => {
    createInterface({ input: child.stdout }).once('line', (line) => resolve(Number(line)))
    child.once('exit', (code) => reject(new Error(`${kind} server exited (${code})`)))
  })
  return {
    port,
    async close() {
      if (child.exitCode !== null) return
      child.kill('SIGTERM')
      await new Promise((resolve) => {
        const timer = setTimeout(() => { child.kill('SIGKILL'); resolve() }, 3000)
        child.once('exit', () => { clearTimeout(timer); resolve() })
      })
    },
  }
}
