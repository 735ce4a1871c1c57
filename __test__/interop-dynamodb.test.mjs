// Interop with the reference Python SDK (eka-webhook-sdk 0.1.4 from .venv) on one moto
// DynamoDB table: either side creates or migrates it identically, and each finds, and keeps,
// what the other wrote. The Python side is __test__/py/dynamo_interop.py.

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createRequire } from 'node:module'
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { fileURLToPath } from 'node:url'
import { resetMoto, dynamo, getItem, VENV_PYTHON } from './support/moto.mjs'
import { useMotoAndSimulator, created, appointment, deliver, DAY } from './support/dynamo-env.mjs'

const require = createRequire(import.meta.url)
const { SCHEDULE_TABLE_NAME } = require('../lib/index.js')
const { FIXTURE_BASE_EPOCH_SECONDS } = require('../simulator/index.js')

const SCRIPT = fileURLToPath(new URL('./py/dynamo_interop.py', import.meta.url))
const execFileAsync = promisify(execFile)
const env = useMotoAndSimulator()
const makeSdk = (t) => env.makeSdk(t)

/** Runs one job of the Python SDK and returns its JSON result. */
async function py(job) {
  const { stdout } = await execFileAsync(
    VENV_PYTHON,
    [SCRIPT, JSON.stringify({ endpoint: env.moto.endpoint, sim: env.sim.url, ...job })],
    { timeout: 60_000 },
  )
  return JSON.parse(stdout.trim().split('\n').pop())
}

/** What both SDKs must agree on in DescribeTable. */
function shape(table) {
  const byName = (a, b) => a.AttributeName.localeCompare(b.AttributeName)
  return {
    KeySchema: table.KeySchema,
    AttributeDefinitions: [...table.AttributeDefinitions].sort(byName),
    BillingMode: table.BillingModeSummary?.BillingMode,
    GlobalSecondaryIndexes: (table.GlobalSecondaryIndexes ?? []).map((g) => ({
      IndexName: g.IndexName,
      KeySchema: g.KeySchema,
      Projection: { ...g.Projection, NonKeyAttributes: [...(g.Projection.NonKeyAttributes ?? [])].sort() },
      IndexStatus: g.IndexStatus,
    })),
    TableStatus: table.TableStatus,
  }
}

/** `{ attribute: DynamoDB type }` of an item. */
const types = (item) => Object.fromEntries(Object.entries(item).map(([k, v]) => [k, Object.keys(v)[0]]).sort())

/** Creates the table as a Python SDK release before the GSI did: hash key only. */
const createOldTable = () => dynamo(env.moto.endpoint, 'CreateTable', {
  TableName: SCHEDULE_TABLE_NAME,
  AttributeDefinitions: [{ AttributeName: 'appointment_id', AttributeType: 'S' }],
  KeySchema: [{ AttributeName: 'appointment_id', KeyType: 'HASH' }],
  BillingMode: 'PAY_PER_REQUEST',
})

test('DescribeTable is identical whichever side creates or migrates the table', async (t) => {
  await py({ cmd: 'ensure' })
  const byPython = shape(await py({ cmd: 'describe' }))
  assert.equal(byPython.GlobalSecondaryIndexes[0].IndexName, 'status_start_time_index')
  await makeSdk(t).findAppointmentsBetween({ startTime: 0, endTime: 1 }) // ours on Python's table: no change
  assert.deepEqual(shape(await py({ cmd: 'describe' })), byPython)

  await resetMoto(env.moto.endpoint)
  await makeSdk(t).findAppointmentsBetween({ startTime: 0, endTime: 1 })
  const byUs = shape(await py({ cmd: 'describe' }))
  assert.deepEqual(byUs, byPython)
  await py({ cmd: 'ensure' }) // Python on ours: no change
  assert.deepEqual(shape(await py({ cmd: 'describe' })), byUs)

  // An old table without the GSI: both add it with the same UpdateTable.
  await resetMoto(env.moto.endpoint)
  await createOldTable()
  await py({ cmd: 'ensure' })
  const migratedByPython = shape(await py({ cmd: 'describe' }))
  await resetMoto(env.moto.endpoint)
  await createOldTable()
  await makeSdk(t).findAppointmentsBetween({ startTime: 0, endTime: 1 })
  assert.deepEqual(shape(await py({ cmd: 'describe' })), migratedByPython)
  assert.deepEqual(migratedByPython.GlobalSecondaryIndexes, byPython.GlobalSecondaryIndexes)
})

