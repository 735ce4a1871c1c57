// Receive Eka Care webhooks in an Express 5 app.
//
// Run it against the local Eka Care API simulator (no Eka account needed), from the repository root:
//
//   node simulator/cli.js --port 8089 &
//   EKA_CLIENT_ID=demo-client EKA_CLIENT_SECRET=demo-secret EKA_SIGNING_KEY=my-signing-key \
//   EKA_API_BASE_URL=http://127.0.0.1:8089 node examples/express.mjs
//
// then send it a signed webhook:
//
//   BODY='{"event":"appointment.created","data":{"appointment_id":"apt-bk-1"}}'
//   SIG=$(node -p "require('@eka-care/webhook-sdk').generateSignatureHeader(process.argv[1], 'my-signing-key')" "$BODY")
//   curl -s localhost:3000/eka-webhook -H 'content-type: application/json' -H "eka-webhook-signature: $SIG" -d "$BODY"
//
// Against Eka Care itself, use your real credentials and leave EKA_API_BASE_URL unset.
// PORT picks the port (default 3000; 0 for any free one).
import express from 'express'
import { WebhookSDK } from '@eka-care/webhook-sdk'

function requiredEnv(name) {
  const value = process.env[name]
  if (!value) {
    console.error(`Set ${name} (see the top of ${new URL(import.meta.url).pathname})`)
    process.exit(1)
  }
  return value
}

const sdk = new WebhookSDK({
  clientId: requiredEnv('EKA_CLIENT_ID'),
  clientSecret: requiredEnv('EKA_CLIENT_SECRET'),
  signingKey: process.env.EKA_SIGNING_KEY,
  apiBaseUrl: process.env.EKA_API_BASE_URL,
  onEvent(event) {
    const appointment = event.appointmentDetails
    console.log(`${event.type}${appointment ? ` ${appointment.appointment_id} (${appointment.status})` : ''}`)
  },
})

const app = express()
// No body parser is needed before the middleware: it reads the raw bytes itself, which is what
// Eka signs. express.json() or express.raw() before it work too.
app.post('/eka-webhook', sdk.expressMiddleware())
app.get('/health', (req, res) => res.json({ ok: true }))

const server = app.listen(Number(process.env.PORT ?? 3000), (error) => {
  if (error) throw error
  console.log(`Listening on http://localhost:${server.address().port}/eka-webhook`)
})

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => {
    server.close()
    server.closeAllConnections()
    sdk.close().then(() => process.exit(0))
  })
}
