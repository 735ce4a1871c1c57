// A database outage between the SDK and MariaDB or PostgreSQL (a loopback proxy that is cut,
// made to hang, and restored): webhooks keep answering 200 promptly, the writes of the outage
// wait in the retry queue, and once the database is back every row is stored, without
// restarting the SDK. The same tests run on both servers.

import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';

import {
  createMysqlDatabase,
  createPostgresSchema,
  mysqlRows,
  postgresRows,
  MYSQL,
  POSTGRES,
} from './support/sql.mjs';
import { startTcpProxy } from './support/tcp-proxy.mjs';

const require = createRequire(import.meta.url);
const { WebhookSDK } = require('../lib/index.js');
const { startSimulator, FIXTURE_BASE_EPOCH_SECONDS } = require('../simulator/index.js');

const CONNECT_TIMEOUT_MS = 1000;
/** The connect timeout plus room for the API fetches and a busy 2-core machine. */
const PROMPT_MS = CONNECT_TIMEOUT_MS + 1000;

let sim;
let ids;
let streamIds;

before(async () => {
  sim = await startSimulator({ fixtures: true });
  ids = sim.addAppointments(20, {}, { prefix: 'outage-' });
  streamIds = sim.addAppointments(1000, {}, { prefix: 'stream-' });
});

after(async () => {
  await sim.close();
});

/**
 * A server of `type` at `server`: `create(tag)` makes a fresh database (or schema) there with
 * `createPlace`, whose rows' ids `rows(name)` reads past the proxy and whose table `hasTable(place)`
 * looks for.
 */
function sqlServer(type, server, createPlace, rows, hasTable) {
  return {
    type,
    server,
    create(tag) {
      const place = createPlace(tag);
      return {
        connection: place.connection,
        stored: () => [...rows(place.name).keys()],
        hasTable: () => hasTable(place),
        drop: place.drop,
      };
    },
  };
}

const SERVERS = [
  sqlServer('mysql', MYSQL, createMysqlDatabase, mysqlRows, (db) =>
    db.query("SHOW TABLES LIKE 'eka_webhook_schedule_appointment'").length > 0),
  sqlServer('postgres', POSTGRES, createPostgresSchema, postgresRows, (schema) =>
    schema.query("SELECT to_regclass('eka_webhook_schedule_appointment') IS NOT NULL") === 't'),
];

