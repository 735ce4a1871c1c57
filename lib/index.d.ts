// Public types of @eka-care/webhook-sdk. (The top-level index.d.ts is napi's generated
// description of the native binding, which this package wraps.)

/// <reference types="node" />

import type { IncomingMessage, ServerResponse } from 'node:http'

export type SupportedEvent = 'appointment.created' | 'appointment.updated' | 'prescription.created' | 'prescription.updated'
export type AppointmentEvent = 'appointment.created' | 'appointment.updated'

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
  }
  /** How long a webhook may wait for a connection when the database is down. Default 5000. */
  connectTimeoutMs?: number
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

export interface WebhookEvent {
  type: string
  payload: WebhookPayload
  appointmentDetails?: AppointmentDetails
  patientDetails?: JsonObject
  doctorDetails?: JsonObject
  clinicDetails?: JsonObject
}

export interface WebhookSDKConfig {
  clientId: string
  clientSecret: string
  /** Sent as `api_key` at login. */
  apiKey?: string
  /** Absent → no verification. An array accepts any of the keys (key rotation). */
  signingKey?: string | string[]
  /** Default: every supported event. */
  allowedEvents?: string[]
  /** Awaited when it returns a promise; a throw or rejection answers 500. */
  onEvent?: (event: WebhookEvent) => void | Promise<void>
  /** An `onEvent` that has not settled within this many ms answers 500. Default: no limit. */
  onEventTimeoutMs?: number
  /** Standalone server only. Default `"/"`. */
  path?: string
  persistence?: PersistenceConfig
  /** Log `[WARN]` / `[ERROR]` lines to stdout. Process-global: the last SDK constructed wins. */
  debug?: boolean
  /** Default `process.env.EKA_API_BASE_URL`, else `https://api.eka.care`. */
  apiBaseUrl?: string
  /** Reject deliveries whose `t` is further than this from now (Eka Care advises ~180). */
  signatureToleranceSeconds?: number
  /** Timeout of each Eka Care API request. Default 10000. */
  requestTimeoutMs?: number
  /** Limits of the standalone server. */
  server?: {
    /** Larger bodies get 413 without being read whole. Default 1 MiB. */
    maxBodyBytes?: number
    /** A client must send its request head within this. Default 10000. */
    headerTimeoutMs?: number
    /** A client must send its whole body within this. Default 30000. */
    bodyTimeoutMs?: number
  }
}

export interface WebhookResult {
  status: number
  body: Record<string, unknown>
  event?: WebhookEvent
  error?: string
}

export interface StandaloneServer {
  /** The bound port (useful with `listen(0)`). */
  port: number
  /** Stops accepting, lets requests in flight finish. */
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

export declare class WebhookSDK {
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
  /** Inclusive epoch seconds. Rejects without persistence. */
  findAppointmentsBetween(range: { startTime: number; endTime: number }): Promise<FindAppointmentsBetweenResult>
  scheduleReminder(options: ScheduleReminderOptions): Reminder
  /** Sets `reminder_sent_at` = now on the row; no row → no-op (a debug warning). */
  reminderSent(appointmentId: string): Promise<void>
  getAppointmentDetailsById(id: string, options?: { partnerId?: string }): Promise<AppointmentDetails>
  getPatientDetailsById(id: string): Promise<JsonObject>
  getDoctorDetailsById(id: string): Promise<JsonObject>
  getClinicDetailsById(id: string): Promise<JsonObject>
  /** Stops servers and reminders, closes pools; the process can then exit. */
  close(): Promise<void>
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
