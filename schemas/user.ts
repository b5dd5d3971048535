import { Type, type Static, type TObject, type TProperties, type TSchema } from '@sinclair/typebox'

// Bounds are generous for real addresses (RFC 5321 caps a path at 254) and keep
// hashing and storage costs predictable for hostile input.
export const EmailSchema = Type.String({ format: 'email', minLength: 3, maxLength: 254, description: 'Email address' })
// The length bound protects argon2 from megabyte-sized inputs; the password policy
// (minimum length and the app's own rules) is checked by the service so that it can
// answer with a specific error code: the bodies below are validated with a minimum of 1,
// and the OpenAPI document shows the app's minimum (userSchemas).
const password = (minLength: number, description: string) => Type.String({ minLength, maxLength: 256, description })
export const PasswordSchema = password(1, 'Password')

/** What a permission name may be: short, printable, no spaces (it is shown in messages and the document). */
export const PERMISSION_PATTERN = '^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$'

/**
 * The app's own user fields, declared by the app so that they reach every type of ours
 * (request.auth.user, app.users.manager, the bodies):
 *
 *   declare module 'fastify-users' { interface UserFields { displayName?: string, plan: 'free' | 'pro' } }
 *
 * with the same fields as a TypeBox object in the `userFields` option, which validates them
 * and puts them in the OpenAPI document.
 */
export interface UserFields {}

/** Names of ours that an app's field may not take. */
export const RESERVED_USER_FIELDS = ['id', 'email', 'password', 'currentPassword', 'hashedPassword', 'isActive', 'isVerified', 'isSuperuser', 'permissions', 'createdAt', 'updatedAt', 'fields']

const base = {
  id: Type.String({ description: 'Stable user id' }),
  email: EmailSchema,
  isActive: Type.Boolean(),
  isVerified: Type.Boolean(),
  isSuperuser: Type.Boolean(),
  permissions: Type.Array(Type.String(), { description: 'What the app lets this user do (config.auth.permissions); given by administrators' }),
  createdAt: Type.String({ format: 'date-time' }),
  updatedAt: Type.String({ format: 'date-time' })
}

const NO_FIELDS = Type.Object({})

/** The app's fields a user may write themselves: all but those marked readOnly (administrators' only). */
export function writableFields (fields: TObject): TObject {
  return Type.Object(Object.fromEntries(Object.entries(fields.properties).filter(([, schema]) => (schema as { readOnly?: boolean }).readOnly !== true)))
}

const optional = (properties: TProperties) =>
  Object.fromEntries(Object.entries(properties).map(([name, schema]) => [name, Type.Optional(schema)])) as TProperties

/**
 * Our user models, with the password policy's minimum length and the app's own fields: what
 * the OpenAPI document shows (the app's minimum) and what requests are validated with (a
 * minimum of 1: the service answers a short password with its own error code).
 */
