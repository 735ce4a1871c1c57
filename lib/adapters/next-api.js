'use strict'
// Next.js Pages Router API route (`pages/api/…`): `export default sdk.nextApiHandler()`. It is
// Node's `(req, res)`, so it also serves `http.createServer` directly.
// With `export const config = { api: { bodyParser: false } }` (recommended) it reads the stream
// and verifies the exact bytes; with Next's default parser it gets the parsed object (the
// canonical check) or, for a non-JSON content type, the text. Errors it cannot answer for (a
// broken stream, a closed SDK) reject, for Next to report as a 500.

const { parsedOrRawBody } = require('./node-body')
const { bodyLimit, TOO_LARGE_BODY, RESPOND } = require('./shared')

const METHOD_NOT_ALLOWED = Object.freeze({ error: 'Method Not Allowed' })

function createNextApiHandler(sdk, options = {}) {
  const limit = bodyLimit(options, 'nextApiHandler')
  return async function ekaWebhookNextApiHandler(req, res) {
    // A pages/api route receives every method; the App Router form (`export const POST`) gets 405
    // from Next for the others, and so does this one.
    if (req.method !== 'POST') {
      sendJson(res, 405, METHOD_NOT_ALLOWED, { allow: 'POST' })
      return
    }
    const body = await parsedOrRawBody(req, limit)
    if (body.tooLarge) {
      sendJson(res, 413, TOO_LARGE_BODY)
      return
    }
    const result = await sdk[RESPOND](body.value, req.headers)
    sendJson(res, result.status, result.body)
  }
}

function sendJson(res, status, body, headers = {}) {
  const text = JSON.stringify(body)
  res.writeHead(status, {
    ...headers,
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
  })
  res.end(text)
}

module.exports = { createNextApiHandler }
