// OpenTelemetry through the real SDK's in-memory exporters (spans and metrics), sdk.stats(), and
// a copy of the package where @opentelemetry/api cannot be found (it is never required).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { trace, metrics } from '@opentelemetry/api'
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base'
import {
  AggregationTemporality,
  InMemoryMetricExporter,
  MeterProvider,
  PeriodicExportingMetricReader,
} from '@opentelemetry/sdk-metrics'
import { ROOT } from './support/python.mjs'
import { installPublishedCopy } from './support/package-copy.mjs'
import { SAMPLE, appointmentPayload, setup, signedHeaders } from './support/sdk.mjs'

const spans = new InMemorySpanExporter()
trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spans)] }))
const metricExporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE)
const reader = new PeriodicExportingMetricReader({ exporter: metricExporter, exportIntervalMillis: 3_600_000 })
metrics.setGlobalMeterProvider(new MeterProvider({ readers: [reader] }))

const BOUNDED = { timeout: 30_000 }

/** The latest export of each metric: name → data points. */
async function collectMetrics() {
  metricExporter.reset()
  await reader.forceFlush()
  const points = new Map()
  for (const resourceMetrics of metricExporter.getMetrics()) {
    for (const scope of resourceMetrics.scopeMetrics) {
      for (const metric of scope.metrics) points.set(metric.descriptor.name, metric.dataPoints)
    }
  }
  return points
}

function pointValue(points, attributes) {
  const point = points.find((p) => Object.entries(attributes).every(([k, v]) => p.attributes[k] === v))
  return point?.value
}

/** Every string in a JSON value (to check that none reached a span or a metric). */
function stringsIn(value) {
  if (typeof value === 'string') return [value]
  if (value === null || typeof value !== 'object') return []
  return Object.values(value).flatMap(stringsIn)
}

test('a delivery is an eka.webhook span with the core-timed phases as children, and no patient data', BOUNDED, async (t) => {
  spans.reset()
  const events = []
  const ctx = await setup({ persistence: { type: 'sqlite', filename: ':memory:' }, onEvent: (event) => void events.push(event.type) })
  t.after(() => ctx.close())
  const payload = appointmentPayload()
  const result = await ctx.sdk.handleRequest(payload, signedHeaders(payload))
  assert.equal(result.status, 200)
  assert.deepEqual(events, ['appointment.created'])

  const finished = spans.getFinishedSpans()
  const root = finished.find((s) => s.name === 'eka.webhook')
  assert.ok(root, finished.map((s) => s.name).join(', '))
  assert.deepEqual(root.attributes, {
    'http.response.status_code': 200,
    'eka.webhook.reason': 'ok',
    'eka.webhook.duplicate': false,
    'eka.webhook.event_type': 'appointment.created',
  })
  const children = finished.filter((s) => s.parentSpanContext?.spanId === root.spanContext().spanId)
  assert.deepEqual(children.map((s) => s.name), ['eka.webhook.verify', 'eka.webhook.dedupe', 'eka.webhook.enrich', 'eka.webhook.persist', 'eka.webhook.onEvent'])
  const ms = ([seconds, nanos]) => seconds * 1000 + nanos / 1e6
  for (const [i, child] of children.entries()) {
    assert.equal(child.spanContext().traceId, root.spanContext().traceId)
    assert.ok(ms(child.startTime) >= ms(root.startTime), `${child.name} starts inside the delivery`)
    assert.ok(ms(child.endTime) <= ms(root.endTime) + 1, `${child.name} ends inside the delivery`)
    if (i > 0) assert.ok(ms(child.startTime) >= ms(children[i - 1].endTime) - 0.01, `${child.name} after ${children[i - 1].name}`)
  }
  // The enrichment waited for the simulator: its span is not empty.
  assert.ok(ms(children[2].duration) > 0)

  const privateValues = new Set(stringsIn(result.body).filter((s) => s !== 'appointment.created' && s.length > 2))
  assert.ok(privateValues.has(SAMPLE.patientId))
  for (const span of finished) {
    for (const value of stringsIn(span.attributes)) assert.ok(!privateValues.has(value), `${span.name} carries ${value}`)
  }

  // The same delivery again: a duplicate, checked in the ledger and answered without enriching.
  spans.reset()
  assert.equal((await ctx.sdk.handleRequest(payload, signedHeaders(payload))).duplicate, true)
  const again = spans.getFinishedSpans()
  const duplicateRoot = again.find((s) => s.name === 'eka.webhook')
  assert.equal(duplicateRoot.attributes['eka.webhook.duplicate'], true)
  const phases = again.filter((s) => s.parentSpanContext?.spanId === duplicateRoot.spanContext().spanId)
  assert.deepEqual(phases.map((s) => s.name), ['eka.webhook.verify', 'eka.webhook.dedupe'])
})