export function userSchemas ({ passwordMinLength, fields = NO_FIELDS }: { passwordMinLength: number, fields?: TObject }) {
  const policy = passwordMinLength > 1 ? `At least ${passwordMinLength} characters, and whatever else the app's policy asks` : 'Password'
  const own = writableFields(fields).properties

  // Optional in answers whatever the app's schema says: users stored before a field existed lack it.
  const User = Type.Object({ ...base, ...optional(fields.properties) }, {
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
  const UserCreate = Type.Object({
    email: EmailSchema,
    password: password(passwordMinLength, `${policy} (else REGISTER_INVALID_PASSWORD)`),
    ...own
  }, { $id: 'fastify-users.UserCreate', title: 'UserCreate', additionalProperties: false, examples: [{ email: 'ada@example.com', password: 'correct horse battery staple' }] })
  const UserUpdate = Type.Object({
    email: Type.Optional(Type.String({ ...EmailSchema, description: 'A new email: unverified until verified again. Needs currentPassword or a recent sign-in' })),
    password: Type.Optional(password(passwordMinLength, `A new password. ${policy} (else UPDATE_USER_INVALID_PASSWORD). Needs currentPassword when the user has a password; a user without one needs a recent sign-in`)),
    currentPassword: Type.Optional(Type.String({
      minLength: 1,
      maxLength: 256,
      description: 'The current password: required with password when the user has one (else UPDATE_USER_INVALID_PASSWORD); ' +
        'without it, a new email or a first password needs a sign-in at most recentSignInMaxAge seconds old (else 401 INSUFFICIENT_USER_AUTHENTICATION with max_age)'
    })),
    ...optional(own)
  }, {
    $id: 'fastify-users.UserUpdate',
    title: 'UserUpdate',
    additionalProperties: false,
    minProperties: 1,
    examples: [{ email: 'ada.lovelace@example.com', currentPassword: 'correct horse battery staple' }]
  })
  const UserAdminUpdate = Type.Object({
    email: Type.Optional(Type.String({ ...EmailSchema, description: 'A new address: unverified unless isVerified: true is sent with it' })),
    password: Type.Optional(password(passwordMinLength, 'A new password; every session and refresh token of the user ends')),
    isActive: Type.Optional(Type.Boolean({ description: 'false: the user cannot sign in, their tokens stop working at once, their sessions and refresh tokens end' })),
    isVerified: Type.Optional(Type.Boolean()),
    isSuperuser: Type.Optional(Type.Boolean({ description: 'Nobody can take their own flag, nor the last superuser\'s' })),
    permissions: Type.Optional(Type.Array(Type.String({ pattern: PERMISSION_PATTERN }), { maxItems: 100, uniqueItems: true, description: 'Replaces the user\'s permissions' })),
    // The app's fields, readOnly ones included: readOnly is the user's side of it.
    ...optional(Object.fromEntries(Object.entries(fields.properties).map(([name, schema]) => {
      const { readOnly: _readOnly, ...writable } = schema as TSchema & { readOnly?: boolean }
      return [name, writable as TSchema]
    })))
  }, {
    $id: 'fastify-users.UserAdminUpdate',
    title: 'UserAdminUpdate',
    additionalProperties: false,
    minProperties: 1,
    examples: [{ isActive: false }, { permissions: ['reports', 'billing'] }]
  })
  return { User, UserCreate, UserUpdate, UserAdminUpdate }
}

const models = userSchemas({ passwordMinLength: 1 })

export const UserSchema = models.User
/** A user as our routes answer with it, and as request.auth.user has it: the app's fields included. */
export type User = Static<typeof UserSchema> & UserFields
export const UserCreateSchema = models.UserCreate
export type UserCreate = Static<typeof UserCreateSchema> & Partial<UserFields>
export const UserUpdateSchema = models.UserUpdate
export type UserUpdate = Static<typeof UserUpdateSchema> & Partial<UserFields>
export const UserAdminUpdateSchema = models.UserAdminUpdate
export type UserAdminUpdate = Static<typeof UserAdminUpdateSchema> & Partial<UserFields>

/** A client the user authorized (GET /users/me/authorizations). */
export const ClientAuthorizationSchema = Type.Object({
  clientId: Type.String(),
  clientName: Type.String(),
  scopes: Type.Array(Type.String(), { description: 'What the user approved; asking for no more, the client gets no consent page' }),
  createdAt: Type.String({ format: 'date-time' }),
  updatedAt: Type.String({ format: 'date-time' })
}, { $id: 'fastify-users.ClientAuthorization', title: 'ClientAuthorization', additionalProperties: false })

/** One page of users (GET /users). */
export const UserPageSchema = Type.Object({
  users: Type.Array(Type.Ref(UserSchema)),
  next: Type.Union([Type.String(), Type.Null()], { description: 'The cursor of the next page; null on the last' })
}, { $id: 'fastify-users.UserPage', title: 'UserPage', additionalProperties: false })

/** A provider account linked to the user; upstream tokens never leave the server. */
export const OAuthAccountSchema = Type.Object({
  provider: Type.String({ description: 'The provider name, as in /auth/<name>/' }),
  accountId: Type.String({ description: "The provider's id of the account" }),
  accountEmail: Type.Union([Type.String(), Type.Null()]),
  createdAt: Type.String({ format: 'date-time' })
}, { $id: 'fastify-users.OAuthAccount', title: 'OAuthAccount', additionalProperties: false })
export type OAuthAccount = Static<typeof OAuthAccountSchema>
