'use strict'
// Express (4 and 5) middleware: works after express.json() (object: canonical path), after
// express.raw() or express.text() (Buffer or string: raw path), or alone (reads the stream
// itself: raw path). Errors it cannot answer for (a broken stream, a closed SDK) go to next(err).

const { readRequestBody } = require('./node-body')
const { bodyLimit, nonEmptyBody, TOO_LARGE_BODY } = require('./shared')

function createExpressMiddleware(sdk, options = {}) {
  const limit = bodyLimit(options, 'expressMiddleware')
  return function ekaWebhookMiddleware(req, res, next) {
    bodyOf(req, limit)
      .then((body) => {
        if (body.tooLarge) {
          res.status(413).json(TOO_LARGE_BODY)
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

/**
 * The body a parser already produced, or the raw bytes read from the stream. A parser that
 * skipped the request (its content type did not match) leaves the stream unread: body-parser 1.x
 * (Express 4) still sets `req.body = {}`, 2.x (Express 5) leaves it undefined; neither ends the
 * stream, so the stream's state is what tells.
 */
function bodyOf(req, limit) {
  if (req.readableEnded || req._body === true) return Promise.resolve({ value: nonEmptyBody(req.body) })
  return readRequestBody(req, limit)
}

module.exports = { createExpressMiddleware }
