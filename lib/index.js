'use strict'
// Public entry of @eka-care/webhook-sdk. Thin glue over the Rust core: V8 does the JSON (parse
// once, JSON.stringify for the canonical form), Rust the signatures, enrichment, persistence,
// scheduling and the standalone server. Also callback wrapping and the framework adapters.

const { binding, withCode, callSync, callAsync } = require('./native')
const { shapeBody, shapeRequestBody, canonicalText, signatureHeaderOf } = require('./body')
const { bridgeCallback, messageOf, FaultReporter } = require('./callbacks')
const { configError, argumentError } = require('./errors')
const { Reminder, ReminderRegistry, MARK_FIRED, fireTimeOf } = require('./reminders')
const { DurableReminders } = require('./durable-reminders')
const { createExpressMiddleware } = require('./adapters/express')
const { createFetchHandler } = require('./adapters/fetch')
const { SdkTelemetry } = require('./telemetry')
const { createNextApiHandler } = require('./adapters/next-api')
const { RESPOND } = require('./adapters/shared')
const { OnEventCalls } = require('./on-event-calls')

const SUPPORTED_EVENTS = Object.freeze(binding.supportedEvents())
const APPOINTMENT_EVENTS = Object.freeze(binding.appointmentEvents())
const SCHEDULE_TABLE_NAME = binding.scheduleTableName()
const OK_REASON = binding.successReason()

/** An error raised while processing a webhook, carrying the HTTP status to answer with. */
class WebhookProcessingError extends Error {
  constructor(message, statusCode = 400) {
    super(message)
    this.name = 'WebhookProcessingError'
    this.statusCode = statusCode
  }
}

const INVALID_SIGNATURE = 'Invalid signature'
const ON_EVENT_FAILED = 'Internal server error while processing webhook event'

/** Whether `[ERROR]` lines are printed: process-global, the last SDK constructed wins. */
let debugLogging = false

/** The event the standalone server hands to `onEvent`, from the native event's JSON texts. */
function toServerEvent(native) {
  const event = { type: native.type, payload: JSON.parse(native.payloadJson) }
  if (native.contextJson) Object.assign(event, JSON.parse(native.contextJson))
  return event
}

const stringOrNull = (value) => (typeof value === 'string' ? value : null)

function failure(status, error) {
  return { status, body: { error }, error }
}

/**
 * The user's result from the native one: a failure carries `error`; a success is for the
 * payload's own `event` (what the glue passed), and `payload` is the body as the glue parsed it.
 */
function toWebhookResult(native, payload) {
  if (native.error !== undefined && native.error !== null) return failure(native.status, native.error)
  const type = payload.event
  if (native.duplicate) {
    return { status: native.status, body: { success: true, event: type, duplicate: true }, event: { type, payload }, duplicate: true }
  }
  const body = { success: true, event: type }
  const event = { type, payload }
  if (native.contextJson) {
    // Parsed twice: the body and the event each own their objects, as the user may change one.
    Object.assign(body, JSON.parse(native.contextJson))
    Object.assign(event, JSON.parse(native.contextJson))
  }
  return { status: native.status, body, event }
}

/** Rejects with the timeout's message if `promise` has not settled within `timeoutMs`. */
function withTimeout(promise, timeoutMs) {
  let timer
  const timeout = new Promise((resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`onEvent did not settle within ${timeoutMs} ms`)), timeoutMs)
  })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}

/** How long `close()` waits for `onEvent` calls still running, by default. */
const DEFAULT_CLOSE_TIMEOUT_MS = 10_000

function requireString(value, what) {
  if (typeof value !== 'string' || value.length === 0) throw argumentError(`${what} must be a non-empty string`)
  return value
}

class WebhookSDK {
  #native
  #onEvent
  #onEventTimeoutMs
  #onEventCalls = new OnEventCalls()
  /** Successes with nothing to settle, ended here and not yet counted by the core. */
  #successesToCount = 0
  #closeTimeoutMs
  #respondWithDetails
  #telemetry
  #servers = new Map()
  #reminders = new ReminderRegistry()
  #closeReported = false

