// `eka-webhook doctor` on fixture projects made in temp dirs: each known trap is reported with
// what to change, a clean project passes, and the exit status says which.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { ROOT } from './support/python.mjs'
import { installPublishedCopy } from './support/package-copy.mjs'

const require = createRequire(import.meta.url)
const { diagnose } = require('../lib/cli/doctor.js')
const { explainLoadFailure } = require('../lib/cli/native-check.js')

const CLI = path.join(ROOT, 'bin', 'eka-webhook.js')
const SDK = '@eka-care/webhook-sdk'
const SDK_VERSION = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')).version

/**
 * A project in a temp dir with `files` (path → text); `sdk`: 'linked' (this repository, whose
 * addon is built), 'copied' (the published files only, so no addon) or 'none'.
 */
function project(t, files, { sdk = 'linked', dependencies = {} } = {}) {
  const dir = mkdtempSync(path.join(tmpdir(), 'eka-doctor-'))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  const manifest = { name: 'fixture', private: true, dependencies: { [SDK]: `^${SDK_VERSION}`, ...dependencies } }
  writeFileSync(path.join(dir, 'package.json'), JSON.stringify(manifest))
  for (const [file, text] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, file)), { recursive: true })
    writeFileSync(path.join(dir, file), text)
  }
  if (sdk === 'linked') {
    const installed = path.join(dir, 'node_modules', ...SDK.split('/'))
    mkdirSync(path.dirname(installed), { recursive: true })
    symlinkSync(ROOT, installed)
  }
  // The addon is not among the published files: it comes in a platform package.
  if (sdk === 'copied') installPublishedCopy(dir)
  return dir
}

function doctor(dir, ...flags) {
  const run = spawnSync(process.execPath, [CLI, 'doctor', dir, ...flags], { encoding: 'utf8', timeout: 60_000 })
  return { status: run.status, stdout: run.stdout, stderr: run.stderr }
}

/** The findings as JSON, and the exit status. */
function doctorJson(dir) {
  const run = doctor(dir, '--json')
  assert.equal(run.stderr, '')
  return { status: run.status, findings: JSON.parse(run.stdout).findings }
}

function only(findings, level) {
  return findings.filter((item) => item.level === level)
}

const EXPRESS_APP = (before, route = "app.post('/webhooks/eka', sdk.expressMiddleware())") => `
import express from 'express'
import { WebhookSDK } from '${SDK}'

const sdk = new WebhookSDK({ clientId: 'id', clientSecret: 'secret' })
const app = express()
${before}
${route}
app.listen(3000)
`

const GOOD_NEXT_CONFIG = `export default { serverExternalPackages: ['${SDK}'] }\n`
const APP_ROUTE = `import { WebhookSDK } from '${SDK}'\nexport const POST = new WebhookSDK({ clientId: 'i', clientSecret: 's' }).fetchHandler()\n`

test('a clean Next.js project: every check passes, exit 0, and the report says so', (t) => {
  const dir = project(t, { 'next.config.mjs': GOOD_NEXT_CONFIG, 'app/api/eka-webhook/route.ts': APP_ROUTE }, { dependencies: { next: '15.2.0' } })
  const run = doctor(dir)
  assert.equal(run.status, 0, run.stdout + run.stderr)
  assert.match(run.stdout, new RegExp(`^eka-webhook doctor: ${dir}\n`))
  assert.match(run.stdout, /✓ Node\.js \d+\.\d+\.\d+ \(18 or newer\)/)
  assert.match(run.stdout, /✓ the native addon of @eka-care\/webhook-sdk \S+ loads here \(linux-x64-gnu\)/)
  assert.match(run.stdout, /✓ Next\.js 15\.2\.0: next\.config\.mjs lists the SDK in serverExternalPackages/)
  assert.match(run.stdout, /\nNo problems found\.\n$/)
  assert.doesNotMatch(run.stdout, /✗|^!/m)
})

test('Next.js without serverExternalPackages, with the old experimental name, or with no config at all', (t) => {
  const missing = project(t, { 'next.config.mjs': 'export default { reactStrictMode: true }\n' }, { dependencies: { next: '^15.1.0' } })
  let { status, findings } = doctorJson(missing)
  assert.equal(status, 1)
  assert.deepEqual(only(findings, 'problem').map((f) => f.title), ['Next.js ^15.1.0: next.config.mjs does not list the SDK in serverExternalPackages'])
  assert.equal(only(findings, 'problem')[0].fix, `add serverExternalPackages: ['${SDK}'] to next.config.mjs`)

  const oldName = `module.exports = {\n  experimental: {\n    serverComponentsExternalPackages: ['${SDK}'],\n  },\n}\n`
  const renamed = project(t, { 'next.config.js': oldName }, { dependencies: { next: '16.0.0' } })
  ;({ status, findings } = doctorJson(renamed))
  assert.equal(status, 1)
  const [rename] = only(findings, 'problem')
  assert.match(rename.title, /next\.config\.js uses experimental\.serverComponentsExternalPackages, the Next\.js 13\/14 name/)
  assert.equal(rename.line, 3)
  assert.equal(rename.fix, `move the entry to serverExternalPackages: ['${SDK}']`)

  // On Next.js 14 the old name is the right one.
  const next14 = project(t, { 'next.config.js': oldName }, { dependencies: { next: '14.2.3' } })
  assert.equal(doctorJson(next14).status, 0)

  const noConfig = project(t, {}, { dependencies: { next: '15.0.0' } })
  ;({ status, findings } = doctorJson(noConfig))
  assert.equal(status, 1)
  assert.equal(only(findings, 'problem')[0].fix, `create next.config.mjs with serverExternalPackages: ['${SDK}']`)
})

