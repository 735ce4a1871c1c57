// Schedule persistence benchmark (not a test): prints two tables.
//
// 1. Upsert throughput through `handleRequest` per backend (none as the baseline, SQLite file,
//    SQLite :memory:, MySQL): appointment.created webhooks, 16 in flight, each enriched from the
//    simulator (4 API calls) and then written.
// 2. `findAppointmentsBetween` over 1,000 matching rows with the simulator adding 20 ms to every
//    appointment fetch, against the bound ceil(1000/16) x 20 ms = 1.26 s, and against a plain JS
//    loop that fetches the same 1,000 appointments from the same simulator with 16 in flight,
//    measured in the same run.
//
// The simulator runs in a worker thread so that its event loop does not share the SDK's.
// Medians over RUNS runs. Build the addon first (`npm run build` for release numbers).
//
//   node bench/persistence.mjs [--runs 7] [--webhooks 2000] [--no-mysql]

import { Worker, isMainThread, parentPort } from 'node:worker_threads';
import { createRequire } from 'node:module';
import { parseArgs } from 'node:util';

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
      runs: { type: 'string', default: '7' },
      webhooks: { type: 'string', default: '2000' },
      'no-mysql': { type: 'boolean', default: false },
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
    for (const lane of lanes) await pool(500, CONCURRENCY, lane.send); // warm-up: login, pools, table, JIT
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
    console.log(`\nUpsert throughput through handleRequest (${WEBHOOKS} appointment.created webhooks per run, ${CONCURRENCY} in flight, ${apiCalls.toFixed(2)} simulator calls each; median of ${RUNS} runs)\n`);
    console.log('| backend | webhooks/s (median) | min–max | vs no persistence (median of per-run ratios) |');
    console.log('|---|---:|---:|---:|');
    for (const { backend, rates, ratios } of lanes) {
      console.log(`| ${backend.name} | ${median(rates).toFixed(0)} | ${Math.min(...rates).toFixed(0)}–${Math.max(...rates).toFixed(0)} | ${median(ratios).toFixed(2)}× |`);
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

    const findRows = [];
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
      findRows.push({ name: backend.name, ms: median(times), baseline: median(baselines), peak });
    }
    console.log(`\nfindAppointmentsBetween over ${FIND_ROWS} rows, simulator +${LATENCY_MS} ms per appointment fetch (median of ${RUNS})\n`);
    console.log(`| backend | SDK ms | bound ceil(${FIND_ROWS}/${CONCURRENCY})×${LATENCY_MS} ms | SDK / bound | JS fetch loop ms (same run) | SDK / JS loop | peak in flight | target ≤ 1.25× bound |`);
    console.log('|---|---:|---:|---:|---:|---:|---:|:---:|');
    for (const row of findRows) {
      const ratio = row.ms / bound;
      console.log(
        `| ${row.name} | ${row.ms.toFixed(0)} | ${bound} | ${ratio.toFixed(2)}× | ${row.baseline.toFixed(0)} | ${(row.ms / row.baseline).toFixed(2)}× | ${row.peak} | ${ratio <= 1.25 ? 'met' : 'MISSED'} |`,
      );
    }
    console.log('');
  } finally {
    await sim.close();
    for (const cleanup of cleanups) cleanup();
  }
}

if (isMainThread) await main();
