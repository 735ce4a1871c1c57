// Interop with the reference Python SDK (eka-webhook-sdk 0.1.4) on one MariaDB database: the
// table is the same whichever side creates it, and each side finds, keeps and updates what the
// other wrote. Both SDKs fetch from the same Eka Care API simulator.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import { createMysqlDatabase, mysqlRows, TABLE } from './support/sql.mjs';

const require = createRequire(import.meta.url);
const { WebhookSDK } = require('../lib/index.js');
const { startSimulator, SAMPLE, FIXTURE_BASE_EPOCH_SECONDS } = require('../simulator/index.js');

const PYTHON = fileURLToPath(new URL('../.venv/bin/python', import.meta.url));
const DRIVER = fileURLToPath(new URL('./py/python_sdk.py', import.meta.url));
const CREDENTIALS = { clientId: 'demo-client', clientSecret: 'demo-secret' };
const WINDOW = { startTime: 0, endTime: FIXTURE_BASE_EPOCH_SECONDS + 60 * 86400 };

let sim;

before(async () => {
  if (!existsSync(PYTHON)) {
    throw new Error(`The interop tests need the reference Python SDK in .venv: run scripts/setup-venv.sh first (${PYTHON} is missing)`);
  }
  sim = await startSimulator();
});

after(async () => {
  await sim?.close();
});

/** Runs ops through the Python SDK on `db`; resolves to one result per op. */
function python(db, ops) {
  const spec = JSON.stringify({
    sim_url: sim.url,
    client_id: CREDENTIALS.clientId,
    client_secret: CREDENTIALS.clientSecret,
    mysql: db.connection,
    ops,
  });
  return new Promise((resolve, reject) => {
    const child = execFile(PYTHON, [DRIVER], { encoding: 'utf8', timeout: 60_000 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`python SDK failed: ${error.message}\n${stderr}`));
      else resolve(JSON.parse(stdout));
    });
    child.stdin.end(spec);
  });
}

const pyWebhook = (event, appointmentId, extra = {}) => ({ op: 'webhook', body: { event, data: { appointment_id: appointmentId, ...extra } } });
const pyFind = ({ startTime, endTime }) => ({ op: 'find', start: startTime, end: endTime });

function ourSdk(db) {
  return new WebhookSDK({ ...CREDENTIALS, apiBaseUrl: sim.url, persistence: { type: 'mysql', connection: db.connection } });
}

async function ourWebhook(sdk, event, appointmentId, extra = {}) {
  const result = await sdk.handleRequest({ event, data: { appointment_id: appointmentId, ...extra } }, {});
  assert.equal(result.status, 200, JSON.stringify(result.body));
}

async function ourFind(sdk, window = WINDOW) {
  const found = await sdk.findAppointmentsBetween(window);
  return {
    appointments: found.appointments.map((a) => a.appointment_id),
    followup_appointments: found.followupAppointments.map((a) => a.appointment_id),
  };
}

/** Runs `fn` with a fresh database and our SDK on it; drops both afterwards. */
async function withDatabase(tag, fn) {
  const db = createMysqlDatabase(tag);
  const sdk = ourSdk(db);
  try {
    await fn(db, sdk);
  } finally {
    await sdk.close();
    db.drop();
  }
}

/** A second appointment at the same time as apt-bk-1, so the order by id is exercised too. */
function addTwin() {
  sim.setAppointment({ ...sim.getAppointment(SAMPLE.appointmentId), appointment_id: 'apt-bk-0-twin' });
}

