'use strict';

/**
 * Deterministic sample data for the Eka Care API simulator.
 *
 * Every time is derived from FIXTURE_BASE_EPOCH_SECONDS (2030-01-01T00:00:00Z),
 * so fixture appointments lie in the future for any test run before 2030 and
 * never change between runs.
 */

const FIXTURE_BASE_EPOCH_SECONDS = 1893456000;

const DAY = 24 * 60 * 60;
const SLOT = 15 * 60;
/** 10:00 India Standard Time (UTC+05:30), expressed as seconds after midnight UTC. */
const TEN_AM_IST = 4 * 60 * 60 + 30 * 60;

const SAMPLE = Object.freeze({
  appointmentId: 'apt-bk-1',
  followupAppointmentId: 'apt-flw-1',
  cancelledAppointmentId: 'apt-cnd-1',
  orphanAppointmentId: 'apt-orphan-1',
  patientId: 'pat-1',
  doctorId: 'doc-1',
  clinicId: 'cln-1',
});

function appointment(id, startTime, fields) {
  return {
    appointment_id: id,
    patient_id: SAMPLE.patientId,
    doctor_id: SAMPLE.doctorId,
    clinic_id: SAMPLE.clinicId,
    start_time: startTime,
    end_time: startTime + SLOT,
    status: 'BK',
    visit_type: 'NEW',
    mode: 'IN_CLINIC',
    partner_appointment_id: null,
    partner_patient_id: null,
    created_at: FIXTURE_BASE_EPOCH_SECONDS - DAY,
    ...fields,
  };
}

/**
 * The appointment `addAppointments()` creates at position `index`: booked with
 * the sample patient, doctor and clinic, one 15-minute slot after another from
 * seven days past the fixture base.
 */
function bulkAppointment(id, index) {
  return appointment(id, FIXTURE_BASE_EPOCH_SECONDS + 7 * DAY + index * SLOT, {});
}

function byId(field, records) {
  return new Map(records.map((record) => [record[field], record]));
}

/** A fresh, independent copy of the sample data set. */
function createFixtures() {
  const day = (n) => FIXTURE_BASE_EPOCH_SECONDS + n * DAY + TEN_AM_IST;
  return {
    appointments: byId('appointment_id', [
      appointment(SAMPLE.appointmentId, day(1), {}),
      appointment(SAMPLE.followupAppointmentId, day(2), {
        status: 'IN',
        visit_type: 'FLW',
        partner_appointment_id: 'partner-apt-77',
      }),
      appointment(SAMPLE.cancelledAppointmentId, day(3), {
        patient_id: 'pat-2',
        status: 'CND',
      }),
      appointment(SAMPLE.orphanAppointmentId, day(4), {
        patient_id: 'pat-missing-1',
        doctor_id: 'doc-missing-1',
        clinic_id: 'cln-missing-1',
      }),
    ]),
    patients: byId('patient_id', [
      {
        patient_id: SAMPLE.patientId,
        oid: '174000000000001',
        fln: 'Ananya Sharma',
        mobile: '+919876543210',
        dob: '1990-04-12',
        gen: 'F',
      },
      {
        patient_id: 'pat-2',
        oid: '174000000000002',
        fln: 'Rohan Mehta',
        mobile: '+919812345678',
        dob: '1984-11-30',
        gen: 'M',
      },
    ]),
    doctors: byId('doctor_id', [
      { doctor_id: SAMPLE.doctorId, name: 'Dr. Kavya Iyer', specialization: 'General Physician' },
    ]),
    clinics: byId('clinic_id', [
      {
        clinic_id: SAMPLE.clinicId,
        name: 'Eka Family Clinic',
        address: '12 MG Road, Indiranagar, Bengaluru, Karnataka 560038',
      },
    ]),
  };
}

module.exports = { createFixtures, bulkAppointment, SAMPLE, FIXTURE_BASE_EPOCH_SECONDS };
