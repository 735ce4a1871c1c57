// Each line misuses the API; tsc --strict must reject this file (the test checks every line errors).
import { WebhookSDK, verifySignature, SCHEDULE_TABLE_NAME } from '@eka-care/webhook-sdk'

new WebhookSDK({ clientId: 'id' }) // @error: clientSecret missing
new WebhookSDK({ clientId: 'id', clientSecret: 's', persistence: { type: 'redis' } }) // @error: unknown backend
new WebhookSDK({ clientId: 'id', clientSecret: 's', persistence: { type: 'postgres' } }) // @error: no connection
const both = { host: 'h', user: 'u', database: 'd' }
new WebhookSDK({ clientId: 'id', clientSecret: 's', persistence: { type: 'postgres', connection: both, connectionString: 'postgres://u@h/d' } }) // @error: both forms
new WebhookSDK({ clientId: 'id', clientSecret: 's', persistence: { type: 'postgres', connection: { ...both, ssl: { mode: 'on' } } } }) // @error: ssl mode
new WebhookSDK({ clientId: 'id', clientSecret: 's', signingKey: 42 }) // @error: wrong key type
const sdk = new WebhookSDK({ clientId: 'id', clientSecret: 's' })
sdk.listen('3000') // @error: port is a number
sdk.findAppointmentsBetween({ startTime: 1 }) // @error: endTime missing
sdk.reminders.schedule({ appointmentId: 'a', name: 'n', at: new Date(), beforeStart: 60 }) // @error: two due times
sdk.reminders.list({ status: 'sent' }) // @error: no such status
new WebhookSDK({ clientId: 'id', clientSecret: 's', reminders: { onMissed: 'later' } }) // @error: onMissed choice
sdk.scheduleReminder({ cronTime: 5, appointmentId: 'a', callback: () => undefined }) // @error: cronTime type
verifySignature({}, 'h', 'k').valid.toUpperCase() // @error: valid is boolean
const table: 'other' = SCHEDULE_TABLE_NAME // @error: literal type
void table
new WebhookSDK({ clientId: 'id', clientSecret: 's', allowedEvents: ['appointment.create'] }) // @error: no such event
new WebhookSDK({
  clientId: 'id',
  clientSecret: 's',
  onEvent(event) {
    void event.appointmentDetails.start_time // @error: not narrowed, a prescription has none
    if (event.type === 'prescription.created') void event.appointmentDetails.status // @error: never enriched
    if (event.type === 'appointment.deleted') return // @error: no such event type
  },
})
async function narrowResult(): Promise<void> {
  const result = await sdk.handleRequest({}, {})
  void result.event.type // @error: event is absent on failures
  if (result.event?.type === 'prescription.updated') void result.event.payload.data.appointment_id // @error: data may be absent
}
void narrowResult
void sdk.stats().deliveries.byReason.signature_forged // @error: not a reason
new WebhookSDK({ clientId: 'id', clientSecret: 's', onError: (error) => error.code === 'EKA_WRITE_DROPPED' }) // @error: a fault kind is in error.fault, not error.code
new WebhookSDK({ clientId: 'id', clientSecret: 's', onError: (error) => error.code === 'ERR_EKA_API' }) // @error: onError hears of persistence and reminder faults only
new WebhookSDK({ clientId: 'id', clientSecret: 's', onError: (error) => error.code === 'ERR_REMINDER' && error.fault === 'EKA_QUEUE_FULL' }) // @error: a reminder fault is never a write fault
