// Public types of @eka-care/webhook-sdk. (The top-level binding.d.ts is napi's generated
// description of the native binding, which this package wraps.)

/// <reference types="node" />

import type { IncomingMessage, ServerResponse } from 'node:http'

export type AppointmentEvent = 'appointment.created' | 'appointment.updated'
export type PrescriptionEvent = 'prescription.created' | 'prescription.updated'
export type SupportedEvent = AppointmentEvent | PrescriptionEvent

export declare const SUPPORTED_EVENTS: readonly ['appointment.created', 'appointment.updated', 'prescription.created', 'prescription.updated']
export declare const APPOINTMENT_EVENTS: readonly ['appointment.created', 'appointment.updated']
export declare const SCHEDULE_TABLE_NAME: 'eka_webhook_schedule_appointment'

/** A JSON object as the Eka Care API returns it. */
export type JsonObject = { [key: string]: unknown }

/** Appointment details; the fields the SDK reads are typed, the rest passes through. */
export interface AppointmentDetails extends JsonObject {
  appointment_id?: string
  patient_id?: string
  doctor_id?: string
  clinic_id?: string
  /** Epoch seconds. */
  start_time?: number
  /** Epoch seconds. */
  end_time?: number
  status?: string
  visit_type?: string
}

/** The webhook body Eka Care sends. */
export interface WebhookPayload extends JsonObject {
  event?: string
  service?: string
  event_time?: number
  transaction_id?: string
  timestamp?: number
  business_id?: string
  client_id?: string
  data?: { appointment_id?: string; p_aid?: string; [key: string]: unknown }
}

/** The body of an appointment event that passed the checks: it names a non-empty `appointment_id`. */
export interface AppointmentWebhookPayload<T extends AppointmentEvent = AppointmentEvent> extends WebhookPayload {
  event: T
  data: { appointment_id: string; p_aid?: string; [key: string]: unknown }
}

/** The body of a prescription event: passed through as received. */
export interface PrescriptionWebhookPayload<T extends PrescriptionEvent = PrescriptionEvent> extends WebhookPayload {
  event: T
}

/** MySQL's `--ssl-mode` values, lower-case. */
export type MySQLSslMode = 'disabled' | 'preferred' | 'required' | 'verify-ca' | 'verify-identity'

export interface MySQLPersistenceConfig {
  type: 'mysql'
  connection: {
    host: string
    /** Default 3306. */
    port?: number
    user: string
    /** Omit for none. */
    password?: string
    database: string
    ssl?: {
      /** Default: `'preferred'` for a loopback host, else `'verify-identity'`. */
      mode?: MySQLSslMode
      /** PEM of the CA(s) to verify the server with (`verify-ca` / `verify-identity`). */
      ca?: string
    }
  }
  /** How long a webhook may wait for a connection when the database is down. Default 5000. */
  connectTimeoutMs?: number
  /**
   * How long a statement may wait for a lock (e.g. behind an `ALTER` waiting for a long
   * transaction) before it fails and the write is retried later. Default 10000.
   */
  queryTimeoutMs?: number
}

export interface DynamoDBPersistenceConfig {
  type: 'dynamodb'
  region: string
  /** With `secretAccessKey`; both omitted → the standard AWS credential chain. */
  accessKeyId?: string
  secretAccessKey?: string
  /** For local servers, e.g. `http://127.0.0.1:8000`. */
  endpoint?: string
  connectTimeoutMs?: number
}

export interface SQLitePersistenceConfig {
  type: 'sqlite'
  /** A file path, or `':memory:'`. */
  filename: string
}

/** libpq's `sslmode` values. */
export type PostgresSslMode = 'disable' | 'allow' | 'prefer' | 'require' | 'verify-ca' | 'verify-full'

export interface PostgresConnection {
  host: string
  /** Default 5432. */
  port?: number
  user: string
  /** Omit for trust authentication. */
  password?: string
  database: string
  /** An existing schema for the table (lower-case letters, digits, `_`). Default `'public'`. */
  schema?: string
  ssl?: {
    /** Default: `'prefer'` for a loopback host, else `'verify-full'`. */
    mode?: PostgresSslMode
    /** PEM of the CA(s) to verify the server with (`verify-ca` / `verify-full`). */
    ca?: string
  }
}

