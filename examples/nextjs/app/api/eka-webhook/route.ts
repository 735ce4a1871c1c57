// POST /api/eka-webhook. How to run this app against the Eka Care API simulator: README.md beside app/.
import { WebhookSDK } from '@eka-care/webhook-sdk'

// The SDK is a native addon: this route runs on the Node.js runtime, never on the Edge.
export const runtime = 'nodejs'

function createHandler() {
  const sdk = new WebhookSDK({
    clientId: process.env.EKA_CLIENT_ID ?? '',
    clientSecret: process.env.EKA_CLIENT_SECRET ?? '',
    signingKey: process.env.EKA_SIGNING_KEY,
    apiBaseUrl: process.env.EKA_API_BASE_URL,
    onEvent(event) {
      const appointment = event.appointmentDetails
      console.log('Eka webhook:', event.type, appointment ? appointment.appointment_id : '(not enriched)')
    },
  })
  return sdk.fetchHandler()
}

// With the credentials present when the module loads, this is simply
// `export const POST = sdk.fetchHandler()`. It is created on the first request instead because
// `next build` loads route modules too, and a build usually runs without the runtime secrets.
let handler: ((request: Request) => Promise<Response>) | undefined

export function POST(request: Request): Promise<Response> {
  handler ??= createHandler()
  return handler(request)
}
