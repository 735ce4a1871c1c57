'use strict'
// `eka-webhook doctor [dir]`: checks a project for the known traps and says what to change.
// It uses nothing newer than Node 14.18 has, and loads the SDK's addon only in a child process, so
// it runs where the SDK cannot (an older Node, a missing binary).

const fs = require('node:fs')
const path = require('node:path')
const { SDK_PACKAGE, collectSources, lineAt, sdkReachability } = require('./source-scan')
const { platformOfTriple, hostPlatform, glibcVersion, tryLoad, explainLoadFailure } = require('./native-check')
const { DEFAULT_BODY_LIMIT } = require('../adapters/shared')

const MIN_NODE_MAJOR = 18
const NEXT_CONFIG_FILES = ['next.config.js', 'next.config.mjs', 'next.config.cjs', 'next.config.ts', 'next.config.mts']

/** One result: `problem` (it will break; exit 1), `warning` (it may, or it works less well), `ok`. */
function finding(level, title, details = {}) {
  return { level, title, ...details }
}

function readText(file) {
  try {
    return fs.readFileSync(file, 'utf8')
  } catch {
    return null
  }
}

function readJson(file) {
  try {
    return JSON.parse(readText(file))
  } catch {
    return null
  }
}

function majorOf(version) {
  const match = /(\d+)/.exec(String(version))
  return match ? Number(match[1]) : null
}

/** The checks, in the order they are printed. `nodeVersion` is the running Node's unless given. */
function diagnose(projectDir, { nodeVersion = process.versions.node } = {}) {
  const manifest = readJson(path.join(projectDir, 'package.json'))
  const dependencies = { ...manifest?.devDependencies, ...manifest?.dependencies }
  const sources = collectSources(projectDir)
  return [
    ...checkNode(projectDir, nodeVersion),
    ...checkBinary(projectDir, dependencies),
    ...(dependencies.next ? checkNextConfig(projectDir, dependencies.next) : []),
    ...checkEdgeRuntime(sources),
    ...checkExpressBodyParsers(sources),
  ]
}

function checkNode(projectDir, nodeVersion) {
  const findings = []
  const running = majorOf(nodeVersion)
  findings.push(
    running >= MIN_NODE_MAJOR
      ? finding('ok', `Node.js ${nodeVersion} (${MIN_NODE_MAJOR} or newer)`)
      : finding('problem', `Node.js ${nodeVersion} is older than ${MIN_NODE_MAJOR}`, {
          why: `${SDK_PACKAGE} needs Node.js ${MIN_NODE_MAJOR} or newer (Node-API 8, fetch, Web streams)`,
          fix: `install Node.js ${MIN_NODE_MAJOR} or newer (22 LTS recommended)`,
        }),
  )
  // What the project pins for its other environments.
  for (const file of ['.nvmrc', '.node-version']) {
    const text = readText(path.join(projectDir, file))
    const pinned = text === null ? null : majorOf(text.trim().replace(/^v/, ''))
    if (pinned !== null && pinned < MIN_NODE_MAJOR) {
      findings.push(finding('problem', `${file} pins Node.js ${text.trim()}`, { file, fix: `pin ${MIN_NODE_MAJOR} or newer in ${file}` }))
    }
  }
  for (const file of fs.existsSync(projectDir) ? fs.readdirSync(projectDir) : []) {
    if (!/^Dockerfile(\..+)?$|\.Dockerfile$/.test(file)) continue
    const text = readText(path.join(projectDir, file)) ?? ''
    for (const match of text.matchAll(/^\s*FROM\s+(?:--\S+\s+)*(?:\S+\/)?node:(\d+)\S*/gim)) {
      if (Number(match[1]) < MIN_NODE_MAJOR) {
        findings.push(
          finding('problem', `${file} builds on ${match[0].trim().replace(/^FROM\s+/i, '')}`, {
            file,
            line: lineAt(text, match.index + match[0].search(/\S/)),
            fix: `use a node:${MIN_NODE_MAJOR}+ image (e.g. node:22-bookworm-slim)`,
          }),
        )
      }
    }
  }
  return findings
}

