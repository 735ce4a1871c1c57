import type { FastifyPluginAsync } from 'fastify'

/** What the route needs from the SDK: a `WebhookSDK` satisfies it. */
export interface WebhookRequestHandler {
  handleRequest(
    body: Buffer | null,
    headers: Record<string, string | string[] | undefined>,
  ): Promise<{ status: number; body: Record<string, unknown> }>
}

export interface EkaWebhookRouteOptions {
  /** Route path, relative to the prefix the plugin is registered with. Default `'/'`. */
  path?: string
  /** Largest body accepted, in bytes; a larger one is answered 413 by Fastify. Default 1 MiB. */
  limit?: number
}

/**
 * A Fastify plugin registering `POST <path>` that hands the raw request bytes to
 * `sdk.handleRequest` and answers with its status and body. Register it directly (it is not
 * wrapped with fastify-plugin), so its raw-body parser stays scoped to this route.
 *
 * @example
 * fastify.register(ekaWebhookRoute(sdk, { path: '/eka-webhook' }))
 */
export declare function ekaWebhookRoute(sdk: WebhookRequestHandler, options?: EkaWebhookRouteOptions): FastifyPluginAsync
