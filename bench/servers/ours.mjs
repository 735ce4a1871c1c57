// The SDK's standalone server (Rust, hyper) on a free port; prints the port, runs until killed.
import { createRequire } from 'node:module'
import { SIGNING_KEY, CLIENT, REPLAYED_FIXTURE } from '../lib/fixtures.mjs'

const { WebhookSDK } = createRequire(import.meta.url)('../../lib/index.js')
const sdk = new WebhookSDK({ ...CLIENT, ...REPLAYED_FIXTURE, signingKey: SIGNING_KEY })
const server = sdk.listen(0)
process.stdout.write(`${server.port}\n`)
process.on('SIGTERM', () => sdk.close().then(() => process.exit(0)))
