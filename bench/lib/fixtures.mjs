// Payloads, keys and signatures shared by the benchmarks. Deterministic: the same bytes every run.
import { createHmac } from 'node:crypto'

export const SIGNING_KEY = 'bench-signing-key-6f1d0c5e9a2b4873'
export const CLIENT = { clientId: 'demo-client', clientSecret: 'demo-secret' }
/** A fixed timestamp: the SDK checks no tolerance unless configured, like the Python SDK. */
export const T = 1893456000

function medication(i) {
  return {
    name: `Medicine ${i} 500mg tablet`,
    generic_name: `compound-${i}`,
    dose: { quantity: 1, unit: 'tablet' },
    frequency: i % 3 === 0 ? '1-0-1' : '1-1-1',
    duration: { value: 5 + (i % 10), unit: 'days' },
    timing: 'after food',
    instructions: 'Take with water. Do not skip doses; finish the course.',
  }
}

/**
 * A `prescription.created` webhook whose JSON.stringify text is `targetBytes` long, give or take
 * a medication (about 250 bytes), then padded exactly with a note.
 */
export function prescriptionPayload(targetBytes) {
  const payload = {
    service: 'prescription',
    event: 'prescription.created',
    event_time: T,
    timestamp: T,
    transaction_id: 'txn-5f0c1e2d-8a7b-4c3d-9e1f-0a2b3c4d5e6f',
    business_id: '174000000000001',
    client_id: 'demo-client',
    data: {
      prescription_id: 'rx-0001',
      appointment_id: 'apt-bk-1',
      patient_id: 'pat-1',
      doctor_id: 'doc-1',
      clinic_id: 'cln-1',
      created_at: T,
      diagnosis: [{ code: 'J06.9', name: 'Acute upper respiratory infection' }],
      medications: [],
      notes: '',
    },
  }
  let i = 0
  while (JSON.stringify(payload).length + 260 < targetBytes) payload.data.medications.push(medication(i++))
  const missing = targetBytes - JSON.stringify(payload).length
  payload.data.notes = 'x'.repeat(Math.max(0, missing))
  return payload
}

export function signatureHeader(text, key = SIGNING_KEY, t = T) {
  return `t=${t},v1=${createHmac('sha256', key).update(`${t}.${text}`).digest('hex')}`
}

/** The payload as an object, a string and a Buffer, with the header Eka Care would send. */
export function signedBodies(targetBytes) {
  const object = prescriptionPayload(targetBytes)
  const text = JSON.stringify(object)
  return { object, text, buffer: Buffer.from(text), headers: { 'eka-webhook-signature': signatureHeader(text) }, bytes: Buffer.byteLength(text) }
}

export const SIZES = [
  { label: '1 KB', bytes: 1024 },
  { label: '16 KB', bytes: 16 * 1024 },
]

/**
 * SDK options for benches that send one fixture (signed at the fixed `T`) over and over: no
 * replay window and no delivery ledger, so every request runs the whole pipeline (the ledger's
 * own cost is measured by ledger.bench.mjs).
 */
export const REPLAYED_FIXTURE = { signatureToleranceSeconds: 0, deliveryLedger: false }
