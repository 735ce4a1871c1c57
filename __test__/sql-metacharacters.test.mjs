// Ids with quotes, unicode and SQL metacharacters go through the whole public API (webhook →
// row → range query → reminderSent) intact, on every backend: every value is a bound parameter.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { setup, appointmentPayload, signedHeaders, SAMPLE } from './support/sdk.mjs'
import { BACKENDS } from './support/backends.mjs'

const AWKWARD = [
  `O'Brien"; DROP TABLE eka_webhook_schedule_appointment; --`,
  'back\\slash %_ wildcards',
  'ünïcødé 中文 😀',
  "') OR ('1'='1",
  'tab\there / slash',
]

async function roundTrip(persistence, rowsOf) {
  const t = await setup({ persistence })
  try {
    const template = t.simulator.getAppointment(SAMPLE.appointmentId)
    for (const [i, id] of AWKWARD.entries()) {
      t.simulator.setAppointment({ ...template, appointment_id: id, start_time: template.start_time + i })
      const payload = appointmentPayload('appointment.created', id)
      const r = await t.sdk.handleRequest(payload, signedHeaders(payload))
      assert.equal(r.status, 200, id)
      assert.equal(r.body.appointmentDetails.appointment_id, id)
    }
    const rows = await rowsOf()
    assert.deepEqual([...rows.keys()].sort(), [...AWKWARD].sort())
    const found = await t.sdk.findAppointmentsBetween({ startTime: template.start_time, endTime: template.start_time + AWKWARD.length })
    assert.deepEqual(found.appointments.map((a) => a.appointment_id), AWKWARD)
    await t.sdk.reminderSent(AWKWARD[0])
    const after = await rowsOf()
    assert.equal(typeof after.get(AWKWARD[0]).reminder_sent_at, 'number')
    assert.equal(after.get(AWKWARD[1]).reminder_sent_at, null, 'only the named row')
  } finally {
    await t.close()
  }
}

for (const backend of BACKENDS) {
  test(`${backend.name}: awkward ids round-trip through the public API`, async () => {
    const place = await backend.open('awkward')
    try {
      await roundTrip(place.persistence, place.rows)
    } finally {
      await place.cleanup()
    }
  })
}
