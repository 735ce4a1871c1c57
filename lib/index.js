'use strict'
// Public entry of @eka-care/webhook-sdk. Thin glue over the Rust core: argument shaping,
// callback wrapping and the framework adapters. All behaviour lives in Rust.

const { binding, callSync, callAsync } = require('./native')
const { shapeBody, shapeRequestBody, signatureHeaderOf } = require('./body')
const { bridgeCallback } = require('./callbacks')
const { configError, argumentError } = require('./errors')
const { Reminder, ReminderRegistry, MARK_FIRED, fireTimeOf } = require('./reminders')
const { createExpressMiddleware } = require('./adapters/express')
const { createFetchHandler } = require('./adapters/fetch')
const { SdkTelemetry } = require('./telemetry')
const { createNextApiHandler } = require('./adapters/next-api')

const SUPPORTED_EVENTS = Object.freeze(binding.supportedEvents())
const APPOINTMENT_EVENTS = Object.freeze(binding.appointmentEvents())
const SCHEDULE_TABLE_NAME = binding.scheduleTableName()

/** An error raised while processing a webhook, carrying the HTTP status to answer with. */
class WebhookProcessingError extends Error {
  constructor(message, statusCode = 400) {
    super(message)
    this.name = 'WebhookProcessingError'
    this.statusCode = statusCode
  }
}

/** The enriched event as users see it, from the native event's JSON texts. */
function toWebhookEvent(native, payload = JSON.parse(native.payloadJson)) {
  const event = { type: native.type, payload }
  if (native.contextJson) Object.assign(event, JSON.parse(native.contextJson))
  return event
}

/** `callerPayload`: the body as the glue parsed it, or the caller's own object. */
function toWebhookResult(native, callerPayload) {
  const result = { status: native.status, body: JSON.parse(native.bodyJson) }
  if (native.event) result.event = toWebhookEvent(native.event, callerPayload)
  if (native.error !== undefined && native.error !== null) result.error = native.error
  return result
}

/**
 * A result `handleNow` answered at once: `"<status><JSON body>"`. On success the event's payload
 * is the body as the glue parsed it (the caller's own object when the body was one, as in the
 * Python SDK); on failure `error` is the body's `error`.
 */
function toImmediateResult(text, payload) {
  const result = { status: Number(text.slice(0, 3)), body: immediateBody(text) }
  if (result.status === 200) {
    result.event = { type: result.body.event, payload }
  } else {
    result.error = result.body.error
  }
  return result
}

/**
 * The body of an immediate answer, as a fresh object. The texts repeat (one per event type or
 * failure reason), so each is parsed once: parsing even this short text cost more than the
 * rest of the glue. The bodies are flat (`{success, event}` or `{error}`), so a shallow copy
 * is a fresh body. At most 64 texts are kept (failure reasons can quote the request).
 */
const immediateBodies = new Map()
function immediateBody(text) {
  let body = immediateBodies.get(text)
  if (body === undefined) {
    if (immediateBodies.size >= 64) immediateBodies.clear()
    body = JSON.parse(text.slice(3))
    immediateBodies.set(text, body)
  }
  return { ...body }
}

function requireString(value, what) {
  if (typeof value !== 'string' || value.length === 0) throw argumentError(`${what} must be a non-empty string`)
  return value
}

class WebhookSDK {
  #native
  #telemetry
  #servers = new Set()
  #reminders = new ReminderRegistry()

