// Schedule persistence through the public API: one suite of the schedule rules run on each of
// the four backends (SQLite, MariaDB, PostgreSQL, DynamoDB on moto), with the Eka Care API
// simulator behind the SDK; then what does not depend on the backend.

import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';

import { sqliteRows, tempDir, closedPort } from './support/sql.mjs';
import { BACKENDS } from './support/backends.mjs';
import { setupFor } from './support/sdk.mjs';

const require = createRequire(import.meta.url);
const { WebhookSDK } = require('../lib/index.js');
const { startSimulator, SAMPLE, FIXTURE_BASE_EPOCH_SECONDS } = require('../simulator/index.js');

const DAY = 86400;

function makeSdk(sim, persistence) {
  return new WebhookSDK({ clientId: 'demo-client', clientSecret: 'demo-secret', apiBaseUrl: sim.url, persistence });
}

/**
 * Registers the current describe's hooks: a simulator, a fresh place on `backend` and an SDK on
 * both, live for its tests as the returned object's `sim`, `place` and `sdk`.
 */
function useSdkOn(backend, tag, simulatorOptions) {
  const env = {};
  before(async () => {
    env.sim = await startSimulator(simulatorOptions);
    env.place = await backend.open(tag);
    env.sdk = makeSdk(env.sim, env.place.persistence);
  });
  after(async () => {
    await env.sdk.close();
    await env.sim.close();
    await env.place.cleanup();
  });
  return env;
}

function webhook(sdk, event, appointmentId, extra = {}) {
  return sdk.handleRequest({ event, data: { appointment_id: appointmentId, ...extra } }, {});
}

async function created(sdk, appointmentId, extra) {
  const result = await webhook(sdk, 'appointment.created', appointmentId, extra);
  assert.equal(result.status, 200, JSON.stringify(result.body));
  return result;
}

const ids = (list) => list.map((a) => a.appointment_id);