test('a route on the Edge runtime that reaches the SDK (directly or through a local module), and middleware', (t) => {
  const dir = project(
    t,
    {
      'next.config.mjs': GOOD_NEXT_CONFIG,
      'lib/eka.ts': `import { WebhookSDK } from '${SDK}'\nexport const sdk = new WebhookSDK({ clientId: 'i', clientSecret: 's' })\n`,
      'app/api/hook/route.ts': "import { sdk } from '../../../lib/eka'\n\nexport const runtime = 'edge'\nexport const POST = sdk.fetchHandler()\n",
      'pages/api/old.js': `const { WebhookSDK } = require('${SDK}')\nexport const config = { runtime: "experimental-edge" }\n`,
      // Edge, but without the SDK: not a problem of ours.
      'app/api/other/route.ts': "export const runtime = 'edge'\nexport function GET() { return new Response('ok') }\n",
      // The word in a comment is not a declaration.
      'app/api/fine/route.ts': `// export const runtime = 'edge'\n${APP_ROUTE}`,
      'src/middleware.ts': "import { sdk } from '../lib/eka'\nexport function middleware() {}\n",
    },
    { dependencies: { next: '15.3.0' } },
  )
  const { status, findings } = doctorJson(dir)
  assert.equal(status, 1)
  const problems = only(findings, 'problem').sort((a, b) => a.file.localeCompare(b.file))
  assert.deepEqual(
    problems.map((f) => [f.file, f.line, f.title]),
    [
      ['app/api/hook/route.ts', 3, 'app/api/hook/route.ts runs on the Edge runtime and uses the SDK'],
      ['pages/api/old.js', 2, 'pages/api/old.js runs on the Edge runtime and uses the SDK'],
      ['src/middleware.ts', undefined, 'src/middleware.ts is Next.js middleware and uses the SDK'],
    ],
  )
  assert.equal(problems[0].fix, "use export const runtime = 'nodejs' (the default)")
})

