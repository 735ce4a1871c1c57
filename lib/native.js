'use strict'
// The native binding, and the one place its errors get their `code`: the Rust side prefixes
// every message with `[ERR_…] ` because napi's async bridge carries only a message.

const binding = require('../binding.js')

const CODED_MESSAGE = /^\[(ERR_[A-Z_]+)\] ([\s\S]*)$/

/** Moves a `[ERR_X] ` prefix into `error.code`; other errors pass through untouched. */
function withCode(error) {
  if (error instanceof Error) {
    const match = CODED_MESSAGE.exec(error.message)
    if (match) {
      error.message = match[2]
      error.code = match[1]
    }
  }
  return error
}

/** Calls a synchronous native function, rethrowing its error with a `code`. */
function callSync(fn, ...args) {
  try {
    return fn(...args)
  } catch (error) {
    throw withCode(error)
  }
}

/** Awaits a native promise, rejecting with a coded error. */
async function callAsync(promise) {
  try {
    return await promise
  } catch (error) {
    throw withCode(error)
  }
}

module.exports = { binding, withCode, callSync, callAsync }
