'use strict'
// The project's own source files as `eka-webhook doctor` reads them: comments blanked (lines kept,
// so positions still give line numbers), and which files reach the SDK through their local
// imports. A text scan, not a compiler: it finds the usual forms and says when it cannot tell.

const fs = require('node:fs')
const path = require('node:path')

const SDK_PACKAGE = '@eka-care/webhook-sdk'
const SOURCE_EXTENSIONS = ['.ts', '.tsx', '.mts', '.cts', '.js', '.jsx', '.mjs', '.cjs']
const SKIPPED_DIRECTORIES = new Set(['node_modules', '.git', '.next', 'dist', 'build', 'out', 'coverage', '.turbo', '.vercel'])
const MAX_FILES = 5000
const MAX_FILE_BYTES = 1024 * 1024

/** Every source file under `root` (relative path → text without comments), skipping build output. */
function collectSources(root) {
  const sources = new Map()
  const pending = [root]
  while (pending.length > 0 && sources.size < MAX_FILES) {
    const dir = pending.pop()
    let entries
    try {
      entries = fs.readdirSync(dir, { withFileTypes: true })
    } catch {
      continue
    }
    for (const entry of entries) {
      const full = path.join(dir, entry.name)
      if (entry.isDirectory()) {
        if (!SKIPPED_DIRECTORIES.has(entry.name)) pending.push(full)
      } else if (entry.isFile() && SOURCE_EXTENSIONS.includes(path.extname(entry.name))) {
        const text = readSmallFile(full)
        if (text !== null) sources.set(relative(root, full), withoutComments(text))
      }
    }
  }
  return sources
}

function readSmallFile(file) {
  try {
    if (fs.statSync(file).size > MAX_FILE_BYTES) return null
    return fs.readFileSync(file, 'utf8')
  } catch {
    return null
  }
}

/** A project-relative path with forward slashes, as printed. */
function relative(root, file) {
  return path.relative(root, file).split(path.sep).join('/')
}

/**
 * `text` with every comment replaced by spaces (newlines kept). Strings and template literals are
 * skipped over so that `//` inside a URL is not taken for a comment; a regular expression literal
 * containing a quote can confuse it, which costs at most a missed finding.
 */
function withoutComments(text) {
  let out = ''
  let i = 0
  while (i < text.length) {
    const c = text[i]
    const next = text[i + 1]
    if (c === '/' && next === '/') {
      const end = text.indexOf('\n', i)
      const stop = end === -1 ? text.length : end
      out += ' '.repeat(stop - i)
      i = stop
    } else if (c === '/' && next === '*') {
      const end = text.indexOf('*/', i + 2)
      const stop = end === -1 ? text.length : end + 2
      out += text.slice(i, stop).replace(/[^\n]/g, ' ')
      i = stop
    } else if (c === '"' || c === "'" || c === '`') {
      let j = i + 1
      while (j < text.length && text[j] !== c && !(c !== '`' && text[j] === '\n')) j += text[j] === '\\' ? 2 : 1
      out += text.slice(i, j + 1)
      i = j + 1
    } else {
      out += c
      i++
    }
  }
  return out
}

/** The 1-based line of offset `index` in `text`. */
function lineAt(text, index) {
  let line = 1
  for (let i = text.indexOf('\n'); i !== -1 && i < index; i = text.indexOf('\n', i + 1)) line++
  return line
}

const IMPORT_SPECIFIER = /(?:\bfrom\s*|\bimport\s*\(\s*|\brequire\s*\(\s*|^\s*import\s+)(['"])([^'"\n]+)\1/gm

/** The module specifiers `text` imports or requires. */
function importsOf(text) {
  return [...text.matchAll(IMPORT_SPECIFIER)].map((match) => match[2])
}

/**
 * A predicate: does this source file import the SDK, directly or through the project's own
 * modules (relative imports)? Bare imports of other packages and path aliases are not followed.
 */
function sdkReachability(sources) {
  const known = new Map()
  function reaches(file, visiting = new Set()) {
    if (known.has(file)) return known.get(file)
    if (visiting.has(file) || !sources.has(file)) return false
    visiting.add(file)
    const found = importsOf(sources.get(file)).some((specifier) => {
      if (specifier === SDK_PACKAGE || specifier.startsWith(`${SDK_PACKAGE}/`)) return true
      if (!specifier.startsWith('.')) return false
      const target = resolveLocal(sources, file, specifier)
      return target !== null && reaches(target, visiting)
    })
    known.set(file, found)
    return found
  }
  return (file) => reaches(file)
}

/** A relative import as one of the collected files (the extension and `/index` may be left out). */
function resolveLocal(sources, fromFile, specifier) {
  const base = path.posix.normalize(path.posix.join(path.posix.dirname(fromFile), specifier))
  const stem = base.replace(/\.(?:m|c)?js$/, '')
  const candidates = [base, ...SOURCE_EXTENSIONS.map((ext) => stem + ext), ...SOURCE_EXTENSIONS.map((ext) => `${base}/index${ext}`)]
  return candidates.find((candidate) => sources.has(candidate)) ?? null
}

module.exports = { SDK_PACKAGE, collectSources, withoutComments, lineAt, sdkReachability }