const T = FIXTURE_BASE_EPOCH_SECONDS + 200 * DAY
function seedWindow(prefix) {
  const rows = [
    appointment(`${prefix}-bk-2`, T + 500),
    appointment(`${prefix}-bk-1`, T),
    appointment(`${prefix}-flw`, T + 250, { status: 'IN', visit_type: 'FLW' }),
    appointment(`${prefix}-in-new`, T + 250, { status: 'IN', visit_type: 'NEW' }),
    appointment(`${prefix}-cnd`, T + 100, { status: 'CND' }),
    appointment(`${prefix}-late`, T + 501),
  ]
  rows.forEach((row) => env.sim.setAppointment(row))
  return {
    payloads: rows.map((row) => created(row.appointment_id)),
    expected: { appointments: [`${prefix}-bk-1`, `${prefix}-bk-2`], followupAppointments: [`${prefix}-flw`] },
  }
}

const idsOf = (found) => ({
  appointments: found.appointments.map((a) => a.appointment_id),
  followupAppointments: found.followupAppointments.map((a) => a.appointment_id),
})

test('rows the Python SDK writes are found by ours with the same split, and the reverse', async (t) => {
  const sdk = makeSdk(t)
  const fromPython = seedWindow('py')
  assert.deepEqual(await py({ cmd: 'handle', payloads: fromPython.payloads }), fromPython.payloads.map(() => 200))
  const ours = idsOf(await sdk.findAppointmentsBetween({ startTime: T, endTime: T + 500 }))
  assert.deepEqual(ours, fromPython.expected)
  assert.deepEqual(await py({ cmd: 'find_ids', start: T, end: T + 500 }), fromPython.expected)

  await resetMoto(env.moto.endpoint)
  const fromUs = seedWindow('js')
  await deliver(makeSdk(t), ...fromUs.payloads)
  assert.deepEqual(await py({ cmd: 'find_ids', start: T, end: T + 500 }), fromUs.expected)
  assert.deepEqual(await py({ cmd: 'find', start: T, end: T + 500 }), fromUs.expected)
  assert.deepEqual(idsOf(await makeSdk(t).findAppointmentsBetween({ startTime: T, endTime: T + 500 })), fromUs.expected)
})

test('items have the same attributes and types; created_at and p_aid survive the other side', async (t) => {
  const sdk = makeSdk(t)
  const first = appointment('x-python-first', T + 1_000)
  const second = appointment('x-node-first', T + 2_000)
  env.sim.setAppointment(first)
  env.sim.setAppointment(second)

  // Each side writes one row (both reschedules of an earlier id) and marks its reminder.
  await py({ cmd: 'handle', payloads: [created(first.appointment_id, { p_aid: 'earlier-1' })] })
  await py({ cmd: 'reminder', id: first.appointment_id })
  await deliver(sdk, created(second.appointment_id, { p_aid: 'earlier-2' }))
  await sdk.reminderSent(second.appointment_id)
  const pythonItem = await getItem(env.moto.endpoint, first.appointment_id)
  const nodeItem = await getItem(env.moto.endpoint, second.appointment_id)
  assert.deepEqual(types(nodeItem), types(pythonItem))
  assert.deepEqual(types(nodeItem), {
    appointment_id: 'S', created_at: 'N', end_time: 'N', p_aid: 'S', reminder_sent_at: 'N', start_time: 'N', status: 'S', visit_type: 'S',
  })

  // Old created_at values, so that an overwrite would show.
  await py({ cmd: 'set', id: first.appointment_id, attr: 'created_at', n: 1000 })
  await py({ cmd: 'set', id: second.appointment_id, attr: 'created_at', n: 2000 })
  env.sim.setAppointment({ ...first, start_time: T + 1_100, end_time: T + 2_000 })
  env.sim.setAppointment({ ...second, start_time: T + 2_100, status: 'IN', visit_type: 'FLW' })

  // Ours re-upserts Python's row, Python re-upserts ours, neither with a p_aid.
  await deliver(sdk, created(first.appointment_id))
  assert.deepEqual(await py({ cmd: 'handle', payloads: [created(second.appointment_id)] }), [200])

  const a = await py({ cmd: 'get', id: first.appointment_id })
  assert.deepEqual([a.created_at, a.p_aid, a.start_time, a.end_time], [{ N: '1000' }, { S: 'earlier-1' }, { N: String(T + 1_100) }, { N: String(T + 2_000) }])
  assert.deepEqual(a.reminder_sent_at, pythonItem.reminder_sent_at)
  const b = await py({ cmd: 'get', id: second.appointment_id })
  assert.deepEqual([b.created_at, b.p_aid, b.start_time, b.status, b.visit_type], [{ N: '2000' }, { S: 'earlier-2' }, { N: String(T + 2_100) }, { S: 'IN' }, { S: 'FLW' }])
  assert.deepEqual(b.reminder_sent_at, nodeItem.reminder_sent_at)

  const found = await sdk.findAppointmentsBetween({ startTime: T + 1_000, endTime: T + 3_000 })
  assert.deepEqual(idsOf(found), { appointments: [first.appointment_id], followupAppointments: [second.appointment_id] })
  assert.deepEqual(await py({ cmd: 'find_ids', start: T + 1_000, end: T + 3_000 }), idsOf(found))
})
