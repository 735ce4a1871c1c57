// The SDK's standalone server with MySQL persistence (database EKA_BENCH_MYSQL_DB on
// 127.0.0.1:3306 as root), the delivery ledger on unless EKA_BENCH_LEDGER=off; prints the port,
// runs until killed.
import { createRequire } from 'node:module'
import { SIGNING_KEY, CLIENT } from '../lib/fixtures.mjs'

const { WebhookSDK } = createRequire(import.meta.url)('../../lib/index.js')
const sdk = new WebhookSDK({
  ...CLIENT,
  signingKey: SIGNING_KEY,
  persistence: { type: 'mysql', connection: { host: '127.0.0.1', port: 3306, user: 'root', password: '', database: process.env.EKA_BENCH_MYSQL_DB } },
  deliveryLedger: process.env.EKA_BENCH_LEDGER !== 'off',
})
const server = sdk.listen(0)
process.stdout.write(`${server.port}\n`)
process.on('SIGTERM', () => sdk.close().then(() => process.exit(0)))