test('a forged delivery: status 403, reason, the verify phase only', BOUNDED, async (t) => {
  spans.reset()
  const ctx = await setup()
  t.after(() => ctx.close())
  const payload = appointmentPayload()
  const result = await ctx.sdk.handleRequest(payload, signedHeaders(payload, 'forged-key'))
  assert.equal(result.status, 403)
  const finished = spans.getFinishedSpans()
  const root = finished.find((s) => s.name === 'eka.webhook')
  assert.equal(root.attributes['http.response.status_code'], 403)
  assert.equal(root.attributes['eka.webhook.reason'], 'signature_invalid')
  assert.deepEqual(finished.filter((s) => s !== root).map((s) => s.name), ['eka.webhook.verify'])
  assert.equal(root.status.code, 0, 'a 4xx is the sender’s failure, not the span’s')
})

test('metrics and sdk.stats() report the same counters: deliveries, API calls and latency, queue depth', BOUNDED, async (t) => {
  const ctx = await setup()
  t.after(() => ctx.close())
  const payload = appointmentPayload()
  for (let i = 0; i < 3; i++) assert.equal((await ctx.sdk.handleRequest(payload, signedHeaders(payload))).status, 200)
  assert.equal((await ctx.sdk.handleRequest(payload, {})).status, 403)
  const unknown = appointmentPayload('appointment.created', 'apt-does-not-exist')
  assert.equal((await ctx.sdk.handleRequest(unknown, signedHeaders(unknown))).status, 502)
  // The standalone server is a Rust-only door: counted by the core all the same.
  const server = ctx.sdk.listen(0)
  const response = await fetch(`http://127.0.0.1:${server.port}/`, { method: 'POST', body: '{', headers: signedHeaders('{') })
  assert.equal(response.status, 400)
  await server.close()

  const stats = ctx.sdk.stats()
  assert.equal(stats.deliveries.total, 6)
  assert.deepEqual(stats.deliveries.byStatus, { 200: 3, 400: 1, 403: 1, 502: 1 })
  assert.deepEqual(stats.deliveries.byReason, {
    ok: 3,
    invalid_json: 1,
    signature_missing: 1,
    appointment_fetch_failed: 1,
  })
  const sim = ctx.simulator.stats()
  // Every request the simulator answered, by route (login included), and no other.
  assert.deepEqual(stats.api.byResource, Object.fromEntries(Object.entries(sim.requests).filter(([, n]) => n > 0)))
  assert.equal(stats.api.calls, Object.values(sim.requests).reduce((a, b) => a + b, 0))
  assert.equal(stats.api.byOutcome.http_4xx, 1)
  assert.equal(stats.api.latencyMs.count, stats.api.calls)
  assert.equal(stats.api.latencyMs.buckets.reduce((sum, b) => sum + b.count, 0), stats.api.calls)
  assert.ok(stats.api.latencyMs.sumMs > 0)
  assert.equal(stats.writeQueueDepth, 0)

  const points = await collectMetrics()
  const deliveries = points.get('eka.webhook.deliveries')
  assert.equal(pointValue(deliveries, { 'http.response.status_code': 200, 'eka.webhook.reason': 'ok' }), 3)
  assert.equal(pointValue(deliveries, { 'http.response.status_code': 502, 'eka.webhook.reason': 'appointment_fetch_failed' }), 1)
  assert.equal(pointValue(deliveries, { 'http.response.status_code': 400, 'eka.webhook.reason': 'invalid_json' }), 1)
  const calls = points.get('eka.api.calls')
  assert.equal(pointValue(calls, { 'eka.api.resource': 'appointment', 'eka.api.outcome': 'http_4xx' }), 1)
  const latency = points.get('eka.api.request.duration')
  assert.equal(latency.reduce((sum, p) => sum + p.value.count, 0), stats.api.calls)
  assert.deepEqual(points.get('eka.write_queue.depth').map((p) => p.value), [0])
  for (const name of points.keys()) assert.match(name, /^eka\./)
  for (const [name, dataPoints] of points) {
    for (const p of dataPoints) {
      for (const value of Object.values(p.attributes)) assert.doesNotMatch(String(value), /apt-|pat-|doc-|cln-/, name)
    }
  }
})

