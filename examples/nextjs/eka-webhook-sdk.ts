// The app's WebhookSDK and its handlers, shared by the routes under app/ and pages/.
import { WebhookSDK, type WebhookEvent } from '@eka-care/webhook-sdk'

function onEvent(event: WebhookEvent): void {
  // `type` narrows the event: appointment events always carry the fetched appointment.
  switch (event.type) {
    case 'appointment.created':
    case 'appointment.updated':
      console.log('Eka webhook:', event.type, event.appointmentDetails.appointment_id)
      break
    default:
      console.log('Eka webhook:', event.type, '(not enriched)')
  }
}

let sdk: WebhookSDK | undefined

function ekaWebhookSdk(): WebhookSDK {
  sdk ??= new WebhookSDK({
    clientId: process.env.EKA_CLIENT_ID ?? '',
    clientSecret: process.env.EKA_CLIENT_SECRET ?? '',
    signingKey: process.env.EKA_SIGNING_KEY,
    apiBaseUrl: process.env.EKA_API_BASE_URL,
    onEvent,
  })
  return sdk
}

/**
 * The function `create` makes, made on its first call. With the credentials present when the
 * module loads, the routes would simply export `sdk.fetchHandler()` / `sdk.nextApiHandler()`;
 * they are made on the first request instead because `next build` loads route modules too, and
 * a build usually runs without the runtime secrets.
 */
function onFirstCall<A extends unknown[], R>(create: () => (...args: A) => R): (...args: A) => R {
  let made: ((...args: A) => R) | undefined
  return (...args) => (made ??= create())(...args)
}

/** App Router: `export const POST = sdk.fetchHandler()`. */
export const fetchHandler = onFirstCall(() => ekaWebhookSdk().fetchHandler())

/** Pages Router: `export default sdk.nextApiHandler()`. */
export const nextApiHandler = onFirstCall(() => ekaWebhookSdk().nextApiHandler())
