// The DynamoDB schedule persistence through the public JS API, against a real moto server and
// the Eka Care API simulator: what only DynamoDB has (attribute names and types, its errors).
// The schedule rules and the range query run on every backend in persistence.test.mjs.

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createRequire } from 'node:module'
import { startMoto, dynamo, getItem, freePort, SECRET_ACCESS_KEY } from './support/moto.mjs'
import { useMotoAndSimulator, created, updated, appointment, deliver, DAY } from './support/dynamo-env.mjs'

const require = createRequire(import.meta.url)
const { SCHEDULE_TABLE_NAME } = require('../lib/index.js')
const { SAMPLE } = require('../simulator/index.js')

const env = useMotoAndSimulator()
const makeSdk = (t, persistence) => env.makeSdk(t, persistence)

const now = () => Math.floor(Date.now() / 1000)


test('webhooks write rows with the Python SDK attribute names and types', async (t) => {
  const sdk = makeSdk(t)
  const before = now()
  await deliver(sdk, created(SAMPLE.appointmentId))
  const item = await getItem(env.moto.endpoint, SAMPLE.appointmentId)
  const fixture = env.sim.getAppointment(SAMPLE.appointmentId)
  assert.deepEqual(Object.keys(item).sort(), ['appointment_id', 'created_at', 'end_time', 'start_time', 'status', 'visit_type'])
  assert.deepEqual(item.appointment_id, { S: SAMPLE.appointmentId })
  assert.deepEqual(item.start_time, { N: String(fixture.start_time) })
  assert.deepEqual(item.end_time, { N: String(fixture.end_time) })
  assert.deepEqual(item.status, { S: 'BK' })
  assert.deepEqual(item.visit_type, { S: 'NEW' })
  assert.ok(Number(item.created_at.N) >= before && Number(item.created_at.N) <= now())

  // IN + FLW is scheduled, CND is not.
  await deliver(sdk, created(SAMPLE.followupAppointmentId))
  assert.deepEqual((await getItem(env.moto.endpoint, SAMPLE.followupAppointmentId)).visit_type, { S: 'FLW' })
  await deliver(sdk, created(SAMPLE.cancelledAppointmentId))
  assert.equal(await getItem(env.moto.endpoint, SAMPLE.cancelledAppointmentId), undefined)

  // appointment.updated mirrors the new status onto the existing row only.
  env.sim.setAppointment({ ...fixture, status: 'CND' })
  await deliver(sdk, updated(SAMPLE.appointmentId))
  assert.deepEqual((await getItem(env.moto.endpoint, SAMPLE.appointmentId)).status, { S: 'CND' })
  await deliver(sdk, updated(SAMPLE.cancelledAppointmentId))
  assert.equal(await getItem(env.moto.endpoint, SAMPLE.cancelledAppointmentId), undefined)

  // A reschedule (data.p_aid): the earlier row becomes RES, the new one keeps p_aid.
  env.sim.setAppointment(appointment('apt-resched-1', fixture.start_time + DAY))
  await deliver(sdk, created('apt-resched-1', { p_aid: SAMPLE.appointmentId }))
  assert.deepEqual((await getItem(env.moto.endpoint, SAMPLE.appointmentId)).status, { S: 'RES' })
  assert.deepEqual((await getItem(env.moto.endpoint, 'apt-resched-1')).p_aid, { S: SAMPLE.appointmentId })

  // The table is the Python SDK's.
  const { Table } = await dynamo(env.moto.endpoint, 'DescribeTable', { TableName: SCHEDULE_TABLE_NAME })
  assert.deepEqual(Table.KeySchema, [{ AttributeName: 'appointment_id', KeyType: 'HASH' }])
  assert.equal(Table.GlobalSecondaryIndexes[0].IndexName, 'status_start_time_index')
  assert.equal(Table.BillingModeSummary.BillingMode, 'PAY_PER_REQUEST')
})

test('reminderSent sets reminder_sent_at (N) on an existing row; no row is a no-op', async (t) => {
  const sdk = makeSdk(t)
  await deliver(sdk, created(SAMPLE.appointmentId))
  const before = now()
  await sdk.reminderSent(SAMPLE.appointmentId)
  const item = await getItem(env.moto.endpoint, SAMPLE.appointmentId)
  assert.ok('N' in item.reminder_sent_at, JSON.stringify(item.reminder_sent_at))
  assert.ok(Number(item.reminder_sent_at.N) >= before && Number(item.reminder_sent_at.N) <= now())
  await sdk.reminderSent('no-such-appointment')
  assert.equal(await getItem(env.moto.endpoint, 'no-such-appointment'), undefined)

  // A later re-delivery of the webhook keeps created_at and reminder_sent_at.
  const again = await getItem(env.moto.endpoint, SAMPLE.appointmentId)
  await deliver(sdk, created(SAMPLE.appointmentId))
  const after = await getItem(env.moto.endpoint, SAMPLE.appointmentId)
  assert.deepEqual([after.created_at, after.reminder_sent_at], [again.created_at, again.reminder_sent_at])
})

test('persistence errors never change the webhook status', async (t) => {
  // Nothing listening: the webhook still answers 200, quickly; the query methods reject.
  const port = await freePort()
  const down = makeSdk(t, { endpoint: `http://127.0.0.1:${port}`, connectTimeoutMs: 1_000 })
  const started = Date.now()
  const result = await deliver(down, created(SAMPLE.appointmentId))
  assert.ok(Date.now() - started < 3_000, `took ${Date.now() - started} ms`)
  assert.equal(result.body.appointmentDetails.appointment_id, SAMPLE.appointmentId)
  await assert.rejects(down.findAppointmentsBetween({ startTime: 0, endTime: 1 }), (err) => {
    assert.equal(err.code, 'ERR_PERSISTENCE')
    assert.match(err.message, /unreachable/)
    assert.ok(!err.message.includes(SECRET_ACCESS_KEY))
    return true
  })
  await assert.rejects(down.reminderSent(SAMPLE.appointmentId), { code: 'ERR_PERSISTENCE' })

  // Credentials rejected (moto checking them): 200 as well, and an error without the secret.
  const strict = await startMoto({ env: { INITIAL_NO_AUTH_ACTION_COUNT: '0' } })
  t.after(() => strict.stop())
  const denied = makeSdk(t, { endpoint: strict.endpoint })
  await deliver(denied, created(SAMPLE.appointmentId))
  await deliver(denied, updated(SAMPLE.appointmentId))
  await assert.rejects(denied.findAppointmentsBetween({ startTime: 0, endTime: 1 }), (err) => {
    assert.equal(err.code, 'ERR_PERSISTENCE')
    assert.match(err.message, /rejected the credentials/)
    assert.ok(!err.message.includes(SECRET_ACCESS_KEY))
    return true
  })

  // A table under our name with another key: the webhook is still a 200.
  await dynamo(env.moto.endpoint, 'CreateTable', {
    TableName: SCHEDULE_TABLE_NAME,
    AttributeDefinitions: [{ AttributeName: 'id', AttributeType: 'S' }],
    KeySchema: [{ AttributeName: 'id', KeyType: 'HASH' }],
    BillingMode: 'PAY_PER_REQUEST',
  })
  const incompatible = makeSdk(t)
  await deliver(incompatible, created(SAMPLE.appointmentId))
  await assert.rejects(incompatible.findAppointmentsBetween({ startTime: 0, endTime: 1 }), /incompatible/)
})
