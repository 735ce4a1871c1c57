'use strict'
// Wraps a user's callback for the native bridge: it never throws and always returns a promise
// resolving to null (success) or the failure's message. A synchronous throw inside a
// threadsafe-function call could otherwise abort the whole process. Also the fault reports'
// way to warnings and `onError`.

function messageOf(error) {
  if (error instanceof Error) return error.message || error.name || 'Error'
  try {
    return String(error)
  } catch {
    return 'callback failed with a value that cannot be described'
  }
}

/** `toArgument` turns the native value into what the user's function receives. */
function bridgeCallback(userFunction, toArgument) {
  return function callUserFunction(nativeValue) {
    try {
      return Promise.resolve(userFunction(toArgument(nativeValue))).then(
        () => null,
        (error) => messageOf(error),
      )
    } catch (error) {
      return Promise.resolve(messageOf(error))
    }
  }
}

/** Each fault kind warns at most this often; `onError` hears of every fault. */
const WARNING_INTERVAL_MS = 60_000

/**
 * The core's fault reports (a schedule write dropped, the retry queue full, a write given up, a
 * reminder failed, missed or unable to reach its store): a `process.emitWarning` per kind
 * (`EKA_…`) at most once a minute, and a call to the user's `onError` with a WebhookSDKError:
 * `code` (`ERR_PERSISTENCE`, `ERR_REMINDER`), `fault` (the `EKA_…` kind) and `appointmentId`.
 * Never throws: the native side calls it without catching.
 */
class FaultReporter {
  #onError
  #isDebug
  /** kind → { at, skipped }: when it last warned, and the faults of that kind since. */
  #warned = new Map()

  constructor(onError, isDebug) {
    this.#onError = onError ? bridgeCallback(onError, (error) => error) : null
    this.#isDebug = isDebug
  }

  report(fault) {
    try {
      this.#warn(fault)
      if (!this.#onError) return
      const error = new Error(`WebhookSDK: ${fault.message}`)
      error.code = fault.code
      error.fault = fault.fault
      if (fault.appointmentId !== undefined && fault.appointmentId !== null) error.appointmentId = fault.appointmentId
      this.#onError(error).then((failure) => {
        if (failure !== null && this.#isDebug()) console.log(`[ERROR] WebhookSDK: onError threw: ${failure}`)
      })
    } catch {
      // Nothing here may reach the native caller; the fault was logged by the core already.
    }
  }

  #warn(fault) {
    const now = Date.now()
    const last = this.#warned.get(fault.fault)
    if (last && now - last.at < WARNING_INTERVAL_MS) {
      last.skipped += 1
      return
    }
    const more = last?.skipped ? ` (and ${last.skipped} more since the last warning)` : ''
    this.#warned.set(fault.fault, { at: now, skipped: 0 })
    process.emitWarning(`WebhookSDK: ${fault.message}${more}`, { code: fault.fault })
  }
}

module.exports = { bridgeCallback, messageOf, FaultReporter }
