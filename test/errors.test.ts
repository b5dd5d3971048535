import { test } from 'node:test'
import assert from 'node:assert/strict'
import * as api from '../index.js'
import { ERROR_CODES, OAuthError, StoreUnavailableError, UserAlreadyExistsError, UsersError } from '../index.js'
import { build, register } from './support/app.js'

const samples: Record<keyof typeof ERROR_CODES, () => Error> = {
  UserAlreadyExistsError: () => new api.UserAlreadyExistsError(),
  RegisterInvalidPasswordError: () => new api.RegisterInvalidPasswordError('too short'),
  UpdateEmailAlreadyExistsError: () => new api.UpdateEmailAlreadyExistsError(),
  UpdateInvalidPasswordError: () => new api.UpdateInvalidPasswordError('wrong'),
  UserNotFoundError: () => new api.UserNotFoundError(),
  OAuthAccountNotFoundError: () => new api.OAuthAccountNotFoundError('github'),
  UnlinkLastLoginMethodError: () => new api.UnlinkLastLoginMethodError(),
  StepUpRequiredError: () => new api.StepUpRequiredError(300, 'sign in again'),
  CrossOriginRequestError: () => new api.CrossOriginRequestError(),
  TooManyRequestsError: () => new api.TooManyRequestsError(60, 'slow down'),
  ServiceBusyError: () => new api.ServiceBusyError(1, 'busy'),
  InvalidTokenError: () => new api.InvalidTokenError('expired'),
  UpstreamLoginError: () => new api.UpstreamLoginError(502, 'Sign-in failed', 'unreachable'),
  EmailAlreadyExistsError: () => new api.EmailAlreadyExistsError(),
  OAuthAccountExistsError: () => new api.OAuthAccountExistsError(),
  StoreUnavailableError: () => new api.StoreUnavailableError(),
  VerifyUserBadTokenError: () => new api.VerifyUserBadTokenError(),
  VerifyUserAlreadyVerifiedError: () => new api.VerifyUserAlreadyVerifiedError(),
  ResetPasswordBadTokenError: () => new api.ResetPasswordBadTokenError(),
  ResetPasswordInvalidPasswordError: () => new api.ResetPasswordInvalidPasswordError('too short'),
  InvalidCursorError: () => new api.InvalidCursorError(),
  SelfAdministrationError: () => new api.SelfAdministrationError('not yourself'),
  LastSuperuserError: () => new api.LastSuperuserError(),
  DeleteRefusedError: () => new api.DeleteRefusedError('no'),
  ClientAuthorizationNotFoundError: () => new api.ClientAuthorizationNotFoundError(),
  SessionNotFoundError: () => new api.SessionNotFoundError()
}

test('every error class is exported, a UsersError with its own code and an HTTP status, named after itself', () => {
  for (const [name, code] of Object.entries(ERROR_CODES)) {
    const exported = (api as unknown as Record<string, unknown>)[name] as new (...args: never[]) => Error
    assert.equal(typeof exported, 'function', `${name} is exported`)
    const error = samples[name as keyof typeof ERROR_CODES]()
    assert.ok(error instanceof exported && error instanceof UsersError && error instanceof Error, name)
    assert.equal((error as UsersError).code, code)
    assert.equal(error.name, name)
    const status = (error as UsersError).statusCode
    assert.ok(Number.isInteger(status) && status >= 400 && status < 600, `${name}: ${status}`)
  }
  assert.equal(new Set(Object.values(ERROR_CODES)).size, Object.keys(ERROR_CODES).length, 'codes are unique')
})

test('OAuthError: RFC 6749 code and status, and whether it may be redirected', () => {
  const grant = new OAuthError('invalid_grant', 'The code was used already')
  assert.ok(grant instanceof UsersError)
  assert.equal(grant.code, 'FST_USERS_OAUTH_INVALID_GRANT')
  assert.equal(grant.statusCode, 400)
  assert.equal(grant.redirectable, false)
  assert.equal(new OAuthError('invalid_client', 'Unknown client').statusCode, 401)
  const denied = new OAuthError('access_denied', 'The user denied the request', { uri: 'https://app.example.com/cb', state: 's' })
  assert.equal(denied.redirectable, true)
  assert.deepEqual(denied.redirect, { uri: 'https://app.example.com/cb', state: 's' })
})

test('an app tells errors apart by class: the user service rejects a second registration with UserAlreadyExistsError', async (t) => {
  const app = await build(t)
  await register(app, 'ada@example.com')
  await assert.rejects(app.users.manager.register({ email: 'ADA@example.com', password: 'another password' }), (err: unknown) => {
    assert.ok(err instanceof UserAlreadyExistsError)
    assert.ok(!(err instanceof StoreUnavailableError))
    assert.equal(err.statusCode, 400)
    return true
  })
  // Over HTTP the same error is a problem body whose code is the class's code without the prefix.
  const res = await app.inject({ method: 'POST', url: '/auth/register', payload: { email: 'ada@example.com', password: 'correct horse battery' } })
  assert.equal(res.statusCode, 400)
  assert.equal(res.json().code, ERROR_CODES.UserAlreadyExistsError.replace(api.ERROR_PREFIX, ''))
})
