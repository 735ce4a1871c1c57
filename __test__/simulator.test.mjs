import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import http from 'node:http';

const require = createRequire(import.meta.url);
const { startSimulator, createFixtures, SAMPLE, FIXTURE_BASE_EPOCH_SECONDS } = require('../simulator/index.js');
const CLI = fileURLToPath(new URL('../simulator/cli.js', import.meta.url));

const LOGIN = '/connect-auth/v1/account/login';
const DEMO = { client_id: 'demo-client', client_secret: 'demo-secret' };

/** Runs `fn` against a fresh simulator and always closes it. */
async function withSim(options, fn) {
  const sim = await startSimulator(options);
  try {
    return await fn(sim);
  } finally {
    await sim.close();
  }
}

function postLogin(sim, body = DEMO) {
  return fetch(sim.url + LOGIN, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

async function login(sim, body = DEMO) {
  const res = await postLogin(sim, body);
  assert.equal(res.status, 200);
  return (await res.json()).access_token;
}

/** GET with optional bearer token; `clientId: null` omits the client-id header. */
function get(sim, path, { token, clientId = 'demo-client', signal } = {}) {
  const headers = {};
  if (token !== undefined) headers.authorization = `Bearer ${token}`;
  if (clientId !== null) headers['client-id'] = clientId;
  return fetch(sim.url + path, { headers, signal });
}

async function json(res) {
  assert.equal(res.headers.get('content-type'), 'application/json');
  return res.json();
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

test('fixtures are deterministic, linked and in the future of the fixture base', () => {
  const a = createFixtures();
  const b = createFixtures();
  assert.deepEqual(a, b);
  assert.notEqual(a.appointments.get(SAMPLE.appointmentId), b.appointments.get(SAMPLE.appointmentId));

  const bk = a.appointments.get(SAMPLE.appointmentId);
  assert.equal(bk.status, 'BK');
  assert.equal(bk.visit_type, 'NEW');
  const flw = a.appointments.get(SAMPLE.followupAppointmentId);
  assert.equal(flw.status, 'IN');
  assert.equal(flw.visit_type, 'FLW');
  assert.equal(a.appointments.get(SAMPLE.cancelledAppointmentId).status, 'CND');

  for (const id of [SAMPLE.appointmentId, SAMPLE.followupAppointmentId, SAMPLE.cancelledAppointmentId]) {
    const apt = a.appointments.get(id);
    assert.ok(a.patients.has(apt.patient_id), `${id} patient`);
    assert.ok(a.doctors.has(apt.doctor_id), `${id} doctor`);
    assert.ok(a.clinics.has(apt.clinic_id), `${id} clinic`);
  }
  const orphan = a.appointments.get('apt-orphan-1');
  assert.equal(SAMPLE.orphanAppointmentId, 'apt-orphan-1');
  assert.ok(!a.patients.has(orphan.patient_id));
  assert.ok(!a.doctors.has(orphan.doctor_id));
  assert.ok(!a.clinics.has(orphan.clinic_id));

  for (const apt of a.appointments.values()) {
    assert.ok(Number.isInteger(apt.start_time) && Number.isInteger(apt.end_time));
    assert.ok(apt.start_time > FIXTURE_BASE_EPOCH_SECONDS);
    assert.ok(apt.end_time > apt.start_time);
    assert.equal(apt.mode, 'IN_CLINIC');
    assert.equal(apt.partner_appointment_id === null || typeof apt.partner_appointment_id === 'string', true);
  }
  assert.ok(a.patients.has(SAMPLE.patientId));
  assert.ok(a.doctors.has(SAMPLE.doctorId));
  assert.ok(a.clinics.has(SAMPLE.clinicId));
  assert.deepEqual(Object.keys(a.patients.get(SAMPLE.patientId)).sort(), ['dob', 'fln', 'gen', 'mobile', 'oid', 'patient_id']);
});

test('binds to 127.0.0.1 on a free port and rejects bad options', async () => {
  await withSim({}, async (sim) => {
    assert.match(sim.url, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.equal(sim.url, `http://127.0.0.1:${sim.port}`);
    assert.ok(sim.port > 0);
    assert.deepEqual(sim.sdkOptions, { clientId: 'demo-client', clientSecret: 'demo-secret', apiBaseUrl: sim.url });
  });
  await withSim({ clients: [{ clientId: 'keyed', clientSecret: 's2', apiKey: 'k2' }] }, async (sim) => {
    assert.deepEqual(sim.sdkOptions, { clientId: 'keyed', clientSecret: 's2', apiKey: 'k2', apiBaseUrl: sim.url });
  });
  await assert.rejects(startSimulator({ port: -1 }), TypeError);
  await assert.rejects(startSimulator({ tokenTtlSeconds: 0 }), TypeError);
  await assert.rejects(startSimulator({ latencyMs: -5 }), TypeError);
  await assert.rejects(startSimulator({ clients: [] }), TypeError);
  await assert.rejects(startSimulator({ clients: [{ clientId: 'x' }] }), TypeError);
});

test('login issues random tokens for valid credentials', async () => {
  await withSim({}, async (sim) => {
    const res = await postLogin(sim);
    assert.equal(res.status, 200);
    const body = await json(res);
    assert.deepEqual(Object.keys(body).sort(), ['access_token', 'expires_in', 'refresh_token']);
    assert.equal(body.expires_in, 3600);
    assert.ok(body.access_token.length >= 20);
    assert.notEqual(body.access_token, body.refresh_token);
    assert.notEqual(await login(sim), body.access_token);
    assert.equal(sim.stats().logins, 2);
  });
});

test('login rejects bad credentials with 401 and bad bodies with 400', async () => {
  await withSim({}, async (sim) => {
    for (const creds of [
      { client_id: 'demo-client', client_secret: 'wrong' },
      { client_id: 'someone-else', client_secret: 'demo-secret' },
    ]) {
      const res = await postLogin(sim, creds);
      assert.equal(res.status, 401);
      assert.deepEqual(await json(res), { error: 'invalid_client', message: 'Invalid client credentials' });
    }
    const malformed = await postLogin(sim, '{"client_id": ');
    assert.equal(malformed.status, 400);
    assert.equal((await json(malformed)).error, 'bad_request');
    const missing = await postLogin(sim, { client_id: 'demo-client' });
    assert.equal(missing.status, 400);
    await missing.body.cancel();

    const huge = await postLogin(sim, 'x'.repeat(70_000));
    assert.equal(huge.status, 413);
    assert.equal((await json(huge)).error, 'payload_too_large');

    const stats = sim.stats();
    assert.equal(stats.logins, 0);
    assert.equal(stats.requests.login, 5);
  });
});

test('custom clients, optionally requiring an api_key', async () => {
  const clients = [
    { clientId: 'plain', clientSecret: 's1' },
    { clientId: 'keyed', clientSecret: 's2', apiKey: 'k2' },
  ];
  await withSim({ clients }, async (sim) => {
    assert.equal((await postLogin(sim, { client_id: 'plain', client_secret: 's1' })).status, 200);
    assert.equal((await postLogin(sim, DEMO)).status, 401);
    assert.equal((await postLogin(sim, { client_id: 'keyed', client_secret: 's2' })).status, 401);
    assert.equal((await postLogin(sim, { client_id: 'keyed', client_secret: 's2', api_key: 'nope' })).status, 401);
    const token = await login(sim, { client_id: 'keyed', client_secret: 's2', api_key: 'k2' });
    assert.equal((await get(sim, '/dr/v1/patient/pat-1', { token, clientId: 'keyed' })).status, 200);
  });
});

test('each endpoint returns its record with the right wrapping, or 404', async () => {
  await withSim({}, async (sim) => {
    const token = await login(sim);
    const fixtures = createFixtures();

    const apt = await get(sim, `/dr/v1/appointment/${SAMPLE.appointmentId}`, { token });
    assert.equal(apt.status, 200);
    assert.deepEqual(await json(apt), { data: fixtures.appointments.get(SAMPLE.appointmentId) });

    const patient = await get(sim, `/dr/v1/patient/${SAMPLE.patientId}`, { token });
    assert.equal(patient.status, 200);
    assert.deepEqual(await json(patient), fixtures.patients.get(SAMPLE.patientId));

    const doctor = await get(sim, `/dr/v1/doctor/${SAMPLE.doctorId}`, { token });
    assert.deepEqual(await json(doctor), { doctor: fixtures.doctors.get(SAMPLE.doctorId) });

    const clinic = await get(sim, `/dr/v1/business/clinic/${SAMPLE.clinicId}`, { token });
    assert.deepEqual(await json(clinic), { clinic: fixtures.clinics.get(SAMPLE.clinicId) });

    for (const [path, message] of [
      ['/dr/v1/appointment/nope', 'Appointment nope not found'],
      ['/dr/v1/patient/nope', 'Patient nope not found'],
      ['/dr/v1/doctor/nope', 'Doctor nope not found'],
      ['/dr/v1/business/clinic/nope', 'Clinic nope not found'],
    ]) {
      const res = await get(sim, path, { token });
      assert.equal(res.status, 404, path);
      assert.deepEqual(await json(res), { error: 'not_found', message });
    }
  });
});

test('unknown routes and methods get a JSON 404', async () => {
  await withSim({}, async (sim) => {
    const token = await login(sim);
    for (const [method, path] of [
      ['GET', '/'],
      ['GET', '/dr/v1/appointments/apt-bk-1'],
      ['GET', '/dr/v1/appointment/'],
      ['GET', '/dr/v1/appointment/apt-bk-1/extra'],
      ['DELETE', '/dr/v1/appointment/apt-bk-1'],
      ['GET', LOGIN],
    ]) {
      const res = await fetch(sim.url + path, {
        method,
        headers: { authorization: `Bearer ${token}`, 'client-id': 'demo-client' },
      });
      assert.equal(res.status, 404, `${method} ${path}`);
      assert.equal((await json(res)).error, 'not_found');
    }
    const log = sim.requestLog();
    assert.equal(log.at(-1).route, null);
    assert.equal(log.at(-1).id, null);
  });
});

test('/dr/v1 routes need a live bearer token for the same client-id', async () => {
  const clients = [
    { clientId: 'demo-client', clientSecret: 'demo-secret' },
    { clientId: 'other', clientSecret: 'other-secret' },
  ];
  await withSim({ clients }, async (sim) => {
    const token = await login(sim);
    const path = `/dr/v1/patient/${SAMPLE.patientId}`;
    const cases = [
      [{}, 'no authorization'],
      [{ token: 'not-a-token' }, 'unknown token'],
      [{ token, clientId: null }, 'no client-id'],
      [{ token, clientId: 'other' }, 'client-id of another client'],
    ];
    for (const [opts, label] of cases) {
      const res = await get(sim, path, opts);
      assert.equal(res.status, 401, label);
      const body = await json(res);
      assert.equal(body.error, 'unauthorized', label);
      assert.equal(typeof body.message, 'string', label);
    }
    const basic = await fetch(sim.url + path, { headers: { authorization: `Basic ${token}`, 'client-id': 'demo-client' } });
    assert.equal(basic.status, 401);
    await basic.body.cancel();
    assert.equal((await get(sim, path, { token })).status, 200);
  });
});

test('tokens expire after tokenTtlSeconds', async () => {
  await withSim({ tokenTtlSeconds: 1 }, async (sim) => {
    const res = await postLogin(sim);
    const { access_token: token, expires_in } = await res.json();
    assert.equal(expires_in, 1);
    const path = `/dr/v1/appointment/${SAMPLE.appointmentId}`;
    assert.equal((await get(sim, path, { token })).status, 200);
    await sleep(1050);
    const expired = await get(sim, path, { token });
    assert.equal(expired.status, 401);
    assert.deepEqual(await json(expired), { error: 'unauthorized', message: 'Access token expired' });
    assert.equal((await get(sim, path, { token: await login(sim) })).status, 200);
  });
});

test('expireTokens() revokes every issued token; a new login works', async () => {
  await withSim({}, async (sim) => {
    const first = await login(sim);
    const second = await login(sim);
    const path = `/dr/v1/doctor/${SAMPLE.doctorId}`;
    assert.equal((await get(sim, path, { token: first })).status, 200);
    sim.expireTokens();
    for (const token of [first, second]) {
      const res = await get(sim, path, { token });
      assert.equal(res.status, 401);
      assert.equal((await json(res)).error, 'unauthorized');
    }
    assert.equal((await get(sim, path, { token: await login(sim) })).status, 200);
  });
});

test('path ids are URL-decoded; malformed percent-encoding is a 400', async () => {
  await withSim({}, async (sim) => {
    const id = `o'k "quoted" ünïcødé 100% a/b?c=d #1 🩺`;
    sim.setAppointment({ ...sim.getAppointment(SAMPLE.appointmentId), appointment_id: id });
    const token = await login(sim);
    const res = await get(sim, `/dr/v1/appointment/${encodeURIComponent(id)}`, { token });
    assert.equal(res.status, 200);
    assert.equal((await json(res)).data.appointment_id, id);
    assert.equal(sim.stats().byId[`appointment:${id}`], 1);
    assert.equal(sim.requestLog().at(-1).id, id);

    const missing = await get(sim, `/dr/v1/patient/${encodeURIComponent('ü"x')}`, { token });
    assert.equal((await json(missing)).message, 'Patient ü"x not found');

    const bad = await get(sim, '/dr/v1/patient/%E0%A4%A', { token });
    assert.equal(bad.status, 400);
    assert.equal((await json(bad)).error, 'bad_request');
  });
});

test('data setters upsert copies; deleteAppointment and getAppointment', async () => {
  await withSim({ fixtures: false }, async (sim) => {
    const token = await login(sim);
    assert.equal((await get(sim, `/dr/v1/appointment/${SAMPLE.appointmentId}`, { token })).status, 404);

    const patient = { patient_id: 'p-9', oid: '9', fln: 'Meera Nair', mobile: '+919900000000', dob: '2001-01-01', gen: 'F' };
    sim.setPatient(patient);
    patient.fln = 'mutated after set';
    assert.equal((await (await get(sim, '/dr/v1/patient/p-9', { token })).json()).fln, 'Meera Nair');
    sim.setPatient({ ...patient, fln: 'Meera N.' });
    assert.equal((await (await get(sim, '/dr/v1/patient/p-9', { token })).json()).fln, 'Meera N.');

    sim.setDoctor({ doctor_id: 'd-9', name: 'Dr. Vikram Rao', specialization: 'Dermatology' });
    assert.equal((await (await get(sim, '/dr/v1/doctor/d-9', { token })).json()).doctor.specialization, 'Dermatology');
    sim.setClinic({ clinic_id: 'c-9', name: 'Skin Care Centre', address: 'Pune' });
    assert.equal((await (await get(sim, '/dr/v1/business/clinic/c-9', { token })).json()).clinic.name, 'Skin Care Centre');

    const apt = {
      appointment_id: 'a-9',
      patient_id: 'p-9',
      doctor_id: 'd-9',
      clinic_id: 'c-9',
      start_time: 1_900_000_000,
      end_time: 1_900_000_900,
      status: 'BK',
      visit_type: 'NEW',
      custom_field: { nested: [1, 2] },
    };
    sim.setAppointment(apt);
    const copy = sim.getAppointment('a-9');
    assert.deepEqual(copy, apt);
    copy.status = 'CND';
    assert.equal(sim.getAppointment('a-9').status, 'BK');
    assert.deepEqual((await (await get(sim, '/dr/v1/appointment/a-9', { token })).json()).data, apt);

    assert.equal(sim.deleteAppointment('a-9'), true);
    assert.equal(sim.deleteAppointment('a-9'), false);
    assert.equal(sim.getAppointment('a-9'), undefined);
    assert.equal((await get(sim, '/dr/v1/appointment/a-9', { token })).status, 404);

    assert.throws(() => sim.setAppointment({ patient_id: 'p' }), TypeError);
    assert.throws(() => sim.setPatient(null), TypeError);
  });
});

test('addAppointments() bulk-creates linked appointments', async () => {
  await withSim({}, async (sim) => {
    const ids = sim.addAppointments(1000);
    assert.equal(ids.length, 1000);
    assert.equal(ids[0], 'bulk-0');
    assert.equal(ids[999], 'bulk-999');
    const first = sim.getAppointment('bulk-0');
    const second = sim.getAppointment('bulk-1');
    assert.equal(first.patient_id, SAMPLE.patientId);
    assert.equal(first.doctor_id, SAMPLE.doctorId);
    assert.equal(first.clinic_id, SAMPLE.clinicId);
    assert.equal(first.status, 'BK');
    assert.ok(second.start_time > first.start_time);
    assert.ok(first.start_time > FIXTURE_BASE_EPOCH_SECONDS);

    const custom = sim.addAppointments(3, { status: 'IN', visit_type: 'FLW', appointment_id: 'ignored' }, { prefix: 'flw-' });
    assert.deepEqual(custom, ['flw-0', 'flw-1', 'flw-2']);
    assert.equal(sim.getAppointment('flw-2').status, 'IN');
    assert.equal(sim.getAppointment('flw-2').visit_type, 'FLW');
    assert.equal(sim.getAppointment('ignored'), undefined);

    const token = await login(sim);
    const res = await get(sim, '/dr/v1/appointment/bulk-500', { token });
    assert.equal((await res.json()).data.appointment_id, 'bulk-500');
    assert.deepEqual(sim.addAppointments(0), []);
    assert.throws(() => sim.addAppointments(-1), TypeError);
  });
});

test('latency: global, per route, and without blocking the event loop', async () => {
  await withSim({ latencyMs: 80 }, async (sim) => {
    let t0 = performance.now();
    const token = await login(sim);
    assert.ok(performance.now() - t0 >= 79, 'options.latencyMs applies to login');

    sim.setLatency(0);
    sim.setRouteLatency('patient', 120);
    t0 = performance.now();
    assert.equal((await get(sim, '/dr/v1/patient/pat-1', { token })).status, 200);
    assert.ok(performance.now() - t0 >= 119, 'route latency');
    t0 = performance.now();
    await get(sim, '/dr/v1/doctor/doc-1', { token });
    assert.ok(performance.now() - t0 < 100, 'other routes unaffected');

    sim.setLatency(50);
    t0 = performance.now();
    await get(sim, '/dr/v1/patient/pat-1', { token });
    assert.ok(performance.now() - t0 >= 169, 'global and route latency add up');

    sim.setRouteLatency('patient', 0);
    sim.setLatency(200);
    t0 = performance.now();
    const results = await Promise.all([1, 2, 3, 4].map(() => get(sim, '/dr/v1/business/clinic/x', { token })));
    const elapsed = performance.now() - t0;
    assert.ok(elapsed >= 199 && elapsed < 600, `4 concurrent 200 ms requests took ${elapsed} ms`);
    assert.ok(results.every((r) => r.status === 404));

    assert.throws(() => sim.setLatency(-1), TypeError);
    assert.throws(() => sim.setRouteLatency('nope', 1), TypeError);
  });
});

test('status faults: default and custom bodies, headers, verbatim strings', async () => {
  await withSim({}, async (sim) => {
    const token = await login(sim);
    sim.setFault('appointment', '*', { status: 500 });
    const r500 = await get(sim, '/dr/v1/appointment/apt-bk-1', { token });
    assert.equal(r500.status, 500);
    assert.deepEqual(await json(r500), { error: 'server_error', message: 'Simulated 500 response' });

    sim.setFault('patient', 'pat-1', { status: 429, headers: { 'Retry-After': '2' }, body: { error: 'too_many' } });
    const r429 = await get(sim, '/dr/v1/patient/pat-1', { token });
    assert.equal(r429.status, 429);
    assert.equal(r429.headers.get('retry-after'), '2');
    assert.deepEqual(await json(r429), { error: 'too_many' });
    assert.equal((await get(sim, '/dr/v1/patient/pat-2', { token })).status, 200, 'only the faulted id');

    sim.setFault('doctor', '*', { status: 502, body: '<html>Bad Gateway</html>', headers: { 'content-type': 'text/html' } });
    const r502 = await get(sim, '/dr/v1/doctor/doc-1', { token });
    assert.equal(r502.status, 502);
    assert.equal(r502.headers.get('content-type'), 'text/html');
    assert.equal(await r502.text(), '<html>Bad Gateway</html>');

    // Faults apply before authentication.
    const noAuth = await get(sim, '/dr/v1/appointment/apt-bk-1');
    assert.equal(noAuth.status, 500);
    await noAuth.body.cancel();

    sim.clearFaults();
    assert.equal((await get(sim, '/dr/v1/appointment/apt-bk-1', { token })).status, 200);
    assert.equal((await get(sim, '/dr/v1/doctor/doc-1', { token })).status, 200);
  });
});

test('fault times limits how many requests fail; specific ids beat "*"', async () => {
  await withSim({}, async (sim) => {
    const token = await login(sim);
    sim.setFault('clinic', '*', { status: 503, times: 2 });
    const statuses = [];
    for (let i = 0; i < 4; i++) statuses.push((await get(sim, '/dr/v1/business/clinic/cln-1', { token })).status);
    assert.deepEqual(statuses, [503, 503, 200, 200]);

    sim.setFault('appointment', '*', { status: 500 });
    sim.setFault('appointment', 'apt-flw-1', { status: 404, body: { error: 'not_found', message: 'gone' }, times: 1 });
    assert.equal((await get(sim, '/dr/v1/appointment/apt-flw-1', { token })).status, 404);
    assert.equal((await get(sim, '/dr/v1/appointment/apt-flw-1', { token })).status, 500, 'falls back to "*"');
    assert.equal((await get(sim, '/dr/v1/appointment/apt-bk-1', { token })).status, 500);

    assert.throws(() => sim.setFault('nope', '*', { status: 500 }), TypeError);
    assert.throws(() => sim.setFault('clinic', '*', { status: 99 }), TypeError);
    assert.throws(() => sim.setFault('clinic', '*', { status: 500, times: 0 }), TypeError);
    assert.throws(() => sim.setFault('clinic', '*', 'explode'), TypeError);
    assert.throws(() => sim.setFault('clinic', '', 'hang'), TypeError);
  });
});

test('login faults ignore the id', async () => {
  await withSim({}, async (sim) => {
    sim.setFault('login', 'whatever', { status: 503, times: 1 });
    const res = await postLogin(sim);
    assert.equal(res.status, 503);
    await res.body.cancel();
    await login(sim);
    assert.equal(sim.stats().logins, 1);
  });
});

test('garbage fault answers 200 with invalid JSON', async () => {
  await withSim({}, async (sim) => {
    const token = await login(sim);
    sim.setFault('appointment', 'apt-bk-1', 'garbage');
    const res = await get(sim, '/dr/v1/appointment/apt-bk-1', { token });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'application/json');
    const text = await res.text();
    assert.throws(() => JSON.parse(text), SyntaxError);
  });
});

test('reset fault drops the connection without an answer; { kind, times } form', async () => {
  await withSim({}, async (sim) => {
    const token = await login(sim);
    sim.setFault('patient', '*', { kind: 'reset', times: 1 });
    await assert.rejects(get(sim, '/dr/v1/patient/pat-1', { token }), (err) => {
      assert.equal(err.name, 'TypeError');
      assert.equal(err.cause?.code, 'ECONNRESET');
      return true;
    });
    assert.equal((await get(sim, '/dr/v1/patient/pat-1', { token })).status, 200);

    sim.setFault('patient', '*', 'reset');
    await assert.rejects(get(sim, '/dr/v1/patient/pat-1', { token }));
    await assert.rejects(get(sim, '/dr/v1/patient/pat-1', { token }));
  });
});

test('hang fault never answers; the client times out and close() ends the rest', async () => {
  const sim = await startSimulator();
  const token = await login(sim);
  sim.setFault('doctor', '*', 'hang');
  await assert.rejects(get(sim, '/dr/v1/doctor/doc-1', { token, signal: AbortSignal.timeout(150) }), {
    name: 'TimeoutError',
  });
  const pending = get(sim, '/dr/v1/doctor/doc-1', { token });
  const outcome = pending.then(
    () => 'answered',
    () => 'failed',
  );
  await sleep(50);
  assert.equal(sim.maxConcurrent() >= 1, true);
  const t0 = performance.now();
  await sim.close();
  assert.ok(performance.now() - t0 < 500, 'close() is prompt with a hanging request');
  assert.equal(await outcome, 'failed');
});

test('stats() counts requests per route and per id', async () => {
  await withSim({}, async (sim) => {
    const token = await login(sim);
    await get(sim, '/dr/v1/appointment/apt-bk-1?partner_id=partner-42&x=1', { token });
    await get(sim, '/dr/v1/appointment/apt-bk-1', { token });
    await get(sim, '/dr/v1/patient/pat-1', { token });
    await get(sim, '/dr/v1/patient/pat-1'); // 401 still counts as a request
    await get(sim, '/dr/v1/doctor/doc-1', { token });
    await get(sim, '/dr/v1/business/clinic/cln-1', { token });
    await get(sim, '/elsewhere');

    assert.deepEqual(sim.stats(), {
      logins: 1,
      requests: { login: 1, appointment: 2, patient: 2, doctor: 1, clinic: 1 },
      byId: { 'appointment:apt-bk-1': 2, 'patient:pat-1': 2, 'doctor:doc-1': 1, 'clinic:cln-1': 1 },
    });
  });
});

test('requestLog() records method, path, route, id, query, headers and time', async () => {
  await withSim({}, async (sim) => {
    const before = Date.now();
    const token = await login(sim);
    await get(sim, '/dr/v1/appointment/apt-bk-1?partner_id=partner-42&x=1', { token });
    const log = sim.requestLog();
    assert.equal(log.length, 2);
    assert.equal(log[0].route, 'login');
    assert.equal(log[0].method, 'POST');
    assert.equal(log[0].id, null);
    const entry = log[1];
    assert.equal(entry.method, 'GET');
    assert.equal(entry.path, '/dr/v1/appointment/apt-bk-1');
    assert.equal(entry.route, 'appointment');
    assert.equal(entry.id, 'apt-bk-1');
    assert.deepEqual(entry.query, { partner_id: 'partner-42', x: '1' });
    assert.equal(entry.headers.authorization, `Bearer ${token}`);
    assert.equal(entry.headers['client-id'], 'demo-client');
    assert.ok(Object.keys(entry.headers).every((name) => name === name.toLowerCase()));
    assert.ok(entry.at >= before && entry.at <= Date.now());

    sim.resetStats();
    assert.deepEqual(sim.stats(), {
      logins: 0,
      requests: { login: 0, appointment: 0, patient: 0, doctor: 0, clinic: 0 },
      byId: {},
    });
    assert.deepEqual(sim.requestLog(), []);
    assert.equal(sim.maxConcurrent(), 0);
  });
});

test('requestLog() keeps only the last 10,000 entries', async () => {
  await withSim({}, async (sim) => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
    const hit = (i) =>
      new Promise((resolve, reject) => {
        http
          .get(`${sim.url}/nowhere/${i}`, { agent }, (res) => {
            res.resume();
            res.on('end', resolve);
          })
          .on('error', reject);
      });
    const total = 10_050;
    for (let start = 0; start < total; start += 256) {
      await Promise.all(Array.from({ length: Math.min(256, total - start) }, (_, k) => hit(start + k)));
    }
    agent.destroy();
    const log = sim.requestLog();
    assert.equal(log.length, 10_000);
    const seen = new Set(log.map((e) => e.path));
    assert.ok(!seen.has('/nowhere/0'));
    assert.ok(seen.has(`/nowhere/${total - 1}`));
    assert.ok(log.every((e, i) => i === 0 || e.at >= log[i - 1].at), 'oldest first');
  });
});

test('maxConcurrent() reports the peak of requests in progress', async () => {
  await withSim({}, async (sim) => {
    const token = await login(sim);
    assert.equal(sim.maxConcurrent(), 1);
    sim.resetStats();
    sim.setLatency(100);
    await Promise.all([1, 2, 3, 4, 5].map(() => get(sim, '/dr/v1/patient/pat-1', { token })));
    assert.equal(sim.maxConcurrent(), 5);
    await Promise.all([1, 2].map(() => get(sim, '/dr/v1/patient/pat-1', { token })));
    assert.equal(sim.maxConcurrent(), 5, 'a peak, not the latest');
    sim.resetStats();
    assert.equal(sim.maxConcurrent(), 0);
  });
});

test('close() resolves promptly with an idle keep-alive connection open', async () => {
  const sim = await startSimulator();
  const agent = new http.Agent({ keepAlive: true });
  await new Promise((resolve, reject) => {
    http
      .get(`${sim.url}/dr/v1/patient/pat-1`, { agent }, (res) => {
        assert.equal(res.headers.connection, 'keep-alive');
        res.resume();
        res.on('end', resolve);
      })
      .on('error', reject);
  });
  await sleep(10);
  assert.equal(Object.values(agent.freeSockets).flat().length, 1, 'an idle keep-alive socket is open');

  const t0 = performance.now();
  await sim.close();
  assert.ok(performance.now() - t0 < 500, 'close() did not wait for the keep-alive timeout');
  await sim.close(); // idempotent
  await assert.rejects(fetch(`${sim.url}/`));
  agent.destroy();
});

test('close() also ends requests waiting on latency', async () => {
  const sim = await startSimulator({ latencyMs: 10_000 });
  const pending = postLogin(sim).then(
    () => 'answered',
    () => 'failed',
  );
  await sleep(50);
  const t0 = performance.now();
  await sim.close();
  assert.ok(performance.now() - t0 < 500);
  assert.equal(await pending, 'failed');
});

function runCli(args) {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d) => (stderr += d));
  return { child, output: () => ({ stdout, stderr }) };
}