/** The installed SDK as the project's own code resolves it, and whether its addon loads here. */
function checkBinary(projectDir, dependencies) {
  const packageDir = installedPackageDir(projectDir)
  if (packageDir === null) {
    return [
      finding(dependencies[SDK_PACKAGE] ? 'problem' : 'warning', `${SDK_PACKAGE} is not installed in this project`, {
        fix: `npm install ${SDK_PACKAGE}`,
      }),
    ]
  }
  const manifest = readJson(path.join(packageDir, 'package.json')) ?? {}
  const host = hostPlatform()
  const supported = (manifest.napi?.targets ?? []).map(platformOfTriple)
  const result = tryLoad(packageDir)
  if (result.loaded) return [finding('ok', `the native addon of ${SDK_PACKAGE} ${manifest.version} loads here (${host})`)]
  const { why, fix, detail } = explainLoadFailure(result.messages, {
    host,
    supported,
    packageName: manifest.name ?? SDK_PACKAGE,
    version: manifest.version,
    glibc: glibcVersion(),
  })
  return [finding('problem', `the native addon of ${SDK_PACKAGE} cannot load here`, { why, fix, detail })]
}

/** `node_modules/@eka-care/webhook-sdk` from `projectDir` up, as Node's resolution walks. */
function installedPackageDir(projectDir) {
  for (let dir = path.resolve(projectDir); ; dir = path.dirname(dir)) {
    const candidate = path.join(dir, 'node_modules', ...SDK_PACKAGE.split('/'))
    if (fs.existsSync(path.join(candidate, 'package.json'))) return candidate
    if (path.dirname(dir) === dir) return null
  }
}

/** Next.js must leave the SDK (a native addon) out of its server bundles. */
function checkNextConfig(projectDir, nextRange) {
  const installed = readJson(path.join(projectDir, 'node_modules', 'next', 'package.json'))
  const nextMajor = majorOf(installed?.version ?? nextRange)
  const modern = nextMajor === null || nextMajor >= 15
  const wanted = modern
    ? `serverExternalPackages: ['${SDK_PACKAGE}']`
    : `experimental: { serverComponentsExternalPackages: ['${SDK_PACKAGE}'] }`
  const file = NEXT_CONFIG_FILES.find((name) => fs.existsSync(path.join(projectDir, name)))
  const why = 'the SDK loads a native addon (.node), which Next.js cannot bundle; the build or the route fails'
  if (!file) {
    return [finding('problem', 'Next.js: no next.config file lists the SDK as a server external package', { why, fix: `create next.config.mjs with ${wanted}` })]
  }
  const text = readText(path.join(projectDir, file)) ?? ''
  const listedUnder = (key) => {
    const match = new RegExp(`\\b${key}\\s*:\\s*\\[([^\\]]*)\\]`).exec(text)
    if (!match) return null
    return { listed: match[1].includes(`'${SDK_PACKAGE}'`) || match[1].includes(`"${SDK_PACKAGE}"`), line: lineAt(text, match.index) }
  }
  const current = listedUnder('serverExternalPackages')
  const old = listedUnder('serverComponentsExternalPackages')
  const version = installed?.version ?? nextRange
  if (modern && current?.listed) return [finding('ok', `Next.js ${version}: ${file} lists the SDK in serverExternalPackages`)]
  if (!modern && (old?.listed || current?.listed)) return [finding('ok', `Next.js ${version}: ${file} lists the SDK as a server external package`)]
  if (modern && old?.listed) {
    return [
      finding('problem', `Next.js ${version}: ${file} uses experimental.serverComponentsExternalPackages, the Next.js 13/14 name`, {
        file,
        line: old.line,
        why: 'Next.js 15 renamed it to the top-level serverExternalPackages',
        fix: `move the entry to ${wanted}`,
      }),
    ]
  }
  return [
    finding('problem', `Next.js ${version}: ${file} does not list the SDK in ${modern ? 'serverExternalPackages' : 'serverComponentsExternalPackages'}`, {
      file,
      line: (current ?? old)?.line,
      why,
      fix: `add ${wanted} to ${file}`,
    }),
  ]
}

