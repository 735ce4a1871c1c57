// Shared set-up for the JS tests: the SDK, a simulator to enrich from, and signed bodies.
import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)
export const sdkModule = require('../../lib/index.js')
export const simulatorModule = require('../../simulator/index.js')
export const { WebhookSDK, generateSignatureHeader, verifySignature } = sdkModule
export const { startSimulator, SAMPLE } = simulatorModule

export const CLIENT = { clientId: 'demo-client', clientSecret: 'demo-secret' }
export const SIGNING_KEY = 'whsec_test_signing_key'

/** A simulator plus an SDK pointed at it; `close()` stops both. */
export async function setup(config = {}, simulatorOptions = {}) {
  const simulator = await startSimulator(simulatorOptions)
  const sdk = new WebhookSDK({ ...CLIENT, signingKey: SIGNING_KEY, apiBaseUrl: simulator.url, ...config })
  return {
    simulator,
    sdk,
    async close() {
      await sdk.close()
      await simulator.close()
    },
  }
}

/** The process warnings whose `code` passes `wanted`, collected until `stop()` is called. */
export function collectWarnings(wanted) {
  const warnings = []
  const listener = (warning) => {
    if (wanted(String(warning.code))) warnings.push(warning)
  }
  process.on('warning', listener)
  return { warnings, stop: () => process.off('warning', listener) }
}

/** `setup(...)` for one test: closed when the test behind `context` (node:test's) ends, however it ends. */
export async function setupFor(context, config, simulatorOptions) {
  const t = await setup(config, simulatorOptions)
  context.after(() => t.close())
  return t
}

export function appointmentPayload(event = 'appointment.created', appointmentId = SAMPLE.appointmentId, extra = {}) {
  return {
    service: 'appointment',
    event,
    event_time: 1893456000,
    transaction_id: `txn-${appointmentId}-${event}`,
    client_id: CLIENT.clientId,
    data: { appointment_id: appointmentId, ...extra },
  }
}

export function signedHeaders(payload, key = SIGNING_KEY, timestamp) {
  return { 'eka-webhook-signature': generateSignatureHeader(payload, key, timestamp) }
}
