// The Eka Care API simulator in its own process (so its CPU and memory are not charged to the
// contender being measured), with a global latency per request and, optionally, `bulk`
// appointments created up front (ids `<prefix>0` … , as the simulator's addAppointments makes).
import { spawn } from 'node:child_process'
import { createInterface } from 'node:readline'
import path from 'node:path'
import { ROOT } from './paths.mjs'

const WITH_BULK = `
const { startSimulator } = require(process.env.SIMULATOR)
startSimulator({ latencyMs: Number(process.env.LATENCY_MS) }).then((sim) => {
  const ids = sim.addAppointments(Number(process.env.BULK), {}, { prefix: process.env.PREFIX })
  console.log(sim.url + ' ' + ids.length)
  process.once('SIGTERM', () => sim.close().then(() => process.exit(0)))
})
`

export async function startSimulatorProcess({ latencyMs = 0, bulk = 0, prefix = 'bulk-' } = {}) {
  const args = bulk
    ? ['-e', WITH_BULK]
    : [path.join(ROOT, 'simulator', 'cli.js'), '--port', '0', '--latency', String(latencyMs)]
  const env = { ...process.env, SIMULATOR: path.join(ROOT, 'simulator', 'index.js'), LATENCY_MS: String(latencyMs), BULK: String(bulk), PREFIX: prefix }
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'], env })
  const url = await new Promise((resolve, reject) => {
    const lines = createInterface({ input: child.stdout })
    lines.once('line', (line) => {
      const match = /(http:\/\/\S+)/.exec(line)
      if (match) resolve(match[1])
      else reject(new Error(`simulator said: ${line}`))
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
