'use strict'
// The JS side of reminders: each pending reminder's callback, found by id when the Rust scheduler
// fires it, and a timer handle that keeps the process alive while any reminder is pending (the
// scheduler itself runs on Rust threads the event loop cannot see).

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
    for (const id of [...this.#pending.keys()]) this.take(id)
  }
}

module.exports = { Reminder, ReminderRegistry, MARK_FIRED }
