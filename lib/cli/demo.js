'use strict'
// `eka-webhook demo`: the SDK's main job end to end on one machine, with no Eka Care account.
// Starts the Eka Care API simulator and a standalone server with SQLite persistence, sends signed
// events of all four types, then shows the stored rows, a range query and a reminder firing.

const { mkdtempSync, rmSync } = require('node:fs')
const { tmpdir } = require('node:os')
const path = require('node:path')
const { WebhookSDK, generateSignatureHeader, SCHEDULE_TABLE_NAME } = require('../index.js')
const { startSimulator, SAMPLE, FIXTURE_BASE_EPOCH_SECONDS } = require('../../simulator/index.js')
const { samplePayload } = require('./samples.js')

const SIGNING_KEY = 'whsec_demo_signing_key'

function heading(text) {
  console.log(`\n== ${text} ${'='.repeat(Math.max(0, 70 - text.length))}`)
}

/** The stored rows, read straight from the SQLite file (better-sqlite3 is a dev dependency). */
function storedRows(filename) {
  let Database
  try {
    Database = require('better-sqlite3')
  } catch {
    return null
  }
  const db = new Database(filename, { readonly: true })
  try {
    return db.prepare(`SELECT * FROM ${SCHEDULE_TABLE_NAME} ORDER BY start_time, appointment_id`).all()
  } finally {
    db.close()
  }
}

async function runDemo() {
  const dir = mkdtempSync(path.join(tmpdir(), 'eka-webhook-demo-'))
  const filename = path.join(dir, 'schedule.db')
  const simulator = await startSimulator()
  const sdk = new WebhookSDK({
    ...simulator.sdkOptions,
    signingKey: SIGNING_KEY,
    path: '/webhooks/eka',
    persistence: { type: 'sqlite', filename },
    onEvent: (event) => {
      const details = event.appointmentDetails
      const summary = details
        ? `${details.appointment_id} status=${details.status} visit_type=${details.visit_type} patient=${event.patientDetails?.fln} doctor=${event.doctorDetails?.name} clinic=${event.clinicDetails?.name}`
        : JSON.stringify(event.payload.data)
      console.log(`  onEvent: ${event.type} ${summary}`)
    },
  })
  try {
    const server = sdk.listen(0)
    const url = `http://127.0.0.1:${server.port}/webhooks/eka`
    heading('Setup')
    console.log(`  Eka Care API simulator: ${simulator.url}`)
    console.log(`  webhook server:         POST ${url}`)
    console.log(`  persistence:            SQLite ${filename}`)

    // A booking that is rescheduled (the new one names it in p_aid) and one that is cancelled.
    const base = FIXTURE_BASE_EPOCH_SECONDS + 3 * 86400
    const template = simulator.getAppointment(SAMPLE.appointmentId)
    simulator.setAppointment({ ...template, appointment_id: 'apt-demo-old', start_time: base, end_time: base + 900 })
    simulator.setAppointment({ ...template, appointment_id: 'apt-demo-new', start_time: base + 3600, end_time: base + 4500 })
    simulator.setAppointment({ ...template, appointment_id: 'apt-demo-cancelled', start_time: base + 7200, end_time: base + 8100 })

    const deliveries = [
      samplePayload('appointment.created', SAMPLE.appointmentId),
      samplePayload('appointment.created', SAMPLE.followupAppointmentId),
      samplePayload('appointment.created', 'apt-demo-old'),
      samplePayload('appointment.created', 'apt-demo-new', { p_aid: 'apt-demo-old' }),
      samplePayload('appointment.created', 'apt-demo-cancelled'),
      samplePayload('appointment.updated', 'apt-demo-cancelled'),
      samplePayload('prescription.created', SAMPLE.appointmentId),
      samplePayload('prescription.updated', SAMPLE.appointmentId),
    ]
    heading('Signed webhooks of all four types')
    for (const payload of deliveries) {
      if (payload.event === 'appointment.updated') {
        simulator.setAppointment({ ...simulator.getAppointment(payload.data.appointment_id), status: 'CND' })
      }
      const body = JSON.stringify(payload)
      const response = await fetch(url, {
        method: 'POST',
        body,
        headers: { 'content-type': 'application/json', 'eka-webhook-signature': generateSignatureHeader(body, SIGNING_KEY) },
      })
      // The answer names the event only: the details went to onEvent (respondWithDetails: false).
      const answer = await response.text()
      console.log(`  ${payload.event} ${payload.data.appointment_id}${payload.data.p_aid ? ` (p_aid=${payload.data.p_aid})` : ''} → HTTP ${response.status} ${answer}`)
    }
    const forged = await fetch(url, {
      method: 'POST',
      body: JSON.stringify(deliveries[0]),
      headers: { 'eka-webhook-signature': generateSignatureHeader(deliveries[0], 'not-the-key') },
    })
    console.log(`  a forged signature → HTTP ${forged.status} ${JSON.stringify(await forged.json())}`)

    heading(`Stored rows (${SCHEDULE_TABLE_NAME})`)
    const rows = storedRows(filename)
    if (rows) console.table(rows)
    else console.log('  (install better-sqlite3 to print the raw rows)')

    heading('findAppointmentsBetween')
    const window = { startTime: FIXTURE_BASE_EPOCH_SECONDS, endTime: FIXTURE_BASE_EPOCH_SECONDS + 30 * 86400 }
    const found = await sdk.findAppointmentsBetween(window)
    console.log(`  window ${new Date(window.startTime * 1000).toISOString()} … ${new Date(window.endTime * 1000).toISOString()}`)
    console.log(`  appointments (BK):          ${found.appointments.map((a) => a.appointment_id).join(', ') || '(none)'}`)
    console.log(`  followupAppointments (FLW): ${found.followupAppointments.map((a) => a.appointment_id).join(', ') || '(none)'}`)

    heading('A reminder, with fresh details at fire time')
    simulator.setPatient({ ...require('../../simulator/fixtures.js').createFixtures().patients.get(SAMPLE.patientId), mobile: '+91-99999-00000' })
    const fired = new Promise((resolve) => {
      const reminder = sdk.scheduleReminder({
        cronTime: new Date(Date.now() + 1000),
        appointmentId: SAMPLE.appointmentId,
        callback: async (context) => {
          console.log(`  reminder ${reminder.id} fired: ${context.appointmentDetails.appointment_id} for ${context.patientDetails?.fln} (${context.patientDetails?.mobile}) with ${context.doctorDetails?.name}`)
          await sdk.reminderSent(context.appointmentDetails.appointment_id)
          resolve()
        },
      })
      console.log(`  scheduled ${reminder.id} for ${reminder.nextRun.toISOString()}`)
    })
    await fired
    const sentAt = storedRows(filename)?.find((r) => r.appointment_id === SAMPLE.appointmentId)?.reminder_sent_at
    if (sentAt !== undefined) console.log(`  reminderSent recorded reminder_sent_at=${sentAt}`)

    await durableReminderAcrossRestart({ apiBaseUrl: simulator.url, filename })
    heading('Done')
  } finally {
    await sdk.close()
    await simulator.close()
    rmSync(dir, { recursive: true, force: true })
  }
}

