'use strict'
// Errors thrown by the JS glue itself. Their codes come from the Rust core's error enum, the
// one list of codes.

const { binding } = require('./native')

const CODES = binding.glueErrorCodes()

function codedError(code, message) {
  const error = new TypeError(message)
  error.code = code
  return error
}

const configError = (message) => codedError(CODES.invalidConfig, `WebhookSDK: ${message}`)
const argumentError = (message) => codedError(CODES.invalidArgument, message)

module.exports = { configError, argumentError }
