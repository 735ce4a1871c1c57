'use strict'
// `EKA_PERSISTENCE_URL` → a PersistenceConfig:
//   sqlite:./eka-webhooks.db   sqlite::memory:
//   mysql://user:password@host:3306/database
//   postgres://user:password@host:5432/database[?sslmode=…&sslrootcert=FILE&schema=…]
//   dynamodb://ap-south-1?endpoint=http://127.0.0.1:8000   (credentials: the AWS standard chain)

const DEFAULT_PERSISTENCE_URL = 'sqlite:./eka-webhooks.db'

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
    // Not the text itself: it may hold a password.
    throw new Error('persistence URL is not a URL (expected sqlite:FILE, mysql://…, postgres://… or dynamodb://REGION)')
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