test('reminders: an eka.reminder.fire span and lateness per fire, outcomes counted', BOUNDED, async (t) => {
  spans.reset()
  const ctx = await setup()
  t.after(() => ctx.close())
  const fired = []
  const soon = () => new Date(Date.now() + 100)
  const done = new Promise((resolve) => {
    ctx.sdk.scheduleReminder({ cronTime: soon(), appointmentId: SAMPLE.appointmentId, callback: () => void fired.push('ok') })
    ctx.sdk.scheduleReminder({
      cronTime: soon(),
      appointmentId: SAMPLE.appointmentId,
      callback: async () => {
        fired.push('failing')
        throw new Error('sms gateway down')
      },
    })
    ctx.sdk.scheduleReminder({ cronTime: soon(), appointmentId: 'apt-does-not-exist', callback: () => void fired.push('never') })
    const poll = setInterval(() => {
      if (ctx.sdk.stats().reminders.latenessMs.count === 3) {
        clearInterval(poll)
        resolve()
      }
    }, 20)
  })
  await done
  assert.deepEqual(fired.sort(), ['failing', 'ok'])
  const stats = ctx.sdk.stats()
  assert.deepEqual(stats.reminders.byOutcome, { fired: 1, callback_failed: 1, fetch_failed: 1 })
  assert.ok(stats.reminders.latenessMs.sumMs >= 0)

  const reminderSpans = spans.getFinishedSpans().filter((s) => s.name === 'eka.reminder.fire')
  assert.deepEqual(reminderSpans.map((s) => s.attributes['eka.reminder.outcome']).sort(), ['callback_failed', 'fetch_failed', 'fired'])
  for (const span of reminderSpans) {
    assert.equal(typeof span.attributes['eka.reminder.lateness_ms'], 'number')
    assert.deepEqual(Object.keys(span.attributes).sort(), ['eka.reminder.lateness_ms', 'eka.reminder.outcome'])
  }
  assert.equal(reminderSpans.find((s) => s.attributes['eka.reminder.outcome'] === 'callback_failed').status.code, 2)

  const points = await collectMetrics()
  assert.equal(points.get('eka.reminder.lateness').reduce((sum, p) => sum + p.value.count, 0), 3)
  assert.equal(pointValue(points.get('eka.reminder.fires'), { 'eka.reminder.outcome': 'fetch_failed' }), 1)
})

test('without @opentelemetry/api the SDK works and stats() still counts (the package is never required)', BOUNDED, async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'eka-no-otel-'))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  const installed = installPublishedCopy(dir)
  const addon = 'eka-webhook-sdk.linux-x64-gnu.node'
  symlinkSync(path.join(ROOT, addon), path.join(installed, addon))
  const script = path.join(dir, 'main.cjs')
  writeFileSync(
    script,
    `const { WebhookSDK, generateSignatureHeader } = require('@eka-care/webhook-sdk')
    let resolved = true
    try { require.resolve('@opentelemetry/api', { paths: [require.resolve('@eka-care/webhook-sdk')] }) } catch { resolved = false }
    const sdk = new WebhookSDK({ clientId: 'id', clientSecret: 's', signingKey: 'k' })
    const body = JSON.stringify({ event: 'prescription.created' })
    sdk.handleRequest(body, { 'eka-webhook-signature': generateSignatureHeader(body, 'k') }).then(async (result) => {
      console.log(JSON.stringify({ resolved, status: result.status, byReason: sdk.stats().deliveries.byReason }))
      await sdk.close()
    })
    `,
  )
  const run = spawnSync(process.execPath, [script], { cwd: dir, encoding: 'utf8', timeout: 20_000 })
  assert.equal(run.status, 0, run.stderr)
  assert.deepEqual(JSON.parse(run.stdout), { resolved: false, status: 200, byReason: { ok: 1 } })
})
