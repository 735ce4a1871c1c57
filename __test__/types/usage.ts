// Uses every export of the public types; must type-check under --strict.
import type { IncomingMessage, ServerResponse } from 'node:http'
import {
  WebhookSDK,
  WebhookProcessingError,
  verifySignature,
  generateSignatureHeader,
  SUPPORTED_EVENTS,
  APPOINTMENT_EVENTS,
  SCHEDULE_TABLE_NAME,
  type WebhookSDKConfig,
  type WebhookEvent,
  type AppointmentWebhookEvent,
  type PrescriptionWebhookEvent,
  type SupportedEvent,
  type WebhookResult,
  type StandaloneServer,
  type Reminder,
  type AppointmentReminderContext,
  type PersistenceConfig,
  type FindAppointmentsBetweenResult,
  type WebhookSDKError,
  type WebhookStats,
  type WebhookFaultError,
  type WebhookFaultCode,
  type WebhookWriteFaultCode,
  type WebhookReminderFaultCode,
  type WebhookWriteFaultError,
  type WebhookReminderFaultError,
  type CloseReport,
} from '@eka-care/webhook-sdk'

const persistence: PersistenceConfig[] = [
  { type: 'sqlite', filename: ':memory:' },
  { type: 'mysql', connection: { host: '127.0.0.1', port: 3306, user: 'root', password: '', database: 'test' } },
  {
    type: 'postgres',
    connection: { host: 'db', user: 'u', password: 'p', database: 'd', schema: 'eka', ssl: { mode: 'verify-full', ca: '-----BEGIN' } },
    connectTimeoutMs: 2000,
  },
  { type: 'postgres', connectionString: 'postgres://postgres@127.0.0.1:5432/test' },
  { type: 'dynamodb', region: 'ap-south-1', endpoint: 'http://127.0.0.1:8000', accessKeyId: 'a', secretAccessKey: 'b' },
]

const config: WebhookSDKConfig = {
  clientId: 'id',
  clientSecret: 'secret',
  apiKey: 'key',
  signingKey: ['old', 'new'],
  allowedEvents: ['appointment.created'],
  onError: (error: WebhookFaultError) => {
    // A WebhookSDKError as API.md has it, with the precise kind in `fault`.
    const sdkError: WebhookSDKError = error
    const fault: WebhookFaultCode = error.fault
    const appointment: string | undefined = error.appointmentId
    if (error.code === 'ERR_REMINDER') {
      const reminderFault: WebhookReminderFaultCode = error.fault
      const narrowed: WebhookReminderFaultError = error
      void [reminderFault, narrowed]
    } else {
      const writeFault: WebhookWriteFaultCode = error.fault
      const narrowed: WebhookWriteFaultError = error
      void [writeFault, narrowed]
    }
    void [sdkError, fault, appointment, error.message]
  },
  onEvent: async (event: WebhookEvent) => {
    const id: string | undefined = event.appointmentDetails?.appointment_id
    if (event.type === 'appointment.created') {
      // Narrowed: the appointment was fetched, so its details are there without `?.`.
      const start: number | undefined = event.appointmentDetails.start_time
      const fromPayload: string = event.payload.data.appointment_id
      const appointment: AppointmentWebhookEvent = event
      void [start, fromPayload, appointment]
    } else if (event.type === 'prescription.created' || event.type === 'prescription.updated') {
      const prescription: PrescriptionWebhookEvent = event
      const data: unknown = event.payload.data
      void [prescription, data]
    } else {
      const updated: AppointmentWebhookEvent<'appointment.updated'> = event
      const status: string | undefined = event.appointmentDetails.status
      void [updated, status]
    }
    switch (event.type) {
      case 'appointment.created':
      case 'appointment.updated':
        return void event.appointmentDetails.clinic_id
      case 'prescription.created':
      case 'prescription.updated':
        return
      default: {
        const exhaustive: never = event
        void exhaustive
      }
    }
    void id
  },
  path: '/hook',
  persistence: persistence[0],
  debug: false,
  apiBaseUrl: 'http://127.0.0.1:4010',
  signatureToleranceSeconds: 180,
  requestTimeoutMs: 5000,
  deliveryLedger: true,
  deliveryLedgerTtlSeconds: 86400,
}
// API.md's own signature for onError is accepted as it is.
const apiMdOnError: WebhookSDKConfig = { clientId: 'id', clientSecret: 's', onError: (error: WebhookSDKError): void => void error.code }
void apiMdOnError

