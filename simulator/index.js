'use strict';

/**
 * Eka Care API simulator: a real HTTP server on 127.0.0.1 that speaks the subset
 * of the Eka Care API used by the webhook SDK, with switches for latency, faults
 * and token expiry. See README.md in this folder.
 */

const http = require('node:http');
const { randomBytes } = require('node:crypto');
const { createFixtures, bulkAppointment, SAMPLE, FIXTURE_BASE_EPOCH_SECONDS } = require('./fixtures');

const ROUTES = Object.freeze(['login', 'appointment', 'patient', 'doctor', 'clinic']);
const LOGIN_PATH = '/connect-auth/v1/account/login';

/** The read-only resources, keyed by route name. */
const RESOURCES = {
  appointment: {
    prefix: '/dr/v1/appointment/',
    idField: 'appointment_id',
    label: 'Appointment',
    wrap: (record) => ({ data: record }),
  },
  patient: {
    prefix: '/dr/v1/patient/',
    idField: 'patient_id',
    label: 'Patient',
    wrap: (record) => record,
  },
  doctor: {
    prefix: '/dr/v1/doctor/',
    idField: 'doctor_id',
    label: 'Doctor',
    wrap: (record) => ({ doctor: record }),
  },
  clinic: {
    prefix: '/dr/v1/business/clinic/',
    idField: 'clinic_id',
    label: 'Clinic',
    wrap: (record) => ({ clinic: record }),
  },
};

const FAULT_KINDS = new Set(['garbage', 'reset', 'hang', 'oversized']);
/** What an `oversized` fault streams: more than any client should buffer (the SDK caps at 8 MiB). */
const OVERSIZED_BODY_BYTES = 16 * 1024 * 1024;
/** A 200 body that is not valid JSON: a response cut off mid-object. */
const GARBAGE_BODY = '{"data": {"appointment_id": "apt-';

// Bounds that keep memory flat however long the simulator runs.
const REQUEST_LOG_LIMIT = 10_000;
const BY_ID_LIMIT = 100_000;
const LIVE_TOKEN_LIMIT = 10_000;
const LOGIN_BODY_LIMIT = 64 * 1024;

const DEFAULT_CLIENTS = [{ clientId: 'demo-client', clientSecret: 'demo-secret' }];

function assertRoute(route) {
  if (!ROUTES.includes(route)) {
    throw new TypeError(`Unknown route ${JSON.stringify(route)}; expected one of ${ROUTES.join(', ')}`);
  }
}

function assertMilliseconds(name, ms) {
  if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < 0) {
    throw new TypeError(`${name} must be a finite number of milliseconds >= 0, got ${ms}`);
  }
}

function validateClients(clients) {
  if (!Array.isArray(clients) || clients.length === 0) {
    throw new TypeError('options.clients must be a non-empty array');
  }
  return clients.map((client, i) => {
    const ok =
      client !== null &&
      typeof client === 'object' &&
      typeof client.clientId === 'string' &&
      typeof client.clientSecret === 'string' &&
      (client.apiKey === undefined || typeof client.apiKey === 'string');
    if (!ok) {
      throw new TypeError(`options.clients[${i}] must be { clientId: string, clientSecret: string, apiKey?: string }`);
    }
    return { clientId: client.clientId, clientSecret: client.clientSecret, apiKey: client.apiKey };
  });
}

/** Turns a user-supplied fault into `{ kind, status?, body?, headers?, remaining }`. */
function normalizeFault(fault) {
  if (typeof fault === 'string') fault = { kind: fault };
  if (fault === null || typeof fault !== 'object') {
    throw new TypeError('fault must be "garbage", "reset", "hang", "oversized", { kind, times? } or { status, body?, headers?, times? }');
  }
  const { times } = fault;
  if (times !== undefined && !(Number.isInteger(times) && times > 0)) {
    throw new TypeError(`fault.times must be a positive integer, got ${times}`);
  }
  const remaining = times ?? Infinity;
  if (fault.kind !== undefined) {
    if (!FAULT_KINDS.has(fault.kind)) {
      throw new TypeError(`fault.kind must be "garbage", "reset", "hang" or "oversized", got ${JSON.stringify(fault.kind)}`);
    }
    return { kind: fault.kind, remaining };
  }
  if (!Number.isInteger(fault.status) || fault.status < 200 || fault.status > 599) {
    throw new TypeError(`fault.status must be an integer HTTP status in 200..599, got ${fault.status}`);
  }
  const headers = fault.headers ?? {};
  if (headers === null || typeof headers !== 'object' || Object.values(headers).some((v) => typeof v !== 'string')) {
    throw new TypeError('fault.headers must be a Record<string, string>');
  }
  return { kind: 'status', status: fault.status, body: fault.body, headers: { ...headers }, remaining };
}

