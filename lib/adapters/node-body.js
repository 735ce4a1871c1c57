'use strict'

/**
 * Reads a Node request stream into a Buffer, stopping at `limit` bytes. Resolves
 * `{ value: Buffer | null }` (null for an empty body) or `{ tooLarge: true }`.
 */
function readRequestBody(req, limit) {
  const declared = Number(req.headers['content-length'])
  if (Number.isFinite(declared) && declared > limit) {
    req.resume()
    return Promise.resolve({ tooLarge: true })
  }
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
    const cleanup = () => {
      req.off('data', onData)
      req.off('end', onEnd)
      req.off('error', onError)
    }
    req.on('data', onData)
    req.on('end', onEnd)
    req.on('error', onError)
  })
}

module.exports = { readRequestBody }
