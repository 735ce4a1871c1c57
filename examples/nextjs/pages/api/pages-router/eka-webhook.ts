// POST /api/pages-router/eka-webhook: the Pages Router form, recommended settings. In an app of
// your own this is pages/api/eka-webhook.ts (here that path is the App Router route's).
import { nextApiHandler } from '../../../eka-webhook-sdk'

// Next must not parse the body: the SDK then verifies the exact bytes Eka Care signed.
export const config = { api: { bodyParser: false } }

export default nextApiHandler
