// Baseline: a minimal node:http server doing what a webhook endpoint must: read the body,
// JSON.parse it, verify the HMAC over the raw bytes with node:crypto (timingSafeEqual; no
// re-serialisation unless they fail), check the
// event, answer JSON. No SDK.
import http from 'node:http'
import { pureJsHandler } from '../lib/pure-js.mjs'
import { SIGNING_KEY } from '../lib/fixtures.mjs'

const handle = pureJsHandler(SIGNING_KEY, { rawFirst: true })
const server = http.createServer((req, res) => {
  if (req.method !== 'POST') {
    res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"Not Found"}')
    return
  }
  const chunks = []
  req.on('data', (chunk) => chunks.push(chunk))
  req.on('end', () => {
    handle(Buffer.concat(chunks), req.headers).then((result) => {
      const text = JSON.stringify(result.body)
      res.writeHead(result.status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) })
      res.end(text)
    })
  })
})
server.listen(0, '127.0.0.1', () => process.stdout.write(`${server.address().port}\n`))
process.on('SIGTERM', () => process.exit(0))
