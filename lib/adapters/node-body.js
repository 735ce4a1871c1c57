'use strict'

const { nonEmptyBody } = require('./shared')

/**
 * Reads a Node request stream into a Buffer, stopping at `limit` bytes. Resolves
 * `{ value: Buffer | null }` (null for an empty body) or `{ tooLarge: true }`; rejects when the
 * stream fails or the client goes away before the body ends.
 */
function readRequestBody(req, limit) {
  const declared = Number(req.headers['content-length'])
  if (Number.isFinite(declared) && declared > limit) {
    req.resume()
    return Promise.resolve({ tooLarge: true })
  }
  // A stream destroyed earlier (the client left while other middleware ran) never emits again.
  if (req.destroyed) return Promise.reject(abortedError())
  return new Promise((resolve, reject) => {
    const chunks = []
    let size = 0
    const onData = (chunk) => {
      size += chunk.length
      if (size > limit) {
        cleanup()
        req.resume()
        resolve({ tooLarge: true })
        return
      }
      chunks.push(chunk)
    }
    const onEnd = () => {
      cleanup()
      resolve({ value: size === 0 ? null : Buffer.concat(chunks, size) })
    }
    const onError = (error) => {
      cleanup()
      reject(error)
    }
    // 'close' before 'end' without an 'error': destroyed without a reason.
    const onClose = () => onError(abortedError())
    const cleanup = () => {
      req.off('data', onData)
      req.off('end', onEnd)
      req.off('error', onError)
      req.off('close', onClose)
    }
    req.on('data', onData)
    req.on('end', onEnd)
    req.on('error', onError)
    req.on('close', onClose)
  })
}

/**
 * The body a parser already produced, or the raw bytes read from the stream. A parser that
 * skipped the request (its content type did not match) leaves the stream unread: body-parser 1.x
 * (Express 4) still sets `req.body = {}`, 2.x (Express 5) leaves it undefined; neither ends the
 * stream, so the stream's state is what tells. Next.js's API-route parser always reads the
 * stream whole (JSON → object, other types → text), and with `bodyParser: false` leaves it unread.
 */
function parsedOrRawBody(req, limit) {
  if (req.readableEnded || req._body === true) return Promise.resolve({ value: nonEmptyBody(req.body) })
  return readRequestBody(req, limit)
}

function abortedError() {
  const error = new Error('Request aborted before its body was read')
  error.code = 'ECONNRESET'
  return error
}

module.exports = { readRequestBody, parsedOrRawBody }
