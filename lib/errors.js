'use strict'
// Errors thrown by the JS glue itself, with the same stable codes as the Rust core's.

function codedError(code, message) {
  const error = new TypeError(message)
  error.code = code
  return error
}

const configError = (message) => codedError('ERR_INVALID_CONFIG', `WebhookSDK: ${message}`)
const argumentError = (message) => codedError('ERR_INVALID_ARGUMENT', message)

module.exports = { configError, argumentError }