export type PostgresPersistenceConfig = {
  type: 'postgres'
  /** How long a webhook may wait for a connection when the database is down. Default 5000. */
  connectTimeoutMs?: number
} & (
  | { connection: PostgresConnection; connectionString?: never }
  | {
      /** `postgres://user:password@host:5432/database?sslmode=…&sslrootcert=FILE&schema=…` */
      connectionString: string
      connection?: never
    }
)

export type PersistenceConfig =
  | MySQLPersistenceConfig
  | PostgresPersistenceConfig
  | DynamoDBPersistenceConfig
  | SQLitePersistenceConfig

/**
 * `appointment.created` / `appointment.updated`, enriched: the appointment was fetched (an event
 * whose fetch fails answers 502 and never reaches `onEvent`); patient, doctor and clinic are
 * best effort.
 */
export interface AppointmentWebhookEvent<T extends AppointmentEvent = AppointmentEvent> {
  type: T
  payload: AppointmentWebhookPayload<T>
  appointmentDetails: AppointmentDetails
  patientDetails?: JsonObject
  doctorDetails?: JsonObject
  clinicDetails?: JsonObject
}

/** `prescription.created` / `prescription.updated`: passed through, not enriched. */
export interface PrescriptionWebhookEvent<T extends PrescriptionEvent = PrescriptionEvent> {
  type: T
  payload: PrescriptionWebhookPayload<T>
  appointmentDetails?: never
  patientDetails?: never
  doctorDetails?: never
  clinicDetails?: never
}

/**
 * A delivered event, discriminated by `type` (one member per event name, so `if` chains and
 * `switch` narrow exhaustively):
 * `if (event.type === 'appointment.created') event.appointmentDetails.start_time`.
 */
export type WebhookEvent =
  | AppointmentWebhookEvent<'appointment.created'>
  | AppointmentWebhookEvent<'appointment.updated'>
  | PrescriptionWebhookEvent<'prescription.created'>
  | PrescriptionWebhookEvent<'prescription.updated'>

export interface WebhookSDKConfig {
  clientId: string
  clientSecret: string
  /** Sent as `api_key` at login. */
  apiKey?: string
  /**
   * Absent → no verification (one `process.emitWarning` says so); `''` is a config error. An
   * array accepts any of the keys (key rotation).
   */
  signingKey?: string | string[]
  /**
   * Default: every supported event. (At run time any name is accepted, as in the Python SDK, and
   * an event outside the four passes through unenriched; the types keep to the four so that
   * `WebhookEvent` stays a closed union.)
   */
  allowedEvents?: readonly SupportedEvent[]
  /** Awaited when it returns a promise; a throw or rejection answers 500. */
  onEvent?: (event: WebhookEvent) => void | Promise<void>
  /** An `onEvent` that has not settled within this many ms answers 500. Default: no limit. */
  onEventTimeoutMs?: number
  /**
   * Told of each failure the SDK dealt with on its own and that would otherwise be seen only
   * with `debug`: a schedule write dropped (refused for its content, longer than its column, or
   * refused for a lasting reason), the retry queue full, a write given up after 10 minutes of
   * retries (`code` `ERR_PERSISTENCE`); a reminder whose fetch or callback failed, a durable
   * reminder retried, `failed` or `missed`, a reminder store failure (`code` `ERR_REMINDER`).
   * `error.fault` says which (see {@link WebhookFaultCode}). Called without being awaited; a
   * throw or rejection is ignored. Each kind also emits one `process.emitWarning` a minute,
   * whose `code` is the `fault`.
   */
  onError?: (error: WebhookFaultError) => void | Promise<void>
  /**
   * How long `close()` (the SDK's, or a standalone server's for its own deliveries) waits for
   * `onEvent` calls still running before it cuts them (their deliveries answer 500, so the
   * sender retries; a warning with code `EKA_CLOSE_TIMEOUT` names them). Default 10000.
   */
  closeTimeoutMs?: number
  /**
   * The HTTP doors (`listen`, `expressMiddleware`, `fetchHandler`, `nextApiHandler`, the Fastify
   * route) answer a success with `{success: true, event}` (and `duplicate: true`), so no patient
   * data goes back to the sender. `true` answers the Python SDK's body instead, with
   * `appointmentDetails`, `patientDetails`, `doctorDetails` and `clinicDetails`.
   * `handleRequest`'s `result.body` always has the Python SDK's shape. Default `false`.
   */
  respondWithDetails?: boolean
  /** Standalone server only. Default `"/"`. */
  path?: string
  persistence?: PersistenceConfig
  /** Log `[WARN]` / `[ERROR]` lines to stdout. Process-global: the last SDK constructed wins. */
  debug?: boolean
  /** Default `process.env.EKA_API_BASE_URL`, else `https://api.eka.care`. */
  apiBaseUrl?: string
  /** Reject deliveries whose `t` is further than this from now. Default 300; `0` turns it off. */
  signatureToleranceSeconds?: number
  /** Timeout of each Eka Care API request (a login included). Default 10000. */
  requestTimeoutMs?: number
  /**
   * A webhook's whole Eka Care API part (logins, retries, the four fetches) past this many ms
   * answers 504. Default 30000.
   */
  webhookTimeoutMs?: number
  /** Durable reminders (`sdk.reminders`). */
  reminders?: DurableReminderConfig
  /**
   * The delivery ledger (default on): a delivery (its `transaction_id`, else the signature's `t`
   * and `v1`) runs `onEvent`, enrichment and the schedule write once; a copy answers 200
   * `{success, event, duplicate: true}`, a copy arriving while the first still runs answers 409.
   * With `persistence`, the table `eka_webhook_delivery` in the same database, shared by every
   * instance; without, a window in this process (24 h / 100,000 ids at most). A delivery whose
   * `onEvent` failed is not recorded, so the sender's retry runs it. `false` turns it off.
   */
  deliveryLedger?: boolean
  /** How long the ledger remembers a delivery, in seconds. Default 604800 (7 days). */
  deliveryLedgerTtlSeconds?: number
  /** Limits of the standalone server. */
  server?: {
    /** Larger bodies get 413 without being read whole. Default 1 MiB. */
    maxBodyBytes?: number
    /** A client must send its request head within this. Default 10000. */
    headerTimeoutMs?: number
    /** A client must send its whole body within this. Default 30000. */
    bodyTimeoutMs?: number
    /** Open connections past this are answered 503 with `Retry-After: 1` and closed. Default 4096. */
    maxConnections?: number
    /** Webhooks handled at once past this are answered 503 with `Retry-After: 1`. Default 1024. */
    maxInFlight?: number
  }
}

