// The package as users get it: the platform package made with napi's own commands from the built
// addon, optionalDependencies added as `npm publish` adds them, both packages packed with `npm pack`, installed from the tarballs into a fresh Express
// app outside the repository with no Rust toolchain on PATH, then used from CommonJS, ESM and
// TypeScript, and receiving a signed webhook.
//
// Needs the addon built first (`npm run build`): it packs what is built.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { accessSync, constants, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { delimiter, join } from 'node:path'
import { execFileSync } from 'node:child_process'
import { tmpdir } from 'node:os'
import { fileURLToPath } from 'node:url'
import { createRequire } from 'node:module'
import { APPOINTMENT_CREATED, SIGNING_KEY, assertAccepted, postWebhook } from './support/webhooks.mjs'
import { run, runOk, startProcess } from './support/processes.mjs'

const require = createRequire(import.meta.url)
const { startSimulator } = require('../simulator/index.js')

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const NAPI = join(ROOT, 'node_modules', '.bin', 'napi')
const TSC = join(ROOT, 'node_modules', '.bin', 'tsc')
const PKG = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'))
const TARGET = 'x86_64-unknown-linux-gnu'
const PLATFORM = 'linux-x64-gnu'
const PLATFORM_PACKAGE = `${PKG.napi.packageName}-${PLATFORM}`
const ADDON = `${PKG.napi.binaryName}.${PLATFORM}.node`

/** PATH without any directory holding cargo or rustc: the install must not need Rust. */
function pathWithoutRust() {
  const hasRust = (dir) =>
    ['cargo', 'rustc'].some((tool) => {
      try {
        accessSync(join(dir, tool), constants.X_OK)
        return true
      } catch {
        return false
      }
    })
  return (process.env.PATH ?? '').split(delimiter).filter((dir) => dir && !hasRust(dir)).join(delimiter)
}

/** `npm pack <dir>` into `destination`; returns the tarball path and the packed file names. */
async function npmPack(dir, destination) {
  const output = await runOk('npm', ['pack', dir, '--json', '--pack-destination', destination], { cwd: destination })
  const [packed] = JSON.parse(output.slice(output.indexOf('[')))
  return { tarball: join(destination, packed.filename), files: packed.files.map((file) => file.path) }
}

/**
 * Both packages as a release publishes them, made in a staging copy so nothing is written into the
 * repository: the main package's packed files, with `napi.targets` narrowed to the one target built
 * here; `napi create-npm-dirs` and `napi artifacts` put the built addon into its platform package,
 * and `napi pre-publish` (the `prepublishOnly` script, here without publishing) adds that package
 * to optionalDependencies. Returns the staged main package and platform package folders.
 */
async function stageRelease(work) {
  const builtAddon = join(ROOT, ADDON)
  assert.ok(existsSync(builtAddon), `${builtAddon} is missing: run \`npm run build\` first`)
  const checkout = await npmPack(ROOT, work)
  await runOk('tar', ['-xzf', checkout.tarball, '-C', work])
  const stage = join(work, 'package')
  const manifest = { ...PKG, napi: { ...PKG.napi, targets: [TARGET] } }
  writeFileSync(join(stage, 'package.json'), JSON.stringify(manifest, null, 2))
  mkdirSync(join(stage, 'artifacts'))
  copyFileSync(builtAddon, join(stage, 'artifacts', ADDON))
  await runOk(NAPI, ['create-npm-dirs'], { cwd: stage })
  await runOk(NAPI, ['artifacts', '--output-dir', 'artifacts'], { cwd: stage })
  await runOk(NAPI, ['pre-publish', '--tag-style', 'npm', '--skip-optional-publish', '--no-gh-release'], { cwd: stage })
  return { mainDir: stage, platformDir: join(stage, 'npm', PLATFORM) }
}

