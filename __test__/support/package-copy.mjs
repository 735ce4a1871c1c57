// The package as npm would install it from its tarball: package.json and the "files" it lists,
// with its runtime dependencies beside it (linked from this repository's node_modules).
import { cpSync, mkdirSync, readFileSync, symlinkSync } from 'node:fs'
import path from 'node:path'
import { ROOT } from './python.mjs'

/** Installs the copy in `projectDir`/node_modules/@eka-care/webhook-sdk; returns that path. */
export function installPublishedCopy(projectDir) {
  const modules = path.join(projectDir, 'node_modules')
  const installed = path.join(modules, '@eka-care', 'webhook-sdk')
  const manifest = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8'))
  for (const entry of ['package.json', ...manifest.files]) cpSync(path.join(ROOT, entry), path.join(installed, entry), { recursive: true })
  for (const dependency of Object.keys(manifest.dependencies ?? {})) {
    mkdirSync(path.dirname(path.join(modules, dependency)), { recursive: true })
    symlinkSync(path.join(ROOT, 'node_modules', dependency), path.join(modules, dependency))
  }
  return installed
}
