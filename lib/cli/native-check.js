'use strict'
// Whether the project's installed SDK can load its native addon here, and if not, why: the
// platform package npm skipped, a platform with no prebuilt binary, a binary built for another
// platform, or a C library older than the binary needs. The load runs in a child process: a
// broken binary must not take the doctor down with it.

const path = require('node:path')
const { spawnSync } = require('node:child_process')

const ARCHES = { x86_64: 'x64', aarch64: 'arm64', i686: 'ia32', armv7: 'arm' }

/** napi's name for a Rust target triple, as in the platform packages' names: `linux-x64-gnu`. */
function platformOfTriple(triple) {
  const [arch] = triple.split('-')
  const npmArch = ARCHES[arch] ?? arch
  if (triple.includes('apple-darwin')) return `darwin-${npmArch}`
  if (triple.includes('windows')) return `win32-${npmArch}-msvc`
  if (triple.includes('linux')) return `linux-${npmArch}-${triple.slice(triple.lastIndexOf('-') + 1)}`
  return `${triple.split('-')[2] ?? triple}-${npmArch}`
}

/** The glibc version this Node runs on, or null on musl and other systems. */
function glibcVersion() {
  if (process.platform !== 'linux') return null
  return process.report?.getReport?.().header?.glibcVersionRuntime ?? null
}

/** This machine in napi's naming: `linux-x64-gnu`, `linux-arm64-musl`, `darwin-arm64`, … */
function hostPlatform() {
  if (process.platform === 'linux') return `linux-${process.arch}-${glibcVersion() === null ? 'musl' : 'gnu'}`
  if (process.platform === 'win32') return `win32-${process.arch}-msvc`
  return `${process.platform}-${process.arch}`
}

const LOAD_SCRIPT = `
const messages = []
try {
  require(process.argv[1])
  process.stdout.write(JSON.stringify({ loaded: true }))
} catch (error) {
  for (let e = error; e && messages.length < 20; e = e.cause) messages.push(String(e.message ?? e))
  process.stdout.write(JSON.stringify({ loaded: false, messages }))
}
`

/** Loads `<packageDir>/lib/native.js` in a child Node: `{ loaded, messages?, crashed? }`. */
function tryLoad(packageDir) {
  const child = spawnSync(process.execPath, ['-e', LOAD_SCRIPT, path.join(packageDir, 'lib', 'native.js')], {
    encoding: 'utf8',
    timeout: 60_000,
  })
  try {
    return JSON.parse(child.stdout)
  } catch {
    const how = child.signal ? `signal ${child.signal}` : `exit code ${child.status}`
    return { loaded: false, crashed: true, messages: [`the process loading it died (${how}) ${child.stderr.trim()}`.trim()] }
  }
}

/**
 * Why the load failed and what to do, from the loader's messages (outermost first, then each
 * attempt's): `{ why, fix, detail }`, `detail` being the message that shows it.
 */
function explainLoadFailure(messages, { host, supported, packageName, version, glibc }) {
  const platformPackage = `${packageName}-${host}`
  const showing = (pattern) => messages.find((message) => pattern.test(message))
  const glibcMessage = showing(/GLIBC_\d+\.\d+'? not found/)
  if (glibcMessage) {
    const needed = /GLIBC_(\d+\.\d+)/.exec(glibcMessage)[1]
    return {
      why: `the binary needs glibc ${needed} but this system has ${glibc ?? 'an older one'}`,
      fix: `upgrade ${packageName} to a release built for glibc 2.17, or run on a newer base image (e.g. node:22-bookworm)`,
      detail: glibcMessage,
    }
  }
  const foreign = showing(/invalid ELF header|wrong ELF class|not a valid Win32 application|not a mach-o file|file too short|Exec format error/i)
  if (foreign) {
    return {
      why: `an installed binary was built for another platform than this one (${host}), e.g. node_modules copied from another machine or image`,
      fix: 'run `npm ci` (or `npm install`) on this platform instead of copying node_modules',
      detail: foreign,
    }
  }
  const mismatch = showing(/version mismatch/i)
  if (mismatch) {
    return { why: `${platformPackage} is not the version ${packageName} ${version} expects`, fix: `npm install ${platformPackage}@${version}`, detail: mismatch }
  }
  if (!supported.includes(host)) {
    return {
      why: `no prebuilt binary for this platform (${host}); this version ships ${supported.join(', ')}`,
      fix: `run on one of those platforms, or build from source with a Rust toolchain (\`npx napi build --platform --release\` in ${packageName})`,
      detail: messages[0],
    }
  }
  const notInstalled = showing(new RegExp(`Cannot find module '${platformPackage.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}'`))
  if (notInstalled) {
    return {
      why:
        `the platform package ${platformPackage} is not installed (npm skips optional dependencies with ` +
        '--omit=optional, and when the lockfile was made on another platform: npm/cli#4828)',
      fix: `npm install ${platformPackage}@${version}`,
      detail: notInstalled.split('\n')[0],
    }
  }
  return {
    why: messages[messages.length - 1] ?? 'the loader gave no reason',
    fix: `reinstall ${packageName} (remove node_modules, then npm install)`,
    detail: messages[0],
  }
}

module.exports = { platformOfTriple, hostPlatform, glibcVersion, tryLoad, explainLoadFailure }