function defaultFaultBody(status) {
  const error = status === 429 ? 'rate_limited' : status >= 500 ? 'server_error' : 'simulated_fault';
  return { error, message: `Simulated ${status} response` };
}

/** Splits a request target into its raw path and its query parameters. */
function splitTarget(target) {
  const q = target.indexOf('?');
  if (q === -1) return { path: target, query: {} };
  return { path: target.slice(0, q), query: Object.fromEntries(new URLSearchParams(target.slice(q + 1))) };
}

/**
 * `{ route, id }` for a known endpoint (id is null for login, and undefined when
 * the path segment is not valid percent-encoding), or null for anything else.
 */
function matchRoute(method, path) {
  if (path === LOGIN_PATH) return method === 'POST' ? { route: 'login', id: null } : null;
  if (method !== 'GET') return null;
  for (const [route, { prefix }] of Object.entries(RESOURCES)) {
    if (!path.startsWith(prefix)) continue;
    const raw = path.slice(prefix.length);
    if (raw === '' || raw.includes('/')) return null;
    try {
      return { route, id: decodeURIComponent(raw) };
    } catch {
      return { route, id: undefined };
    }
  }
  return null;
}

function flattenHeaders(headers) {
  const flat = {};
  for (const [name, value] of Object.entries(headers)) {
    flat[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return flat;
}

function send(res, status, payload, headers) {
  if (res.destroyed) return;
  const text = typeof payload === 'string' ? payload : JSON.stringify(payload);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

/** 200 with a chunked body (no Content-Length) of OVERSIZED_BODY_BYTES, written as the client reads. */
function streamOversized(res) {
  res.writeHead(200, { 'content-type': 'application/json' });
  const chunk = Buffer.alloc(64 * 1024, 0x20);
  let left = OVERSIZED_BODY_BYTES;
  const pump = () => {
    while (left > 0 && !res.destroyed) {
      left -= chunk.length;
      if (!res.write(chunk)) {
        res.once('drain', pump);
        return;
      }
    }
    if (!res.destroyed) res.end();
  };
  pump();
}

function sendError(res, status, error, message) {
  send(res, status, { error, message });
}

/** Reads a request body as text; resolves null when it exceeds `limit` bytes or the client goes away. */
function readBody(req, limit) {
  return new Promise((resolve) => {
    const chunks = [];
    let size = 0;
    req.on('data', (chunk) => {
      size += chunk.length;
      if (size > limit) {
        req.removeAllListeners('data');
        req.resume();
        resolve(null);
      } else {
        chunks.push(chunk);
      }
    });
    req.once('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.once('error', () => resolve(null));
  });
}

/** Fixed-size log that keeps the most recent entries. */
class RingLog {
  constructor(limit) {
    this.limit = limit;
    this.clear();
  }

  push(entry) {
    if (this.items.length < this.limit) {
      this.items.push(entry);
    } else {
      this.items[this.start] = entry;
      this.start = (this.start + 1) % this.limit;
    }
  }

  toArray() {
    return this.items.slice(this.start).concat(this.items.slice(0, this.start));
  }

  clear() {
    this.items = [];
    this.start = 0;
  }
}

function zeroPerRoute() {
  return { login: 0, appointment: 0, patient: 0, doctor: 0, clinic: 0 };
}

/**
 * Starts a simulator on 127.0.0.1.
 * @param {import('./index').SimulatorOptions} [options]
 * @returns {Promise<import('./index').Simulator>}
 */
async function startSimulator(options = {}) {
  const {
    port = 0,
    latencyMs = 0,
    tokenTtlSeconds = 3600,
    clients: clientOptions = DEFAULT_CLIENTS,
    fixtures: loadFixtures = true,
  } = options;
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new TypeError(`options.port must be an integer in 0..65535, got ${port}`);
  }
  assertMilliseconds('options.latencyMs', latencyMs);
  if (typeof tokenTtlSeconds !== 'number' || !(tokenTtlSeconds > 0) || !Number.isFinite(tokenTtlSeconds)) {
    throw new TypeError(`options.tokenTtlSeconds must be a positive number, got ${tokenTtlSeconds}`);
  }
  const clients = validateClients(clientOptions);
  const tokenTtlMs = tokenTtlSeconds * 1000;

  const data = loadFixtures
    ? createFixtures()
    : { appointments: new Map(), patients: new Map(), doctors: new Map(), clinics: new Map() };
  const store = {
    appointment: data.appointments,
    patient: data.patients,
    doctor: data.doctors,
    clinic: data.clinics,
  };

  let globalLatency = latencyMs;
  const routeLatency = zeroPerRoute();
  /** route -> (id | '*') -> normalized fault */
  const faults = new Map();
  /** access token -> { clientId, issuedAt }; insertion order is issue order. */
  const tokens = new Map();

  let logins = 0;
  let requestCounts = zeroPerRoute();
  let byId = new Map();
  const log = new RingLog(REQUEST_LOG_LIMIT);
  let inFlight = 0;
  let peakInFlight = 0;

  const timers = new Set();
  let closing = null;

  /** Resolves after `ms`; never resolves once the simulator is closing, so no timer outlives close(). */
  function delay(ms) {
    if (ms <= 0) return Promise.resolve();
    return new Promise((resolve) => {
      if (closing) return;
      const timer = setTimeout(() => {
        timers.delete(timer);
        resolve();
      }, ms);
      timers.add(timer);
    });
  }

  function record(req, path, query, match) {
    const route = match ? match.route : null;
    const id = match && typeof match.id === 'string' ? match.id : null;
    if (route) requestCounts[route] += 1;
    if (id !== null) {
      const key = `${route}:${id}`;
      const count = byId.get(key);
      if (count !== undefined) byId.set(key, count + 1);
      else if (byId.size < BY_ID_LIMIT) byId.set(key, 1);
    }
    log.push(
      Object.freeze({
        method: req.method,
        path,
        route,
        id,
        query: Object.freeze(query),
        headers: Object.freeze(flattenHeaders(req.headers)),
        at: Date.now(),
      }),
    );
  }

  /** Takes one use of the fault configured for this request, if any. */
  function takeFault(route, id) {
    const forRoute = faults.get(route);
    if (!forRoute) return null;
    const key = id !== null && forRoute.has(id) ? id : '*';
    const fault = forRoute.get(key);
    if (!fault) return null;
    fault.remaining -= 1;
    if (fault.remaining <= 0) forRoute.delete(key);
    return fault;
  }

  function applyFault(fault, req, res) {
    switch (fault.kind) {
      case 'garbage':
        send(res, 200, GARBAGE_BODY);
        break;
      case 'reset':
        req.socket.resetAndDestroy();
        break;
      case 'oversized':
        streamOversized(res);
        break;
      case 'hang':
        // Never answered; close() or the client tearing down the connection ends it.
        break;
      default:
        send(res, fault.status, fault.body === undefined ? defaultFaultBody(fault.status) : fault.body, fault.headers);
    }
  }

  function issueToken(clientId) {
    const now = Date.now();
    // Tokens expire in issue order, so expired ones sit at the front.
    for (const [token, info] of tokens) {
      if (now - info.issuedAt < tokenTtlMs && tokens.size < LIVE_TOKEN_LIMIT) break;
      tokens.delete(token);
    }
    const accessToken = randomBytes(24).toString('base64url');
    tokens.set(accessToken, { clientId, issuedAt: now });
    return accessToken;
  }

  /** Null when the request carries a live token for its client-id, else the reason it does not. */
  function authFailure(req) {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '');
    if (!match) return 'Missing bearer token';
    const info = tokens.get(match[1]);
    if (!info) return 'Invalid or revoked access token';
    if (Date.now() - info.issuedAt >= tokenTtlMs) {
      tokens.delete(match[1]);
      return 'Access token expired';
    }
    if (req.headers['client-id'] !== info.clientId) return 'client-id header does not match the access token';
    return null;
  }

  async function handleLogin(req, res) {
    const text = await readBody(req, LOGIN_BODY_LIMIT);
    if (text === null) {
      res.setHeader('connection', 'close');
      sendError(res, 413, 'payload_too_large', `Request body exceeds ${LOGIN_BODY_LIMIT} bytes`);
      return;
    }
    let body;
    try {
      body = JSON.parse(text);
    } catch {
      sendError(res, 400, 'bad_request', 'Malformed JSON body');
      return;
    }
    if (
      body === null ||
      typeof body !== 'object' ||
      typeof body.client_id !== 'string' ||
      typeof body.client_secret !== 'string'
    ) {
      sendError(res, 400, 'bad_request', 'client_id and client_secret are required strings');
      return;
    }
    const client = clients.find(
      (c) =>
        c.clientId === body.client_id &&
        c.clientSecret === body.client_secret &&
        (c.apiKey === undefined || c.apiKey === body.api_key),
    );
    if (!client) {
      sendError(res, 401, 'invalid_client', 'Invalid client credentials');
      return;
    }
    logins += 1;
    send(res, 200, {
      access_token: issueToken(client.clientId),
      refresh_token: randomBytes(24).toString('base64url'),
      expires_in: tokenTtlSeconds,
    });
  }

  function handleResource(route, id, req, res) {
    if (id === undefined) {
      sendError(res, 400, 'bad_request', 'Malformed percent-encoding in path');
      return;
    }
    const failure = authFailure(req);
    if (failure) {
      sendError(res, 401, 'unauthorized', failure);
      return;
    }
    const { label, wrap } = RESOURCES[route];
    const record = store[route].get(id);
    if (record === undefined) {
      sendError(res, 404, 'not_found', `${label} ${id} not found`);
      return;
    }
    send(res, 200, wrap(record));
  }

  async function handle(req, res) {
    inFlight += 1;
    if (inFlight > peakInFlight) peakInFlight = inFlight;
    res.once('close', () => {
      inFlight -= 1;
    });

    const { path, query } = splitTarget(req.url);
    const match = matchRoute(req.method, path);
    record(req, path, query, match);

    await delay(globalLatency + (match ? routeLatency[match.route] : 0));
    if (res.destroyed) return;

    if (!match) {
      sendError(res, 404, 'not_found', `No route for ${req.method} ${path}`);
      return;
    }
    const { route, id } = match;
    const fault = takeFault(route, typeof id === 'string' ? id : null);
    if (fault) {
      applyFault(fault, req, res);
      return;
    }
    if (route === 'login') await handleLogin(req, res);
    else handleResource(route, id, req, res);
  }

  const server = http.createServer((req, res) => {
    handle(req, res).catch((err) => {
      if (!res.headersSent) sendError(res, 500, 'internal_error', String(err && err.message));
      else res.destroy();
    });
  });

  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const boundPort = server.address().port;

  function upsert(route, method, record) {
    const { idField } = RESOURCES[route];
    if (record === null || typeof record !== 'object' || typeof record[idField] !== 'string' || !record[idField]) {
      throw new TypeError(`${method}() needs an object with a non-empty string ${idField}`);
    }
    store[route].set(record[idField], structuredClone(record));
  }

  const url = `http://127.0.0.1:${boundPort}`;
  const { clientId, clientSecret, apiKey } = clients[0];
  return {
    url,
    port: boundPort,
    sdkOptions: { clientId, clientSecret, ...(apiKey === undefined ? {} : { apiKey }), apiBaseUrl: url },

    close() {
      if (!closing) {
        closing = new Promise((resolve) => {
          for (const timer of timers) clearTimeout(timer);
          timers.clear();
          server.close(() => resolve());
          server.closeAllConnections();
        });
      }
      return closing;
    },

    setAppointment: (appointment) => upsert('appointment', 'setAppointment', appointment),
    setPatient: (patient) => upsert('patient', 'setPatient', patient),
    setDoctor: (doctor) => upsert('doctor', 'setDoctor', doctor),
    setClinic: (clinic) => upsert('clinic', 'setClinic', clinic),
    deleteAppointment: (id) => store.appointment.delete(id),
    getAppointment(id) {
      const appointment = store.appointment.get(id);
      return appointment === undefined ? undefined : structuredClone(appointment);
    },

    addAppointments(count, template = {}, { prefix = 'bulk-' } = {}) {
      if (!Number.isInteger(count) || count < 0) {
        throw new TypeError(`addAppointments() count must be a non-negative integer, got ${count}`);
      }
      const ids = [];
      for (let i = 0; i < count; i++) {
        const id = `${prefix}${i}`;
        store.appointment.set(id, { ...bulkAppointment(id, i), ...structuredClone(template), appointment_id: id });
        ids.push(id);
      }
      return ids;
    },

    setLatency(ms) {
      assertMilliseconds('latency', ms);
      globalLatency = ms;
    },

    setRouteLatency(route, ms) {
      assertRoute(route);
      assertMilliseconds('latency', ms);
      routeLatency[route] = ms;
    },

    setFault(route, id, fault) {
      assertRoute(route);
      if (typeof id !== 'string' || id === '') throw new TypeError("fault id must be a non-empty string or '*'");
      if (!faults.has(route)) faults.set(route, new Map());
      faults.get(route).set(route === 'login' ? '*' : id, normalizeFault(fault));
    },

    clearFaults() {
      faults.clear();
    },

    expireTokens() {
      tokens.clear();
    },

    stats() {
      return { logins, requests: { ...requestCounts }, byId: Object.fromEntries(byId) };
    },

    requestLog: () => log.toArray(),

    resetStats() {
      logins = 0;
      requestCounts = zeroPerRoute();
      byId = new Map();
      log.clear();
      peakInFlight = inFlight;
    },

    maxConcurrent: () => peakInFlight,
  };
}

module.exports = { startSimulator, createFixtures, SAMPLE, FIXTURE_BASE_EPOCH_SECONDS };
