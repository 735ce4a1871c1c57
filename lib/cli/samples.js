'use strict'
// Sample webhook payloads, shaped like Eka Care's, for `send` and the demo.

function samplePayload(event, appointmentId, extra = {}) {
  const isAppointment = event.startsWith('appointment.')
  return {
    service: isAppointment ? 'appointment' : 'prescription',
    event,
    event_time: Math.floor(Date.now() / 1000),
    transaction_id: `txn-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`,
    business_id: 'demo-business',
    client_id: 'demo-client',
    data: isAppointment
      ? { appointment_id: appointmentId, ...extra }
      : { prescription_id: `rx-${appointmentId}`, appointment_id: appointmentId, ...extra },
  }
}

module.exports = { samplePayload }
