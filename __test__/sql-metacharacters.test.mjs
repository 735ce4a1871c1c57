// Ids with quotes, unicode and SQL metacharacters go through the whole public API (webhook →
// row → range query → reminderSent) intact, on MariaDB and SQLite: every value is a bound parameter.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import path from 'node:path'
import { setup, appointmentPayload, signedHeaders, SAMPLE } from './support/sdk.mjs'
import { createMysqlDatabase, mysqlRows, sqliteRows, tempDir } from './support/sql.mjs'

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
    const rows = rowsOf()
    assert.deepEqual([...rows.keys()].sort(), [...AWKWARD].sort())
    const found = await t.sdk.findAppointmentsBetween({ startTime: template.start_time, endTime: template.start_time + AWKWARD.length })
    assert.deepEqual(found.appointments.map((a) => a.appointment_id), AWKWARD)
    await t.sdk.reminderSent(AWKWARD[0])
    assert.equal(typeof rowsOf().get(AWKWARD[0]).reminder_sent_at, 'number')
    assert.equal(rowsOf().get(AWKWARD[1]).reminder_sent_at, null, 'only the named row')
  } finally {
    await t.close()
  }
}

test('MariaDB: awkward ids round-trip through the public API', async () => {
  const db = createMysqlDatabase('awkward')
  try {
    await roundTrip({ type: 'mysql', connection: db.connection }, () => mysqlRows(db.name))
  } finally {
    db.drop()
  }
})

test('SQLite: awkward ids round-trip through the public API', async () => {
  const dir = tempDir('awkward')
  try {
    const filename = path.join(dir.dir, 'schedule.db')
    await roundTrip({ type: 'sqlite', filename }, () => sqliteRows(filename))
  } finally {
    dir.cleanup()
  }
})
