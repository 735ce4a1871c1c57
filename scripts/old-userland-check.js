'use strict'
// Run by scripts/test-old-glibc.sh inside the bullseye root with the package at argv[2]: the
// package loads there and works (a signature check, and a delivery enriched from the simulator).
const assert = require('node:assert/strict')

const packageDir = process.argv[2]
const { WebhookSDK, verifySignature, generateSignatureHeader } = require(packageDir)
const { startSimulator, SAMPLE } = require(`${packageDir}/simulator`)

const SIGNING_KEY = 'whsec_old_userland'

async function main() {
  const body = JSON.stringify({ event: 'appointment.created', data: { appointment_id: SAMPLE.appointmentId } })
  const header = generateSignatureHeader(body, SIGNING_KEY)
  assert.deepEqual(verifySignature(body, header, SIGNING_KEY), { valid: true })
  assert.equal(verifySignature(body, header, 'forged-key').valid, false)

  const simulator = await startSimulator()
  const sdk = new WebhookSDK({ ...simulator.sdkOptions, signingKey: SIGNING_KEY })
  try {
    const result = await sdk.handleRequest(body, { 'eka-webhook-signature': header })
    assert.equal(result.status, 200, JSON.stringify(result.body))
    assert.equal(result.body.appointmentDetails.appointment_id, SAMPLE.appointmentId)
    assert.equal(result.body.patientDetails.patient_id, SAMPLE.patientId)
    const forged = await sdk.handleRequest(body, { 'eka-webhook-signature': generateSignatureHeader(body, 'forged-key') })
    assert.equal(forged.status, 403)
  } finally {
    await sdk.close()
    await simulator.close()
  }
  const glibc = process.report.getReport().header.glibcVersionRuntime
  console.log(`old-userland check passed: glibc ${glibc}, node ${process.version}, handleRequest 200 enriched`)
}

main().catch((error) => {
  console.error(error)
  process.exit(1)
})
