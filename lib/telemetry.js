'use strict'
// Optional OpenTelemetry. With `@opentelemetry/api` installed (an optional peer dependency) and a
// tracer / meter provider registered by the app: each delivery through a JS door is an
// `eka.webhook` span with one child span per phase the Rust core ran (timed there), each fired
// reminder an `eka.reminder.fire` span, and the core's counters go out as metrics. Without the
// package every hook is a no-op. Attributes are fixed names and numbers (event type, status,
// reason, API resource), never ids or anything from a payload, so no patient data leaves.
// A delivery the ledger has seen done gets `eka.webhook.duplicate: true` (its `dedupe` phase is
// the ledger's claim, timed by the core like the others).

const { performance } = require('node:perf_hooks')
const { name: PACKAGE_NAME, version: PACKAGE_VERSION } = require('../package.json')

function loadOpenTelemetry() {
  try {
    return require('@opentelemetry/api')
  } catch {
    return null
  }
}

const otel = loadOpenTelemetry()
const tracer = otel?.trace.getTracer(PACKAGE_NAME, PACKAGE_VERSION)

/** The SDKs whose counters the metric callbacks report (weakly held: an unclosed SDK may go). */
const sources = new Set()

/** The instruments of one meter provider; the app may register its provider after the SDK starts. */
const instrumentsByProvider = new WeakMap()

function instruments() {
  const provider = otel.metrics.getMeterProvider()
  let made = instrumentsByProvider.get(provider)
  if (made === undefined) {
    made = makeInstruments(provider.getMeter(PACKAGE_NAME, PACKAGE_VERSION))
    instrumentsByProvider.set(provider, made)
  }
  return made
}

/** [key, kind, name, description, unit] of each instrument. */
const INSTRUMENTS = [
  ['deliveries', 'createObservableCounter', 'eka.webhook.deliveries', 'Webhook deliveries by HTTP status and reason', '{delivery}'],
  ['apiCalls', 'createObservableCounter', 'eka.api.calls', 'Eka Care API requests by resource and outcome', '{request}'],
  ['apiDuration', 'createHistogram', 'eka.api.request.duration', 'Eka Care API request latency', 'ms'],
  ['reminderFires', 'createObservableCounter', 'eka.reminder.fires', 'Fired reminders by outcome', '{reminder}'],
  ['reminderLateness', 'createHistogram', 'eka.reminder.lateness', 'How long after its time a reminder fired', 'ms'],
  ['writeQueueDepth', 'createObservableGauge', 'eka.write_queue.depth', 'Schedule writes waiting for the database', '{write}'],
]

function makeInstruments(meter) {
  const made = Object.fromEntries(
    INSTRUMENTS.map(([key, kind, name, description, unit]) => [key, meter[kind](name, { description, unit })]),
  )
  meter.addBatchObservableCallback(
    (result) => observe(result, made),
    [made.deliveries, made.apiCalls, made.reminderFires, made.writeQueueDepth],
  )
  return made
}

/** Reports every live SDK's counters (summed), and records the API requests made since last time. */
function observe(result, made) {
  const deliveries = new Map()
  const apiCalls = new Map()
  const reminders = new Map()
  let depth = 0
  for (const ref of sources) {
    const source = ref.deref()
    if (source === undefined) {
      sources.delete(ref)
      continue
    }
    const stats = source.stats()
    for (const { status, reason, count } of stats.deliveries.byStatusAndReason) {
      sum(deliveries, { 'http.response.status_code': status, 'eka.webhook.reason': reason }, count)
    }
    for (const { resource, outcome, count } of stats.api.byResourceAndOutcome) {
      sum(apiCalls, { 'eka.api.resource': resource, 'eka.api.outcome': outcome }, count)
    }
    for (const [outcome, count] of Object.entries(stats.reminders.byOutcome)) {
      sum(reminders, { 'eka.reminder.outcome': outcome }, count)
    }
    depth += stats.writeQueueDepth
    for (const call of source.native.takeApiCalls()) {
      made.apiDuration.record(call.durationMs, { 'eka.api.resource': call.resource, 'eka.api.outcome': call.outcome })
    }
  }
  for (const [instrument, counts] of [[made.deliveries, deliveries], [made.apiCalls, apiCalls], [made.reminderFires, reminders]]) {
    for (const { attributes, value } of counts.values()) result.observe(instrument, value, attributes)
  }
  result.observe(made.writeQueueDepth, depth)
}

function sum(map, attributes, count) {
  const key = JSON.stringify(attributes)
  const entry = map.get(key)
  if (entry) entry.value += count
  else map.set(key, { attributes, value: count })
}

