'use strict'
// Fetch API handler: `(request: Request) => Promise<Response>`, for Next.js App Router route
// handlers, Hono and any Fetch runtime on Node. Reads the raw body (raw signature path).

function createFetchHandler(sdk, options = {}) {
  const limit = options.limit ?? 1024 * 1024
  return async function ekaWebhookFetchHandler(request) {
    const declared = Number(request.headers.get('content-length'))
    if (Number.isFinite(declared) && declared > limit) return json(413, { error: 'Request body too large' })
    const bytes = Buffer.from(await request.arrayBuffer())
    if (bytes.length > limit) return json(413, { error: 'Request body too large' })
    const result = await sdk.handleRequest(bytes.length === 0 ? null : bytes, request.headers)
    return json(result.status, result.body)
  }
}

function json(status, body) {
  return new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } })
}

module.exports = { createFetchHandler }
