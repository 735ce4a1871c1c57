// Differential test of the Rust canonicaliser (crates/eka-webhook-core/src/canonical_json.rs,
// used by the standalone server, the one door without V8) against V8: random JS values are
// signed over Node's own JSON.stringify, then POSTed to the server as re-formatted bytes
// (pretty-printed with keys in written order), which only verify if Rust reproduces
// JSON.stringify exactly. The JS doors' fallback (verifySignature, handleRequest) canonicalises
// with V8 itself; it is checked on the same values.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import http from 'node:http'
import { createHmac } from 'node:crypto'
import { WebhookSDK, verifySignature, CLIENT } from './support/sdk.mjs'

const KEY = 'differential-key'
const COUNT = 10_000

/** A small deterministic PRNG (mulberry32) so a failure is reproducible from its seed. */
function rng(seed) {
  return () => {
    seed |= 0
    seed = (seed + 0x6d2b79f5) | 0
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const SPECIAL_NUMBERS = [0, -0, 1, -1, 0.1 + 0.2, 1e21, 1e-7, 5e-324, 1.7976931348623157e308, 2 ** 53 + 1, 123456789012345680000, -1e-300, 1e300, 4294967295, 0.000001, 1.5e-9]
const SPECIAL_STRINGS = ['', '"', '\\', '\b\f\n\r\t', '\u0000\u001f\u007f', '\u2028\u2029', 'é', '😀', '\ud800', '\udfff', 'a\udc00b', '\ud83d', '</script>', '__proto__', 'constructor']
const KEYS = ['a', 'b', 'z', '0', '1', '10', '2', '01', '-1', '1.0', '4294967294', '4294967295', '__proto__', 'toJSON', '', ' ', 'é', '😀', 'key"q']

function randomString(next) {
  if (next() < 0.3) return SPECIAL_STRINGS[Math.floor(next() * SPECIAL_STRINGS.length)]
  let s = ''
  const length = Math.floor(next() * 12)
  for (let i = 0; i < length; i++) {
    const r = next()
    if (r < 0.6) s += String.fromCharCode(32 + Math.floor(next() * 95))
    else if (r < 0.75) s += String.fromCharCode(Math.floor(next() * 32))
    else if (r < 0.9) s += String.fromCharCode(0x80 + Math.floor(next() * 0xff00))
    else s += String.fromCodePoint(0x10000 + Math.floor(next() * 0xfffff))
  }
  return s
}

function randomNumber(next) {
  const r = next()
  if (r < 0.3) return SPECIAL_NUMBERS[Math.floor(next() * SPECIAL_NUMBERS.length)]
  if (r < 0.6) return Math.floor((next() - 0.5) * 1e6)
  if (r < 0.8) return (next() - 0.5) * 10 ** Math.floor(next() * 40 - 20)
  return next() * 1e22
}

function randomValue(next, depth) {
  const r = next()
  if (depth > 0 && r < 0.25) {
    const object = {}
    const size = Math.floor(next() * 6)
    for (let i = 0; i < size; i++) {
      const key = next() < 0.6 ? KEYS[Math.floor(next() * KEYS.length)] : randomString(next)
      // Own data property even for '__proto__', as JSON.parse would create it.
      Object.defineProperty(object, key, { value: randomValue(next, depth - 1), enumerable: true, writable: true, configurable: true })
    }
    return object
  }
  if (depth > 0 && r < 0.4) return Array.from({ length: Math.floor(next() * 5) }, () => randomValue(next, depth - 1))
  if (r < 0.6) return randomString(next)
  if (r < 0.85) return randomNumber(next)
  if (r < 0.92) return next() < 0.5
  return null
}

/** Pretty-prints with random whitespace and numbers in alternative spellings; keys as written. */
function reformat(value, next, indent = '') {
  const ws = () => [' ', '\n', '\t', '\r\n', '  ', ''][Math.floor(next() * 6)]
  if (Array.isArray(value)) {
    return `[${ws()}${value.map((v) => reformat(v, next, indent + ' ')).join(`${ws()},${ws()}`)}${ws()}]`
  }
  if (value !== null && typeof value === 'object') {
    const members = Object.keys(value).map((k) => `${ws()}${JSON.stringify(k)}${ws()}:${ws()}${reformat(value[k], next, indent + ' ')}`)
    return `{${members.join(',')}${ws()}}`
  }
  if (typeof value === 'number' && Number.isFinite(value) && next() < 0.5) {
    const alternatives = [value.toExponential(), value.toPrecision(17), Number.isInteger(value) && Math.abs(value) < 1e15 ? `${value}.0` : String(value)]
    const spelled = alternatives[Math.floor(next() * alternatives.length)].replace('e+', next() < 0.5 ? 'E+' : 'e')
    if (Number(spelled) === value || (Object.is(value, -0) && Number(spelled) === 0)) return spelled
  }
  return JSON.stringify(value) ?? 'null'
}

function headerFor(text, t = Math.floor(Date.now() / 1000)) {
  return `t=${t},v1=${createHmac('sha256', KEY).update(`${t}.${text}`).digest('hex')}`
}

// prescription.created is not enriched: the server answers without the Eka Care API.
let sdk
let server
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 })
before(() => {
  sdk = new WebhookSDK({ ...CLIENT, signingKey: KEY, apiBaseUrl: 'http://127.0.0.1:9' })
  server = sdk.listen(0)
})
after(async () => {
  agent.destroy()
  await sdk.close()
})