/** The npm/ folders `napi create-npm-dirs` makes from package.json, in a scratch folder. */
async function generatedNpmDirs(work) {
  const dir = join(work, 'npm-dirs')
  mkdirSync(dir)
  copyFileSync(join(ROOT, 'package.json'), join(dir, 'package.json'))
  await runOk(NAPI, ['create-npm-dirs'], { cwd: dir })
  return join(dir, 'npm')
}

/** What the fresh app installs besides the two tarballs: the frameworks it uses and their types. */
const APP_DEPENDENCIES = ['express@5', 'fastify@5', '@types/express@5', '@types/node@20']

const TYPES_CHECK = `import { WebhookSDK, generateSignatureHeader, verifySignature, SUPPORTED_EVENTS } from '@eka-care/webhook-sdk'
import type { WebhookEvent } from '@eka-care/webhook-sdk'
import { ekaWebhookRoute } from '@eka-care/webhook-sdk/fastify'
import express from 'express'
import Fastify from 'fastify'

const sdk = new WebhookSDK({
  clientId: 'id',
  clientSecret: 'secret',
  signingKey: ['current', 'previous'],
  onEvent: (event: WebhookEvent) => console.log(event.type, event.payload),
})
const header: string = generateSignatureHeader({ event: 'appointment.created' }, 'current')
const verdict: { valid: boolean; reason?: string } = verifySignature('{}', header, 'current')
const first: string = SUPPORTED_EVENTS[0]
const onFetch: (request: Request) => Promise<Response> = sdk.fetchHandler({ limit: 1024 })
async function statusOf(body: string): Promise<number> {
  const result = await sdk.handleRequest(body, { 'eka-webhook-signature': header })
  return result.status
}
express().post('/eka', sdk.expressMiddleware({ limit: 1024 }))
Fastify().register(ekaWebhookRoute(sdk, { path: '/eka' }))
// @ts-expect-error clientSecret is required: the types are real, not any
new WebhookSDK({ clientId: 'id' })
void [verdict, first, onFetch, statusOf]
`