for (const backend of BACKENDS) {
  describe(`persistence on ${backend.name}`, () => {
    const env = useSdkOn(backend, 'js');

    test('the first appointment webhook makes the table even when it writes no row (a CND appointment.created)', async () => {
      const fresh = await backend.open('js-ensure');
      const first = makeSdk(env.sim, fresh.persistence);
      try {
        await created(first, SAMPLE.cancelledAppointmentId);
        // Reading the table fails while it does not exist.
        assert.deepEqual([...(await fresh.rows()).keys()], []);
      } finally {
        await first.close();
        await fresh.cleanup();
      }
    });

    test('webhooks write the rows by the rules', async () => {
      const before = Math.floor(Date.now() / 1000);
      await created(env.sdk, SAMPLE.appointmentId);
      await created(env.sdk, SAMPLE.followupAppointmentId);
      await created(env.sdk, SAMPLE.cancelledAppointmentId);
      // A prescription event never touches the table.
      const rx = await env.sdk.handleRequest({ event: 'prescription.created', data: { prescription_id: 'rx-1' } }, {});
      assert.equal(rx.status, 200);

      const found = await env.sdk.findAppointmentsBetween({ startTime: 0, endTime: FIXTURE_BASE_EPOCH_SECONDS + 30 * DAY });
      assert.deepEqual(ids(found.appointments), [SAMPLE.appointmentId]);
      assert.deepEqual(ids(found.followupAppointments), [SAMPLE.followupAppointmentId]);
      // Full appointment details, as the API returns them.
      assert.deepEqual(found.appointments[0], env.sim.getAppointment(SAMPLE.appointmentId));

      const rows = await env.place.rows();
      assert.deepEqual([...rows.keys()], [SAMPLE.appointmentId, SAMPLE.followupAppointmentId]);
      const bk = rows.get(SAMPLE.appointmentId);
      const apt = env.sim.getAppointment(SAMPLE.appointmentId);
      assert.equal(bk.start_time, apt.start_time);
      assert.equal(bk.end_time, apt.end_time);
      assert.equal(bk.status, 'BK');
      assert.equal(bk.visit_type, 'NEW');
      assert.ok(bk.created_at >= before && bk.created_at <= Math.floor(Date.now() / 1000) + 1);
      assert.equal(bk.p_aid, null);
      assert.equal(bk.reminder_sent_at, null);
    });

    test('reminderSent stamps the row; an unknown id is a no-op', async () => {
      const before = Math.floor(Date.now() / 1000);
      await env.sdk.reminderSent(SAMPLE.appointmentId);
      await env.sdk.reminderSent('no-such-appointment');
      const rows = await env.place.rows();
      const sent = rows.get(SAMPLE.appointmentId).reminder_sent_at;
      assert.ok(sent >= before && sent <= Math.floor(Date.now() / 1000) + 1, String(sent));
      assert.equal(rows.has('no-such-appointment'), false);
    });

    test('a reschedule (p_aid) retires the earlier row; appointment.updated mirrors status', async () => {
      const earlier = env.sim.getAppointment(SAMPLE.followupAppointmentId);
      env.sim.setAppointment({ ...earlier, appointment_id: 'apt-resched-1', status: 'BK', visit_type: 'NEW', start_time: earlier.start_time + 3600, end_time: earlier.end_time + 3600 });
      await created(env.sdk, 'apt-resched-1', { p_aid: SAMPLE.followupAppointmentId });

      env.sim.setAppointment({ ...env.sim.getAppointment(SAMPLE.appointmentId), status: 'CND' });
      const updated = await webhook(env.sdk, 'appointment.updated', SAMPLE.appointmentId);
      assert.equal(updated.status, 200);
      // An update for an appointment with no row creates none.
      assert.equal((await webhook(env.sdk, 'appointment.updated', SAMPLE.cancelledAppointmentId)).status, 200);

      const found = await env.sdk.findAppointmentsBetween({ startTime: 0, endTime: FIXTURE_BASE_EPOCH_SECONDS + 30 * DAY });
      assert.deepEqual(ids(found.appointments), ['apt-resched-1']);
      assert.deepEqual(found.followupAppointments, []);
      const rows = await env.place.rows();
      assert.equal(rows.get(SAMPLE.followupAppointmentId).status, 'RES');
      assert.equal(rows.get(SAMPLE.appointmentId).status, 'CND');
      assert.equal(rows.get('apt-resched-1').p_aid, SAMPLE.followupAppointmentId);
      assert.equal(rows.has(SAMPLE.cancelledAppointmentId), false);
    });
  });

  describe(`findAppointmentsBetween on ${backend.name}`, () => {
    const env = useSdkOn(backend, 'find', { fixtures: false });
    const T = FIXTURE_BASE_EPOCH_SECONDS + 100 * DAY;

    function appointmentAt(id, start, fields = {}) {
      env.sim.setAppointment({
        appointment_id: id, patient_id: SAMPLE.patientId, doctor_id: SAMPLE.doctorId, clinic_id: SAMPLE.clinicId,
        start_time: start, end_time: start + 900, status: 'BK', visit_type: 'NEW', ...fields,
      });
    }


    test('splits BK from IN+FLW, honours both bounds, orders by time then id, drops failed fetches', async () => {
      const end = T + 3600;
      appointmentAt('before', T - 1);
      appointmentAt('z-at-start', T);
      appointmentAt('a-at-start', T);
      appointmentAt('flw-mid', T + 60, { status: 'IN', visit_type: 'FLW' });
      appointmentAt('bk-flw-mid', T + 120, { visit_type: 'FLW' });
      appointmentAt('gone-mid', T + 180);
      appointmentAt('at-end', end);
      appointmentAt('flw-at-end', end, { status: 'IN', visit_type: 'FLW' });
      appointmentAt('after', end + 1);
      for (const id of ['after', 'at-end', 'flw-at-end', 'gone-mid', 'bk-flw-mid', 'flw-mid', 'z-at-start', 'a-at-start', 'before']) {
        await created(env.sdk, id);
      }
      // Deleted from the API after the webhook: its fetch now fails, and it is dropped.
      env.sim.deleteAppointment('gone-mid');

      const found = await env.sdk.findAppointmentsBetween({ startTime: T, endTime: end });
      assert.deepEqual(ids(found.appointments), ['a-at-start', 'z-at-start', 'bk-flw-mid', 'at-end']);
      assert.deepEqual(ids(found.followupAppointments), ['flw-mid', 'flw-at-end']);

      const single = await env.sdk.findAppointmentsBetween({ startTime: end, endTime: end });
      assert.deepEqual([ids(single.appointments), ids(single.followupAppointments)], [['at-end'], ['flw-at-end']]);
      assert.deepEqual(await env.sdk.findAppointmentsBetween({ startTime: end + 2, endTime: end + 99 }), { appointments: [], followupAppointments: [] });
      // startTime after endTime: empty lists, as the Python SDK answers (not an error).
      assert.deepEqual(await env.sdk.findAppointmentsBetween({ startTime: end, endTime: T }), { appointments: [], followupAppointments: [] });
    });

    test('keeps at most 16 detail fetches in flight', async () => {
      const start = T + 10 * DAY;
      const many = Array.from({ length: 48 }, (_, i) => `many-${String(i).padStart(2, '0')}`);
      many.forEach((id, i) => appointmentAt(id, start + i));
      for (const id of many) await created(env.sdk, id);
      env.sim.resetStats();
      env.sim.setRouteLatency('appointment', 40);
      try {
        const found = await env.sdk.findAppointmentsBetween({ startTime: start, endTime: start + 100 });
        assert.deepEqual(ids(found.appointments), many);
        assert.equal(env.sim.stats().requests.appointment, 48);
        assert.ok(env.sim.maxConcurrent() <= 16, `peak ${env.sim.maxConcurrent()}`);
        assert.ok(env.sim.maxConcurrent() >= 8, `fetches should overlap (peak ${env.sim.maxConcurrent()})`);
      } finally {
        env.sim.setRouteLatency('appointment', 0);
      }
    });
  });
}