/**
 * `sdk.reminders`: a reminder stored in the database outlives the instance that scheduled it. The
 * first instance schedules it and stops before it is due (a deploy); the next one fires it late.
 */
async function durableReminderAcrossRestart({ apiBaseUrl, filename }) {
  heading('A durable reminder surviving a restart (sdk.reminders)')
  const config = { clientId: 'demo-client', clientSecret: 'demo-secret', apiBaseUrl, persistence: { type: 'sqlite', filename } }
  const handler = (instance, done) => async (context, info) => {
    console.log(`  ${instance}: '${info.name}' fired for ${context.appointmentDetails.appointment_id} (${context.patientDetails?.fln}), attempt ${info.attempt}, ${info.lateByMs} ms late`)
    done?.()
  }
  const before = new WebhookSDK({ ...config, reminders: { pollIntervalMs: 200 } })
  before.reminders.define('visit-reminder', handler('instance 1'))
  const scheduled = await before.reminders.schedule({ appointmentId: SAMPLE.appointmentId, name: 'visit-reminder', at: new Date(Date.now() + 1500) })
  console.log(`  instance 1 scheduled ${scheduled.id} for ${scheduled.dueAt.toISOString()} (status ${scheduled.status})`)
  await before.close()
  console.log('  instance 1 stopped before it was due (a deploy, a crash)')
  await new Promise((resolve) => setTimeout(resolve, 2500))
  const after = new WebhookSDK({ ...config, reminders: { pollIntervalMs: 200 } })
  try {
    console.log('  instance 2 started on the same database')
    await new Promise((resolve) => after.reminders.define('visit-reminder', handler('instance 2', resolve)))
    await new Promise((resolve) => setTimeout(resolve, 200))
    const [row] = await after.reminders.list({ appointmentId: SAMPLE.appointmentId })
    console.log(`  stored: ${row.id} status=${row.status} attempt=${row.attempt}`)
  } finally {
    await after.close()
  }
}

module.exports = { runDemo }
