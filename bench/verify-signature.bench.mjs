// 2. verifySignature alone, against the HMAC floor: one bare HMAC-SHA256 of the same bytes in
// node:crypto (`createHmac(...).update(t + '.').update(body).digest()`), in the same run.
import { createRequire } from 'node:module'
import { createHmac } from 'node:crypto'
import { emit, progress, summarize, QUICK } from './lib/report.mjs'
import { alternate, synchronous } from './lib/measure.mjs'
import { SIGNING_KEY, SIZES, T, signedBodies } from './lib/fixtures.mjs'

const require = createRequire(import.meta.url)
const { verifySignature } = require('../lib/index.js')

const SECTION = '2. verifySignature alone vs the HMAC floor (node:crypto HMAC-SHA256 of the same bytes)'

for (const size of SIZES) {
  const b = signedBodies(size.bytes)
  const header = b.headers['eka-webhook-signature']
  for (const body of [b.object, b.text, b.buffer]) {
    if (!verifySignature(body, header, SIGNING_KEY).valid) throw new Error('verifySignature rejected the bench payload')
  }
  const prefix = `${T}.`
  let sink = 0
  const contenders = [
    { name: 'verifySignature Buffer', run: synchronous(() => { sink += verifySignature(b.buffer, header, SIGNING_KEY).valid }) },
    { name: 'verifySignature string', run: synchronous(() => { sink += verifySignature(b.text, header, SIGNING_KEY).valid }) },
    { name: 'verifySignature object', run: synchronous(() => { sink += verifySignature(b.object, header, SIGNING_KEY).valid }) },
    { name: 'node:crypto HMAC (floor)', run: synchronous(() => { sink += createHmac('sha256', SIGNING_KEY).update(prefix).update(b.buffer).digest()[0] }) },
  ]
  progress(`verifySignature ${size.label}`)
  const ops = await alternate(contenders, QUICK ? {} : { runs: 15, batchMs: 100 })
  if (sink === 0.5) console.log(sink)
  for (const c of contenders) emit({ section: SECTION, name: `${c.name}, ${size.label}`, unit: 'ops/s', ...summarize(ops[c.name]) })
  for (const form of ['Buffer', 'string', 'object']) {
    // Time per verify over time per bare HMAC = floor ops/s over verify ops/s, run by run.
    const slowdown = summarize(ops['node:crypto HMAC (floor)'].map((floor, i) => floor / ops[`verifySignature ${form}`][i]))
    emit({
      section: SECTION,
      kind: 'ratio',
      name: `verifySignature ${form} time / HMAC time, ${size.label}`,
      unit: '×',
      ...slowdown,
      ...(form === 'Buffer' ? { target: { op: '<=', value: 2, text: '≤ 2×' } } : {}),
    })
  }
}
