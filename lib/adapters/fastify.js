'use strict'
// Fastify route plugin, published as `@eka-care/webhook-sdk/fastify`:
//
//   fastify.register(ekaWebhookRoute(sdk, { path: '/eka-webhook' }))
//
// The plugin is deliberately not wrapped with fastify-plugin: Fastify then gives it its own
// encapsulated context, so the raw-body parser below applies to the webhook route only and the
// rest of the app keeps its JSON parsing.

const { argumentError } = require('../errors')
const { bodyLimit, nonEmptyBody, TOO_LARGE_BODY, RESPOND } = require('./shared')

function ekaWebhookRoute(sdk, options = {}) {
  if (sdk === null || typeof sdk !== 'object' || typeof sdk[RESPOND] !== 'function') {
    throw argumentError('ekaWebhookRoute: expected a WebhookSDK as the first argument')
  }
  const path = options.path ?? '/'
  if (typeof path !== 'string' || !path.startsWith('/')) {
    throw argumentError(`ekaWebhookRoute: 'path' must be a string starting with '/', got ${String(path)}`)
  }
  const limit = bodyLimit(options, 'ekaWebhookRoute')

  return async function ekaWebhookPlugin(fastify) {
    // Every body as the bytes received, whatever its content type (or none): the signature is
    // checked on those exact bytes first. Removing the inherited parsers first also avoids a
    // clash with an application/json parser the app registered itself.
    fastify.removeAllContentTypeParsers()
    fastify.addContentTypeParser('*', { parseAs: 'buffer' }, (request, body, done) => done(null, body))
    // The same 413 body as the other doors; any other error goes on to the app's handler.
    fastify.setErrorHandler((error, request, reply) => {
      if (error.code !== 'FST_ERR_CTP_BODY_TOO_LARGE') throw error
      return reply.code(413).send(TOO_LARGE_BODY)
    })
    fastify.post(path, { bodyLimit: limit }, async (request, reply) => {
      const result = await sdk[RESPOND](nonEmptyBody(request.body), request.headers)
      return reply.code(result.status).send(result.body)
    })
  }
}

module.exports = { ekaWebhookRoute }
