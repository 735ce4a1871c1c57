// Schedule persistence benchmark (issue 3), rows for bench/run.mjs.
//
// 1. Upsert throughput through `handleRequest` per backend (none as the baseline, SQLite file,
//    SQLite :memory:, MySQL, PostgreSQL): appointment.created webhooks, 16 in flight, each enriched from the
//    simulator (4 API calls) and then written.
// 2. `findAppointmentsBetween` over 1,000 matching rows with the simulator adding 20 ms to every
//    appointment fetch, against the bound ceil(1000/16) x 20 ms = 1.26 s, and against a plain JS
//    loop that fetches the same 1,000 appointments from the same simulator with 16 in flight,
//    measured in the same run.
//
// The simulator runs in a worker thread so that its event loop does not share the SDK's.
// Medians over RUNS runs. Build the addon first (`npm run build` for release numbers).
//
//   node bench/persistence.bench.mjs [--runs 7] [--webhooks 2000] [--no-mysql] [--no-postgres]

import { Worker, isMainThread, parentPort } from 'node:worker_threads';
import { createRequire } from 'node:module';
import { parseArgs } from 'node:util';
import { emit, summarize, QUICK } from './lib/report.mjs';

const SECTION = '8. Schedule persistence (issue 3)';

const require = createRequire(import.meta.url);

if (!isMainThread) {
  // The simulator, driven by messages: { id, method, args } -> { id, result | error }.
  const { startSimulator } = require('../simulator/index.js');
  const sim = await startSimulator({ fixtures: false });
  parentPort.on('message', async ({ id, method, args }) => {
    try {
      const result = method === 'close' ? await sim.close() : sim[method](...args);
      parentPort.postMessage({ id, result });
    } catch (error) {
      parentPort.postMessage({ id, error: String(error) });
    }
  });
  parentPort.postMessage({ ready: sim.url });
}

async function startSimulatorWorker() {
  const worker = new Worker(new URL(import.meta.url));
  const pending = new Map();
  let next = 0;
  const url = await new Promise((resolve, reject) => {
    worker.once('error', reject);
    worker.on('message', (message) => {
      if (message.ready) return resolve(message.ready);
      const { resolve: ok, reject: fail } = pending.get(message.id);
      pending.delete(message.id);
      if (message.error) fail(new Error(message.error));
      else ok(message.result);
    });
  });
  const call = (method, ...args) =>
    new Promise((resolve, reject) => {
      const id = next++;
      pending.set(id, { resolve, reject });
      worker.postMessage({ id, method, args });
    });
  return {
    url,
    call,
    async close() {
      await call('close');
      await worker.terminate();
    },
  };
}

const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};

/** Runs `task(i)` for i in 0..n with at most `limit` in flight. */
async function pool(n, limit, task) {
  let nextIndex = 0;
  const lane = async () => {
    while (nextIndex < n) await task(nextIndex++);
  };
  await Promise.all(Array.from({ length: Math.min(limit, n) }, lane));
}

