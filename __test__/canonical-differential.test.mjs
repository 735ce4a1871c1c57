// Differential test of the Rust canonicaliser against V8: random JS values are signed over
// Node's own JSON.stringify, then handed to the SDK as the object and as re-formatted bytes
// (pretty-printed with keys in written order), which only verify if Rust reproduces
// JSON.stringify exactly.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createHmac } from 'node:crypto'
import { verifySignature } from './support/sdk.mjs'

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

function headerFor(text, t = 1700000000) {
  return `t=${t},v1=${createHmac('sha256', KEY).update(`${t}.${text}`).digest('hex')}`
}

test(`${COUNT} random values: object and re-formatted bytes verify against V8's JSON.stringify`, () => {
  const next = rng(20261130)
  let reformattedDiffered = 0
  for (let i = 0; i < COUNT; i++) {
    const value = { event: 'prescription.created', data: randomValue(next, 1 + Math.floor(next() * 6)) }
    const canonical = JSON.stringify(value)
    const header = headerFor(canonical)
    const asObject = verifySignature(value, header, KEY)
    assert.equal(asObject.valid, true, `object #${i}: ${canonical}`)
    const bytes = reformat(JSON.parse(canonical), next)
    assert.deepEqual(JSON.parse(bytes), JSON.parse(canonical), `reformat #${i} must parse back to the same value`)
    if (bytes !== canonical) reformattedDiffered++
    const asBytes = verifySignature(Buffer.from(bytes), header, KEY)
    assert.equal(asBytes.valid, true, `bytes #${i}: ${bytes}\nexpected canonical: ${canonical}`)
    assert.equal(verifySignature(bytes, header, KEY).valid, true, `string #${i}`)
  }
  assert.ok(reformattedDiffered > COUNT * 0.9, 'the re-formatted bytes really differ from the canonical text')
})

test('deep nesting up to the limit verifies; beyond it is rejected, not a crash', () => {
  const deep = (n) => '['.repeat(n) + ']'.repeat(n)
  const ok = `{"event":"x","d":${deep(990)}}`
  assert.equal(verifySignature(ok.replace(/,/g, ' , '), headerFor(ok), KEY).valid, true)
  const tooDeep = `{"event":"x","d":${deep(100000)}}`
  assert.equal(verifySignature(tooDeep + ' ', headerFor(tooDeep), KEY).valid, false)
})

test('a fixed corpus of edge cases', () => {
  const corpus = [
    '{"b":1,"a":2,"1":3,"0":4}',
    '{"a":1,"a":2}',
    '{"__proto__":{"x":1}}',
    '{"n":[1.0,1e21,1E-7,-0,0.1,100e-2,1e400]}',
    '{"s":"\\u00e9\\ud83d\\ude00\\ud800\\u001f\\/"}',
    '{"4294967295":1,"4294967294":2,"01":3,"1":4}',
    '{"nested":{"z":{"y":[{"x":null}]}}}',
    '{"big":123456789012345678901234567890}',
  ]
  for (const text of corpus) {
    const canonical = JSON.stringify(JSON.parse(text))
    const pretty = text.replace(/([{[,:])/g, '$1 \n ')
    assert.equal(verifySignature(pretty, headerFor(canonical), KEY).valid, true, text)
    assert.equal(verifySignature(JSON.parse(text), headerFor(canonical), KEY).valid, true, text)
  }
})
