// index.d.ts checked by the real TypeScript compiler: correct usage type-checks under --strict,
// and every deliberate misuse is rejected on its own line.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, writeFileSync, readFileSync, symlinkSync, mkdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { ROOT } from './support/python.mjs'

const TSC = path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc')

/** Type-checks one file in a temp project where '@eka-care/webhook-sdk' resolves to this repo. */
function typecheck(file) {
  const dir = mkdtempSync(path.join(tmpdir(), 'eka-types-'))
  try {
    mkdirSync(path.join(dir, 'node_modules', '@eka-care'), { recursive: true })
    symlinkSync(ROOT, path.join(dir, 'node_modules', '@eka-care', 'webhook-sdk'))
    symlinkSync(path.join(ROOT, 'node_modules', '@types'), path.join(dir, 'node_modules', '@types'))
    writeFileSync(path.join(dir, 'main.ts'), readFileSync(path.join(ROOT, '__test__', 'types', file)))
    const args = [TSC, '--noEmit', '--strict', '--target', 'es2022', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--types', 'node', 'main.ts']
    const result = spawnSync(process.execPath, args, { cwd: dir, encoding: 'utf8', timeout: 120_000 })
    return { status: result.status, output: result.stdout + result.stderr }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

test('a file using every export type-checks with tsc --noEmit --strict', () => {
  const { status, output } = typecheck('usage.ts')
  assert.equal(status, 0, output)
})

test('each deliberate misuse is a type error on its own line', () => {
  const { status, output } = typecheck('misuse.ts')
  assert.notEqual(status, 0)
  const source = readFileSync(path.join(ROOT, '__test__', 'types', 'misuse.ts'), 'utf8').split('\n')
  const expected = source.flatMap((line, i) => (line.includes('// @error') ? [i + 1] : []))
  const reported = new Set([...output.matchAll(/main\.ts\((\d+),\d+\): error/g)].map((m) => Number(m[1])))
  for (const line of expected) assert.ok(reported.has(line), `line ${line} (${source[line - 1].trim()}) should be an error:\n${output}`)
  assert.equal(reported.size, expected.length, `only the marked lines error:\n${output}`)
})