async function main() {
  const { values } = parseArgs({
    options: {
      runs: { type: 'string', default: QUICK ? '2' : '7' },
      webhooks: { type: 'string', default: '2000' },
      'no-mysql': { type: 'boolean', default: false },
      'no-postgres': { type: 'boolean', default: false },
    },
  });
  const RUNS = Number(values.runs);
  const WEBHOOKS = Number(values.webhooks);
  const FIND_ROWS = 1000;
  const LATENCY_MS = 20;
  const CONCURRENCY = 16;

  const { WebhookSDK } = require('../lib/index.js');
  const sqlSupport = await import('../__test__/support/sql.mjs');
  const sim = await startSimulatorWorker();
  const tmp = sqlSupport.tempDir('bench');
  const cleanups = [tmp.cleanup];

  const backends = [
    { name: 'none (baseline)', persistence: undefined },
    { name: 'sqlite file', persistence: { type: 'sqlite', filename: tmp.file('bench.db') } },
    { name: 'sqlite :memory:', persistence: { type: 'sqlite', filename: ':memory:' } },
  ];
  if (!values['no-mysql']) {
    const db = sqlSupport.createMysqlDatabase('bench');
    cleanups.push(db.drop);
    backends.push({ name: 'mysql (MariaDB)', persistence: { type: 'mysql', connection: db.connection } });
  }
  if (!values['no-postgres']) {
    const schema = sqlSupport.createPostgresSchema('bench');
    cleanups.push(schema.drop);
    backends.push({ name: 'postgres', persistence: { type: 'postgres', connection: schema.connection } });
  }

  const makeSdk = (persistence) =>
    new WebhookSDK({ clientId: 'demo-client', clientSecret: 'demo-secret', apiBaseUrl: sim.url, persistence });

  try {
    // ---- 1. Upsert throughput -------------------------------------------------------------
    await sim.call('addAppointments', WEBHOOKS, {}, { prefix: 'up-' });
    const ids = Array.from({ length: WEBHOOKS }, (_, i) => `up-${i}`);
    // Backends take turns within each run, so load from elsewhere on the machine hits all of
    // them alike; the ratio to the baseline is taken per run, then the median.
    const lanes = backends.map((backend) => {
      const sdk = makeSdk(backend.persistence);
      const send = async (i) => {
        const result = await sdk.handleRequest({ event: 'appointment.created', data: { appointment_id: ids[i] } }, {});
        if (result.status !== 200) throw new Error(`webhook answered ${result.status}: ${JSON.stringify(result.body)}`);
      };
      return { backend, sdk, send, rates: [], ratios: [] };
    });
    for (const lane of lanes) await pool(Math.min(500, WEBHOOKS), CONCURRENCY, lane.send); // warm-up: login, pools, table, JIT
    await sim.call('resetStats');
    for (let run = 0; run < RUNS; run++) {
      for (const lane of lanes) {
        const started = process.hrtime.bigint();
        await pool(WEBHOOKS, CONCURRENCY, lane.send);
        lane.rates.push(WEBHOOKS / (Number(process.hrtime.bigint() - started) / 1e9));
      }
      for (const lane of lanes) lane.ratios.push(lane.rates[run] / lanes[0].rates[run]);
    }
    const { requests } = await sim.call('stats');
    const apiCalls = (requests.appointment + requests.patient + requests.doctor + requests.clinic) / (WEBHOOKS * RUNS * lanes.length);
    for (const { backend, sdk } of lanes) {
      if (backend.persistence) {
        const found = await sdk.findAppointmentsBetween({ startTime: 0, endTime: 4e9 });
        if (found.appointments.length !== WEBHOOKS) throw new Error(`${backend.name}: ${found.appointments.length} rows`);
      }
      await sdk.close();
    }
    for (const { backend, rates, ratios } of lanes) {
      const name = `upsert through handleRequest (${WEBHOOKS} webhooks, ${CONCURRENCY} in flight, ${apiCalls.toFixed(0)} API calls each): ${backend.name}`;
      emit({ section: SECTION, name, unit: 'events/s', ...summarize(rates) });
      if (backend.persistence) emit({ section: SECTION, name: `… ${backend.name} / no persistence`, kind: 'ratio', unit: '×', ...summarize(ratios) });
    }

    // ---- 2. findAppointmentsBetween over 1,000 rows at 20 ms per fetch ----------------------
    // All at one start time, well after every up-* slot, so the window holds exactly these.
    const { FIXTURE_BASE_EPOCH_SECONDS } = require('../simulator/index.js');
    const findAt = FIXTURE_BASE_EPOCH_SECONDS + 400 * 86400;
    await sim.call('addAppointments', FIND_ROWS, { start_time: findAt, end_time: findAt + 900 }, { prefix: 'find-' });
    const findIds = Array.from({ length: FIND_ROWS }, (_, i) => `find-${i}`);
    const bound = Math.ceil(FIND_ROWS / CONCURRENCY) * LATENCY_MS;

    // The same fetches from plain JS (one login, keep-alive, 16 in flight): the practical floor.
    const baselineFetch = async () => {
      const login = await fetch(`${sim.url}/connect-auth/v1/account/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ client_id: 'demo-client', client_secret: 'demo-secret' }),
      });
      const { access_token: token } = await login.json();
      const headers = { authorization: `Bearer ${token}`, 'client-id': 'demo-client' };
      const started = process.hrtime.bigint();
      await pool(FIND_ROWS, CONCURRENCY, async (i) => {
        const res = await fetch(`${sim.url}/dr/v1/appointment/${findIds[i]}`, { headers });
        await res.json();
      });
      return Number(process.hrtime.bigint() - started) / 1e6;
    };

    await sim.call('setRouteLatency', 'appointment', 0);
    for (const backend of backends.filter((b) => b.persistence)) {
      const sdk = makeSdk(backend.persistence);
      await pool(FIND_ROWS, CONCURRENCY, (i) => sdk.handleRequest({ event: 'appointment.created', data: { appointment_id: findIds[i] } }, {}));
      const window = { startTime: findAt, endTime: findAt };
      await sim.call('setRouteLatency', 'appointment', LATENCY_MS);
      const times = [];
      const baselines = [];
      let peak = 0;
      await sdk.findAppointmentsBetween(window); // warm-up
      for (let run = 0; run < RUNS; run++) {
        baselines.push(await baselineFetch());
        await sim.call('resetStats');
        const started = process.hrtime.bigint();
        const found = await sdk.findAppointmentsBetween(window);
        times.push(Number(process.hrtime.bigint() - started) / 1e6);
        peak = Math.max(peak, await sim.call('maxConcurrent'));
        if (found.appointments.length !== FIND_ROWS) throw new Error(`${backend.name}: found ${found.appointments.length}`);
      }
      await sim.call('setRouteLatency', 'appointment', 0);
      await sdk.close();
      emit({
        section: SECTION,
        name: `findAppointmentsBetween, ${FIND_ROWS} rows at +${LATENCY_MS} ms per fetch, ${backend.name} / bound ceil(${FIND_ROWS}/${CONCURRENCY})×${LATENCY_MS} ms`,
        kind: 'ratio',
        unit: '×',
        ...summarize(times.map((t) => t / bound)),
        target: { op: '<=', value: 1.25, text: '≤ 1.25× the bound' },
        note: `peak ${peak} in flight; a plain JS fetch loop took ${median(baselines).toFixed(0)} ms in the same runs`,
      });
    }
  } finally {
    await sim.close();
    for (const cleanup of cleanups) cleanup();
  }
}

if (isMainThread) await main();
