// The standalone server sheds load (503 + Retry-After past maxConnections / maxInFlight) and
// answers an oversized body with a 413 the client can read (lingering close).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import net from 'node:net'
import { setup, setupFor, signedHeaders } from './support/sdk.mjs'
import { connectTo } from './support/sockets.mjs'

test('Node fetch() sending 2 MiB gets the 413, not EPIPE, 10 times in 10', async (ctx) => {
  const t = await setupFor(ctx)
  const server = t.sdk.listen(0)
  const big = Buffer.alloc(2 * 1024 * 1024, 0x61)
  for (let i = 0; i < 10; i++) {
    const r = await fetch(`http://127.0.0.1:${server.port}/`, { method: 'POST', body: big })
    assert.equal(r.status, 413, `attempt ${i}`)
    assert.deepEqual(await r.json(), { error: 'Request body too large' })
  }
  // Streamed without a Content-Length: refused at the limit, the rest drained.
  for (let i = 0; i < 3; i++) {
    const body = new ReadableStream({
      start(controller) {
        for (let k = 0; k < 32; k++) controller.enqueue(new Uint8Array(64 * 1024).fill(0x61))
        controller.close()
      },
    })
    const r = await fetch(`http://127.0.0.1:${server.port}/`, { method: 'POST', body, duplex: 'half' })
    assert.equal(r.status, 413, `streamed attempt ${i}`)
    await r.arrayBuffer()
  }
})

function rawExchange(port, text = '') {
  return new Promise((resolve, reject) => {
    let answer = ''
    const socket = net.connect(port, '127.0.0.1', () => socket.write(text))
    socket.on('data', (d) => (answer += d))
    socket.on('error', reject)
    socket.on('close', () => resolve(answer))
  })
}

test('past maxConnections a connection is answered 503 with Retry-After and closed', async () => {
  const t = await setup({ server: { maxConnections: 2 } })
  const server = t.sdk.listen(0)
  const idle = []
  try {
    for (let i = 0; i < 2; i++) {
      idle.push(await connectTo(server.port))
    }
    await new Promise((resolve) => setTimeout(resolve, 50))
    const refused = await rawExchange(server.port, 'GET /eka-webhook-health HTTP/1.1\r\nHost: x\r\n\r\n')
    assert.match(refused, /^HTTP\/1\.1 503 Service Unavailable\r\n/)
    assert.match(refused, /\r\nretry-after: 1\r\n/)
    assert.match(refused, /\{"error":"Server busy: too many connections"\}$/)
    idle.pop().destroy()
    await new Promise((resolve) => setTimeout(resolve, 50))
    const health = await fetch(`http://127.0.0.1:${server.port}/eka-webhook-health`)
    assert.equal(health.status, 200, 'a freed slot is used again')
  } finally {
    for (const s of idle) s.destroy()
    await t.close()
  }
})

test('past maxInFlight a webhook is answered 503 with Retry-After', async () => {
  let release
  const held = new Promise((resolve) => (release = resolve))
  const t = await setup({ server: { maxInFlight: 1 }, onEvent: () => held })
  const server = t.sdk.listen(0)
  try {
    const payload = { event: 'prescription.created' }
    const post = () => fetch(`http://127.0.0.1:${server.port}/`, {
      method: 'POST',
      body: JSON.stringify(payload),
      headers: signedHeaders(payload),
    })
    const first = post()
    await new Promise((resolve) => setTimeout(resolve, 100))
    const busy = await post()
    assert.equal(busy.status, 503)
    assert.equal(busy.headers.get('retry-after'), '1')
    assert.deepEqual(await busy.json(), { error: 'Server busy: too many requests in flight' })
    release()
    assert.equal((await first).status, 200)
    assert.equal((await post()).status, 200, 'the slot is free again')
  } finally {
    release()
    await t.close()
  }
})