  /** @param {import('./index').WebhookSDKConfig} config */
  constructor(config) {
    if (config === null || typeof config !== 'object' || Array.isArray(config)) {
      throw configError('the config must be an object')
    }
    if (config.onEvent !== undefined && typeof config.onEvent !== 'function') {
      throw configError("'onEvent' must be a function")
    }
    // The rest crosses as it is; the Rust core checks every field.
    const { onEvent: userOnEvent, ...options } = config
    const onEvent = userOnEvent ? bridgeCallback(userOnEvent, toWebhookEvent) : undefined
    const onReminder = bridgeCallback((fire) => this.#runReminder(fire), (fire) => fire)
    this.#native = callSync(() => new binding.NativeWebhookSdk(options, onEvent, onReminder))
    this.#telemetry = new SdkTelemetry(this.#native, SUPPORTED_EVENTS)
  }

  /** Every counter as plain numbers: deliveries, API calls and latency, queue depth, reminders. */
  stats() {
    return JSON.parse(this.#native.stats())
  }

  /** Calls a fired reminder's callback with the fresh context (fetch failures were logged). */
  #runReminder(fire) {
    const entry = this.#reminders.take(fire.id)
    if (!entry) return undefined
    entry.reminder[MARK_FIRED](new Date(fire.firedAtMs))
    return this.#telemetry.traceReminder(fire, () => entry.callback(JSON.parse(fire.contextJson)))
  }

  /**
   * Framework-agnostic handler. `body`: the parsed object, the raw JSON string or a Buffer;
   * `headers`: a plain object (string or string[] values, any name case) or a Fetch `Headers`.
   */
  async handleRequest(body, headers) {
    const delivery = this.#telemetry.startDelivery()
    const shaped = shapeRequestBody(body)
    if (shaped.failure) {
      const result = { status: 400, body: { error: shaped.failure }, error: shaped.failure }
      return this.#telemetry.endDelivery(delivery, result)
    }
    const signature = signatureHeaderOf(headers)
    // Failures and unenriched events without onEvent finish on this thread (no thread hop); a
    // traced delivery takes the path that reports the core's phase timings.
    if (delivery === null) {
      const immediate = callSync(() => this.#native.handleNow(shaped.body, shaped.kind, signature))
      if (immediate !== null) return toImmediateResult(immediate, shaped.payload)
    }
    let native
    try {
      native = await callAsync(this.#native.handle(shaped.body, shaped.kind, signature))
    } catch (error) {
      this.#telemetry.failDelivery(delivery, error)
      throw error
    }
    const result = toWebhookResult(native, shaped.payload)
    return this.#telemetry.endDelivery(delivery, result, { phases: native.phases, reason: native.reason, eventType: shaped.payload?.event })
  }

  /**
   * Starts the standalone server (Rust, on all IPv4 interfaces). Binds synchronously: a port in
   * use throws. `port` 0 picks a free port, read back from `server.port`.
   */
  listen(port, onListen) {
    if (!Number.isInteger(port) || port < 0 || port > 65535) {
      throw argumentError(`listen: port must be an integer from 0 to 65535, got ${String(port)}`)
    }
    if (onListen !== undefined && typeof onListen !== 'function') throw argumentError('listen: onListen must be a function')
    const native = callSync(() => this.#native.listen(port))
    // The server runs on Rust threads the event loop cannot see; this handle keeps the process
    // alive while it serves, as a listening http.Server would.
    const keepAlive = setInterval(() => {}, 2 ** 31 - 1)
    let closing
    const server = {
      port: native.port,
      close: () => {
        closing ??= callAsync(native.close()).finally(() => {
          clearInterval(keepAlive)
          this.#servers.delete(server)
        })
        return closing
      },
    }
    this.#servers.add(server)
    if (onListen) {
      process.nextTick(() => {
        try {
          onListen()
        } catch (error) {
          process.emitWarning(`WebhookSDK: onListen threw: ${error?.message ?? error}`)
        }
      })
    }
    return server
  }

  /** `app.post(path, sdk.expressMiddleware())`. */
  expressMiddleware(options) {
    return createExpressMiddleware(this, options)
  }

  /** `export const POST = sdk.fetchHandler()` (Next.js App Router, Hono, any Fetch runtime). */
  fetchHandler(options) {
    return createFetchHandler(this, options)
  }

  /** `export default sdk.nextApiHandler()` (Next.js Pages Router API route; any Node `(req, res)`). */
  nextApiHandler(options) {
    return createNextApiHandler(this, options)
  }

  async findAppointmentsBetween(range) {
    if (range === null || typeof range !== 'object') {
      throw argumentError('findAppointmentsBetween: expected { startTime, endTime } in epoch seconds')
    }
    const { startTime, endTime } = range
    for (const [name, value] of [['startTime', startTime], ['endTime', endTime]]) {
      if (!Number.isSafeInteger(value)) {
        throw argumentError(`findAppointmentsBetween: ${name} must be an integer (epoch seconds), got ${String(value)}`)
      }
    }
    return JSON.parse(await callAsync(this.#native.findAppointmentsBetween(startTime, endTime)))
  }

  /**
   * One-shot reminder: at `cronTime` (a Date, or a 5-/6-field cron string in local time) fresh
   * appointment, patient, doctor and clinic details are fetched and `callback` gets them.
   */
  scheduleReminder(options) {
    if (options === null || typeof options !== 'object') {
      throw argumentError('scheduleReminder: expected { cronTime, appointmentId, callback }')
    }
    const { cronTime, appointmentId, callback } = options
    requireString(appointmentId, 'scheduleReminder: appointmentId')
    if (typeof callback !== 'function') throw argumentError('scheduleReminder: callback must be a function')
    const atEpochMs = fireTimeOf(cronTime)
    const native = callSync(() => this.#native.scheduleReminder(atEpochMs, appointmentId))
    const reminder = new Reminder(native.id, new Date(native.nextRunMs), (id) => {
      const wasPending = this.#native.cancelReminder(id)
      if (wasPending) this.#reminders.take(id)
      return wasPending
    })
    this.#reminders.add(reminder, callback)
    return reminder
  }

  async reminderSent(appointmentId) {
    requireString(appointmentId, 'reminderSent: appointmentId')
    await callAsync(this.#native.reminderSent(appointmentId))
  }

  async getAppointmentDetailsById(id, options = {}) {
    requireString(id, 'getAppointmentDetailsById: id')
    const partnerId = options?.partnerId
    if (partnerId !== undefined && partnerId !== null) requireString(partnerId, 'getAppointmentDetailsById: partnerId')
    return JSON.parse(await callAsync(this.#native.getAppointmentDetails(id, partnerId ?? null)))
  }

  async getPatientDetailsById(id) {
    requireString(id, 'getPatientDetailsById: id')
    return JSON.parse(await callAsync(this.#native.getPatientDetails(id)))
  }

  async getDoctorDetailsById(id) {
    requireString(id, 'getDoctorDetailsById: id')
    return JSON.parse(await callAsync(this.#native.getDoctorDetails(id)))
  }

  async getClinicDetailsById(id) {
    requireString(id, 'getClinicDetailsById: id')
    return JSON.parse(await callAsync(this.#native.getClinicDetails(id)))
  }

  /** Stops servers and reminders, closes pools and releases callbacks. Idempotent. */
  async close() {
    await Promise.all([...this.#servers].map((server) => server.close()))
    await callAsync(this.#native.close())
    this.#reminders.clear()
    this.#telemetry.close()
  }
}

/** The exact bytes to sign or verify for a payload: strings and Buffers as they are. */
function bodyForSignature(payload, fnName) {
  const shaped = shapeBody(payload)
  if (shaped.failure) throw argumentError(`${fnName}: payload cannot be serialised: ${shaped.failure}`)
  if (shaped.body === null) throw argumentError(`${fnName}: payload is required`)
  return shaped
}

function verifySignature(payload, signatureHeader, signingKey, options = {}) {
  const keys = Array.isArray(signingKey) ? signingKey : [signingKey]
  if (!keys.every((k) => typeof k === 'string' || k === undefined || k === null)) {
    throw argumentError('verifySignature: signingKey must be a string or an array of strings')
  }
  const shaped = bodyForSignature(payload, 'verifySignature')
  const header = typeof signatureHeader === 'string' ? signatureHeader : null
  return callSync(
    binding.nativeVerifySignature,
    shaped.body,
    shaped.isCanonical,
    header,
    keys.filter((k) => typeof k === 'string'),
    options?.toleranceSeconds ?? null,
    options?.now ?? null,
  )
}

function generateSignatureHeader(payload, signingKey, timestamp) {
  requireString(signingKey, 'generateSignatureHeader: signingKey')
  const shaped = bodyForSignature(payload, 'generateSignatureHeader')
  return callSync(binding.nativeGenerateSignatureHeader, shaped.body, signingKey, timestamp ?? null)
}

module.exports = {
  WebhookSDK,
  WebhookProcessingError,
  verifySignature,
  generateSignatureHeader,
  SUPPORTED_EVENTS,
  APPOINTMENT_EVENTS,
  SCHEDULE_TABLE_NAME,
}