/** Epoch milliseconds with sub-millisecond precision, as span times take them. */
function nowMs() {
  return performance.timeOrigin + performance.now()
}

/**
 * One SDK's hooks over its native instance (`keepApiCalls()`, `takeApiCalls()`) and its
 * `stats()` (the SDK's, which counts what the glue has yet to hand the core).
 * `supportedEvents`: the event names a span may carry (anything else came from the sender).
 */
class SdkTelemetry {
  /** What the metric callbacks read; held here, so it lives as long as the SDK. */
  #source
  #ref
  #supportedEvents

  constructor(native, supportedEvents, stats) {
    this.#supportedEvents = supportedEvents
    if (otel === null) return
    native.keepApiCalls()
    this.#source = { native, stats }
    this.#ref = new WeakRef(this.#source)
    sources.add(this.#ref)
    instruments()
  }

  /**
   * A delivery's span, or null when nothing records it (no OpenTelemetry, no tracer provider,
   * not sampled): then the caller may take paths that report no phase timings.
   */
  startDelivery() {
    if (otel === null) return null
    instruments()
    const startedAt = nowMs()
    const span = tracer.startSpan('eka.webhook', { kind: otel.SpanKind.INTERNAL, startTime: startedAt }, otel.context.active())
    if (!span.isRecording()) return null
    return { span, startedAt }
  }

  /**
   * Ends the delivery's span with `result`'s status and `reason`, and a child span per phase the
   * core ran (`phases`, offsets from its start). Returns `result`.
   */
  endDelivery(delivery, result, { phases = [], reason, eventType } = {}) {
    if (delivery === null) return result
    const { span, startedAt } = delivery
    const parent = otel.trace.setSpan(otel.context.active(), span)
    for (const phase of phases) {
      const start = startedAt + phase.startMs
      tracer.startSpan(`eka.webhook.${phase.name}`, { startTime: start }, parent).end(start + phase.durationMs)
    }
    span.setAttribute('http.response.status_code', result.status)
    if (reason) span.setAttribute('eka.webhook.reason', reason)
    span.setAttribute('eka.webhook.duplicate', result.duplicate === true)
    const type = result.event?.type ?? eventType
    if (this.#supportedEvents.includes(type)) span.setAttribute('eka.webhook.event_type', type)
    if (result.status >= 500) span.setStatus({ code: otel.SpanStatusCode.ERROR, message: reason })
    span.end()
    return result
  }

  /**
   * Runs `run` (async) as the delivery's `name` phase, timed here (the JS doors call `onEvent`
   * themselves): appends it to `phases`, offsets from the delivery's start. Returns its result.
   */
  timePhase(delivery, phases, name, run) {
    if (delivery === null) return run()
    const start = nowMs()
    const record = () => phases.push({ name, startMs: start - delivery.startedAt, durationMs: nowMs() - start })
    return run().finally(record)
  }

  /** Ends the delivery's span for a call that rejected (e.g. a closed SDK). */
  failDelivery(delivery, error) {
    if (delivery === null) return
    delivery.span.setStatus({ code: otel.SpanStatusCode.ERROR, message: error?.code ?? 'error' })
    delivery.span.end()
  }

  /**
   * Runs a fired reminder's callback (`run`) inside an `eka.reminder.fire` span that starts when
   * the core fired it, and records its lateness. `run` is not called when the fetch at fire time
   * failed (`fire` has no context). Returns what `run` returns; throws what it throws.
   */
  traceReminder(fire, run) {
    const fetched = fire.contextJson !== undefined && fire.contextJson !== null
    if (otel === null) return fetched ? run() : undefined
    const lateness = Math.max(0, fire.firedAtMs - fire.scheduledAtMs)
    instruments().reminderLateness.record(lateness)
    const span = tracer.startSpan('eka.reminder.fire', { startTime: fire.firedAtMs, attributes: { 'eka.reminder.lateness_ms': lateness } }, otel.context.active())
    const end = (outcome, error) => {
      span.setAttribute('eka.reminder.outcome', outcome)
      if (error !== undefined) span.setStatus({ code: otel.SpanStatusCode.ERROR, message: outcome })
      span.end()
    }
    if (!fetched) {
      end('fetch_failed', fire.error)
      return undefined
    }
    let returned
    try {
      returned = run()
    } catch (error) {
      end('callback_failed', error)
      throw error
    }
    Promise.resolve(returned).then(() => end('fired'), (error) => end('callback_failed', error))
    return returned
  }

  close() {
    if (this.#ref) sources.delete(this.#ref)
  }
}

module.exports = { SdkTelemetry }
