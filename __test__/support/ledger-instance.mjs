// A second SDK instance in its own process for the delivery-ledger tests: the standalone server
// on a free port, with an `onEvent` that appends each delivery's transaction_id to a file
// shared with the test (one line per run). Config comes as JSON in EKA_LEDGER_CONFIG.
import { appendFileSync } from 'node:fs'
import { WebhookSDK } from './sdk.mjs'

const runs = process.env.EKA_LEDGER_RUNS
const sdk = new WebhookSDK({
  ...JSON.parse(process.env.EKA_LEDGER_CONFIG),
  onEvent: async (event) => {
    appendFileSync(runs, `${event.payload.transaction_id}\n`)
    // Held a while, so that concurrent copies really overlap with this run.
    await new Promise((resolve) => setTimeout(resolve, 50))
  },
})
const server = sdk.listen(0, () => console.log(`ready ${server.port}`))
process.on('SIGTERM', () => sdk.close().then(() => process.exit(0)))
