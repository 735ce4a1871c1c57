'use strict'
// Express (4 and 5) middleware: works after express.json() (object: canonical path), after
// express.raw() or express.text() (Buffer or string: raw path), or alone (reads the stream
// itself: raw path). Errors it cannot answer for (a broken stream, a closed SDK) go to next(err).

const { parsedOrRawBody } = require('./node-body')
const { bodyLimit, TOO_LARGE_BODY, RESPOND } = require('./shared')

function createExpressMiddleware(sdk, options = {}) {
  const limit = bodyLimit(options, 'expressMiddleware')
  return function ekaWebhookMiddleware(req, res, next) {
    parsedOrRawBody(req, limit)
      .then((body) => {
        if (body.tooLarge) {
          res.status(413).json(TOO_LARGE_BODY)
          return
        }
        return sdk[RESPOND](body.value, req.headers).then((result) => {
          if (result.event) res.locals.ekaEvent = result.event
          res.status(result.status).json(result.body)
        })
      })
      .catch(next)
  }
}

module.exports = { createExpressMiddleware }
