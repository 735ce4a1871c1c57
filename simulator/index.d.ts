/**
 * Eka Care API simulator: a real HTTP server on 127.0.0.1 for tests,
 * benchmarks and demos of `@eka-care/webhook-sdk`.
 */

/** The simulated endpoints, as named by latency, fault and counter switches. */
export type Route = 'login' | 'appointment' | 'patient' | 'doctor' | 'clinic';

/** Appointment status codes: `BK` booked, `IN` checked in, `CND` cancelled by doctor; others pass through. */
export type AppointmentStatus = 'BK' | 'IN' | 'CND' | (string & {});

/** Visit types: `NEW` first visit, `FLW` follow-up; others pass through. */
export type VisitType = 'NEW' | 'FLW' | (string & {});

export interface Appointment {
  appointment_id: string;
  patient_id: string;
  doctor_id: string;
  clinic_id: string;
  /** Epoch seconds (integer). */
  start_time: number;
  /** Epoch seconds (integer). */
  end_time: number;
  status: AppointmentStatus;
  visit_type: VisitType;
  mode?: string;
  partner_appointment_id?: string | null;
  partner_patient_id?: string | null;
  /** Epoch seconds (integer). */
  created_at?: number;
  [field: string]: unknown;
}

export interface Patient {
  patient_id: string;
  oid: string;
  /** Full name. */
  fln: string;
  mobile: string;
  /** `YYYY-MM-DD`. */
  dob: string;
  /** `M`, `F` or `O`. */
  gen: string;
  [field: string]: unknown;
}

export interface Doctor {
  doctor_id: string;
  name: string;
  specialization: string;
  [field: string]: unknown;
}

export interface Clinic {
  clinic_id: string;
  name: string;
  address: string;
  [field: string]: unknown;
}

export interface Fixtures {
  appointments: Map<string, Appointment>;
  patients: Map<string, Patient>;
  doctors: Map<string, Doctor>;
  clinics: Map<string, Clinic>;
}

/** Ids of the records `createFixtures()` provides. */
export interface SampleIds {
  /** Status `BK`, visit type `NEW`. */
  readonly appointmentId: 'apt-bk-1';
  /** Status `IN`, visit type `FLW`. */
  readonly followupAppointmentId: 'apt-flw-1';
  /** Status `CND`. */
  readonly cancelledAppointmentId: 'apt-cnd-1';
  /** Its patient, doctor and clinic ids point to records that do not exist. */
  readonly orphanAppointmentId: 'apt-orphan-1';
  readonly patientId: 'pat-1';
  readonly doctorId: 'doc-1';
  readonly clinicId: 'cln-1';
}

export const SAMPLE: SampleIds;

/** 2030-01-01T00:00:00Z in epoch seconds; every fixture time is an offset from it. */
export const FIXTURE_BASE_EPOCH_SECONDS: 1893456000;

/** A fresh, independent copy of the deterministic sample data. */
export function createFixtures(): Fixtures;

export interface ClientCredentials {
  clientId: string;
  clientSecret: string;
  /** When set, login must also send this `api_key`. */
  apiKey?: string;
}

export interface SimulatorOptions {
  /** Port on 127.0.0.1; 0 (the default) picks a free one. */
  port?: number;
  /** Latency added to every request, in milliseconds. Default 0. */
  latencyMs?: number;
  /** Lifetime of issued access tokens. Default 3600. */
  tokenTtlSeconds?: number;
  /** Accepted API clients. Default `[{ clientId: 'demo-client', clientSecret: 'demo-secret' }]`. */
  clients?: ClientCredentials[];
  /** Load the sample data from `createFixtures()`. Default true. */
  fixtures?: boolean;
}

/** A fault that answers with the given status, body and headers. */
export interface StatusFault {
  /** HTTP status, 200..599. */
  status: number;
  /** Response body: a string is sent verbatim, anything else as JSON. Default `{ error, message }`. */
  body?: unknown;
  /** Extra response headers, e.g. `{ 'Retry-After': '1' }`. */
  headers?: Record<string, string>;
  /** Number of requests to fault before answering normally again. Default: unlimited. */
  times?: number;
}

