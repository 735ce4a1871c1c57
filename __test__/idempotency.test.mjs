// Duplicate deliveries (Eka Care retries; the same transaction_id arrives twice or more): the
// schedule ends up exactly as after one delivery, and each delivery gets its normal answer.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { setup, appointmentPayload, signedHeaders, SAMPLE } from './support/sdk.mjs'
import { sqliteRows } from './support/sql.mjs'

test('the same transaction delivered 5 times, concurrently and in sequence, is stored once', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'eka-idem-'))
  const filename = path.join(dir, 'schedule.db')
  // The schedule writes themselves are idempotent, ledger or not.
  const t = await setup({ persistence: { type: 'sqlite', filename }, deliveryLedger: false })
  try {
    const created = appointmentPayload('appointment.created', SAMPLE.appointmentId)
    const first = await Promise.all(Array.from({ length: 5 }, () => t.sdk.handleRequest(created, signedHeaders(created))))
    assert.ok(first.every((r) => r.status === 200))
    const rowsAfterFirst = sqliteRows(filename)
    assert.equal(rowsAfterFirst.size, 1)
    const row = rowsAfterFirst.get(SAMPLE.appointmentId)
    assert.equal(row.status, 'BK')

    await new Promise((resolve) => setTimeout(resolve, 1100))
    for (let i = 0; i < 5; i++) assert.equal((await t.sdk.handleRequest(created, signedHeaders(created))).status, 200)
    const again = sqliteRows(filename).get(SAMPLE.appointmentId)
    assert.deepEqual(again, row, 'created_at and every other column unchanged by the re-deliveries')

    t.simulator.setAppointment({ ...t.simulator.getAppointment(SAMPLE.appointmentId), status: 'CND' })
    const updated = appointmentPayload('appointment.updated', SAMPLE.appointmentId)
    for (let i = 0; i < 3; i++) assert.equal((await t.sdk.handleRequest(updated, signedHeaders(updated))).status, 200)
    const rows = sqliteRows(filename)
    assert.equal(rows.size, 1)
    assert.equal(rows.get(SAMPLE.appointmentId).status, 'CND')
    assert.equal(rows.get(SAMPLE.appointmentId).created_at, row.created_at)
  } finally {
    await t.close()
    rmSync(dir, { recursive: true, force: true })
  }
})
