// What the DynamoDB test files share: one moto server per file (emptied before each test), a
// fresh Eka Care API simulator per test, SDKs wired to both, and webhook helpers.

import { before, after, beforeEach, afterEach } from 'node:test'
import assert from 'node:assert/strict'
import { createRequire } from 'node:module'
import { startMoto, resetMoto, REGION, ACCESS_KEY_ID, SECRET_ACCESS_KEY } from './moto.mjs'

const require = createRequire(import.meta.url)
const { WebhookSDK } = require('../../lib/index.js')
const { startSimulator, createFixtures, SAMPLE } = require('../../simulator/index.js')

export const DAY = 86_400

/**
 * Registers the file's hooks; the returned object's `moto` and `sim` are live for each test.
 * @returns {{ moto: { endpoint: string }, sim: any, makeSdk(t: any, persistence?: object): any }}
 */
export function useMotoAndSimulator() {
  const env = {
    moto: null,
    sim: null,
    /** An SDK on this simulator and moto server; closed when the test ends. */
    makeSdk(t, persistence = {}) {
      const sdk = new WebhookSDK({
        clientId: 'demo-client',
        clientSecret: 'demo-secret',
        apiBaseUrl: env.sim.url,
        persistence: {
          type: 'dynamodb',
          region: REGION,
          accessKeyId: ACCESS_KEY_ID,
          secretAccessKey: SECRET_ACCESS_KEY,
          endpoint: env.moto.endpoint,
          ...persistence,
        },
      })
      t.after(() => sdk.close())
      return sdk
    },
  }
  before(async () => {
    env.moto = await startMoto()
  })
  after(() => env.moto?.stop())
  beforeEach(async () => {
    await resetMoto(env.moto.endpoint)
    env.sim = await startSimulator()
  })
  afterEach(() => env.sim.close())
  return env
}

export const created = (id, data = {}) => ({ event: 'appointment.created', data: { appointment_id: id, ...data } })
export const updated = (id) => ({ event: 'appointment.updated', data: { appointment_id: id } })

/** The sample booked appointment (its patient, doctor, clinic) under another id and time. */
export function appointment(id, startTime, fields = {}) {
  const sample = createFixtures().appointments.get(SAMPLE.appointmentId)
  return { ...sample, appointment_id: id, start_time: startTime, end_time: startTime + 900, ...fields }
}

/** Hands each payload to `sdk.handleRequest` and asserts a 200; returns the last result. */
export async function deliver(sdk, ...payloads) {
  let result
  for (const payload of payloads) {
    result = await sdk.handleRequest(payload, {})
    assert.equal(result.status, 200, JSON.stringify(result.body))
  }
  return result
}
