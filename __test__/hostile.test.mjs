// Hostile input: nothing crashes the process, everything gets a clear status, memory stays flat.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import net from 'node:net'
import http from 'node:http'
import { setup, setupFor, signedHeaders, generateSignatureHeader, SIGNING_KEY } from './support/sdk.mjs'
import { connectTo } from './support/sockets.mjs'

const deepArray = (depth) => '['.repeat(depth) + ']'.repeat(depth)

function post(port, body, headers = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: '/', headers, agent: false }, (res) => {
      const chunks = []
      res.on('data', (c) => chunks.push(c))
      res.on('end', () => resolve({ status: res.statusCode, text: Buffer.concat(chunks).toString() }))
    })
    req.on('error', reject)
    if (typeof body === 'function') body(req)
    else req.end(body)
  })
}

test('JSON nested 100,000 deep as string, Buffer and object: 400, not a stack overflow', async (ctx) => {
  const t = await setupFor(ctx)
  const server = t.sdk.listen(0)
  const text = `{"event":"prescription.created","d":${deepArray(100_000)}}`
  for (const body of [text, Buffer.from(text)]) {
    const r = await t.sdk.handleRequest(body, {})
    assert.deepEqual([r.status, r.body], [400, { error: 'JSON body is nested too deeply' }])
  }
  let object = {}
  for (let i = 0; i < 100_000; i++) object = { a: object }
  const r = await t.sdk.handleRequest({ event: 'prescription.created', object }, {})
  assert.deepEqual([r.status, r.body], [400, { error: 'JSON body is nested too deeply' }])
  const viaServer = await post(server.port, text)
  assert.equal(viaServer.status, 400)
  assert.match(viaServer.text, /nested too deeply/)
})

test('invalid UTF-8, duplicate keys, __proto__ keys and huge numbers', async (ctx) => {
  const t = await setupFor(ctx)
  const invalid = Buffer.concat([Buffer.from('{"event":"prescription.created","x":"'), Buffer.from([0xc3, 0x28]), Buffer.from('"}')])
  assert.equal((await t.sdk.handleRequest(invalid, {})).status, 400)

  const duplicate = '{"event":"appointment.created","event":"prescription.created","data":{"a":1,"a":2}}'
  const dup = await t.sdk.handleRequest(duplicate, { 'eka-webhook-signature': generateSignatureHeader(duplicate, SIGNING_KEY) })
  assert.equal(dup.status, 200, 'the last duplicate wins, as in JSON.parse')
  assert.equal(dup.event.type, 'prescription.created')
  assert.deepEqual(dup.event.payload.data, { a: 2 })

  const proto = '{"event":"prescription.created","__proto__":{"polluted":true},"data":{"constructor":{"prototype":{"polluted":true}}}}'
  const p = await t.sdk.handleRequest(proto, { 'eka-webhook-signature': generateSignatureHeader(proto, SIGNING_KEY) })
  assert.equal(p.status, 200)
  assert.equal({}.polluted, undefined, 'no prototype pollution')
  assert.equal(Object.getPrototypeOf(p.event.payload), Object.prototype)
  assert.ok(Object.hasOwn(p.event.payload, '__proto__'), '__proto__ stays an own data property')

  const huge = '{"event":"prescription.created","n":1e400,"m":-1e400,"big":123456789012345678901234567890}'
  const canonical = JSON.stringify(JSON.parse(huge))
  const h = await t.sdk.handleRequest(huge, { 'eka-webhook-signature': generateSignatureHeader(canonical, SIGNING_KEY) })
  assert.equal(h.status, 200, 'verified through the canonical form: Infinity → null, as JSON.stringify writes it')
})

test('1 MiB+ and 100 MiB bodies to the server: 413, memory stays flat', async (ctx) => {
  const t = await setupFor(ctx)
  const server = t.sdk.listen(0)
  // The server answers 413 and drains the rest of the body for at most 16 MiB / 5 s before
  // closing: past that, a client still writing may see its write fail (EPIPE / ECONNRESET).
  const refused = (r) => r.status === 413 || r.status === 'EPIPE' || r.status === 'ECONNRESET'
  const justOver = Buffer.alloc(1024 * 1024 + 1, 0x20)
  const over = await post(server.port, justOver)
  assert.equal(over.status, 413, 'within the drain bound the client always reads the 413')
  const before = process.memoryUsage().rss
  for (let i = 0; i < 3; i++) {
    const r = await post(server.port, (req) => {
      // 100 MiB streamed in 1 MiB chunks without a Content-Length: the server must stop reading.
      const chunk = Buffer.alloc(1024 * 1024, 0x61)
      let sent = 0
      const pump = () => {
        while (sent < 100) {
          sent++
          if (!req.write(chunk)) return req.once('drain', pump)
        }
        req.end()
      }
      req.on('error', () => {})
      pump()
    }, { 'transfer-encoding': 'chunked' }).catch((e) => ({ status: e.code }))
    assert.ok(refused(r), `got ${r.status}`)
  }
  const grown = process.memoryUsage().rss - before
  assert.ok(grown < 64 * 1024 * 1024, `rss grew ${(grown / 1048576).toFixed(1)} MiB`)
})

test('repeated and 64 KiB signature headers', async (ctx) => {
  const t = await setupFor(ctx)
  const server = t.sdk.listen(0)
  const payload = { event: 'prescription.created' }
  const good = signedHeaders(payload)['eka-webhook-signature']
  const repeated = await t.sdk.handleRequest(payload, { 'eka-webhook-signature': [good, 't=1,v1=00'] })
  assert.equal(repeated.status, 200, 'an array uses its first value, as the Python SDK does')
  const huge = `t=1,v1=${'ab'.repeat(32 * 1024)}`
  const r = await t.sdk.handleRequest(payload, { 'eka-webhook-signature': huge })
  assert.deepEqual([r.status, r.body.error], [403, 'Invalid signature'])
  const raw = await new Promise((resolve) => {
    let answer = ''
    const socket = net.connect(server.port, '127.0.0.1', () => {
      const body = JSON.stringify(payload)
      socket.write(`POST / HTTP/1.1\r\nHost: x\r\nEka-Webhook-Signature: ${huge}\r\nEka-Webhook-Signature: ${good}\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`)
    })
    socket.on('data', (d) => (answer += d))
    socket.on('error', () => {})
    socket.on('close', () => resolve(answer))
  })
  assert.match(raw, /^HTTP\/1\.1 (403|431|400)/)
})

test('thousands of idle connections do not stop the server from serving', async () => {
  const t = await setup()
  const server = t.sdk.listen(0)
  const sockets = []
  try {
    for (let i = 0; i < 2000; i++) {
      sockets.push(await connectTo(server.port))
    }
    const payload = { event: 'prescription.created' }
    const r = await post(server.port, JSON.stringify(payload), signedHeaders(payload))
    assert.equal(r.status, 200)
  } finally {
    for (const s of sockets) s.destroy()
    await t.close()
  }
})