export interface WebhookResult {
  status: number
  /** The Python SDK's body: a success carries the appointment's details (see `respondWithDetails`). */
  body: Record<string, unknown>
  event?: WebhookEvent
  error?: string
  /** The delivery ledger had this delivery done already: `onEvent` did not run. */
  duplicate?: true
}

export interface StandaloneServer {
  /** The bound port (useful with `listen(0)`). */
  port: number
  /**
   * Stops accepting, lets requests in flight finish; an `onEvent` of this SDK's servers still
   * running after `closeTimeoutMs` is cut (its delivery answers 500; warning `EKA_CLOSE_TIMEOUT`).
   */
  close(): Promise<void>
}

export interface AppointmentReminderContext {
  appointmentDetails: AppointmentDetails
  patientDetails?: JsonObject
  doctorDetails?: JsonObject
  clinicDetails?: JsonObject
}

export interface Reminder {
  readonly id: string
  readonly cancelled: boolean
  readonly nextRun: Date
  /** When the scheduler fired it (before the fresh details were fetched); null until then. */
  readonly firedAt: Date | null
  cancel(): void
}

export interface ScheduleReminderOptions {
  /**
   * A Date, or a cron string in local time: 5 fields (minute first), 6 fields (second first) or
   * an alias such as `@daily`; its first run is the one node-schedule's `scheduleJob` computes.
   */
  cronTime: Date | string
  appointmentId: string
  callback: (context: AppointmentReminderContext) => void | Promise<void>
}

export interface FindAppointmentsBetweenResult {
  /** Status `BK`. */
  appointments: AppointmentDetails[]
  /** Status `IN` with visit type `FLW`. */
  followupAppointments: AppointmentDetails[]
}

export interface AdapterOptions {
  /** Largest accepted body in bytes; larger → 413. Default 1 MiB. */
  limit?: number
}

/** Express's `(req, res, next)`, typed structurally so express is never a dependency. */
export type ExpressMiddleware = (
  req: IncomingMessage & { body?: unknown },
  res: ServerResponse & { locals: Record<string, unknown>; status(code: number): { json(body: unknown): unknown } },
  next: (error?: unknown) => void,
) => void

