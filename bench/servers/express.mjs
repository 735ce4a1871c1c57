// Express 5 with express.json() and the SDK's middleware (the object-body path).
import { createRequire } from 'node:module'
import express from 'express'
import { SIGNING_KEY, CLIENT, REPLAYED_FIXTURE } from '../lib/fixtures.mjs'

const { WebhookSDK } = createRequire(import.meta.url)('../../lib/index.js')
const sdk = new WebhookSDK({ ...CLIENT, ...REPLAYED_FIXTURE, signingKey: SIGNING_KEY })
const app = express()
app.post('/', express.json(), sdk.expressMiddleware())
const server = app.listen(0, '127.0.0.1', () => process.stdout.write(`${server.address().port}\n`))
process.on('SIGTERM', () => process.exit(0))