async function main(): Promise<void> {
  const sdk = new WebhookSDK(config)
  const result: WebhookResult = await sdk.handleRequest({ event: 'prescription.created' }, { 'eka-webhook-signature': 't=1,v1=aa' })
  const status: number = result.status
  const duplicate: true | undefined = result.duplicate
  void duplicate
  if (result.event?.type === 'appointment.updated') {
    const visitType: string | undefined = result.event.appointmentDetails.visit_type
    void visitType
  }
  const allowed: SupportedEvent[] = ['prescription.created']
  const server: StandaloneServer = sdk.listen(0, () => undefined)
  const port: number = server.port
  await server.close()
  const found: FindAppointmentsBetweenResult = await sdk.findAppointmentsBetween({ startTime: 0, endTime: 1 })
  const reminder: Reminder = sdk.scheduleReminder({
    cronTime: new Date(Date.now() + 1000),
    appointmentId: 'apt-1',
    callback: (context: AppointmentReminderContext) => {
      void context.appointmentDetails.status
    },
  })
  const when: Date = reminder.nextRun
  reminder.cancel()
  await sdk.reminderSent('apt-1')
  const stats: WebhookStats = sdk.stats()
  const ok: number | undefined = stats.deliveries.byReason.ok
  const p99Bucket: number | '+Inf' | undefined = stats.api.latencyMs.buckets.at(-1)?.le
  void [ok, p99Bucket, stats.writeQueueDepth, stats.reminders.byOutcome.fired]
  const appointment = await sdk.getAppointmentDetailsById('apt-1', { partnerId: 'p' })
  const patient = await sdk.getPatientDetailsById('p')
  const doctor = await sdk.getDoctorDetailsById('d')
  const clinic = await sdk.getClinicDetailsById('c')
  const middleware = sdk.expressMiddleware({ limit: 1024 })
  const handler: (request: Request) => Promise<Response> = sdk.fetchHandler()
  const pagesRoute: (req: IncomingMessage, res: ServerResponse) => Promise<void> = sdk.nextApiHandler({ limit: 1024 })
  const verified: { valid: boolean; reason?: string } = verifySignature({}, 't=1,v1=aa', 'key', { toleranceSeconds: 60, now: 1 })
  const header: string = generateSignatureHeader({}, 'key', 1700000000)
  const error = new WebhookProcessingError('bad', 400)
  const code: number = error.statusCode
  const events: readonly string[] = [...SUPPORTED_EVENTS, ...APPOINTMENT_EVENTS]
  const table: 'eka_webhook_schedule_appointment' = SCHEDULE_TABLE_NAME
  try {
    new WebhookSDK({ clientId: '', clientSecret: '' })
  } catch (e) {
    const coded = e as WebhookSDKError
    if (coded.code === 'ERR_INVALID_CONFIG') void coded.message
  }
  void [status, allowed, port, found.appointments, found.followupAppointments, when, appointment, patient, doctor, clinic, middleware, handler, pagesRoute, verified, header, code, events, table]
  const closed: CloseReport = await sdk.close()
  const lost: number = closed.unflushedWrites
  void lost
}

async function durable(sdk: WebhookSDK) {
  sdk.reminders.define('appointment-1h', async (context, info) => {
    const start: number | undefined = context.appointmentDetails.start_time
    const late: number = info.lateByMs + info.attempt
    void [start, late, info.dueAt.getTime(), info.firedAt.getTime(), info.id, info.appointmentId, info.name]
  })
  const scheduled = await sdk.reminders.schedule({ appointmentId: 'a', name: 'appointment-1h', beforeStart: 3600 })
  const at = await sdk.reminders.schedule({ appointmentId: 'a', name: 'n', at: new Date() })
  const cron = await sdk.reminders.schedule({ appointmentId: 'a', name: 'n', cronTime: '0 9 * * *' })
  const cancelled: number = await sdk.reminders.cancel({ appointmentId: 'a' })
  const rows = await sdk.reminders.list({ status: 'failed' })
  const summary = await sdk.reminders.runDue({ maxMs: 1000 })
  new WebhookSDK({ clientId: 'i', clientSecret: 's', reminders: { leaseSeconds: 60, onMissed: 'fire', poll: false } })
  void [scheduled.dueAt, at.status, cron.id, cancelled, rows[0]?.lastError, summary.done, sdk.reminders.stats().storeCalls]
}

void main
void durable
