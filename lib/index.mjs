// ESM entry: the same objects as the CommonJS entry (Node finds the names in its
// `module.exports = { … }`).
export * from './index.js'
export { default } from './index.js'
