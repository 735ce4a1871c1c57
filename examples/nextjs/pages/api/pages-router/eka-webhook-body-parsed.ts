// POST /api/pages-router/eka-webhook-body-parsed: the Pages Router form with Next's default body
// parser left on. The SDK gets the parsed object and checks the signature against its canonical
// form (JSON.stringify), which is what Eka Care signs; a body sent with other whitespace than
// that fails here and verifies on the bodyParser: false route.
import { nextApiHandler } from '../../../eka-webhook-sdk'

export default nextApiHandler