/**
 * A Next.js Pages Router API route, typed structurally (Next's `NextApiRequest` / `NextApiResponse`
 * fit) so next is never a dependency. Any Node `(req, res)` server can use it too.
 */
export type NodeRequestHandler = (req: IncomingMessage & { body?: unknown }, res: ServerResponse) => Promise<void>

/** Cumulative counts of a latency in milliseconds; `le` is each bucket's upper bound. */
export interface LatencyHistogram {
  count: number
  sumMs: number
  buckets: Array<{ le: number | '+Inf'; count: number }>
}

/** Why a delivery got its status: a fixed name, never anything from the request. */
export type DeliveryReason =
  | 'ok'
  | 'invalid_json'
  | 'body_required'
  | 'body_too_deep'
  | 'signature_missing'
  | 'signature_malformed'
  | 'signature_invalid'
  | 'signature_timestamp'
  | 'missing_event'
  | 'event_not_allowed'
  | 'missing_appointment_id'
  | 'appointment_fetch_failed'
  | 'on_event_failed'
  | 'other'

export type ApiResource = 'login' | 'appointment' | 'patient' | 'doctor' | 'clinic' | 'other'
export type ApiOutcome = 'ok' | 'http_4xx' | 'http_5xx' | 'timeout' | 'network' | 'invalid_response'
export type ReminderOutcome = 'fired' | 'fetch_failed' | 'callback_failed'

/** `sdk.stats()`: what the SDK counted since it was created, as plain numbers. */
export interface WebhookStats {
  /** Every delivery the pipeline answered (all doors, the standalone server included). */
  deliveries: {
    total: number
    byStatus: Record<string, number>
    byReason: Partial<Record<DeliveryReason, number>>
    byStatusAndReason: Array<{ status: number; reason: DeliveryReason; count: number }>
  }
  /** Eka Care API requests (each retry and re-login is one). */
  api: {
    calls: number
    byResource: Partial<Record<ApiResource, number>>
    byOutcome: Partial<Record<ApiOutcome, number>>
    byResourceAndOutcome: Array<{ resource: ApiResource; outcome: ApiOutcome; count: number }>
    latencyMs: LatencyHistogram
  }
  /** Schedule writes waiting for the database to come back (at most one per appointment). */
  writeQueueDepth: number
  reminders: {
    byOutcome: Partial<Record<ReminderOutcome, number>>
    /** How long after its time each reminder fired. */
    latenessMs: LatencyHistogram
  }
}

/** Every SDK error carries a stable `code`. */
export type WebhookSDKErrorCode =
  | 'ERR_INVALID_CONFIG'
  | 'ERR_INVALID_ARGUMENT'
  | 'ERR_EKA_API'
  | 'ERR_PERSISTENCE'
  | 'ERR_PERSISTENCE_NOT_CONFIGURED'
  | 'ERR_SERVER'
  | 'ERR_REMINDER'
  | 'ERR_CLOSED'
  | 'ERR_INTERNAL'

export interface WebhookSDKError extends Error {
  code: WebhookSDKErrorCode
}

/**
 * The kinds of the schedule write failures reported to `onError` (`error.fault`, with `code`
 * `ERR_PERSISTENCE`) and as process warnings (`code`): `EKA_WRITE_DROPPED` (a schedule write
 * dropped: the database refused it for its content, a field is longer than its column, or
 * another lasting refusal), `EKA_QUEUE_FULL` (the retry queue holds 10,000 writes, so a new one
 * was dropped), `EKA_WRITE_GAVE_UP` (a write failed transiently for 10 minutes). `close()` warns
 * `EKA_WRITES_UNFLUSHED` when writes were lost.
 */
export type WebhookWriteFaultCode = 'EKA_WRITE_DROPPED' | 'EKA_QUEUE_FULL' | 'EKA_WRITE_GAVE_UP'

/**
 * The kinds of the reminder failures reported to `onError` (`error.fault`, with `code`
 * `ERR_REMINDER`) and as process warnings (`code`): `EKA_REMINDER_FETCH_FAILED` (a
 * `scheduleReminder` fire could not fetch the details, so its callback was not called),
 * `EKA_REMINDER_CALLBACK_FAILED` (a `scheduleReminder` callback threw or rejected),
 * `EKA_REMINDER_RETRY` (a durable reminder's attempt failed; it will be retried),
 * `EKA_REMINDER_FAILED` (its last attempt failed: status `failed`), `EKA_REMINDER_MISSED` (found
 * beyond `missedGraceSeconds` with `onMissed: 'skip'`: status `missed`), `EKA_REMINDER_STORE`
 * (the reminders' database failed while polling, recording a fire or following an appointment;
 * the last only on an instance that defines or schedules durable reminders).
 */
