// The Eka Care API simulator in its own process (so its CPU is not charged to the contender being
// measured), with a global latency per request.
import { spawn } from 'node:child_process'
import { createInterface } from 'node:readline'
import path from 'node:path'
import { ROOT } from './paths.mjs'

export async function startSimulatorProcess({ latencyMs = 0 } = {}) {
  const child = spawn(process.execPath, [path.join(ROOT, 'simulator', 'cli.js'), '--port', '0', '--latency', String(latencyMs)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  const url = await new Promise((resolve, reject) => {
    const lines = createInterface({ input: child.stdout })
    lines.once('line', (line) => {
      const match = /(http:\/\/\S+)/.exec(line)
      match ? resolve(match[1]) : reject(new Error(`simulator said: ${line}`))
    })
    child.once('exit', (code) => reject(new Error(`simulator exited (${code})`)))
  })
  return {
    url,
    async close() {
      if (child.exitCode !== null) return
      child.kill('SIGTERM')
      await new Promise((resolve) => child.once('exit', resolve))
    },
  }
}