test('SHOW CREATE TABLE is identical whichever SDK created the table', async () => {
  const byPython = createMysqlDatabase('py_ddl');
  const byUs = createMysqlDatabase('js_ddl');
  const sdk = ourSdk(byUs);
  try {
    await python(byPython, [{ op: 'ensure' }]);
    await sdk.findAppointmentsBetween({ startTime: 0, endTime: 0 });
    const ddl = (db) => db.query(`SHOW CREATE TABLE ${TABLE}`)[0][1];
    assert.equal(ddl(byUs), ddl(byPython));
    assert.match(ddl(byUs), /KEY `idx_start_time` \(`start_time`\)/);
    // And each side is content with the other's table (no ALTER, no error).
    await python(byUs, [{ op: 'ensure' }]);
    const again = ourSdk(byPython);
    await again.findAppointmentsBetween({ startTime: 0, endTime: 0 });
    await again.close();
    assert.equal(ddl(byUs), ddl(byPython));
  } finally {
    await sdk.close();
    byPython.drop();
    byUs.drop();
  }
});

test('rows the Python SDK writes are found by ours with the same split, and the reverse', async () => {
  addTwin();
  const events = [
    ['appointment.created', SAMPLE.appointmentId],
    ['appointment.created', 'apt-bk-0-twin'],
    ['appointment.created', SAMPLE.followupAppointmentId],
    ['appointment.created', SAMPLE.cancelledAppointmentId],
  ];
  let pythonWrote;
  await withDatabase('py_writes', async (db, sdk) => {
    const results = await python(db, [...events.map(([e, id]) => pyWebhook(e, id)), pyFind(WINDOW)]);
    assert.deepEqual(results.slice(0, 4).map((r) => r.status), [200, 200, 200, 200]);
    const found = await ourFind(sdk);
    assert.deepEqual(found.appointments.toSorted(), [SAMPLE.appointmentId, 'apt-bk-0-twin'].toSorted());
    assert.deepEqual(found.followup_appointments, [SAMPLE.followupAppointmentId]);
    // Python leaves the order to the database; as sets, the two agree.
    const pyFound = results[4];
    assert.deepEqual(pyFound.appointments.toSorted(), found.appointments.toSorted());
    assert.deepEqual(pyFound.followup_appointments, found.followup_appointments);
    pythonWrote = mysqlRows(db.name);
  });

  await withDatabase('js_writes', async (db, sdk) => {
    for (const [event, id] of events) await ourWebhook(sdk, event, id);
    const [pyFound] = await python(db, [pyFind(WINDOW)]);
    const found = await ourFind(sdk);
    assert.deepEqual(pyFound.appointments.toSorted(), found.appointments.toSorted());
    assert.deepEqual(pyFound.followup_appointments, [SAMPLE.followupAppointmentId]);
    // Row for row what the Python SDK wrote, but for created_at (the time of writing).
    const strip = (rows) => [...rows.values()].map(({ created_at: _, ...rest }) => rest);
    assert.deepEqual(strip(mysqlRows(db.name)), strip(pythonWrote));
  });
  sim.deleteAppointment('apt-bk-0-twin');
});

