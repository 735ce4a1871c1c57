'use strict'
// The `onEvent` calls in progress, from every door (the JS doors' `handleRequest` and the
// standalone server's bridge), so that `close()` can wait for them within a bound and then cut
// them: a cut call rejects, so its delivery answers 500, its ledger claim is released and the
// sender retries it. The user's promise is only abandoned (JS cannot cancel it); it holds no
// handle, so the process can still exit.

const CLOSE_TIMEOUT_CODE = 'EKA_CLOSE_TIMEOUT'

/** What a warning or report may say of a delivery: its type and id, never its data. */
function describe(event) {
  const id = event.payload?.transaction_id
  return { eventType: event.type, deliveryId: typeof id === 'string' ? id : null }
}

class OnEventCalls {
  /** `{ event, fromServer, cut }` of each call running. */
  #running = new Set()
  #idleWaiters = []
  /** Set once `close()` gave up waiting: later calls are cut at once. */
  #cutReason = null

  /**
   * Runs `call()` (the user's `onEvent` with `event`; `fromServer`: a standalone server's
   * delivery), or rejects when `close()` cuts it.
   */
  run(event, call, fromServer = false) {
    if (this.#cutReason !== null) return Promise.reject(new Error(this.#cutReason))
    return new Promise((resolve, reject) => {
      const entry = {
        event,
        fromServer,
        cut: (error) => {
          this.#forget(entry)
          reject(error)
        },
      }
      this.#running.add(entry)
      try {
        Promise.resolve(call()).then((value) => {
          this.#forget(entry)
          resolve(value)
        }, entry.cut)
      } catch (error) {
        entry.cut(error)
      }
    })
  }

  /** Drops a call that settled or was cut (a cut call is abandoned: its end changes nothing). */
  #forget(entry) {
    if (this.#running.delete(entry) && this.#running.size === 0) this.#idleWaiters.splice(0).forEach((wake) => wake())
  }

  #whenIdle() {
    if (this.#running.size === 0) return Promise.resolve()
    return new Promise((wake) => this.#idleWaiters.push(wake))
  }

  /**
   * Waits for `work` (the servers closing, which waits for their deliveries) and then for the
   * calls running, for at most `timeoutMs`. Past it, cuts every call running or still to come,
   * warns (`EKA_CLOSE_TIMEOUT`) and waits for `work` again. Resolves to the deliveries cut.
   * `serversOnly` (a server's own `close()`): waits for `work` alone, and cuts only the calls
   * of standalone servers (the server takes no new ones once closing).
   */
  async drain(timeoutMs, work, serversOnly = false) {
    const finished = serversOnly ? Promise.resolve(work) : Promise.resolve(work).then(() => this.#whenIdle())
    let timer
    const expired = new Promise((resolve) => {
      timer = setTimeout(resolve, timeoutMs, true)
    })
    try {
      if (!(await Promise.race([finished, expired]))) return []
    } finally {
      clearTimeout(timer)
    }
    const reason = `close() stopped waiting for onEvent after ${timeoutMs} ms ('closeTimeoutMs')`
    if (!serversOnly) this.#cutReason = reason
    const cut = [...this.#running].filter((entry) => !serversOnly || entry.fromServer)
    for (const { cut: reject } of cut) reject(new Error(reason))
    const deliveries = cut.map(({ event }) => describe(event))
    if (deliveries.length > 0) warn(timeoutMs, deliveries)
    await finished
    // A JS door's cut delivery settles its ledger claim in the microtasks that follow the cut;
    // one macrotask later every such settle has been handed to the core, ahead of its close.
    await new Promise(setImmediate)
    return deliveries
  }
}

function warn(timeoutMs, deliveries) {
  const list = deliveries
    .map(({ eventType, deliveryId }) => `${eventType} (${deliveryId === null ? 'no transaction_id' : `transaction_id ${JSON.stringify(deliveryId)}`})`)
    .join(', ')
  const count = deliveries.length === 1 ? '1 delivery was' : `${deliveries.length} deliveries were`
  process.emitWarning(
    `WebhookSDK: close() stopped waiting after ${timeoutMs} ms ('closeTimeoutMs'): ${count} still in onEvent: ` +
      `${list}; answered 500 so that the sender retries.`,
    { code: CLOSE_TIMEOUT_CODE },
  )
}

module.exports = { OnEventCalls, CLOSE_TIMEOUT_CODE }