/**
 * `garbage`: 200 with a body that is not valid JSON.
 * `reset`: the connection is reset without an answer.
 * `hang`: no answer until the client gives up or the simulator closes.
 * `oversized`: 200 with a 16 MiB chunked body (no Content-Length).
 */
export type FaultKind = 'garbage' | 'reset' | 'hang' | 'oversized';

export interface KindFault {
  kind: FaultKind;
  /** Number of requests to fault before answering normally again. Default: unlimited. */
  times?: number;
}

export type Fault = StatusFault | FaultKind | KindFault;

export interface SimulatorStats {
  /** Successful logins. */
  logins: number;
  /** Requests received per route, whatever their outcome. */
  requests: Record<Route, number>;
  /** Requests received per `'<route>:<id>'`, e.g. `'patient:pat-1'`. */
  byId: Record<string, number>;
}

export interface RequestLogEntry {
  method: string;
  /** Raw path, without the query string. */
  path: string;
  /** Null when the request matched no endpoint. */
  route: Route | null;
  /** URL-decoded id; null for login and unmatched requests. */
  id: string | null;
  query: Readonly<Record<string, string>>;
  /** Request headers, names in lower case. */
  headers: Readonly<Record<string, string>>;
  /** Arrival time, epoch milliseconds. */
  at: number;
}

export interface AddAppointmentsOptions {
  /** Id prefix; ids are `${prefix}0` .. `${prefix}${count - 1}`. Default `'bulk-'`. */
  prefix?: string;
}

export interface Simulator {
  /** Base URL, e.g. `http://127.0.0.1:43123`. */
  readonly url: string;
  readonly port: number;
  /** `WebhookSDK` options that reach this simulator as its first client (spread them in). */
  readonly sdkOptions: {
    readonly clientId: string;
    readonly clientSecret: string;
    readonly apiKey?: string;
    readonly apiBaseUrl: string;
  };
  /** Stops the server and destroys every open connection, including idle keep-alive ones. */
  close(): Promise<void>;

  /** Inserts or replaces by `appointment_id`. The record is copied. */
  setAppointment(appointment: Appointment): void;
  /** Inserts or replaces by `patient_id`. The record is copied. */
  setPatient(patient: Patient): void;
  /** Inserts or replaces by `doctor_id`. The record is copied. */
  setDoctor(doctor: Doctor): void;
  /** Inserts or replaces by `clinic_id`. The record is copied. */
  setClinic(clinic: Clinic): void;
  /** True when an appointment was removed. */
  deleteAppointment(id: string): boolean;
  /** A copy of the stored appointment. */
  getAppointment(id: string): Appointment | undefined;
  /**
   * Creates `count` booked appointments linked to the sample patient, doctor and
   * clinic, in consecutive 15-minute slots, with `template` fields applied on top.
   * Returns their ids in order.
   */
  addAppointments(count: number, template?: Partial<Appointment>, options?: AddAppointmentsOptions): string[];

  /** Latency added to every request. */
  setLatency(ms: number): void;
  /** Latency added to one route's requests, on top of `setLatency`. */
  setRouteLatency(route: Route, ms: number): void;

  /**
   * Makes requests for `id` (or any id, with `'*'`) on `route` fail as `fault`
   * describes; an id-specific fault takes precedence over `'*'`. Faults apply
   * after latency and before authentication. For `'login'` the id is ignored.
   */
  setFault(route: Route, id: string, fault: Fault): void;
  clearFaults(): void;

  /** Revokes every access token issued so far. */
  expireTokens(): void;

  stats(): SimulatorStats;
  /** The last 10,000 requests, oldest first. */
  requestLog(): RequestLogEntry[];
  /** Clears counters, the request log and `maxConcurrent()`. */
  resetStats(): void;
  /** The most requests in progress at once since start or `resetStats()`. */
  maxConcurrent(): number;
}

/** Starts a simulator listening on 127.0.0.1. */
export function startSimulator(options?: SimulatorOptions): Promise<Simulator>;