  /** @param {import('./index').WebhookSDKConfig} config */
  constructor(config) {
    if (config === null || typeof config !== 'object' || Array.isArray(config)) {
      throw configError('the config must be an object')
    }
    for (const name of ['onEvent', 'onError']) {
      if (config[name] !== undefined && config[name] !== null && typeof config[name] !== 'function') {
        throw configError(`'${name}' must be a function`)
      }
    }
    // The rest crosses as it is; the Rust core checks every field.
    const { onEvent, onError, ...options } = config
    const onServerEvent = onEvent ? bridgeCallback((event) => this.#callOnEvent(event, true), toServerEvent) : undefined
    const onReminder = bridgeCallback((fire) => this.#runReminder(fire), (fire) => fire)
    const faults = new FaultReporter(onError ?? null, () => debugLogging)
    const onFault = (fault) => faults.report(fault)
    this.#native = callSync(() => new binding.NativeWebhookSdk(options, onServerEvent, onReminder, onFault))
    this.#telemetry = new SdkTelemetry(this.#native, SUPPORTED_EVENTS, () => this.stats())
    /** Durable reminders in the configured database (see README "Reminders in production"). */
    this.reminders = new DurableReminders(this.#native)
    // Read once the native side has validated the config.
    this.#onEvent = onEvent
    this.#onEventTimeoutMs = config.onEventTimeoutMs ?? null
    this.#closeTimeoutMs = config.closeTimeoutMs ?? DEFAULT_CLOSE_TIMEOUT_MS
    this.#respondWithDetails = config.respondWithDetails === true
    debugLogging = config.debug === true
    // Unsigned mode works as in the Python SDK, but is never silent.
    if (config.signingKey === undefined || config.signingKey === null) {
      process.emitWarning(
        'WebhookSDK: no signingKey, so signature verification is disabled: anyone who can reach the ' +
          'endpoint can post events. Set signingKey to the key from the Eka Care console.',
        { code: 'EKA_UNSIGNED' },
      )
    }
  }

  /** Every counter as plain numbers: deliveries, API calls and latency, queue depth, reminders. */
  stats() {
    this.#countSuccesses()
    return JSON.parse(this.#native.stats())
  }

  /** Calls a fired reminder's callback with the fresh context (fetch failures were logged). */
  #runReminder(fire) {
    if (fire.name) return this.reminders.dispatch(fire)
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
    const request = shapeRequestBody(body)
    if (request.failure) return this.#end(delivery, failure(400, request.failure))
    const signature = signatureHeaderOf(headers)
    const eventType = request.payload.event
    // A traced delivery asks the core for its phase timings.
    const timed = delivery !== null
    let claimedKey = null
    try {
      let native = this.#handle(request.text, request.payload, signature, timed, !request.isCanonical)
      // The raw bytes first, then what the sender signed if it signed its payload object.
      if (native.error === INVALID_SIGNATURE && !request.isCanonical) {
        const canonical = JSON.stringify(request.payload)
        if (canonical === request.text) return this.#end(delivery, toWebhookResult(native, request.payload), null, native.phases, eventType)
        native = this.#handle(canonical, request.payload, signature, timed, false)
      }
      // A promise only while the core waits: the Eka Care API, or a database ledger.
      if (typeof native.then === 'function') native = await callAsync(native)
      const result = toWebhookResult(native, request.payload)
      const phases = native.phases ?? []
      // The core has counted (and settled) every answer but a fresh success onEvent follows.
      if (!this.#onEvent || !result.event || result.duplicate) {
        return this.#telemetry.endDelivery(delivery, result, { phases, reason: native.reason, eventType })
      }
      claimedKey = native.claimedKey ?? null
      const delivered = await this.#telemetry.timePhase(delivery, phases, 'onEvent', () => this.#deliver(result))
      const key = claimedKey
      claimedKey = null
      return await this.#end(delivery, delivered, key, phases, eventType)
    } catch (error) {
      if (claimedKey !== null) {
        await callAsync(this.#native.finishDelivery(claimedKey, 500, messageOf(error))).catch(() => {})
      }
      this.#telemetry.failDelivery(delivery, error)
      throw error
    }
  }

  /**
   * Ends a delivery the core has not counted: settles its claim (`claimedKey`: done on a 200,
   * released otherwise), counts it, ends its span. Returns `result`, or a promise of it while a
   * database ledger records the settle.
   */
  #end(delivery, result, claimedKey = null, phases = [], eventType = undefined) {
    const end = (reason) => this.#telemetry.endDelivery(delivery, result, { phases, reason, eventType })
    if (claimedKey === null && result.status === 200) {
      if (this.#successesToCount++ === 0) setImmediate(() => this.#countSuccesses())
      return end(OK_REASON)
    }
    const finished = this.#native.finishDelivery(claimedKey, result.status, result.error ?? null)
    return typeof finished === 'string' ? end(finished) : callAsync(finished).then(end)
  }

  /** Hands the core the successes `#end` counted since last time (one native call for many). */
  #countSuccesses() {
    const count = this.#successesToCount
    if (count === 0) return
    // Cleared first: a call that throws (it runs from setImmediate too) never counts them twice.
    this.#successesToCount = 0
    this.#native.countSuccesses(count)
  }

  #handle(text, payload, signature, timed, canonicalRetry) {
    const data = payload.data
    const fields = data !== null && typeof data === 'object'
    try {
      return this.#native.handle(
        text,
        stringOrNull(payload.event),
        fields ? stringOrNull(data.appointment_id) : null,
        fields ? stringOrNull(data.p_aid) : null,
        stringOrNull(payload.transaction_id),
        signature,
        timed,
        canonicalRetry,
      )
    } catch (error) {
      throw withCode(error)
    }
  }

  /** Calls `onEvent` within `onEventTimeoutMs`, tracked so that `close()` can wait for it or cut it. */
  #callOnEvent(event, fromServer = false) {
    const call = () => {
      const delivered = this.#onEvent(event)
      return this.#onEventTimeoutMs === null ? delivered : withTimeout(delivered, this.#onEventTimeoutMs)
    }
    return this.#onEventCalls.run(event, call, fromServer)
  }

