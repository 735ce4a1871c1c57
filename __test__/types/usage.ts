// Uses every export of the public types; must type-check under --strict.
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
  type WebhookResult,
  type StandaloneServer,
  type Reminder,
  type AppointmentReminderContext,
  type PersistenceConfig,
  type FindAppointmentsBetweenResult,
  type WebhookSDKError,
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
  onEvent: async (event: WebhookEvent) => {
    const id: string | undefined = event.appointmentDetails?.appointment_id
    const start: number | undefined = event.appointmentDetails?.start_time
    void id
    void start
  },
  path: '/hook',
  persistence: persistence[0],
  debug: false,
  apiBaseUrl: 'http://127.0.0.1:4010',
  signatureToleranceSeconds: 180,
  requestTimeoutMs: 5000,
}

async function main(): Promise<void> {
  const sdk = new WebhookSDK(config)
  const result: WebhookResult = await sdk.handleRequest({ event: 'prescription.created' }, { 'eka-webhook-signature': 't=1,v1=aa' })
  const status: number = result.status
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
  const appointment = await sdk.getAppointmentDetailsById('apt-1', { partnerId: 'p' })
  const patient = await sdk.getPatientDetailsById('p')
  const doctor = await sdk.getDoctorDetailsById('d')
  const clinic = await sdk.getClinicDetailsById('c')
  const middleware = sdk.expressMiddleware({ limit: 1024 })
  const handler: (request: Request) => Promise<Response> = sdk.fetchHandler()
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
  void [status, port, found.appointments, found.followupAppointments, when, appointment, patient, doctor, clinic, middleware, handler, verified, header, code, events, table]
  await sdk.close()
}

void main
