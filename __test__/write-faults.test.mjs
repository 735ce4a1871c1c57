// Faults on the schedule write path, on real databases: a row the database refuses for its
// content (or that is longer than its column) is dropped and reported, never holding up the
// writes behind it; while the database is away only the latest write per appointment waits;
// every drop reaches `onError` and a rate-limited process warning without `debug`; `close()`
// reports the writes it could not store. The outage is a loopback proxy that is cut and restored.

import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';

import {
  createMysqlDatabase,
  createPostgresSchema,
  mysqlRows,
  postgresRows,
  sqliteRows,
  tempDir,
  MYSQL,
  POSTGRES,
} from './support/sql.mjs';
import { startTcpProxy } from './support/tcp-proxy.mjs';
import { collectWarnings } from './support/sdk.mjs';
import { startMoto, getItem, REGION, ACCESS_KEY_ID, SECRET_ACCESS_KEY } from './support/moto.mjs';

const require = createRequire(import.meta.url);
const { WebhookSDK } = require('../lib/index.js');
const { startSimulator } = require('../simulator/index.js');

let sim;
before(async () => {
  sim = await startSimulator({ fixtures: true });
});
after(async () => {
  await sim.close();
});

let appointments = 0;
/** A new appointment in the simulator (status BK unless `fields` say otherwise); its id. */
function newAppointment(fields = {}) {
  const [id] = sim.addAppointments(1, fields, { prefix: `fault-${appointments++}-` });
  return id;
}

/** The process warnings of the SDK's fault codes, while the test runs. */
const collectFaultWarnings = () => collectWarnings((code) => code.startsWith('EKA_') && code !== 'EKA_UNSIGNED');

