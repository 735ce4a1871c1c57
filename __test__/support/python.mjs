// Runs the reference Python SDK from the project's venv (made by scripts/setup-venv.sh).
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import path from 'node:path'

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..')
export const PYTHON = path.join(ROOT, '.venv', 'bin', 'python')

/** Runs `__test__/py/<script>` with `input` as JSON on stdin and returns its parsed JSON output. */
export function runPython(script, input, env = {}) {
  if (!existsSync(PYTHON)) throw new Error(`${PYTHON} is missing: run scripts/setup-venv.sh first`)
  const result = spawnSync(PYTHON, [path.join(ROOT, '__test__', 'py', script)], {
    input: JSON.stringify(input),
    encoding: 'utf8',
    timeout: 60_000,
    env: { ...process.env, ...env },
  })
  if (result.status !== 0) throw new Error(`${script} failed (${result.status}): ${result.stderr}`)
  return JSON.parse(result.stdout)
}