export type WebhookReminderFaultCode =
  | 'EKA_REMINDER_FETCH_FAILED'
  | 'EKA_REMINDER_CALLBACK_FAILED'
  | 'EKA_REMINDER_RETRY'
  | 'EKA_REMINDER_FAILED'
  | 'EKA_REMINDER_MISSED'
  | 'EKA_REMINDER_STORE'

export type WebhookFaultCode = WebhookWriteFaultCode | WebhookReminderFaultCode

/**
 * What `onError` receives: a `WebhookSDKError` whose `fault` says precisely what happened. The
 * message names ids and the database's reason, never a secret or a patient's details.
 */
export type WebhookFaultError = WebhookWriteFaultError | WebhookReminderFaultError

export interface WebhookWriteFaultError extends WebhookSDKError {
  code: 'ERR_PERSISTENCE'
  fault: WebhookWriteFaultCode
  /** The appointment the write was for (cut to 255 characters). */
  appointmentId?: string
}

export interface WebhookReminderFaultError extends WebhookSDKError {
  code: 'ERR_REMINDER'
  fault: WebhookReminderFaultCode
  /** The reminder's appointment; absent for a store failure while polling. */
  appointmentId?: string
}

export interface DurableReminderConfig {
  /** How long a claimed reminder is held before another instance may fire it again. Default 60. */
  leaseSeconds?: number
  /** How often each instance looks for due reminders (plus up to 20 % jitter). Default 1000. */
  pollIntervalMs?: number
  /** Fires of a throwing handler before the reminder is `failed`. Default 3. */
  maxAttempts?: number
  /** A reminder found later than this past due follows `onMissed`. Default 3600. */
  missedGraceSeconds?: number
  /** `'skip'` (default): marked `missed`, not fired. `'fire'`: fired anyway. */
  onMissed?: 'skip' | 'fire'
  /** `false` (serverless): no polling; call `sdk.reminders.runDue()` from a cron. Default true. */
  poll?: boolean
}

export type DurableReminderStatus = 'pending' | 'running' | 'done' | 'failed' | 'missed' | 'cancelled'

/** What a durable reminder's handler learns of the fire. */
export interface DurableReminderInfo {
  id: string
  appointmentId: string
  name: string
  dueAt: Date
  firedAt: Date
  /** How late the fire is (0 when on time). */
  lateByMs: number
  /** 1 for the first fire; more after a retry or another instance's crash. */
  attempt: number
}

export type DurableReminderHandler = (
  context: AppointmentReminderContext,
  info: DurableReminderInfo,
) => void | Promise<void>

/** Exactly one of `at`, `cronTime`, `beforeStart`. */
export type DurableReminderSchedule = { appointmentId: string; name: string } & (
  | { at: Date | number; cronTime?: never; beforeStart?: never }
  | { cronTime: string | Date; at?: never; beforeStart?: never }
  /** Seconds before the appointment's start; follows the appointment when it moves. */
  | { beforeStart: number; at?: never; cronTime?: never }
)

export interface ScheduledDurableReminder {
  id: string
  appointmentId: string
  name: string
  dueAt: Date
  status: DurableReminderStatus
}

export interface DurableReminderRow extends ScheduledDurableReminder {
  attempt: number
  beforeStart: number | null
  firedAt: Date | null
  lastError: string | null
}

export interface RunDueSummary {
  claimed: number
  done: number
  retried: number
  failed: number
  missed: number
  cancelled: number
}

/** `sdk.reminders`: reminders stored in the configured database (README "Reminders in production"). */
export interface DurableReminders {
  /** Registers the handler for reminders named `name`, and starts this instance's polling. */
  define(name: string, handler: DurableReminderHandler): void
  /** Rejects with `ERR_PERSISTENCE_NOT_CONFIGURED` without persistence or on SQLite `:memory:`. */
  schedule(options: DurableReminderSchedule): Promise<ScheduledDurableReminder>
  /** Cancels every pending reminder of the appointment; resolves to how many. */
  cancel(options: { appointmentId: string }): Promise<number>
  list(filter?: { appointmentId?: string; status?: DurableReminderStatus }): Promise<DurableReminderRow[]>
  /** Fires what is due, claiming for at most `maxMs` (default 25000). */
  runDue(options?: { maxMs?: number }): Promise<RunDueSummary>
  /** This instance's counters. */
  stats(): { fired: number; storeCalls: number; claims: number }
}

