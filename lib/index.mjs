// ESM entry: the same objects as the CommonJS entry.
import sdk from './index.js'

export const {
  WebhookSDK,
  WebhookProcessingError,
  verifySignature,
  generateSignatureHeader,
  SUPPORTED_EVENTS,
  APPOINTMENT_EVENTS,
  SCHEDULE_TABLE_NAME,
} = sdk
export default sdk
