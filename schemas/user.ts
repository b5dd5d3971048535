import { Type, type Static } from '@sinclair/typebox'

// Bounds are generous for real addresses (RFC 5321 caps a path at 254) and keep
// hashing and storage costs predictable for hostile input.
export const EmailSchema = Type.String({ format: 'email', minLength: 3, maxLength: 254, description: 'Email address' })
// The length bound protects argon2 from megabyte-sized inputs; the password policy
// (minimum length and the app's own rules) is checked by the service so that it can
// answer with a specific error code: the bodies below are validated with a minimum of 1,
// and the OpenAPI document shows the app's minimum (userBodySchemas).
const password = (minLength: number, description: string) => Type.String({ minLength, maxLength: 256, description })
export const PasswordSchema = password(1, 'Password')

export const UserSchema = Type.Object({
  id: Type.String({ description: 'Stable user id' }),
  email: EmailSchema,
  isActive: Type.Boolean(),
  isVerified: Type.Boolean(),
  isSuperuser: Type.Boolean(),
  permissions: Type.Array(Type.String(), { description: 'What the app lets this user do (config.auth.permissions); given by administrators' }),
  createdAt: Type.String({ format: 'date-time' }),
  updatedAt: Type.String({ format: 'date-time' })
}, {
  $id: 'fastify-users.User',
  title: 'User',
  additionalProperties: false,
  examples: [{
    id: '0f8b3c1e-5d2a-4c7e-9b1f-2a6d8e4c3b5a',
    email: 'ada@example.com',
    isActive: true,
    isVerified: true,
    isSuperuser: false,
    permissions: ['reports'],
    createdAt: '2026-01-15T09:30:00.000Z',
    updatedAt: '2026-01-15T09:30:00.000Z'
  }]
})
export type User = Static<typeof UserSchema>

/** The register and update bodies, with the password policy's minimum length. */
export function userBodySchemas (passwordMinLength: number) {
  const policy = passwordMinLength > 1 ? `At least ${passwordMinLength} characters, and whatever else the app's policy asks` : 'Password'
  const UserCreate = Type.Object({
    email: EmailSchema,
    password: password(passwordMinLength, `${policy} (else REGISTER_INVALID_PASSWORD)`)
  }, { $id: 'fastify-users.UserCreate', title: 'UserCreate', additionalProperties: false, examples: [{ email: 'ada@example.com', password: 'correct horse battery staple' }] })
  const UserUpdate = Type.Object({
    email: Type.Optional(Type.String({ ...EmailSchema, description: 'A new email: unverified until verified again. Needs currentPassword or a recent sign-in' })),
    password: Type.Optional(password(passwordMinLength, `A new password. ${policy} (else UPDATE_USER_INVALID_PASSWORD). Needs currentPassword when the user has a password; a user without one needs a recent sign-in`)),
    currentPassword: Type.Optional(Type.String({
      minLength: 1,
      maxLength: 256,
      description: 'The current password: required with password when the user has one (else UPDATE_USER_INVALID_PASSWORD); ' +
        'without it, a new email or a first password needs a sign-in at most recentSignInMaxAge seconds old (else 401 INSUFFICIENT_USER_AUTHENTICATION with max_age)'
    }))
  }, {
    $id: 'fastify-users.UserUpdate',
    title: 'UserUpdate',
    additionalProperties: false,
    minProperties: 1,
    examples: [{ email: 'ada.lovelace@example.com', currentPassword: 'correct horse battery staple' }]
  })
  return { UserCreate, UserUpdate }
}

/** What a permission name may be: short, printable, no spaces (it is shown in messages and the document). */
export const PERMISSION_PATTERN = '^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$'

/** What an administrator may change of a user (PATCH /users/{id}). */
export function adminUpdateSchema (passwordMinLength: number) {
  return Type.Object({
    email: Type.Optional(Type.String({ ...EmailSchema, description: 'A new address: unverified unless isVerified: true is sent with it' })),
    password: Type.Optional(password(passwordMinLength, 'A new password; every session and refresh token of the user ends')),
    isActive: Type.Optional(Type.Boolean({ description: 'false: the user cannot sign in, their tokens stop working at once, their sessions and refresh tokens end' })),
    isVerified: Type.Optional(Type.Boolean()),
    isSuperuser: Type.Optional(Type.Boolean({ description: 'Nobody can take their own flag, nor the last superuser\'s' })),
    permissions: Type.Optional(Type.Array(Type.String({ pattern: PERMISSION_PATTERN }), { maxItems: 100, uniqueItems: true, description: 'Replaces the user\'s permissions' }))
  }, {
    $id: 'fastify-users.UserAdminUpdate',
    title: 'UserAdminUpdate',
    additionalProperties: false,
    minProperties: 1,
    examples: [{ isActive: false }, { permissions: ['reports', 'billing'] }]
  })
}
export const UserAdminUpdateSchema = adminUpdateSchema(1)
export type UserAdminUpdate = Static<typeof UserAdminUpdateSchema>

/** One page of users (GET /users). */
export const UserPageSchema = Type.Object({
  users: Type.Array(Type.Ref(UserSchema)),
  next: Type.Union([Type.String(), Type.Null()], { description: 'The cursor of the next page; null on the last' })
}, { $id: 'fastify-users.UserPage', title: 'UserPage', additionalProperties: false })

const lenient = userBodySchemas(1)
export const UserCreateSchema = lenient.UserCreate
export type UserCreate = Static<typeof UserCreateSchema>
export const UserUpdateSchema = lenient.UserUpdate
export type UserUpdate = Static<typeof UserUpdateSchema>

/** A provider account linked to the user; upstream tokens never leave the server. */
export const OAuthAccountSchema = Type.Object({
  provider: Type.String({ description: 'The provider name, as in /auth/<name>/' }),
  accountId: Type.String({ description: "The provider's id of the account" }),
  accountEmail: Type.Union([Type.String(), Type.Null()]),
  createdAt: Type.String({ format: 'date-time' })
}, { $id: 'fastify-users.OAuthAccount', title: 'OAuthAccount', additionalProperties: false })
export type OAuthAccount = Static<typeof OAuthAccountSchema>
