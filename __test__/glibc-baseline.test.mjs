// The Linux glibc addon's baseline: the newest GLIBC_ symbol version it needs (objdump -T) is at
// most 2.17, which `npm run build` gets by linking with napi-rs's cross toolchain. The addon loading
// in an older userland is scripts/test-old-glibc.sh (a Debian 11 root, run by .ci/run).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const PKG = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'))
const ADDON = join(ROOT, `${PKG.napi.binaryName}.linux-x64-gnu.node`)
const BASELINE = [2, 17]

/** Every GLIBC_x.y[.z] version named in the addon's dynamic symbol table, as number arrays. */
function glibcVersionsNeeded(file) {
  const symbols = execFileSync('objdump', ['-T', file], { encoding: 'utf8', maxBuffer: 256 << 20 })
  return [...symbols.matchAll(/\bGLIBC_(\d+(?:\.\d+)+)\b/g)].map((match) => match[1].split('.').map(Number))
}

function compareVersions(a, b) {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const difference = (a[i] ?? 0) - (b[i] ?? 0)
    if (difference !== 0) return difference
  }
  return 0
}

test(`the linux-x64-gnu addon needs glibc ${BASELINE.join('.')} at most`, () => {
  const versions = glibcVersionsNeeded(ADDON).sort(compareVersions)
  assert.ok(versions.length > 0, `objdump -T lists no GLIBC_ symbol versions in ${ADDON}`)
  const newest = versions.at(-1)
  assert.ok(
    compareVersions(newest, BASELINE) <= 0,
    `${ADDON} needs GLIBC_${newest.join('.')}: build it with \`npm run build\` (napi-rs cross toolchain, glibc 2.17)`,
  )
})
