import { Type, type Static } from '@sinclair/typebox'

// Bounds are generous for real addresses (RFC 5321 caps a path at 254) and keep
// hashing and storage costs predictable for hostile input.
export const EmailSchema = Type.String({ format: 'email', minLength: 3, maxLength: 254, description: 'Email address' })
// The length bound protects argon2 from megabyte-sized inputs; the password policy
// (minimum length and the app's own rules) is checked by the service so that it can
// answer with a specific error code.
export const PasswordSchema = Type.String({ minLength: 1, maxLength: 256, description: 'Password' })

export const UserSchema = Type.Object({
  id: Type.String({ description: 'Stable user id' }),
  email: EmailSchema,
  isActive: Type.Boolean(),
  isVerified: Type.Boolean(),
  isSuperuser: Type.Boolean(),
  createdAt: Type.String({ format: 'date-time' }),
  updatedAt: Type.String({ format: 'date-time' })
}, { $id: 'fastify-users.User', title: 'User', additionalProperties: false })
export type User = Static<typeof UserSchema>

export const UserCreateSchema = Type.Object({
  email: EmailSchema,
  password: PasswordSchema
}, { $id: 'fastify-users.UserCreate', title: 'UserCreate', additionalProperties: false })
export type UserCreate = Static<typeof UserCreateSchema>

export const UserUpdateSchema = Type.Object({
  email: Type.Optional(EmailSchema),
  password: Type.Optional(PasswordSchema),
  currentPassword: Type.Optional(Type.String({
    minLength: 1,
    maxLength: 256,
    description: 'Required when changing the password'
  }))
}, { $id: 'fastify-users.UserUpdate', title: 'UserUpdate', additionalProperties: false, minProperties: 1 })
export type UserUpdate = Static<typeof UserUpdateSchema>

/** A provider account linked to the user; upstream tokens never leave the server. */
export const OAuthAccountSchema = Type.Object({
  provider: Type.String({ description: 'The provider name, as in /auth/<name>/' }),
  accountId: Type.String({ description: "The provider's id of the account" }),
  accountEmail: Type.Union([Type.String(), Type.Null()]),
  createdAt: Type.String({ format: 'date-time' })
}, { $id: 'fastify-users.OAuthAccount', title: 'OAuthAccount', additionalProperties: false })
export type OAuthAccount = Static<typeof OAuthAccountSchema>