export declare class WebhookSDK {
  /** Durable reminders in the configured database. */
  readonly reminders: DurableReminders
  /** Throws a `WebhookSDKError` with code `ERR_INVALID_CONFIG` naming the bad field. */
  constructor(config: WebhookSDKConfig)
  /**
   * For an object body, `result.event.payload` is that same object (as in the Python SDK). The
   * `event` passed to `onEvent` is `result.event` itself.
   */
  handleRequest(
    body: unknown,
    headers: Record<string, string | string[] | undefined> | Headers | null | undefined,
  ): Promise<WebhookResult>
  /** Binds synchronously (errors throw); `port: 0` picks a free port. */
  listen(port: number, onListen?: () => void): StandaloneServer
  expressMiddleware(options?: AdapterOptions): ExpressMiddleware
  fetchHandler(options?: AdapterOptions): (request: Request) => Promise<Response>
  /**
   * `export default sdk.nextApiHandler()` in `pages/api/…`. With
   * `export const config = { api: { bodyParser: false } }` (recommended) the exact bytes are
   * verified; with Next's default body parser, the parsed object's canonical form. Not POST → 405.
   */
  nextApiHandler(options?: AdapterOptions): NodeRequestHandler
  /** Inclusive epoch seconds. Rejects without persistence. */
  findAppointmentsBetween(range: { startTime: number; endTime: number }): Promise<FindAppointmentsBetweenResult>
  scheduleReminder(options: ScheduleReminderOptions): Reminder
  /** Sets `reminder_sent_at` = now on the row; no row → no-op (a debug warning). */
  reminderSent(appointmentId: string): Promise<void>
  getAppointmentDetailsById(id: string, options?: { partnerId?: string }): Promise<AppointmentDetails>
  getPatientDetailsById(id: string): Promise<JsonObject>
  getDoctorDetailsById(id: string): Promise<JsonObject>
  getClinicDetailsById(id: string): Promise<JsonObject>
  /**
   * What the SDK counted: deliveries by status and reason, API calls and latency, the write
   * queue's depth, reminders by outcome and lateness. The same numbers go out as OpenTelemetry
   * metrics when `@opentelemetry/api` is installed.
   */
  stats(): WebhookStats
  /**
   * Stops servers and reminders, closes pools; the process can then exit. Waits for `onEvent`
   * calls still running for at most `closeTimeoutMs`, then cuts them; gives waiting schedule
   * writes up to 10 s to reach the database.
   */
  close(): Promise<CloseReport>
}

/** What `close()` could not finish. */
export interface CloseReport {
  /** Deliveries whose `onEvent` was still running after `closeTimeoutMs`: answered 500. */
  cutDeliveries: CutDelivery[]
  /**
   * Schedule writes still waiting for the database after the 10 s `close()` gives them: lost.
   * More than 0 also emits a `process.emitWarning` with code `EKA_WRITES_UNFLUSHED`. A later
   * call of `close()` reports the first one's count again.
   */
  unflushedWrites: number
}

export interface CutDelivery {
  eventType: string
  /** The payload's `transaction_id`, or null when it has none. */
  deliveryId: string | null
}

export interface VerifySignatureOptions {
  /** Reject when |now − t| exceeds this many seconds. */
  toleranceSeconds?: number
  /** Unix seconds to use as "now" (tests). */
  now?: number
}

/**
 * Verifies an `Eka-Webhook-Signature` header. A string or Buffer payload is checked as the exact
 * bytes received first, then in canonical form; an object is checked as `JSON.stringify` writes it.
 */
export declare function verifySignature(
  payload: unknown,
  signatureHeader: string | null | undefined,
  signingKey: string | string[],
  options?: VerifySignatureOptions,
): { valid: boolean; reason?: string }

/**
 * The header Eka Care would send (for your own tests). A string or Buffer payload is signed as
 * those exact bytes; anything else as `JSON.stringify(payload)`. `timestamp`: Unix seconds, default now.
 */
export declare function generateSignatureHeader(payload: unknown, signingKey: string, timestamp?: number): string

export declare class WebhookProcessingError extends Error {
  statusCode: number
  constructor(message: string, statusCode?: number)
}