/** The server's answer to `bytes` signed as `header`: its status and error. */
function post(bytes, header) {
  return new Promise((resolve, reject) => {
    const headers = { 'eka-webhook-signature': header, 'content-length': Buffer.byteLength(bytes) }
    const req = http.request({ host: '127.0.0.1', port: server.port, method: 'POST', path: '/', headers, agent }, (res) => {
      const chunks = []
      res.on('data', (c) => chunks.push(c))
      res.on('end', () => resolve({ status: res.statusCode, error: JSON.parse(Buffer.concat(chunks)).error }))
    })
    req.on('error', reject)
    req.end(bytes)
  })
}

/**
 * Texts serde_json refuses have no canonical form in Rust and are verified as their raw bytes
 * only (README, "Signatures"): an escaped lone surrogate — JSON.stringify writes one for every
 * lone surrogate — and a number beyond f64.
 */
const hasLoneSurrogate = (canonical) => /\\ud[89a-f][0-9a-f]{2}/.test(canonical)

test(`${COUNT} random values: re-formatted bytes verify on the server against V8's JSON.stringify`, async () => {
  const next = rng(20261130)
  let reformattedDiffered = 0
  let rawOnly = 0
  for (let i = 0; i < COUNT; i++) {
    const value = { event: 'prescription.created', data: randomValue(next, 1 + Math.floor(next() * 6)) }
    const canonical = JSON.stringify(value)
    const header = headerFor(canonical)
    const bytes = reformat(JSON.parse(canonical), next)
    assert.deepEqual(JSON.parse(bytes), JSON.parse(canonical), `reformat #${i} must parse back to the same value`)
    if (bytes !== canonical) reformattedDiffered++
    const answer = await post(Buffer.from(bytes), header)
    if (bytes !== canonical && hasLoneSurrogate(canonical)) {
      rawOnly++
      assert.deepEqual(answer, { status: 403, error: 'Invalid signature' }, `#${i}: raw bytes only`)
    } else {
      assert.equal(answer.status, 200, `bytes #${i}: ${bytes}\nexpected canonical: ${canonical}\n${answer.error}`)
    }
    // The JS doors: V8 canonicalises, the object is its own canonical form.
    if (i % 10 === 0) {
      assert.equal(verifySignature(value, header, KEY).valid, true, `object #${i}`)
      assert.equal(verifySignature(Buffer.from(bytes), header, KEY).valid, true, `Buffer #${i}`)
      assert.equal(verifySignature(bytes, header, KEY).valid, true, `string #${i}`)
    }
  }
  assert.ok(reformattedDiffered > COUNT * 0.9, 'the re-formatted bytes really differ from the canonical text')
  assert.ok(rawOnly < COUNT * 0.2, `most values are canonicalised (${rawOnly} raw only)`)
})

test('deep nesting: canonical form to serde_json\'s 128 levels, raw bytes to the limit, 1001 refused', async () => {
  const deep = (n) => '['.repeat(n) + ']'.repeat(n)
  const body = (n) => `{"event":"prescription.created","d":${deep(n)}}`
  const spaced = (text) => text.replace(/,/g, ' , ')
  assert.equal((await post(spaced(body(120)), headerFor(body(120)))).status, 200)
  assert.deepEqual(await post(spaced(body(200)), headerFor(body(200))), { status: 403, error: 'Invalid signature' })
  // The object itself is one level.
  assert.equal((await post(body(999), headerFor(body(999)))).status, 200)
  assert.deepEqual(await post(body(1000), headerFor(body(1000))), { status: 400, error: 'JSON body is nested too deeply' })
  // The JS doors canonicalise with V8 at any depth it stringifies.
  assert.equal(verifySignature(spaced(body(990)), headerFor(body(990)), KEY).valid, true)
  const tooDeep = body(100000)
  assert.equal(verifySignature(tooDeep + ' ', headerFor(tooDeep), KEY).valid, false)
})

test('a fixed corpus of edge cases', async () => {
  const corpus = [
    ['{"b":1,"a":2,"1":3,"0":4}', 200],
    ['{"a":1,"a":2}', 200],
    ['{"__proto__":{"x":1}}', 200],
    ['{"n":[1.0,1e21,1E-7,-0,0.1,100e-2]}', 200],
    ['{"s":"\\u00e9\\ud83d\\ude00\\u001f\\/"}', 200],
    ['{"4294967295":1,"4294967294":2,"01":3,"1":4}', 200],
    ['{"nested":{"z":{"y":[{"x":null}]}}}', 200],
    ['{"big":123456789012345678901234567890}', 200],
    // serde_json refuses these: raw bytes only.
    ['{"s":"\\ud800"}', 403],
    ['{"n":1e400}', 403],
  ]
  for (const [data, status] of corpus) {
    const text = `{"event":"prescription.created","data":${data}}`
    const canonical = JSON.stringify(JSON.parse(text))
    const pretty = text.replace(/([{[,:])/g, '$1 \n ')
    assert.equal((await post(pretty, headerFor(canonical))).status, status, text)
    assert.equal((await post(canonical, headerFor(canonical))).status, 200, `${text} as signed`)
    assert.equal(verifySignature(pretty, headerFor(canonical), KEY).valid, true, text)
    assert.equal(verifySignature(JSON.parse(text), headerFor(canonical), KEY).valid, true, text)
  }
})
