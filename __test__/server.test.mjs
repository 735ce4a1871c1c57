// The standalone server (Rust, hyper) behind sdk.listen().
import { test } from 'node:test'
import assert from 'node:assert/strict'
import net from 'node:net'
import http from 'node:http'
import { setup, setupFor, appointmentPayload, signedHeaders, SIGNING_KEY, generateSignatureHeader } from './support/sdk.mjs'

function request(port, { method = 'POST', path = '/', body, headers = {} } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path, headers, agent: false }, (res) => {
      const chunks = []
      res.on('data', (c) => chunks.push(c))
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString()
        resolve({ status: res.statusCode, headers: res.headers, text, json: text ? JSON.parse(text) : undefined })
      })
    })
    req.on('error', reject)
    if (body !== undefined) req.write(body)
    req.end()
  })
}

test('routes: POST path (trailing slash ignored), health, 404 with the Python body, wrong methods', async () => {
  // The same delivery on both spellings of the path: no ledger, so both run.
  const t = await setup({ path: '/webhooks/eka/', deliveryLedger: false })
  const server = t.sdk.listen(0)
  try {
    assert.ok(server.port > 0)
    const payload = appointmentPayload()
    const body = JSON.stringify(payload, null, 2)
    const headers = { 'content-type': 'application/json', 'eka-webhook-signature': generateSignatureHeader(body, SIGNING_KEY) }
    for (const path of ['/webhooks/eka', '/webhooks/eka/']) {
      const r = await request(server.port, { path, body, headers })
      assert.equal(r.status, 200, r.text)
      assert.equal(r.headers['content-type'], 'application/json')
      assert.deepEqual(r.json, { success: true, event: 'appointment.created' }, 'no patient details by default')
    }
    const health = await request(server.port, { method: 'GET', path: '/eka-webhook-health/' })
    assert.deepEqual([health.status, health.json], [200, { status: 'ok', service: 'eka-webhook-sdk' }])
    const notFound = { error: 'Not Found', message: 'Expected POST /webhooks/eka' }
    for (const [method, path] of [['GET', '/webhooks/eka'], ['POST', '/other'], ['PUT', '/webhooks/eka'], ['DELETE', '/'], ['GET', '/']]) {
      const r = await request(server.port, { method, path })
      assert.deepEqual([r.status, r.json], [404, notFound], `${method} ${path}`)
    }
  } finally {
    await t.close()
  }
})

test('the pipeline statuses come through: bad signature 403, non-JSON 400, empty body 400', async (ctx) => {
  const t = await setupFor(ctx)
  const server = t.sdk.listen(0)
  const payload = { event: 'prescription.created' }
  const forged = await request(server.port, { body: JSON.stringify(payload), headers: signedHeaders(payload, 'wrong') })
  assert.deepEqual([forged.status, forged.json], [403, { error: 'Invalid signature' }])
  const garbage = await request(server.port, { body: 'hello, not json', headers: { 'content-type': 'text/plain' } })
  assert.deepEqual([garbage.status, garbage.json], [400, { error: 'Invalid JSON body' }])
  const empty = await request(server.port, { body: '' })
  assert.deepEqual([empty.status, empty.json], [400, { error: 'Request body is required' }])
})

test('port in use throws ERR_SERVER synchronously; onListen is called once', async (ctx) => {
  const t = await setupFor(ctx)
  let calls = 0
  const server = t.sdk.listen(0, () => calls++)
  assert.throws(() => t.sdk.listen(server.port), (e) => e.code === 'ERR_SERVER' && /already in use/.test(e.message))
  assert.throws(() => t.sdk.listen(70000), (e) => e.code === 'ERR_INVALID_ARGUMENT')
  assert.throws(() => t.sdk.listen(-1), (e) => e.code === 'ERR_INVALID_ARGUMENT')
  await new Promise((r) => setTimeout(r, 20))
  assert.equal(calls, 1)
})

test('bodies over the limit get 413, declared or chunked, without being read whole', async (ctx) => {
  const t = await setupFor(ctx, { server: { maxBodyBytes: 64 * 1024 } })
  const server = t.sdk.listen(0)
  // Declared too large: answered from the head alone, before any of the body is sent.
  const declared = await new Promise((resolve, reject) => {
    let answer = ''
    const socket = net.connect(server.port, '127.0.0.1', () => socket.write('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1048576\r\n\r\n'))
    socket.on('data', (d) => {
      answer += d
      if (answer.includes('}')) {
        socket.destroy()
        resolve(answer)
      }
    })
    socket.on('error', reject)
  })
  assert.match(declared, /^HTTP\/1\.1 413/)
  assert.match(declared, /\{"error":"Request body too large"\}$/)
  // Chunked: the server stops at the limit, answers, and drains the rest (lingering close),
  // so the client reads the 413 instead of failing its write.
  const big = Buffer.alloc(1024 * 1024, 'a')
  const chunked = await request(server.port, { body: big, headers: { 'transfer-encoding': 'chunked' } })
  assert.equal(chunked.status, 413)
  const fits = await request(server.port, { body: JSON.stringify({ event: 'prescription.created', pad: 'x'.repeat(60_000) }) })
  assert.equal(fits.status, 403, 'a body under the limit reaches the pipeline')
})

test('a client that sends its headers too slowly is cut off', async (ctx) => {
  const t = await setupFor(ctx, { server: { headerTimeoutMs: 300, bodyTimeoutMs: 300 } })
  const server = t.sdk.listen(0)
  const started = Date.now()
  const closedAfter = await new Promise((resolve, reject) => {
    const socket = net.connect(server.port, '127.0.0.1', () => socket.write('POST / HTTP/1.1\r\nHost: x\r\n'))
    socket.on('error', () => {})
    socket.on('close', () => resolve(Date.now() - started))
    setTimeout(() => reject(new Error('not cut off')), 5000)
  })
  assert.ok(closedAfter < 3000, `closed after ${closedAfter} ms`)
  const slowBody = await new Promise((resolve, reject) => {
    let answer = ''
    const socket = net.connect(server.port, '127.0.0.1', () => socket.write('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"ev'))
    socket.on('data', (d) => (answer += d))
    socket.on('error', () => {})
    socket.on('close', () => resolve(answer))
    setTimeout(() => reject(new Error('not cut off')), 5000)
  })
  assert.match(slowBody, /^HTTP\/1\.1 408/)
})

test('close() lets a request in flight finish, then refuses connections', async (ctx) => {
  let release
  const t = await setupFor(ctx, { onEvent: () => new Promise((r) => (release = r)) })
  const server = t.sdk.listen(0)
  const payload = { event: 'prescription.created' }
  const inflight = request(server.port, { body: JSON.stringify(payload), headers: signedHeaders(payload) })
  while (!release) await new Promise((r) => setTimeout(r, 10))
  const closing = server.close()
  setTimeout(() => release(), 100)
  const r = await inflight
  assert.equal(r.status, 200)
  await closing
  await assert.rejects(request(server.port, { method: 'GET', path: '/eka-webhook-health' }), /ECONNREFUSED/)
})
