'use strict'
// Fetch API handler: `(request: Request) => Promise<Response>`, for Next.js App Router route
// handlers, Hono and any Fetch runtime on Node. Reads the raw body (raw signature path). Errors it
// cannot answer for (a closed SDK, a failing body stream) reject, for the framework to report.

const { bodyLimit, TOO_LARGE_BODY, RESPOND } = require('./shared')

function createFetchHandler(sdk, options = {}) {
  const limit = bodyLimit(options, 'fetchHandler')
  return async function ekaWebhookFetchHandler(request) {
    const body = await readLimited(request, limit)
    if (body.tooLarge) return json(413, TOO_LARGE_BODY)
    const result = await sdk[RESPOND](body.value, request.headers)
    return json(result.status, result.body)
  }
}

/** `{ value: Buffer | null }` or `{ tooLarge: true }`, reading no more than `limit` + one chunk. */
async function readLimited(request, limit) {
  const declared = Number(request.headers.get('content-length'))
  if (Number.isFinite(declared) && declared > limit) {
    await request.body?.cancel().catch(() => {})
    return { tooLarge: true }
  }
  if (request.body === null) return { value: null }
  const reader = request.body.getReader()
  const chunks = []
  let size = 0
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    size += value.byteLength
    if (size > limit) {
      await reader.cancel().catch(() => {})
      return { tooLarge: true }
    }
    chunks.push(value)
  }
  return { value: size === 0 ? null : Buffer.concat(chunks, size) }
}

function json(status, body) {
  return new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } })
}

module.exports = { createFetchHandler }
