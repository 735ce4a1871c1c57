'use strict'
// Express (4 and 5) middleware: works after express.json() (object: canonical path), after
// express.raw() (Buffer: raw path), or alone (reads the stream itself: raw path).

const { readRequestBody } = require('./node-body')

function createExpressMiddleware(sdk, options = {}) {
  const limit = options.limit ?? 1024 * 1024
  return function ekaWebhookMiddleware(req, res, next) {
    bodyOf(req, limit)
      .then((body) => {
        if (body.tooLarge) {
          res.status(413).json({ error: 'Request body too large' })
          return
        }
        return sdk.handleRequest(body.value, req.headers).then((result) => {
          if (result.event) res.locals.ekaEvent = result.event
          res.status(result.status).json(result.body)
        })
      })
      .catch(next)
  }
}

/** The body a parser already produced, or the raw bytes read from the stream. */
function bodyOf(req, limit) {
  // A body parser consumed the stream: use what it produced.
  if (req.readableEnded || req._body === true) return Promise.resolve({ value: req.body ?? null })
  return readRequestBody(req, limit)
}

module.exports = { createExpressMiddleware }