test('cli: starts, serves and stops on SIGTERM', async () => {
  const { child, output } = runCli(['--port', '0', '--latency', '5', '--client-id', 'cli', '--client-secret', 'shh']);
  const exited = once(child, 'exit');
  try {
    const line = await new Promise((resolve, reject) => {
      child.stdout.on('data', () => {
        if (output().stdout.includes('\n')) resolve(output().stdout.split('\n')[0]);
      });
      child.once('exit', () => reject(new Error(`cli exited early: ${output().stderr}`)));
    });
    const match = /^Eka Care API simulator listening on (http:\/\/127\.0\.0\.1:(\d+))$/.exec(line);
    assert.ok(match, line);
    const sim = { url: match[1] };
    assert.equal((await postLogin(sim)).status, 401);
    const token = await login(sim, { client_id: 'cli', client_secret: 'shh' });
    assert.equal((await get(sim, '/dr/v1/patient/pat-1', { token, clientId: 'cli' })).status, 200);
  } finally {
    child.kill('SIGTERM');
  }
  const [code] = await exited;
  assert.equal(code, 0);
});

test('cli: bad flags print usage and exit 2', async () => {
  for (const args of [['--bogus'], ['--port', 'abc'], ['--latency', '-3'], ['--client-id', 'only-id'], ['stray']]) {
    const { child, output } = runCli(args);
    const [code] = await once(child, 'exit');
    assert.equal(code, 2, args.join(' '));
    assert.match(output().stderr, /Usage: node simulator\/cli\.js/);
    assert.equal(output().stdout, '');
  }
});
