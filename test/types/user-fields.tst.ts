// The app's own user fields, declared by declaration merging, reach every user type of ours.
// (A file of its own: the declaration is global to the program that sees it.)
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { describe, expect, test } from 'tstyche'
import type { User, UserCreate, UserUpdate } from 'fastify-users'

declare module 'fastify-users' {
  interface UserFields {
    displayName?: string
    plan: 'free' | 'pro'
  }
}

declare const app: FastifyInstance
declare const request: FastifyRequest

describe('UserFields', () => {
  test('the user has the app\'s fields', () => {
    expect<User['plan']>().type.toBe<'free' | 'pro'>()
    expect<User['displayName']>().type.toBe<string | undefined>()
    const user = request.auth?.user
    if (user) expect(user.plan).type.toBe<'free' | 'pro'>()
  })

  test('the bodies take them, optional', () => {
    expect<{ email: string, password: string, displayName: string }>().type.toBeAssignableTo<UserCreate>()
    expect<{ email: string, password: string, plan: 'gold' }>().type.not.toBeAssignableTo<UserCreate>()
    expect<{ displayName: string }>().type.toBeAssignableTo<UserUpdate>()
    expect(app.users.manager.register).type.toBeCallableWith({ email: 'a@example.com', password: 'long enough', displayName: 'Ada' })
  })
})
