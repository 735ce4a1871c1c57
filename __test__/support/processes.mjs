// Child processes for tests: run to completion, or start a server and wait for its ready line.
// Every child is started in its own process group, so stopping it also stops what it spawned.
import { spawn } from 'node:child_process'

/**
 * Starts `command` and resolves once its output matches `ready` (the match is returned); rejects
 * when it exits first or `timeoutMs` passes. `t.after` stops the process group in any case.
 */
export async function startProcess(t, command, args, { ready, timeoutMs = 30_000, ...options }) {
  const child = spawn(command, args, { ...options, detached: true, stdio: ['ignore', 'pipe', 'pipe'] })
  const exited = new Promise((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }))
    child.once('error', (error) => resolve({ code: null, signal: null, error }))
  })
  t.after(() => stopProcess(child, exited))
  let output = ''
  const match = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${command} not ready after ${timeoutMs} ms:\n${output}`)), timeoutMs)
    const onData = (chunk) => {
      output += chunk
      const found = ready.exec(output)
      if (found) {
        clearTimeout(timer)
        resolve(found)
      }
    }
    child.stdout.setEncoding('utf8').on('data', onData)
    child.stderr.setEncoding('utf8').on('data', onData)
    exited.then(({ code, signal, error }) => {
      clearTimeout(timer)
      reject(new Error(`${command} exited (${error?.message ?? signal ?? code}) before it was ready:\n${output}`))
    })
  })
  return { child, match, exited, output: () => output }
}

/** SIGTERM to the group, SIGKILL after `graceMs`; resolves with how the leader exited. */
export async function stopProcess(child, exited, graceMs = 5_000) {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return exited
  signalGroup(child, 'SIGTERM')
  const timer = setTimeout(() => signalGroup(child, 'SIGKILL'), graceMs)
  const result = await exited
  clearTimeout(timer)
  return result
}

function signalGroup(child, signal) {
  try {
    process.kill(-child.pid, signal)
  } catch (error) {
    if (error.code !== 'ESRCH') throw error
  }
}

/** Runs `command` to completion within `timeoutMs`; resolves `{ code, output }`. */
export function run(command, args, { timeoutMs = 120_000, ...options } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { ...options, detached: true, stdio: ['ignore', 'pipe', 'pipe'] })
    let output = ''
    child.stdout.setEncoding('utf8').on('data', (chunk) => (output += chunk))
    child.stderr.setEncoding('utf8').on('data', (chunk) => (output += chunk))
    const timer = setTimeout(() => {
      signalGroup(child, 'SIGKILL')
      reject(new Error(`${command} ${args.join(' ')} timed out after ${timeoutMs} ms:\n${output}`))
    }, timeoutMs)
    child.once('error', reject)
    child.once('exit', (code) => {
      clearTimeout(timer)
      resolve({ code, output })
    })
  })
}

/** Like `run`, but rejects with the output unless the command exits 0. */
export async function runOk(command, args, options) {
  const result = await run(command, args, options)
  if (result.code !== 0) throw new Error(`${command} ${args.join(' ')} exited ${result.code}:\n${result.output}`)
  return result.output
}
