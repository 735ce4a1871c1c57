// The standalone server: no framework needed.
//
// Against the bundled Eka Care API simulator:
//   node simulator/cli.js --port 4010 &
//   EKA_CLIENT_ID=demo-client EKA_CLIENT_SECRET=demo-secret EKA_SIGNING_KEY=whsec_example \
//   EKA_API_BASE_URL=http://127.0.0.1:4010 node examples/standalone.mjs
//   EKA_SIGNING_KEY=whsec_example npx eka-webhook send http://127.0.0.1:3000/webhooks/eka
import { WebhookSDK } from '@eka-care/webhook-sdk'

const sdk = new WebhookSDK({
  clientId: process.env.EKA_CLIENT_ID,
  clientSecret: process.env.EKA_CLIENT_SECRET,
  signingKey: process.env.EKA_SIGNING_KEY,
  path: '/webhooks/eka',
  persistence: { type: 'sqlite', filename: process.env.EKA_SQLITE_FILE ?? './eka-webhooks.db' },
  onEvent: async (event) => {
    const details = event.appointmentDetails
    console.log(event.type, details ? `${details.appointment_id} ${details.status} for ${event.patientDetails?.fln}` : '')
  },
})

const server = sdk.listen(Number(process.env.PORT ?? 3000), () => {
  console.log(`listening on http://0.0.0.0:${server.port}/webhooks/eka`)
})

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => sdk.close().then(() => process.exit(0)))
}
