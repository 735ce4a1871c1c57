'use strict'
// `sdk.reminders`: durable reminders, stored in the configured database. Every instance
// registers the same named handlers; the Rust core polls, claims each due reminder under a
// lease, fetches fresh details and calls back here by name (through the SDK's reminder bridge).

const { callSync, callAsync } = require('./native')
const { argumentError } = require('./errors')
const { fireTimeOf } = require('./reminders')

const STATUSES = ['pending', 'running', 'done', 'failed', 'missed', 'cancelled']
/** A serverless `runDue()` stops claiming after this by default (below common function limits). */
const DEFAULT_RUN_DUE_MS = 25_000

function requireString(value, what) {
  if (typeof value !== 'string' || value.length === 0) throw argumentError(`${what} must be a non-empty string`)
  return value
}

function requireObject(value, what) {
  if (value === null || typeof value !== 'object') throw argumentError(`${what}: expected an object`)
  return value
}

/** A stored row as users see it. */
function toReminder(row) {
  return {
    id: row.id,
    appointmentId: row.appointmentId,
    name: row.name,
    dueAt: new Date(row.dueAtMs),
    status: row.status,
    attempt: row.attempt,
    beforeStart: row.beforeStart ?? null,
    firedAt: row.firedAtMs === null || row.firedAtMs === undefined ? null : new Date(row.firedAtMs),
    lastError: row.lastError ?? null,
  }
}

/** `{ at | cronTime | beforeStart }` → the native arguments `[atEpochMs, beforeStartSeconds]`. */
function dueOf(options) {
  const given = ['at', 'cronTime', 'beforeStart'].filter((key) => options[key] !== undefined && options[key] !== null)
  if (given.length !== 1) {
    throw argumentError(`reminders.schedule: give exactly one of at, cronTime, beforeStart (got ${given.join(', ') || 'none'})`)
  }
  const { at, cronTime, beforeStart } = options
  if (beforeStart !== undefined && beforeStart !== null) {
    if (!Number.isSafeInteger(beforeStart) || beforeStart < 0) {
      throw argumentError(`reminders.schedule: beforeStart must be a whole number of seconds >= 0, got ${String(beforeStart)}`)
    }
    return [null, beforeStart]
  }
  if (cronTime !== undefined && cronTime !== null) return [fireTimeOf(cronTime), null]
  const ms = at instanceof Date ? at.getTime() : at
  if (!Number.isSafeInteger(ms)) throw argumentError('reminders.schedule: at must be a valid Date (or epoch milliseconds)')
  return [ms, null]
}

class DurableReminders {
  #native
  #handlers = new Map()

  constructor(native) {
    this.#native = native
  }

  /**
   * Registers the handler of reminders named `name` and starts this instance's polling (every
   * instance defines the same handlers at start-up).
   */
  define(name, handler) {
    requireString(name, 'reminders.define: name')
    if (typeof handler !== 'function') throw argumentError('reminders.define: handler must be a function')
    if (this.#handlers.has(name)) throw argumentError(`reminders.define: '${name}' is already defined`)
    this.#handlers.set(name, handler)
    try {
      callSync(() => this.#native.remindersStartPolling())
    } catch (error) {
      // Without durable persistence there is nothing to poll; schedule() says why.
      if (error.code !== 'ERR_PERSISTENCE_NOT_CONFIGURED') throw error
    }
  }

  /** Stores a reminder; the same (appointmentId, name, due time) twice is one reminder. */
  async schedule(options) {
    requireObject(options, 'reminders.schedule')
    const appointmentId = requireString(options.appointmentId, 'reminders.schedule: appointmentId')
    const name = requireString(options.name, 'reminders.schedule: name')
    const [atEpochMs, beforeStart] = dueOf(options)
    const row = await callAsync(this.#native.remindersSchedule(appointmentId, name, atEpochMs, beforeStart))
    const { id, dueAt, status } = toReminder(JSON.parse(row))
    return { id, appointmentId, name, dueAt, status }
  }

  /** Cancels every pending reminder of the appointment; resolves to how many. */
  async cancel(options) {
    requireObject(options, 'reminders.cancel')
    const appointmentId = requireString(options.appointmentId, 'reminders.cancel: appointmentId')
    return callAsync(this.#native.remindersCancel(appointmentId))
  }

  async list(filter = {}) {
    requireObject(filter, 'reminders.list')
    const { appointmentId, status } = filter
    if (appointmentId !== undefined) requireString(appointmentId, 'reminders.list: appointmentId')
    if (status !== undefined && !STATUSES.includes(status)) {
      throw argumentError(`reminders.list: status must be one of ${STATUSES.join(', ')}`)
    }
    const rows = JSON.parse(await callAsync(this.#native.remindersList(appointmentId ?? null, status ?? null)))
    return rows.map(toReminder)
  }

  /** One pass over what is due (serverless: call it from a cron-triggered route). */
  async runDue(options = {}) {
    requireObject(options, 'reminders.runDue')
    const maxMs = options.maxMs ?? DEFAULT_RUN_DUE_MS
    if (!Number.isSafeInteger(maxMs) || maxMs < 0 || maxMs > 2 ** 32 - 1) {
      throw argumentError(`reminders.runDue: maxMs must be a whole number of milliseconds, got ${String(maxMs)}`)
    }
    return JSON.parse(await callAsync(this.#native.remindersRunDue(maxMs)))
  }

  /** This instance's counters: fires, store calls (database requests), claims. */
  stats() {
    return JSON.parse(callSync(() => this.#native.remindersStats()))
  }

  /** Runs a fired reminder's handler: `(context, info)`. The bridge turns a throw into a retry. */
  dispatch(fire) {
    const handler = this.#handlers.get(fire.name)
    if (!handler) throw new Error(`no handler is defined for reminder '${fire.name}' in this process`)
    const info = {
      id: fire.id,
      appointmentId: fire.appointmentId,
      name: fire.name,
      dueAt: new Date(fire.scheduledAtMs),
      firedAt: new Date(fire.firedAtMs),
      lateByMs: fire.lateByMs,
      attempt: fire.attempt,
    }
    return handler(JSON.parse(fire.contextJson), info)
  }
}

module.exports = { DurableReminders }