const EDGE_RUNTIME = /\bruntime\s*[:=]\s*(['"])(?:experimental-)?edge\1/
const NODE_RUNTIME = /\bruntime\s*[:=]\s*(['"])nodejs\1/
const MIDDLEWARE_FILE = /^(?:src\/)?middleware\.[cm]?[jt]sx?$/

/** A route or middleware that reaches the SDK but runs on the Edge runtime, where addons cannot load. */
function checkEdgeRuntime(sources) {
  const reachesSdk = sdkReachability(sources)
  const findings = []
  for (const [file, text] of sources) {
    if (!reachesSdk(file)) continue
    const edge = EDGE_RUNTIME.exec(text)
    if (edge) {
      findings.push(
        finding('problem', `${file} runs on the Edge runtime and uses the SDK`, {
          file,
          line: lineAt(text, edge.index),
          why: 'the Edge runtime cannot load native addons',
          fix: "use export const runtime = 'nodejs' (the default)",
        }),
      )
    } else if (MIDDLEWARE_FILE.test(file) && !NODE_RUNTIME.test(text)) {
      findings.push(
        finding('problem', `${file} is Next.js middleware and uses the SDK`, {
          file,
          why: 'middleware runs on the Edge runtime by default, which cannot load native addons',
          fix: "receive webhooks in a route (app/api/…/route.ts or pages/api/…), or set config.runtime = 'nodejs' (Next.js 15.5+)",
        }),
      )
    }
  }
  return findings
}

const GLOBAL_JSON_PARSER = /\.use\(\s*((?:express|bodyParser)\s*\.\s*json|json)\s*\(/g
const SDK_MIDDLEWARE = /\.expressMiddleware\s*\(/g

/**
 * `app.use(express.json())` before the webhook route parses every body first: the SDK then sees
 * only an object (the canonical check, not the exact bytes), and bodies over the parser's limit
 * (100kb by default, below the SDK's 1 MiB) are refused before the SDK sees them.
 */
function checkExpressBodyParsers(sources) {
  const findings = []
  for (const [file, text] of sources) {
    const routes = [...text.matchAll(SDK_MIDDLEWARE)]
    for (const parser of text.matchAll(GLOBAL_JSON_PARSER)) {
      const route = routes.find((candidate) => candidate.index > parser.index)
      if (!route) continue
      const ourLimit = optionLimit(argumentsAt(text, route.index + route[0].length)) ?? DEFAULT_BODY_LIMIT
      const options = argumentsAt(text, parser.index + parser[0].length)
      const theirLimit = /\blimit\s*:/.test(options) ? optionLimit(options) : parseBytes('100kb')
      const line = lineAt(text, parser.index)
      const fix = `mount the webhook route before app.use(${parser[1]}()) (the SDK then reads and verifies the raw bytes)`
      if (theirLimit === undefined) {
        findings.push(
          finding('warning', `${file}:${line}: ${parser[1]}() parses every request before the webhook route, with a limit this check cannot read`, {
            file,
            line,
            why: `bodies over that limit never reach the SDK (its own limit is ${formatBytes(ourLimit)}); the SDK checks only the canonical form`,
            fix,
          }),
        )
      } else if (theirLimit < ourLimit) {
        findings.push(
          finding('problem', `${file}:${line}: ${parser[1]}() parses every request before the webhook route, with a limit of ${formatBytes(theirLimit)}`, {
            file,
            line,
            why: `webhooks over ${formatBytes(theirLimit)} get 413 from the parser, below the SDK's ${formatBytes(ourLimit)}; and the SDK can check only the canonical form, not the bytes Eka Care signed`,
            fix: `${fix}, or raise the parser's limit to at least ${formatBytes(ourLimit)}`,
          }),
        )
      } else {
        findings.push(
          finding('warning', `${file}:${line}: ${parser[1]}() parses every request before the webhook route`, {
            file,
            line,
            why: 'the SDK can check only the canonical form of the parsed body, not the bytes Eka Care signed',
            fix,
          }),
        )
      }
    }
  }
  return findings
}

/** The text between the parentheses opened just before `start` (nested ones included). */
function argumentsAt(text, start) {
  let depth = 1
  for (let i = start; i < text.length; i++) {
    if (text[i] === '(') depth++
    else if (text[i] === ')' && --depth === 0) return text.slice(start, i)
  }
  return text.slice(start)
}

/** `{ limit: … }` in an options text, in bytes; null when absent, undefined when not a literal. */
function optionLimit(options) {
  const match = /\blimit\s*:\s*(?:(['"`])([^'"`]*)\1|([\d_.]+)(?=\s*[,}]))/.exec(options)
  if (!match) return /\blimit\s*:/.test(options) ? undefined : null
  return match[2] !== undefined ? parseBytes(match[2]) : Number(match[3].replace(/_/g, ''))
}

/** The `bytes` package's reading of a size ('100kb', '1mb', '512'), as body-parser uses it. */
function parseBytes(text) {
  const match = /^\s*(\d+(?:\.\d+)?)\s*(b|kb|mb|gb|tb|pb)?\s*$/i.exec(text)
  if (!match) return undefined
  const power = ['b', 'kb', 'mb', 'gb', 'tb', 'pb'].indexOf((match[2] ?? 'b').toLowerCase())
  return Math.floor(Number(match[1]) * 1024 ** power)
}

function formatBytes(bytes) {
  if (bytes % (1024 * 1024) === 0) return `${bytes / (1024 * 1024)} MiB`
  if (bytes % 1024 === 0) return `${bytes / 1024} KiB`
  return `${bytes} bytes`
}

const MARKS = { problem: '✗', warning: '!', ok: '✓' }

/** The report as printed: one block per finding, then a summary line. */
function formatReport(projectDir, findings) {
  const lines = [`eka-webhook doctor: ${projectDir}`, '']
  for (const item of findings) {
    lines.push(`${MARKS[item.level]} ${item.title}`)
    if (item.why) lines.push(`    why: ${item.why}`)
    if (item.detail && item.detail !== item.why) lines.push(`    error: ${item.detail}`)
    if (item.fix) lines.push(`    fix: ${item.fix}`)
  }
  const problems = findings.filter((item) => item.level === 'problem').length
  const warnings = findings.filter((item) => item.level === 'warning').length
  lines.push('', problems === 0 ? `No problems found${warnings ? ` (${warnings} warning${warnings > 1 ? 's' : ''})` : ''}.` : `${problems} problem${problems > 1 ? 's' : ''} found${warnings ? `, ${warnings} warning${warnings > 1 ? 's' : ''}` : ''}.`)
  return lines.join('\n')
}

const DOCTOR_USAGE = `Usage: eka-webhook doctor [dir] [--json]

Checks the project in dir (default: the current directory) for what keeps ${SDK_PACKAGE} from
working: Node.js older than ${MIN_NODE_MAJOR}, a native addon that cannot load here (and why), Next.js
without serverExternalPackages, a route on the Edge runtime, express.json() mounted before the
webhook route. Exit status: 0 no problems (warnings may be printed), 1 problems found, 2 usage.
`

/**
 * The command: parses its own arguments (no util.parseArgs, which Node < 18.3 lacks) and returns
 * the exit status.
 */
function runDoctor(args, { stdout = process.stdout, stderr = process.stderr } = {}) {
  const flags = args.filter((arg) => arg.startsWith('-'))
  const positionals = args.filter((arg) => !arg.startsWith('-'))
  if (flags.includes('--help') || flags.includes('-h')) {
    stdout.write(DOCTOR_USAGE)
    return 0
  }
  const unknown = flags.find((flag) => flag !== '--json')
  if (unknown || positionals.length > 1) {
    stderr.write(`eka-webhook doctor: ${unknown ? `unknown option ${unknown}` : 'give at most one directory'}\n\n${DOCTOR_USAGE}`)
    return 2
  }
  const projectDir = path.resolve(positionals[0] ?? '.')
  if (!fs.existsSync(projectDir) || !fs.statSync(projectDir).isDirectory()) {
    stderr.write(`eka-webhook doctor: ${projectDir} is not a directory\n\n${DOCTOR_USAGE}`)
    return 2
  }
  const findings = diagnose(projectDir)
  stdout.write(flags.includes('--json') ? `${JSON.stringify({ projectDir, findings }, null, 2)}\n` : `${formatReport(projectDir, findings)}\n`)
  return findings.some((item) => item.level === 'problem') ? 1 : 0
}

module.exports = { runDoctor, diagnose, parseBytes }