async function eventually(check, what, timeoutMs = 15_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return check();
    } catch (error) {
      if (Date.now() > deadline) throw new assert.AssertionError({ message: `${what}: ${error.message}` });
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

function sdkOn(persistence, extra = {}) {
  return new WebhookSDK({ clientId: 'demo-client', clientSecret: 'demo-secret', apiBaseUrl: sim.url, persistence, ...extra });
}

async function webhook(sdk, event, id, pAid) {
  const data = { appointment_id: id };
  if (pAid !== undefined) data.p_aid = pAid;
  const result = await sdk.handleRequest({ event, data }, {});
  assert.equal(result.status, 200, JSON.stringify(result.body));
}

/**
 * Each server: a fresh database (or schema) whose rows are read past the proxy, and a p_aid it
 * refuses for its content although it fits the column: a character a latin1 MariaDB table cannot
 * hold (error 1366 on insert, 1267 on compare), a NUL PostgreSQL cannot store (SQLSTATE 22021).
 */
const SERVERS = [
  {
    type: 'mysql',
    server: MYSQL,
    refusedPAid: 'old-\u{1F600}',
    create(tag) {
      const db = createMysqlDatabase(tag);
      db.query(`ALTER DATABASE \`${db.name}\` CHARACTER SET latin1`);
      return { connection: db.connection, rows: () => mysqlRows(db.name), drop: db.drop };
    },
  },
  {
    type: 'postgres',
    server: POSTGRES,
    refusedPAid: 'old-\u0000',
    create(tag) {
      const schema = createPostgresSchema(tag);
      return { connection: schema.connection, rows: () => postgresRows(schema.name), drop: schema.drop };
    },
  },
];

for (const { type, server, refusedPAid, create } of SERVERS) {
  describe(`${type}: writes during and after an outage`, () => {
    async function withOutage(tag, extra, fn) {
      const db = create(tag);
      const proxy = await startTcpProxy({ host: server.host, port: server.port });
      const connection = { ...db.connection, host: '127.0.0.1', port: proxy.port };
      const sdk = sdkOn({ type, connectTimeoutMs: 1000, connection }, extra);
      const warnings = collectFaultWarnings();
      try {
        await fn({ db, proxy, sdk, warnings: warnings.warnings });
      } finally {
        warnings.stop();
        await sdk.close();
        await proxy.close();
        db.drop();
      }
    }

    test('a row the database refuses is dropped and reported; the writes queued behind it are stored', async () => {
      const errors = [];
      await withOutage('refused', { onError: (error) => errors.push(error) }, async ({ db, proxy, sdk, warnings }) => {
        const refused = newAppointment();
        const fine = newAppointment();
        await proxy.cut();
        // Queued in this order: RES for the p_aid, the refused row, then a good one.
        await webhook(sdk, 'appointment.created', refused, refusedPAid);
        await webhook(sdk, 'appointment.created', fine);
        assert.equal(sdk.stats().writeQueueDepth, 3);
        await proxy.restore();
        // Retried as transient, the refused row would hold the queue for 10 minutes.
        await eventually(() => assert.deepEqual([...db.rows().keys()], [fine]), 'the good row is stored');
        // The worker counts a write out after its commit, which the row above may beat.
        await eventually(() => assert.equal(sdk.stats().writeQueueDepth, 0), 'the queue is empty');
        await eventually(() => assert.equal(errors.length, 2), 'onError heard of both refused writes');
        assert.deepEqual(errors.map((e) => [e.code, e.fault, e.appointmentId]).toSorted(), [
          ['ERR_PERSISTENCE', 'EKA_WRITE_DROPPED', refused],
          ['ERR_PERSISTENCE', 'EKA_WRITE_DROPPED', refusedPAid],
        ].toSorted());
        for (const error of errors) {
          assert.ok(error instanceof Error);
          assert.match(error.message, /refused the row/);
        }
        assert.equal(warnings.length, 1, 'one warning a minute per kind');
        assert.equal(warnings[0].code, 'EKA_WRITE_DROPPED');
      });
    });

    test('while the database is away, only the latest write per appointment waits', async () => {
      await withOutage('latest', {}, async ({ db, proxy, sdk }) => {
        const x = newAppointment({ status: 'BK' });
        const y = newAppointment({ status: 'BK' });
        await webhook(sdk, 'appointment.created', x);
        await proxy.cut();
        sim.setAppointment({ ...sim.getAppointment(x), status: 'CND' });
        await webhook(sdk, 'appointment.updated', x);
        sim.setAppointment({ ...sim.getAppointment(x), status: 'IN', visit_type: 'FLW' });
        await webhook(sdk, 'appointment.created', x);
        sim.setAppointment({ ...sim.getAppointment(x), status: 'CMP' });
        await webhook(sdk, 'appointment.updated', x);
        await webhook(sdk, 'appointment.created', y);
        assert.equal(sdk.stats().writeQueueDepth, 2, 'one write for x, one for y');
        await proxy.restore();
        await eventually(() => {
          const rows = db.rows();
          assert.deepEqual([rows.get(x)?.status, rows.get(x)?.visit_type], ['CMP', 'FLW']);
          assert.equal(rows.get(y)?.status, 'BK');
        }, 'the latest state of each appointment is stored');
        assert.equal(sdk.stats().writeQueueDepth, 0);
      });
    });

    test('close() with the database still away reports the writes it could not store', async () => {
      await withOutage('unflushed', {}, async ({ proxy, sdk, warnings }) => {
        await proxy.cut();
        await webhook(sdk, 'appointment.created', newAppointment());
        await webhook(sdk, 'appointment.created', newAppointment());
        const report = await sdk.close();
        assert.deepEqual(report, { cutDeliveries: [], unflushedWrites: 2 });
        assert.equal((await sdk.close()).unflushedWrites, 2, 'a second close() reports the same writes');
        await eventually(() => assert.deepEqual(warnings.map((w) => w.code), ['EKA_WRITES_UNFLUSHED']), 'warned');
        assert.match(warnings[0].message, /2 schedule write\(s\)/);
      });
    });
  });
}

describe('dynamodb: writes during an outage', () => {
  let moto;
  before(async () => {
    moto = await startMoto();
  });
  after(() => moto?.stop());

  test('while DynamoDB is away, only the latest write per appointment waits', async () => {
    const proxy = await startTcpProxy({ host: '127.0.0.1', port: Number(new URL(moto.endpoint).port) });
    const sdk = sdkOn({
      type: 'dynamodb',
      region: REGION,
      accessKeyId: ACCESS_KEY_ID,
      secretAccessKey: SECRET_ACCESS_KEY,
      endpoint: `http://127.0.0.1:${proxy.port}`,
      connectTimeoutMs: 1000,
    });
    try {
      const x = newAppointment();
      const y = newAppointment();
      await webhook(sdk, 'appointment.created', x);
      await proxy.cut();
      for (const status of ['CND', 'BK', 'CMP']) {
        sim.setAppointment({ ...sim.getAppointment(x), status });
        await webhook(sdk, 'appointment.updated', x);
      }
      await webhook(sdk, 'appointment.created', y);
      assert.equal(sdk.stats().writeQueueDepth, 2, 'one write for x, one for y');
      await proxy.restore();
      await eventually(() => assert.equal(sdk.stats().writeQueueDepth, 0), 'the queue drained');
      assert.equal((await getItem(moto.endpoint, x)).status.S, 'CMP');
      assert.equal((await getItem(moto.endpoint, y)).status.S, 'BK');
    } finally {
      await sdk.close();
      await proxy.close();
    }
  });
});

/** A path for an SQLite file in a fresh temp directory; `remove()` deletes the directory. */
function sqliteFile(tag) {
  const dir = tempDir(tag);
  return { path: dir.file('schedule.db'), remove: dir.cleanup };
}

describe('sqlite: fields longer than their columns', () => {
  test('are refused before writing, reported to onError once each and warned once', async () => {
    const file = sqliteFile('oversized');
    const errors = [];
    const sdk = sdkOn({ type: 'sqlite', filename: file.path }, { onError: (error) => errors.push(error) });
    const warnings = collectFaultWarnings();
    try {
      const long = newAppointment();
      const alsoLong = newAppointment();
      const fine = newAppointment();
      // SQLite would store them (TEXT has no length); MySQL and PostgreSQL would refuse them.
      await webhook(sdk, 'appointment.created', long, 'p'.repeat(256));
      await webhook(sdk, 'appointment.created', alsoLong, 'q'.repeat(300));
      await webhook(sdk, 'appointment.created', fine, 'p'.repeat(255));
      assert.deepEqual([...sqliteRows(file.path).keys()], [fine]);
      await eventually(() => assert.equal(errors.length, 4), 'onError heard of each dropped write');
      const upserts = errors.filter((e) => /upsert/.test(e.message));
      assert.deepEqual(upserts.map((e) => e.appointmentId), [long, alsoLong]);
      assert.match(upserts[0].message, /p_aid is 256 characters long; the column holds 255/);
      assert.ok(errors.every((e) => e.code === 'ERR_PERSISTENCE' && e.fault === 'EKA_WRITE_DROPPED'));
      assert.deepEqual(warnings.warnings.map((w) => w.code), ['EKA_WRITE_DROPPED']);
      assert.doesNotMatch(warnings.warnings[0].message, /demo-secret/);
    } finally {
      warnings.stop();
      await sdk.close();
      file.remove();
    }
  });

  test('an onError that throws or rejects harms nothing', async () => {
    const file = sqliteFile('throwing');
    let calls = 0;
    const onError = () => {
      calls += 1;
      if (calls % 2) throw new Error('onError bug');
      return Promise.reject(new Error('onError async bug'));
    };
    const sdk = sdkOn({ type: 'sqlite', filename: file.path }, { onError });
    const warnings = collectFaultWarnings();
    try {
      for (let i = 0; i < 3; i++) await webhook(sdk, 'appointment.created', newAppointment(), 'p'.repeat(256));
      const fine = newAppointment();
      await webhook(sdk, 'appointment.created', fine);
      await eventually(() => assert.equal(calls, 6), 'onError was called for every drop');
      // An unhandled rejection would have failed this test file by now.
      await new Promise((resolve) => setTimeout(resolve, 50));
      assert.deepEqual([...sqliteRows(file.path).keys()], [fine]);
    } finally {
      warnings.stop();
      await sdk.close();
      file.remove();
    }
  });

  test('onError must be a function', () => {
    assert.throws(() => sdkOn(undefined, { onError: 'log' }), { code: 'ERR_INVALID_CONFIG', message: /'onError' must be a function/ });
  });
});
