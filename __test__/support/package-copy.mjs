// The package as npm would unpack it from its tarball: package.json and the "files" it lists.
import { cpSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { ROOT } from './python.mjs'

/** Copies the published files into `projectDir`/node_modules/@eka-care/webhook-sdk; returns that. */
export function installPublishedCopy(projectDir) {
  const installed = path.join(projectDir, 'node_modules', '@eka-care', 'webhook-sdk')
  const published = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')).files
  for (const entry of ['package.json', ...published]) cpSync(path.join(ROOT, entry), path.join(installed, entry), { recursive: true })
  return installed
}