describe('findAppointmentsBetween input', () => {
  let sim;
  let sdk;

  before(async () => {
    sim = await startSimulator({ fixtures: false });
    sdk = makeSdk(sim, { type: 'sqlite', filename: ':memory:' });
  });

  after(async () => {
    await sdk.close();
    await sim.close();
  });

  test('rejects bad input with ERR_INVALID_ARGUMENT', async () => {
    const bad = [
      { startTime: 1.5, endTime: 2 },
      { startTime: 1, endTime: Number.NaN },
      { startTime: '1', endTime: 2 },
      { startTime: 1 },
      null,
    ];
    for (const range of bad) {
      await assert.rejects(sdk.findAppointmentsBetween(range), (err) => err.code === 'ERR_INVALID_ARGUMENT', JSON.stringify(range));
    }
    await assert.rejects(sdk.reminderSent(''), { code: 'ERR_INVALID_ARGUMENT' });
    await assert.rejects(sdk.reminderSent(42), { code: 'ERR_INVALID_ARGUMENT' });
  });
});

test('without persistence, the schedule methods reject with ERR_PERSISTENCE_NOT_CONFIGURED', async (ctx) => {
  const { sdk } = await setupFor(ctx, { signingKey: undefined, persistence: undefined });
  await assert.rejects(sdk.findAppointmentsBetween({ startTime: 0, endTime: 1 }), { code: 'ERR_PERSISTENCE_NOT_CONFIGURED' });
  await assert.rejects(sdk.reminderSent(SAMPLE.appointmentId), { code: 'ERR_PERSISTENCE_NOT_CONFIGURED' });
  // Webhooks are fine without it.
  assert.equal((await created(sdk, SAMPLE.appointmentId)).status, 200);
});

for (const type of ['mysql', 'postgres']) {
  test(`a ${type} server that is down never changes the webhook status, and costs at most the connect timeout`, async (ctx) => {
    const password = 'hunter2-never-printed';
    const user = type === 'mysql' ? 'root' : 'postgres';
    const { sdk } = await setupFor(ctx, {
      signingKey: undefined,
      persistence: {
        type,
        connectTimeoutMs: 800,
        connection: { host: '127.0.0.1', port: await closedPort(), user, password, database: 'test' },
      },
    });
    // Several at once: they share one attempt to reach the database, not one each in turn.
    const started = Date.now();
    const results = await Promise.all([
      created(sdk, SAMPLE.appointmentId),
      created(sdk, SAMPLE.followupAppointmentId),
      webhook(sdk, 'appointment.updated', SAMPLE.appointmentId),
      created(sdk, SAMPLE.cancelledAppointmentId),
    ]);
    const elapsed = Date.now() - started;
    assert.deepEqual(results.map((r) => r.status), [200, 200, 200, 200]);
    assert.equal(results[0].body.success, true);
    assert.ok(elapsed < 2000, `webhooks took ${elapsed} ms with an 800 ms connect timeout`);

    const err = await sdk.findAppointmentsBetween({ startTime: 0, endTime: 1 }).catch((e) => e);
    assert.equal(err.code, 'ERR_PERSISTENCE');
    assert.match(err.message, /unreachable/);
    assert.ok(!err.message.includes(password) && !err.stack.includes(password));
    await assert.rejects(sdk.reminderSent(SAMPLE.appointmentId), { code: 'ERR_PERSISTENCE' });
  });
}

test('sqlite :memory: keeps the rows for the life of the SDK', async (ctx) => {
  const { sdk } = await setupFor(ctx, { signingKey: undefined, persistence: { type: 'sqlite', filename: ':memory:' } });
  await created(sdk, SAMPLE.appointmentId);
  const found = await sdk.findAppointmentsBetween({ startTime: 0, endTime: FIXTURE_BASE_EPOCH_SECONDS + 30 * DAY });
  assert.deepEqual(ids(found.appointments), [SAMPLE.appointmentId]);
});

test('a file that cannot be opened never changes the webhook status either', async (ctx) => {
  const persistence = { type: 'sqlite', filename: '/nonexistent-dir-for-eka-tests/schedule.db' };
  const { sdk } = await setupFor(ctx, { signingKey: undefined, persistence });
  assert.equal((await created(sdk, SAMPLE.appointmentId)).status, 200);
  await assert.rejects(sdk.findAppointmentsBetween({ startTime: 0, endTime: 1 }), { code: 'ERR_PERSISTENCE' });
});

test('two SDK instances share one SQLite file', async () => {
  const sim = await startSimulator();
  const tmp = tempDir('shared');
  const persistence = { type: 'sqlite', filename: tmp.file('shared.db') };
  const a = makeSdk(sim, persistence);
  const b = makeSdk(sim, persistence);
  try {
    const bulk = sim.addAppointments(30);
    await Promise.all(bulk.map((id, i) => created(i % 2 ? a : b, id)));
    const window = { startTime: FIXTURE_BASE_EPOCH_SECONDS, endTime: FIXTURE_BASE_EPOCH_SECONDS + 30 * DAY };
    assert.deepEqual(ids((await a.findAppointmentsBetween(window)).appointments), bulk);
    assert.deepEqual(ids((await b.findAppointmentsBetween(window)).appointments), bulk);
    assert.equal(sqliteRows(persistence.filename).size, 30);
  } finally {
    await a.close();
    await b.close();
    await sim.close();
    tmp.cleanup();
  }
});
