// POST /api/eka-webhook (App Router). How to run this app against the Eka Care API simulator:
// README.md beside app/.
import { fetchHandler } from '../../../eka-webhook-sdk'

// The SDK is a native addon: this route runs on the Node.js runtime, never on the Edge.
export const runtime = 'nodejs'

export const POST = fetchHandler
