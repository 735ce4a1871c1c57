import type { FastifyPluginAsync } from 'fastify'
import type { WebhookSDK } from '../index'

export interface EkaWebhookRouteOptions {
  /** Route path, relative to the prefix the plugin is registered with. Default `'/'`. */
  path?: string
  /** Largest body accepted, in bytes; a larger one is answered 413 by Fastify. Default 1 MiB. */
  limit?: number
}

/**
 * A Fastify plugin registering `POST <path>` that hands the raw request bytes to
 * `sdk.handleRequest` and answers with its status and body (a success as
 * `{ success, event }` unless the SDK has `respondWithDetails`). Register it directly (it is not
 * wrapped with fastify-plugin), so its raw-body parser stays scoped to this route.
 *
 * @example
 * fastify.register(ekaWebhookRoute(sdk, { path: '/eka-webhook' }))
 */
export declare function ekaWebhookRoute(sdk: WebhookSDK, options?: EkaWebhookRouteOptions): FastifyPluginAsync
