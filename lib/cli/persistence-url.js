'use strict'
// `EKA_PERSISTENCE_URL` → a PersistenceConfig:
//   sqlite:./eka-webhooks.db   sqlite::memory:
//   mysql://user:password@host:3306/database
//   postgres://user:password@host:5432/database[?sslmode=…&sslrootcert=FILE&schema=…]
//   dynamodb://ap-south-1?endpoint=http://127.0.0.1:8000   (credentials: the AWS standard chain)

const DEFAULT_PERSISTENCE_URL = 'sqlite:./eka-webhooks.db'

/**
 * `text` with the password of its `user:password@` part replaced by `***`, for messages. Works on
 * text that does not parse as a URL too (up to the last `@`, so a password containing `@` or `/`
 * is hidden whole).
 */
function redactPassword(text) {
  const at = text.lastIndexOf('@')
  if (at < 0) return text
  const slashes = text.indexOf('//')
  const start = slashes >= 0 && slashes < at ? slashes + 2 : 0
  const colon = text.indexOf(':', start)
  if (colon < 0 || colon > at) return text
  return `${text.slice(0, colon + 1)}***${text.slice(at)}`
}

function parsePersistenceUrl(text) {
  if (text.startsWith('sqlite:')) {
    const filename = text.slice('sqlite:'.length)
    if (!filename) throw new Error('sqlite persistence URL needs a file name, e.g. sqlite:./eka-webhooks.db')
    return { type: 'sqlite', filename }
  }
  let url
  try {
    url = new URL(text)
  } catch {
    throw new Error(`persistence URL ${JSON.stringify(redactPassword(text))} is not a URL (expected sqlite:FILE, mysql://…, postgres://… or dynamodb://REGION)`)
  }
  if (url.protocol === 'mysql:') {
    const database = decodeURIComponent(url.pathname.replace(/^\//, ''))
    if (!url.hostname || !url.username || !database) {
      throw new Error('mysql persistence URL must look like mysql://user:password@host:3306/database')
    }
    return {
      type: 'mysql',
      connection: {
        host: url.hostname,
        port: url.port ? Number(url.port) : 3306,
        user: decodeURIComponent(url.username),
        password: decodeURIComponent(url.password),
        database,
      },
    }
  }
  if (url.protocol === 'postgres:' || url.protocol === 'postgresql:') {
    if (!url.hostname || !url.username || url.pathname.length <= 1) {
      throw new Error('postgres persistence URL must look like postgres://user:password@host:5432/database')
    }
    // The core parses the rest (port, password, sslmode, sslrootcert, schema) with precise errors.
    return { type: 'postgres', connectionString: text }
  }
  if (url.protocol === 'dynamodb:') {
    if (!url.hostname) throw new Error('dynamodb persistence URL must name the region: dynamodb://ap-south-1')
    const config = { type: 'dynamodb', region: url.hostname }
    const endpoint = url.searchParams.get('endpoint')
    if (endpoint) config.endpoint = endpoint
    return config
  }
  throw new Error(`unsupported persistence URL scheme ${JSON.stringify(url.protocol)} (expected sqlite:, mysql:, postgres: or dynamodb:)`)
}

module.exports = { parsePersistenceUrl, DEFAULT_PERSISTENCE_URL }
