// The four persistence backends for the shared suites: each `open(tag)` gives a fresh place (an
// SQLite file, a MariaDB database, a PostgreSQL schema, a moto server), the SDK's persistence
// config for it, a raw view of its rows that does not go through the SDK, and its cleanup.

import { execFileSync } from 'node:child_process'
import { createMysqlDatabase, createPostgresSchema, mysqlQuery, mysqlRows, pgQuery, postgresRows, sqliteRows, tempDir } from './sql.mjs'
import { startMoto, dynamo, REGION, ACCESS_KEY_ID, SECRET_ACCESS_KEY } from './moto.mjs'

const TABLE = 'eka_webhook_schedule_appointment'
const DELIVERY_TABLE = 'eka_webhook_delivery'

const SQLITE_DELIVERIES = `
import json, sqlite3, sys
con = sqlite3.connect(sys.argv[1])
print(json.dumps(con.execute("SELECT id, event, status FROM ${DELIVERY_TABLE} ORDER BY id").fetchall()))
`

/** The delivery ledger's rows, `{ id, event, status }`, ordered by id. */
const toDeliveries = (rows) => rows.map(([id, event, status]) => ({ id, event, status }))

/** DynamoDB items as the SQL rows look (absent attributes are null). */
async function dynamoRows(endpoint) {
  const items = []
  let ExclusiveStartKey
  do {
    const page = await dynamo(endpoint, 'Scan', { TableName: TABLE, ConsistentRead: true, ExclusiveStartKey })
    items.push(...page.Items)
    ExclusiveStartKey = page.LastEvaluatedKey
  } while (ExclusiveStartKey)
  const n = (v) => (v ? Number(v.N) : null)
  const rows = items
    .map((item) => ({
      appointment_id: item.appointment_id.S,
      start_time: n(item.start_time),
      end_time: n(item.end_time),
      status: item.status.S,
      visit_type: item.visit_type.S,
      created_at: n(item.created_at),
      p_aid: item.p_aid ? item.p_aid.S : null,
      reminder_sent_at: n(item.reminder_sent_at),
    }))
    .sort((a, b) => (a.appointment_id < b.appointment_id ? -1 : 1))
  return new Map(rows.map((row) => [row.appointment_id, row]))
}

/**
 * A backend on a database server: `create(tag)` makes the place (a MariaDB database or a
 * PostgreSQL schema); `rows(name)` and `deliveryRows(name)` read its tables by the place's name.
 */
function sqlServerBackend(type, create, rows, deliveryRows) {
  return {
    name: type,
    async open(tag) {
      const place = create(tag)
      return {
        persistence: { type, connection: place.connection },
        rows: async () => rows(place.name),
        deliveries: async () => toDeliveries(deliveryRows(place.name)),
        cleanup: async () => place.drop(),
      }
    },
  }
}

/**
 * @type {{ name: string, open(tag: string): Promise<{ persistence: object,
 *   rows(): Promise<Map<string, object>>, deliveries(): Promise<{ id: string, event: string, status: string }[]>,
 *   cleanup(): Promise<void> }> }[]}
 */
export const BACKENDS = [
  {
    name: 'sqlite',
    async open(tag) {
      const tmp = tempDir(tag)
      const filename = tmp.file('schedule.db')
      return {
        persistence: { type: 'sqlite', filename },
        rows: async () => sqliteRows(filename),
        deliveries: async () => toDeliveries(JSON.parse(execFileSync('python3', ['-c', SQLITE_DELIVERIES, filename], { encoding: 'utf8' }))),
        cleanup: async () => tmp.cleanup(),
      }
    },
  },
  sqlServerBackend('mysql', createMysqlDatabase, mysqlRows, (database) =>
    mysqlQuery(`SELECT id, event, status FROM ${DELIVERY_TABLE} ORDER BY id`, database),
  ),
  sqlServerBackend('postgres', createPostgresSchema, postgresRows, (schema) => JSON.parse(pgQuery(
    `SELECT coalesce(json_agg(json_build_array(id, event, status) ORDER BY id), '[]') FROM ${DELIVERY_TABLE}`,
    schema,
  ))),
  {
    name: 'dynamodb',
    async open() {
      const moto = await startMoto()
      return {
        persistence: {
          type: 'dynamodb',
          region: REGION,
          accessKeyId: ACCESS_KEY_ID,
          secretAccessKey: SECRET_ACCESS_KEY,
          endpoint: moto.endpoint,
        },
        rows: () => dynamoRows(moto.endpoint),
        deliveries: async () => {
          const page = await dynamo(moto.endpoint, 'Scan', { TableName: DELIVERY_TABLE, ConsistentRead: true })
          const rows = page.Items.map((item) => [item.id.S, item.event.S, item.status.S])
          return toDeliveries(rows.sort((a, b) => (a[0] < b[0] ? -1 : 1)))
        },
        cleanup: () => moto.stop(),
      }
    },
  },
]
