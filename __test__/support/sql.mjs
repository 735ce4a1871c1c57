// Test support for the SQL backends: throwaway MariaDB databases and PostgreSQL schemas, and raw
// reads of the schedule table, through the `mysql` and `psql` clients and Python's sqlite3
// module, so the tests need no npm dependency. MySQL is EKA_TEST_MYSQL_HOST:EKA_TEST_MYSQL_PORT
// (default 127.0.0.1:3306) as EKA_TEST_MYSQL_USER / EKA_TEST_MYSQL_PASSWORD (default root,
// empty); PostgreSQL is EKA_TEST_PG_HOST:EKA_TEST_PG_PORT (default 127.0.0.1:5432), database
// EKA_TEST_PG_DATABASE (default test), as EKA_TEST_PG_USER (default postgres, trusted).

import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import net from 'node:net';

export const MYSQL = {
  host: process.env.EKA_TEST_MYSQL_HOST || '127.0.0.1',
  port: Number(process.env.EKA_TEST_MYSQL_PORT || 3306),
  user: process.env.EKA_TEST_MYSQL_USER || 'root',
  password: process.env.EKA_TEST_MYSQL_PASSWORD || '',
};

export const POSTGRES = {
  host: process.env.EKA_TEST_PG_HOST || '127.0.0.1',
  port: Number(process.env.EKA_TEST_PG_PORT || 5432),
  user: process.env.EKA_TEST_PG_USER || 'postgres',
  database: process.env.EKA_TEST_PG_DATABASE || 'test',
};

export const TABLE = 'eka_webhook_schedule_appointment';

let counter = 0;
export function uniqueName(tag) {
  return `eka_test_js_${process.pid}_${counter++}_${tag}`.replace(/[^A-Za-z0-9_]/g, '_');
}

function mysqlArgs(database) {
  const args = ['-h', MYSQL.host, '-P', String(MYSQL.port), '-u', MYSQL.user, '--default-character-set=utf8mb4', '-N', '-B'];
  if (database) args.push('-D', database);
  return args;
}

/** Batch mode escapes a backslash, tab, newline or NUL in a value with a backslash. */
function unescapeBatch(cell) {
  return cell.replace(/\\([\\tn0])/g, (_, c) => ({ '\\': '\\', t: '\t', n: '\n', 0: '\0' })[c]);
}

/** Runs SQL with the `mysql` client; returns rows as arrays of strings (`null` for NULL). */
export function mysqlQuery(sql, database) {
  const env = { ...process.env };
  if (MYSQL.password) env.MYSQL_PWD = MYSQL.password;
  const out = execFileSync('mysql', [...mysqlArgs(database), '-e', sql], { env, encoding: 'utf8' });
  return out
    .split('\n')
    .filter((line) => line.length > 0)
    .map((line) => line.split('\t').map((cell) => (cell === 'NULL' ? null : unescapeBatch(cell))));
}

/** A fresh database; `drop()` removes it. */
export function createMysqlDatabase(tag) {
  const name = uniqueName(tag);
  mysqlQuery(`CREATE DATABASE \`${name}\``);
  return {
    name,
    connection: { host: MYSQL.host, port: MYSQL.port, user: MYSQL.user, password: MYSQL.password, database: name },
    query: (sql) => mysqlQuery(sql, name),
    drop: () => mysqlQuery(`DROP DATABASE IF EXISTS \`${name}\``),
  };
}

const ROW_COLUMNS = 'appointment_id, start_time, end_time, status, visit_type, created_at, p_aid, reminder_sent_at';

function toRow(cells) {
  const [appointmentId, start, end, status, visitType, createdAt, pAid, reminderSentAt] = cells;
  const int = (v) => (v === null ? null : Number(v));
  return {
    appointment_id: appointmentId,
    start_time: int(start),
    end_time: int(end),
    status,
    visit_type: visitType,
    created_at: int(createdAt),
    p_aid: pAid,
    reminder_sent_at: int(reminderSentAt),
  };
}

/** Runs SQL with `psql` in a schema (its search_path); returns what the last statement printed. */
export function pgQuery(sql, schema = 'public') {
  const env = { ...process.env, PGOPTIONS: `-c search_path=${schema} -c client_min_messages=warning` };
  const args = ['-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-h', POSTGRES.host, '-p', String(POSTGRES.port)];
  args.push('-U', POSTGRES.user, '-d', POSTGRES.database, '-c', sql);
  return execFileSync('psql', args, { env, encoding: 'utf8' }).trim();
}

/** A fresh schema in the test database; `drop()` removes it with everything in it. */
export function createPostgresSchema(tag) {
  const name = uniqueName(tag).toLowerCase();
  pgQuery(`CREATE SCHEMA ${name}`);
  return {
    name,
    connection: { host: POSTGRES.host, port: POSTGRES.port, user: POSTGRES.user, database: POSTGRES.database, schema: name },
    query: (sql) => pgQuery(sql, name),
    drop: () => pgQuery(`DROP SCHEMA IF EXISTS ${name} CASCADE`),
  };
}

/** Every row of the schedule table in a PostgreSQL schema, by appointment_id (JSON keeps any id intact). */
export function postgresRows(schema) {
  const cells = ROW_COLUMNS.split(', ').map((c) => `${c}::text`).join(', ');
  const out = pgQuery(`SELECT coalesce(json_agg(json_build_array(${cells}) ORDER BY appointment_id), '[]') FROM ${TABLE}`, schema);
  return new Map(JSON.parse(out).map((row) => [row[0], toRow(row)]));
}

/** Every row of the schedule table in a MySQL database, by appointment_id. */
export function mysqlRows(database) {
  const rows = mysqlQuery(`SELECT ${ROW_COLUMNS} FROM ${TABLE} ORDER BY appointment_id`, database);
  return new Map(rows.map((cells) => [cells[0], toRow(cells)]));
}

const SQLITE_DUMP = `
import json, sqlite3, sys
con = sqlite3.connect(sys.argv[1])
rows = con.execute("SELECT ${ROW_COLUMNS} FROM ${TABLE} ORDER BY appointment_id").fetchall()
print(json.dumps([[None if v is None else str(v) for v in r] for r in rows]))
`;

/** Every row of the schedule table in an SQLite file, by appointment_id. */
export function sqliteRows(filename) {
  const out = execFileSync('python3', ['-c', SQLITE_DUMP, filename], { encoding: 'utf8' });
  return new Map(JSON.parse(out).map((cells) => [cells[0], toRow(cells)]));
}

/** A temp directory for SQLite files; `cleanup()` removes it. */
export function tempDir(tag) {
  const dir = mkdtempSync(join(tmpdir(), `eka-${tag}-`));
  return { dir, file: (name) => join(dir, name), cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** A loopback port with nothing listening. */
export async function closedPort() {
  const server = net.createServer();
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}