for (const { type, server, create } of SERVERS) {
  describe(`${type} outage`, () => {
    function makeSdk(proxy, db) {
      return new WebhookSDK({
        clientId: 'demo-client',
        clientSecret: 'demo-secret',
        apiBaseUrl: sim.url,
        persistence: {
          type,
          connectTimeoutMs: CONNECT_TIMEOUT_MS,
          connection: { ...db.connection, host: '127.0.0.1', port: proxy.port },
        },
      });
    }

    /** Sends appointment.created for each id at once; resolves to the slowest time in ms. */
    async function webhooks(sdk, list) {
      const started = Date.now();
      const results = await Promise.all(
        list.map((id) => sdk.handleRequest({ event: 'appointment.created', data: { appointment_id: id } }, {})),
      );
      for (const result of results) assert.equal(result.status, 200, JSON.stringify(result.body));
      return Date.now() - started;
    }

    const stored = (db) => db.stored();

    /** Waits for the retry queue to bring the table to `expected` (its backoff is at most 5 s). */
    async function eventuallyStored(db, expected, timeoutMs = 15_000) {
      const deadline = Date.now() + timeoutMs;
      while (Date.now() < deadline) {
        // The table itself may not exist yet when the database was down from the start.
        const rows = (() => { try { return stored(db) } catch { return [] } })();
        if (JSON.stringify(rows) === JSON.stringify(expected.toSorted())) return;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      assert.deepEqual(stored(db), expected.toSorted());
    }

    /** Sends webhooks for `list` during an outage: each is answered within PROMPT_MS. */
    async function answeredPromptly(sdk, list) {
      const took = await webhooks(sdk, list);
      assert.ok(took < PROMPT_MS, `webhooks took ${took} ms`);
    }

    /** Ends the outage, sends webhooks for `list`, and waits for the table to hold `expected`. */
    async function restoreThenStored({ db, proxy, sdk }, list, expected) {
      await proxy.restore();
      await webhooks(sdk, list);
      await eventuallyStored(db, expected);
    }

    const WINDOW = { startTime: FIXTURE_BASE_EPOCH_SECONDS, endTime: FIXTURE_BASE_EPOCH_SECONDS + 30 * 86400 };

    async function withOutageSetup(tag, fn) {
      const db = create(tag);
      const proxy = await startTcpProxy({ host: server.host, port: server.port });
      const sdk = makeSdk(proxy, db);
      try {
        await fn({ db, proxy, sdk });
      } finally {
        await sdk.close();
        await proxy.close();
        db.drop();
      }
    }

    test('a cut connection: webhooks still 200 within the connect timeout; writes resume after restore', async () => {
      await withOutageSetup('cut', async ({ db, proxy, sdk }) => {
        await webhooks(sdk, ids.slice(0, 2));
        assert.deepEqual(stored(db), ids.slice(0, 2).toSorted());
        assert.ok(proxy.openConnections() > 0, 'the pool holds connections through the proxy');

        await proxy.cut();
        const during = await webhooks(sdk, ids.slice(2, 8));
        assert.ok(during < PROMPT_MS, `6 webhooks during the outage took ${during} ms`);
        // One after another too: each is bounded, none waits for the others.
        for (const id of ids.slice(8, 10)) {
          const one = await webhooks(sdk, [id]);
          assert.ok(one < PROMPT_MS, `a webhook during the outage took ${one} ms`);
        }
        const err = await sdk.findAppointmentsBetween(WINDOW).catch((e) => e);
        assert.equal(err.code, 'ERR_PERSISTENCE');
        assert.match(err.message, /unreachable/);
        assert.deepEqual(stored(db), ids.slice(0, 2).toSorted(), 'nothing was written during the outage');

        await proxy.restore();
        const after = await webhooks(sdk, ids.slice(10, 14));
        assert.ok(after < PROMPT_MS, `webhooks after the restore took ${after} ms`);
        await eventuallyStored(db, ids.slice(0, 14));
        const found = await sdk.findAppointmentsBetween(WINDOW);
        assert.deepEqual(found.appointments.map((a) => a.appointment_id), ids.slice(0, 14));
      });
    });

    test('down from the start: the table is created on the first webhook after the database is back', async () => {
      await withOutageSetup('start', async ({ db, proxy, sdk }) => {
        await proxy.cut();
        await answeredPromptly(sdk, ids.slice(0, 4));
        assert.equal(db.hasTable(), false);

        await restoreThenStored({ db, proxy, sdk }, ids.slice(4, 6), ids.slice(0, 6));
      });
    });

    test('a hung server (accepts, never answers): webhooks still 200 within the connect timeout', async () => {
      await withOutageSetup('hang', async ({ db, proxy, sdk }) => {
        await webhooks(sdk, ids.slice(0, 1));
        await proxy.blackhole();
        await answeredPromptly(sdk, ids.slice(1, 5));

        await restoreThenStored({ db, proxy, sdk }, ids.slice(5, 7), ids.slice(0, 7));
      });
    });

    test('a stalled network (open connections go silent): webhooks still 200 within the connect timeout', async () => {
      await withOutageSetup('stall', async ({ db, proxy, sdk }) => {
        await webhooks(sdk, ids.slice(0, 3));
        proxy.stall();
        // The pool checks an idle connection before handing it out, within the acquire timeout.
        await answeredPromptly(sdk, ids.slice(3, 7));

        await restoreThenStored({ db, proxy, sdk }, ids.slice(7, 9), ids.slice(0, 9));
      });
    });

    test('1,000 webhooks with the database cut and restored midway: every row is stored, statuses unchanged', async () => {
      await withOutageSetup('stream', async ({ db, proxy, sdk }) => {
        const statuses = []
        let next = 0
        const worker = async () => {
          while (next < streamIds.length) {
            const id = streamIds[next++]
            if (next === 250) await proxy.cut()
            if (next === 600) await proxy.restore()
            const result = await sdk.handleRequest({ event: 'appointment.created', data: { appointment_id: id } }, {})
            statuses.push(result.status)
          }
        }
        await Promise.all(Array.from({ length: 16 }, worker))
        assert.equal(statuses.length, 1000)
        assert.ok(statuses.every((s) => s === 200), 'every webhook got its normal status')
        await eventuallyStored(db, streamIds, 30_000)
      })
    })

    test('close() flushes writes still waiting once the database is back', async () => {
      await withOutageSetup('flush', async ({ db, proxy, sdk }) => {
        await proxy.cut()
        await webhooks(sdk, ids.slice(0, 5))
        await proxy.restore()
        assert.equal((await sdk.close()).unflushedWrites, 0)
        assert.deepEqual(stored(db), ids.slice(0, 5).toSorted())
      })
    })
  });
}
