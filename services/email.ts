import { fullFormats } from 'ajv-formats/dist/formats.js'
import { EmailSchema } from '../schemas/user.js'

// The very check registration applies to its body: ajv-formats' (full mode) email format,
// which our validator uses for `format: email`, and EmailSchema's length bounds.
const EMAIL_FORMAT = fullFormats.email as RegExp
const MIN = EmailSchema.minLength ?? 0
const MAX = EmailSchema.maxLength ?? Infinity

/**
 * Whether registration would accept this address: ASCII local part and a dotted domain,
 * at most 254 characters; no spaces, no invisible characters, no trailing dot, no markup.
 */
export function isValidEmail (value: string): boolean {
  return value.length >= MIN && value.length <= MAX && EMAIL_FORMAT.test(value)
}