  /**
   * Awaits `onEvent` with the result's own event; a throw, rejection, timeout or cut by
   * `close()` answers 500.
   */
  #deliver(result) {
    return this.#callOnEvent(result.event).then(() => result, (error) => {
      const message = messageOf(error)
      if (debugLogging) console.log(`[ERROR] WebhookSDK: Error in on_event callback: ${message}`)
      return { status: 500, body: { error: ON_EVENT_FAILED }, error: message }
    })
  }

  /**
   * `handleRequest` for an HTTP door: a success's body is `{success, event}` (and `duplicate`),
   * the Python SDK's body with the patient's details only with `respondWithDetails`.
   */
  async [RESPOND](body, headers) {
    const result = await this.handleRequest(body, headers)
    if (this.#respondWithDetails || result.status !== 200 || result.duplicate) return result
    return { ...result, body: { success: true, event: result.event.type } }
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
    // Stops accepting, and resolves once the requests in flight are answered.
    const closeNative = () => {
      closing ??= callAsync(native.close()).finally(() => {
        clearInterval(keepAlive)
        this.#servers.delete(server)
      })
      return closing
    }
    const server = {
      port: native.port,
      // Bounded as `sdk.close()` is: an onEvent still running after closeTimeoutMs is cut.
      close: async () => {
        await this.#onEventCalls.drain(this.#closeTimeoutMs, closeNative(), true)
      },
    }
    this.#servers.set(server, closeNative)
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

  /**
   * Stops servers and reminders, closes pools and releases callbacks. Waits for `onEvent` calls
   * still running for at most `closeTimeoutMs`, then cuts them (see lib/on-event-calls.js); gives
   * waiting schedule writes up to 10 s. Resolves to `{ cutDeliveries, unflushedWrites }`.
   * Idempotent (`unflushedWrites` is the first call's on every call).
   */
  async close() {
    // The servers' unbounded close: the bound (and its one report) is the SDK's own drain.
    const servers = Promise.all([...this.#servers.values()].map((closeNative) => closeNative()))
    const cutDeliveries = await this.#onEventCalls.drain(this.#closeTimeoutMs, servers)
    this.#countSuccesses()
    const { unflushedWrites } = await callAsync(this.#native.close())
    this.#reminders.clear()
    this.#telemetry.close()
    if (unflushedWrites > 0 && !this.#closeReported) {
      this.#closeReported = true
      process.emitWarning(
        `WebhookSDK: closed with ${unflushedWrites} schedule write(s) the database did not get in time; they are lost`,
        { code: 'EKA_WRITES_UNFLUSHED' },
      )
    }
    return { cutDeliveries, unflushedWrites }
  }
}

/** The exact text to sign or verify for a payload: strings and Buffers as they are. */
function bodyForSignature(payload, fnName) {
  const shaped = shapeBody(payload)
  if (shaped.failure) throw argumentError(`${fnName}: payload cannot be serialised: ${shaped.failure}`)
  if (shaped.text === null) throw argumentError(`${fnName}: payload is required`)
  return shaped
}

function verifySignature(payload, signatureHeader, signingKey, options = {}) {
  const keys = Array.isArray(signingKey) ? signingKey : [signingKey]
  if (!keys.every((k) => typeof k === 'string' || k === undefined || k === null)) {
    throw argumentError('verifySignature: signingKey must be a string or an array of strings')
  }
  const shaped = bodyForSignature(payload, 'verifySignature')
  const header = typeof signatureHeader === 'string' ? signatureHeader : null
  const verify = (text) => callSync(
    binding.nativeVerifySignature,
    text,
    header,
    keys.filter((k) => typeof k === 'string'),
    options?.toleranceSeconds ?? null,
    options?.now ?? null,
  )
  const result = verify(shaped.text)
  // The raw bytes first, then their canonical form (what a sender signing its object signed).
  if (result.reason !== INVALID_SIGNATURE || shaped.isCanonical) return result
  const canonical = canonicalText(shaped.text)
  return canonical === undefined || canonical === shaped.text ? result : verify(canonical)
}

function generateSignatureHeader(payload, signingKey, timestamp) {
  requireString(signingKey, 'generateSignatureHeader: signingKey')
  const shaped = bodyForSignature(payload, 'generateSignatureHeader')
  return callSync(binding.nativeGenerateSignatureHeader, shaped.text, signingKey, timestamp ?? null)
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
