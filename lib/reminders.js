'use strict'
// The JS side of reminders: each pending reminder's callback, found by id when the Rust scheduler
// fires it, and a timer handle that keeps the process alive while any reminder is pending (the
// scheduler itself runs on Rust threads the event loop cannot see), and the instant a `cronTime`
// means.

const cronParser = require('cron-parser')
const { argumentError } = require('./errors')

/** Lets the SDK record the firing without a public setter. */
const MARK_FIRED = Symbol('markFired')

class Reminder {
  #cancel
  #cancelled = false
  #firedAt = null

  constructor(id, nextRun, cancel) {
    this.id = id
    this.nextRun = nextRun
    this.#cancel = cancel
  }

  get cancelled() {
    return this.#cancelled
  }

  /** When the scheduler fired it (before the fresh details were fetched); null until then. */
  get firedAt() {
    return this.#firedAt
  }

  [MARK_FIRED](at) {
    this.#firedAt = at
  }

  /** Prevents the reminder from firing. After it fired, a harmless no-op. */
  cancel() {
    if (this.#cancelled) return
    if (this.#cancel(this.id)) this.#cancelled = true
  }
}

/**
 * When a one-shot reminder fires, in epoch ms: a Date's time, or the first match after now of a
 * cron string in local time, computed as node-schedule's `scheduleJob(expr)` does (it hands the
 * string to the same `cron-parser`). Only 5- and 6-field expressions (and `@daily`-style
 * aliases) are accepted: cron-parser would right-align fewer fields.
 */
function fireTimeOf(cronTime) {
  if (cronTime instanceof Date) {
    const at = cronTime.getTime()
    if (Number.isNaN(at)) throw argumentError('scheduleReminder: cronTime is an invalid Date')
    if (at <= Date.now()) throw argumentError(`scheduleReminder: cronTime ${cronTime.toISOString()} is in the past`)
    return at
  }
  if (typeof cronTime !== 'string') throw argumentError('scheduleReminder: cronTime must be a Date or a cron string')
  const invalid = (reason) => argumentError(`scheduleReminder: invalid cron expression ${JSON.stringify(cronTime)}: ${reason}`)
  const fields = cronTime.match(/\S+/g)?.length ?? 0
  if (!cronTime.trim().startsWith('@') && fields !== 5 && fields !== 6) {
    throw invalid(`expected 5 or 6 fields, got ${fields}`)
  }
  try {
    return cronParser.parseExpression(cronTime).next().getTime()
  } catch (error) {
    throw invalid(error.message)
  }
}

class ReminderRegistry {
  #pending = new Map()
  #keepAlive = null

  add(reminder, callback) {
    this.#pending.set(reminder.id, { reminder, callback })
    this.#keepAlive ??= setInterval(() => {}, 2 ** 31 - 1)
  }

  /** Forgets a reminder; returns `{ reminder, callback }` if it was still pending. */
  take(id) {
    const entry = this.#pending.get(id)
    this.#pending.delete(id)
    if (this.#pending.size === 0 && this.#keepAlive) {
      clearInterval(this.#keepAlive)
      this.#keepAlive = null
    }
    return entry
  }

  clear() {
    for (const id of this.#pending.keys()) this.take(id)
  }
}

module.exports = { Reminder, ReminderRegistry, MARK_FIRED, fireTimeOf }