test('created_at and p_aid survive re-upserts by the other side; status and reminders cross over', async () => {
  const original = sim.getAppointment(SAMPLE.appointmentId);
  await withDatabase('cross', async (db, sdk) => {
    // Ours creates the row; Python upserts it again.
    await ourWebhook(sdk, 'appointment.created', SAMPLE.appointmentId);
    db.query(`UPDATE ${TABLE} SET created_at = 12345 WHERE appointment_id = '${SAMPLE.appointmentId}'`);
    sim.setAppointment({ ...sim.getAppointment(SAMPLE.appointmentId), start_time: FIXTURE_BASE_EPOCH_SECONDS + 5 * 86400 });
    await python(db, [pyWebhook('appointment.created', SAMPLE.appointmentId)]);
    let row = mysqlRows(db.name).get(SAMPLE.appointmentId);
    assert.equal(row.created_at, 12345);
    assert.equal(row.start_time, FIXTURE_BASE_EPOCH_SECONDS + 5 * 86400);

    // Python creates a reschedule (p_aid); ours upserts it again without one and keeps p_aid.
    sim.setAppointment({ ...sim.getAppointment(SAMPLE.appointmentId), appointment_id: 'apt-resched-2' });
    await python(db, [pyWebhook('appointment.created', 'apt-resched-2', { p_aid: SAMPLE.appointmentId })]);
    db.query(`UPDATE ${TABLE} SET created_at = 777 WHERE appointment_id = 'apt-resched-2'`);
    await ourWebhook(sdk, 'appointment.created', 'apt-resched-2');
    row = mysqlRows(db.name).get('apt-resched-2');
    assert.deepEqual([row.created_at, row.p_aid], [777, SAMPLE.appointmentId]);
    assert.equal(mysqlRows(db.name).get(SAMPLE.appointmentId).status, 'RES');

    // Status and reminder_sent_at written by one side are what the other reads.
    await python(db, [{ op: 'reminder_sent', id: 'apt-resched-2' }]);
    assert.ok(mysqlRows(db.name).get('apt-resched-2').reminder_sent_at > 0);
    sim.setAppointment({ ...sim.getAppointment('apt-resched-2'), status: 'CND' });
    await ourWebhook(sdk, 'appointment.updated', 'apt-resched-2');
    const [pyFound] = await python(db, [pyFind(WINDOW)]);
    assert.deepEqual(pyFound, { appointments: [], followup_appointments: [] });
  });
  sim.deleteAppointment('apt-resched-2');
  sim.setAppointment(original);
});

test('a table the Python SDK migrated and one we migrated end up the same', async () => {
  const oldTable = `CREATE TABLE ${TABLE} (appointment_id VARCHAR(255) NOT NULL, start_time BIGINT NOT NULL DEFAULT 0,
    end_time BIGINT NOT NULL DEFAULT 0, status VARCHAR(32) NOT NULL DEFAULT '', visit_type VARCHAR(32) NOT NULL DEFAULT '',
    PRIMARY KEY (appointment_id), INDEX idx_start_time (start_time))`;
  const byPython = createMysqlDatabase('py_migrate');
  const byUs = createMysqlDatabase('js_migrate');
  const sdk = ourSdk(byUs);
  try {
    byPython.query(oldTable);
    byUs.query(oldTable);
    await python(byPython, [{ op: 'ensure' }]);
    await sdk.findAppointmentsBetween({ startTime: 0, endTime: 0 });
    const ddl = (db) => db.query(`SHOW CREATE TABLE ${TABLE}`)[0][1];
    assert.equal(ddl(byUs), ddl(byPython));
    assert.match(ddl(byUs), /`reminder_sent_at` bigint\(20\) DEFAULT NULL/);
  } finally {
    await sdk.close();
    byPython.drop();
    byUs.drop();
  }
});

test('durable reminders leave the Python SDK working on the same database', async () => {
  await withDatabase('py_durable', async (db, sdk) => {
    // Our two tables and a reminder, before the Python SDK ever runs.
    await sdk.findAppointmentsBetween({ startTime: 0, endTime: 0 });
    const scheduled = await sdk.reminders.schedule({ appointmentId: SAMPLE.appointmentId, name: 'n', at: new Date(Date.now() + 3_600_000) });
    const ddlBefore = db.query(`SHOW CREATE TABLE ${TABLE}`)[0][1];
    const [created, found] = await python(db, [pyWebhook('appointment.created', SAMPLE.appointmentId), pyFind(WINDOW), { op: 'reminder_sent', id: SAMPLE.appointmentId }]);
    assert.equal(created.status, 200);
    assert.deepEqual(found.appointments, [SAMPLE.appointmentId]);
    assert.equal(db.query(`SHOW CREATE TABLE ${TABLE}`)[0][1], ddlBefore, 'the schedule table is untouched');
    assert.deepEqual(await ourFind(sdk), found);
    const [row] = await sdk.reminders.list({ appointmentId: SAMPLE.appointmentId });
    assert.equal(row.id, scheduled.id);
    assert.equal(row.status, 'pending', 'the Python SDK ignores the reminder table');
  });
});