test('packaging: both packages install from tarballs into a fresh Express app without Rust and work', { timeout: 300_000 }, async (t) => {
  assert.equal(PKG.optionalDependencies, undefined, 'the checkout names no platform package, so `npm ci` works')
  const work = mkdtempSync(join(tmpdir(), 'eka-webhook-packaging-'))
  t.after(() => rmSync(work, { recursive: true, force: true }))

  const generatedNpm = await generatedNpmDirs(work)
  const platforms = readdirSync(generatedNpm).sort()
  assert.equal(platforms.length, PKG.napi.targets.length, `one npm/ folder per napi target: ${platforms}`)
  assert.deepEqual(readdirSync(join(ROOT, 'npm')).sort(), platforms, 'npm/ has exactly the folders of napi.targets')
  for (const platform of platforms) {
    for (const file of ['package.json', 'README.md']) {
      assert.equal(
        readFileSync(join(ROOT, 'npm', platform, file), 'utf8'),
        readFileSync(join(generatedNpm, platform, file), 'utf8'),
        `npm/${platform}/${file} is stale: run \`npx napi create-npm-dirs\``,
      )
    }
  }

  const { mainDir, platformDir } = await stageRelease(work)
  const published = JSON.parse(readFileSync(join(mainDir, 'package.json'), 'utf8'))
  assert.deepEqual(
    published.optionalDependencies,
    { [PLATFORM_PACKAGE]: PKG.version },
    'napi pre-publish lists the platform package at the same version in the published manifest',
  )
  const generated = JSON.parse(readFileSync(join(platformDir, 'package.json'), 'utf8'))
  assert.equal(generated.name, PLATFORM_PACKAGE)
  assert.equal(generated.main, ADDON)

  const packs = join(work, 'packs')
  mkdirSync(packs)
  const platform = await npmPack(platformDir, packs)
  assert.ok(platform.files.includes(ADDON), `the platform tarball has the addon: ${platform.files}`)
  const main = await npmPack(mainDir, packs)
  assert.deepEqual(main.files.filter((file) => file.endsWith('.node')), [], 'the main tarball ships no addon')
  for (const entry of [PKG.main, 'binding.js', 'lib/index.mjs', 'lib/adapters/fastify.js', PKG.types]) {
    assert.ok(main.files.includes(entry), `the main tarball has ${entry} (package.json points to it)`)
  }

  const app = join(work, 'app')
  mkdirSync(app)
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'eka-webhook-consumer', private: true }))
  const env = { ...process.env, PATH: pathWithoutRust() }
  for (const name of Object.keys(env)) if (name.startsWith('EKA_') || name.startsWith('NAPI_RS_')) delete env[name]
  assert.notEqual((await run('sh', ['-c', 'command -v cargo || command -v rustc'], { env })).code, 0)
  await runOk(
    'npm',
    ['install', '--no-audit', '--no-fund', '--prefer-offline', main.tarball, platform.tarball, ...APP_DEPENDENCIES],
    { cwd: app, env, timeoutMs: 150_000 },
  )

  const loadedFrom = await runOk(
    process.execPath,
    [
      '-e',
      `const sdk = require('@eka-care/webhook-sdk')
       if (typeof sdk.WebhookSDK !== 'function') throw new Error('no WebhookSDK')
       console.log(Object.keys(require.cache).filter((file) => file.endsWith('.node')).join(','))`,
    ],
    { cwd: app, env },
  )
  assert.equal(loadedFrom.trim(), join(app, 'node_modules', PLATFORM_PACKAGE, ADDON))

  const esm = await runOk(
    process.execPath,
    [
      '--input-type=module',
      '-e',
      `import { WebhookSDK, generateSignatureHeader } from '@eka-care/webhook-sdk'
       import { ekaWebhookRoute } from '@eka-care/webhook-sdk/fastify'
       console.log(typeof WebhookSDK, typeof ekaWebhookRoute, generateSignatureHeader('{}', 'k', 1))`,
    ],
    { cwd: app, env },
  )
  assert.match(esm.trim(), /^function function t=1,v1=[0-9a-f]{64}$/)

  writeFileSync(join(app, 'check.ts'), TYPES_CHECK)
  await runOk(TSC, ['--noEmit', '--strict', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--types', 'node', 'check.ts'], {
    cwd: app,
    env,
  })

  copyFileSync(join(ROOT, 'examples', 'express.mjs'), join(app, 'server.mjs'))
  const sim = await startSimulator()
  t.after(() => sim.close())
  const server = await startProcess(t, process.execPath, ['server.mjs'], {
    cwd: app,
    env: {
      ...env,
      PORT: '0',
      EKA_CLIENT_ID: 'demo-client',
      EKA_CLIENT_SECRET: 'demo-secret',
      EKA_SIGNING_KEY: SIGNING_KEY,
      EKA_API_BASE_URL: sim.url,
    },
    ready: /Listening on (http:\S+)/,
  })
  const res = await postWebhook(server.match[1], APPOINTMENT_CREATED)
  assert.equal(res.status, 200, res.text)
  assertAccepted(assert, res.json)
})

test('install scripts: allowScripts pins exact versions, and npm finds no install script unapproved at its locked version', () => {
  const keys = Object.keys(PKG.allowScripts)
  assert.ok(keys.length > 0)
  for (const key of keys) assert.match(key, /^(@[^/@]+\/)?[^/@]+@\d+\.\d+\.\d+$/, `${key}: a pin is name@exact-version`)
  // npm's own check (what bootstrap's `npm rebuild --strict-allow-scripts` enforces): it refuses a
  // pin it cannot verify against the lock file's resolved URL, or whose version is not the locked one.
  const stdout = execFileSync('npm', ['install-scripts', 'ls', '--json'], { cwd: ROOT, encoding: 'utf8' })
  assert.deepEqual(JSON.parse(stdout).allowScripts, [], stdout)
})
