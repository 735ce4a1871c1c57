'use strict'
// Wraps a user's callback for the native bridge: it never throws and always returns a promise
// resolving to null (success) or the failure's message. A synchronous throw inside a
// threadsafe-function call could otherwise abort the whole process.

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

module.exports = { bridgeCallback, messageOf }