test('express.json() mounted before the webhook route: a smaller limit is a problem, a large one a warning', (t) => {
  const small = project(t, { 'server.mjs': EXPRESS_APP('app.use(express.json())') })
  let run = doctor(small)
  assert.equal(run.status, 1)
  assert.match(run.stdout, /✗ server\.mjs:7: express\.json\(\) parses every request before the webhook route, with a limit of 100 KiB\n/)
  assert.match(run.stdout, /why: webhooks over 100 KiB get 413 from the parser, below the SDK's 1 MiB/)
  assert.match(run.stdout, /fix: mount the webhook route before app\.use\(express\.json\(\)\) .*, or raise the parser's limit to at least 1 MiB/)
  assert.match(run.stdout, /\n1 problem found\.\n$/)

  const bodyParser = project(t, {
    'src/app.cjs': EXPRESS_APP("app.use(bodyParser.json({ limit: '512kb' }))", "app.post('/hook', sdk.expressMiddleware({ limit: 2_097_152 }))"),
  })
  const [parser] = only(doctorJson(bodyParser).findings, 'problem')
  assert.match(parser.title, /^src\/app\.cjs:7: bodyParser\.json\(\) parses .* with a limit of 512 KiB$/)
  assert.match(parser.why, /below the SDK's 2 MiB/)

  const large = project(t, { 'server.mjs': EXPRESS_APP("app.use(express.json({ limit: '5mb' }))") })
  let result = doctorJson(large)
  assert.equal(result.status, 0)
  assert.deepEqual(only(result.findings, 'warning').map((f) => f.title), ['server.mjs:7: express.json() parses every request before the webhook route'])

  const unknownLimit = project(t, { 'server.mjs': EXPRESS_APP('app.use(express.json({ limit: process.env.LIMIT }))') })
  result = doctorJson(unknownLimit)
  assert.equal(result.status, 0)
  assert.match(only(result.findings, 'warning')[0].title, /with a limit this check cannot read$/)

  // The route first, the parser after it: nothing to report.
  const routeFirst = project(t, { 'server.mjs': EXPRESS_APP("app.post('/hook', sdk.expressMiddleware())", 'app.use(express.json())') })
  result = doctorJson(routeFirst)
  assert.equal(result.status, 0)
  assert.deepEqual(result.findings.filter((f) => f.level !== 'ok'), [])
})

test('Node older than 18: the running one, .nvmrc and a Dockerfile', (t) => {
  const dir = project(t, { '.nvmrc': 'v16.20.2\n', Dockerfile: 'FROM node:22 AS build\nRUN npm ci\nFROM node:16-alpine\nCMD ["node", "server.js"]\n' })
  const { status, findings } = doctorJson(dir)
  assert.equal(status, 1)
  assert.deepEqual(
    only(findings, 'problem').map((f) => [f.title, f.line]),
    [
      ['.nvmrc pins Node.js v16.20.2', undefined],
      ['Dockerfile builds on node:16-alpine', 3],
    ],
  )
  const old = diagnose(dir, { nodeVersion: '16.20.2' }).find((f) => f.title.startsWith('Node.js 16.20.2'))
  assert.equal(old.level, 'problem')
  assert.equal(old.title, 'Node.js 16.20.2 is older than 18')
  assert.match(old.fix, /install Node\.js 18 or newer/)
})

test('an addon that cannot load: the platform package npm skipped, a binary for another platform', (t) => {
  const skipped = project(t, {}, { sdk: 'copied' })
  let { status, findings } = doctorJson(skipped)
  assert.equal(status, 1)
  let [problem] = only(findings, 'problem')
  assert.equal(problem.title, `the native addon of ${SDK} cannot load here`)
  assert.match(problem.why, /the platform package @eka-care\/webhook-sdk-linux-x64-gnu is not installed .*npm\/cli#4828/)
  assert.equal(problem.fix, `npm install @eka-care/webhook-sdk-linux-x64-gnu@${SDK_VERSION}`)
  assert.equal(problem.detail, "Cannot find module '@eka-care/webhook-sdk-linux-x64-gnu'")

  const foreign = project(t, {}, { sdk: 'copied' })
  const platformPackage = path.join(foreign, 'node_modules', '@eka-care', 'webhook-sdk-linux-x64-gnu')
  mkdirSync(platformPackage, { recursive: true })
  const addon = 'eka-webhook-sdk.linux-x64-gnu.node'
  writeFileSync(path.join(platformPackage, 'package.json'), JSON.stringify({ name: `${SDK}-linux-x64-gnu`, version: SDK_VERSION, main: addon }))
  // The first bytes of a Mach-O binary: what node_modules copied from a Mac holds.
  writeFileSync(path.join(platformPackage, addon), Buffer.from([0xcf, 0xfa, 0xed, 0xfe, 7, 0, 0, 1, ...Buffer.alloc(64)]))
  ;({ status, findings } = doctorJson(foreign))
  assert.equal(status, 1)
  ;[problem] = only(findings, 'problem')
  assert.match(problem.why, /^an installed binary was built for another platform than this one \(linux-x64-gnu\)/)
  assert.match(problem.fix, /npm ci/)
  assert.match(problem.detail, /invalid ELF header|file too short/)

  const absent = project(t, {}, { sdk: 'none' })
  ;({ status, findings } = doctorJson(absent))
  assert.equal(status, 1)
  assert.deepEqual(only(findings, 'problem').map((f) => [f.title, f.fix]), [[`${SDK} is not installed in this project`, `npm install ${SDK}`]])
})

test('why a load failed: an old glibc, a platform with no binary (the loader messages as napi gives them)', () => {
  const context = { host: 'linux-x64-gnu', supported: ['linux-x64-gnu'], packageName: SDK, version: '1.2.3', glibc: '2.31' }
  const glibc = explainLoadFailure(
    [
      'Cannot find native binding. npm has a bug related to optional dependencies',
      "/lib/x86_64-linux-gnu/libc.so.6: version `GLIBC_2.33' not found (required by /app/node_modules/@eka-care/webhook-sdk-linux-x64-gnu/eka-webhook-sdk.linux-x64-gnu.node)",
    ],
    context,
  )
  assert.equal(glibc.why, 'the binary needs glibc 2.33 but this system has 2.31')
  const alpine = explainLoadFailure(["Cannot find module '@eka-care/webhook-sdk-linux-arm64-musl'"], { ...context, host: 'linux-arm64-musl' })
  assert.equal(alpine.why, 'no prebuilt binary for this platform (linux-arm64-musl); this version ships linux-x64-gnu')
})

test('usage: a missing directory and unknown options exit 2; --help exits 0', (t) => {
  const missing = doctor(path.join(tmpdir(), 'eka-doctor-does-not-exist'))
  assert.equal(missing.status, 2)
  assert.match(missing.stderr, /is not a directory\n\nUsage: eka-webhook doctor \[dir\] \[--json\]/)
  const dir = project(t, {})
  const bogus = doctor(dir, '--frobnicate')
  assert.equal(bogus.status, 2)
  assert.match(bogus.stderr, /unknown option --frobnicate/)
  const help = spawnSync(process.execPath, [CLI, 'doctor', '--help'], { encoding: 'utf8' })
  assert.equal(help.status, 0)
  assert.match(help.stdout, /Exit status: 0 no problems/)
})
