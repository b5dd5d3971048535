// Resource-server mode's core: access tokens of other authorization servers, verified with a
// real oidc-provider as the issuer (JWTs through its JWKS, opaque tokens through introspection).
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { createServer } from 'node:net'
import type { AddressInfo } from 'node:net'
import { decodeJwt, decodeProtectedHeader, exportJWK, generateKeyPair, SignJWT } from 'jose'
import { createExternalTokenVerifier, type ExternalIssuerOptions, type ExternalTokenDeps } from '../services/external-tokens.js'
import { InvalidTokenError, ServiceBusyError } from '../errors.js'
import { API, OTHER_API, startExternalIssuer, startKeyIssuer, type ExternalIssuer } from './support/external-issuer.js'

let jwtIssuer: ExternalIssuer
let opaqueIssuer: ExternalIssuer
let foreignIssuer: ExternalIssuer

before(async () => {
  [jwtIssuer, opaqueIssuer, foreignIssuer] = await Promise.all([
    startExternalIssuer({ format: 'jwt' }),
    startExternalIssuer({ format: 'opaque' }),
    startExternalIssuer({ format: 'jwt' })
  ])
})
after(() => Promise.all([jwtIssuer.close(), opaqueIssuer.close(), foreignIssuer.close()]))

/** deps whose fetch records every request, and whose clock a test can move. */
function recording (): ExternalTokenDeps & { fetch: typeof fetch, requests: { url: string, init: RequestInit | undefined }[], introspections: () => number, shift: number } {
  const deps = {
    requests: [] as { url: string, init: RequestInit | undefined }[],
    shift: 0,
    now: () => Date.now() + deps.shift,
    fetch: (async (input, init) => {
      deps.requests.push({ url: String(input), init })
      return fetch(input, init)
    }) as typeof fetch,
    introspections: () => deps.requests.filter((r) => r.init?.method === 'POST').length
  }
  return deps
}

const jwtOptions = (overrides: Partial<ExternalIssuerOptions> = {}): ExternalIssuerOptions => ({ issuer: jwtIssuer.issuer, audience: API, ...overrides })
const opaqueOptions = (overrides: Partial<ExternalIssuerOptions> = {}): ExternalIssuerOptions =>
  ({ issuer: opaqueIssuer.issuer, audience: API, introspection: opaqueIssuer.introspector, ...overrides })

const refused = (promise: Promise<unknown>, message?: RegExp) => assert.rejects(promise, (err) => {
  assert.ok(err instanceof InvalidTokenError, `expected InvalidTokenError, got ${String(err)}`)
  assert.equal(err.statusCode, 401)
  if (message) assert.match(err.message, message)
  return true
})
const unanswered = (promise: Promise<unknown>) => assert.rejects(promise, (err) => {
  assert.ok(err instanceof ServiceBusyError, `expected ServiceBusyError, got ${String(err)}`)
  assert.equal(err.statusCode, 503)
  assert.equal(err.retryAfter, 5)
  return true
})

/** A port nothing listens on. */
async function closedPort (): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  await new Promise((resolve) => server.close(resolve))
  return port
}

test('a JWT access token of a configured issuer gives its issuer, subject, client and scopes', async () => {
  const token = await jwtIssuer.token({ scope: 'items:read' })
  const verifier = createExternalTokenVerifier([jwtOptions()])
  const verified = await verifier.verify(token)
  assert.equal(verified.issuer, jwtIssuer.issuer)
  assert.equal(verified.subject, 'worker')
  assert.equal(verified.clientId, 'worker')
  assert.deepEqual(verified.scopes, ['items:read'])
  assert.equal(verified.expiresAt, decodeJwt(token).exp)
  assert.equal(verified.claims.aud, API)
})

test('a JWT issued for another resource server is refused', async () => {
  const other = await jwtIssuer.token({ resource: OTHER_API })
  await refused(createExternalTokenVerifier([jwtOptions()]).verify(other), /audience/)
  // The same token passes where its audience is one of ours: audience was what failed.
  const verified = await createExternalTokenVerifier([jwtOptions({ audience: ['https://x.example.test', OTHER_API] })]).verify(other)
  assert.equal(verified.subject, 'worker')
  await refused(createExternalTokenVerifier([jwtOptions({ audience: OTHER_API })]).verify(await jwtIssuer.token()), /audience/)
})

test('a JWT of an issuer not configured is refused without a request to it', async () => {
  const deps = recording()
  const foreign = await foreignIssuer.token()
  await refused(createExternalTokenVerifier([jwtOptions()], deps).verify(foreign), /issuer/)
  // Its iss is the attacker's to choose: discovering from it would trust any issuer.
  assert.deepEqual(deps.requests, [])
  // Configured, but for another audience: still refused.
  await refused(createExternalTokenVerifier([jwtOptions(), { issuer: foreignIssuer.issuer, audience: OTHER_API }]).verify(foreign), /audience/)
})

test('a JWT signed with an algorithm that is not pinned is refused', async () => {
  const es256 = await jwtIssuer.token()
  assert.equal(decodeProtectedHeader(es256).alg, 'ES256')
  await refused(createExternalTokenVerifier([jwtOptions({ algorithms: ['EdDSA'] })]).verify(es256), /algorithm/)
  const eddsaIssuer = await startExternalIssuer({ alg: 'EdDSA' })
  try {
    const eddsa = await eddsaIssuer.token()
    const verified = await createExternalTokenVerifier([{ issuer: eddsaIssuer.issuer, audience: API, algorithms: ['EdDSA'] }]).verify(eddsa)
    assert.equal(verified.issuer, eddsaIssuer.issuer)
  } finally {
    await eddsaIssuer.close()
  }
})

test('symmetric algorithms, none, a duplicate issuer or a cache without bound cannot be configured', () => {
  for (const algorithms of [['HS256'], ['ES256', 'none'], []]) {
    assert.throws(() => createExternalTokenVerifier([jwtOptions({ algorithms })]), /algorithms/)
  }
  assert.throws(() => createExternalTokenVerifier([jwtOptions(), jwtOptions()]), /twice/)
  assert.throws(() => createExternalTokenVerifier([jwtOptions({ cache: { maxEntries: Number.NaN } })]), /maxEntries/)
})

test('an expired JWT is refused, after a clock tolerance of 30 s', async () => {
  const token = await jwtIssuer.token()
  const exp = decodeJwt(token).exp as number
  const deps = recording()
  const verifier = createExternalTokenVerifier([jwtOptions()], deps)
  deps.shift = exp * 1000 + 20_000 - Date.now()
  assert.equal((await verifier.verify(token)).subject, 'worker')
  deps.shift = exp * 1000 + 31_000 - Date.now()
  await refused(verifier.verify(token), /expired/)
})

test('forged JWTs naming a configured issuer are refused: alg none, HS256, an unknown key, a key swapped under a known kid', async () => {
  const genuine = await jwtIssuer.token()
  const claims = decodeJwt(genuine)
  const { kid } = decodeProtectedHeader(genuine)
  const deps = recording()
  const verifier = createExternalTokenVerifier([jwtOptions()], deps)

  const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url')
  await refused(verifier.verify(`${encode({ alg: 'none', typ: 'at+jwt' })}.${encode(claims)}.`), /algorithm/)
  // The classic confusion: the issuer's public key used as an HMAC secret.
  const jwks = await (await fetch(`${jwtIssuer.issuer}/jwks`)).json() as { keys: unknown[] }
  const hs256 = await new SignJWT(claims).setProtectedHeader({ alg: 'HS256', typ: 'at+jwt', kid }).sign(Buffer.from(JSON.stringify(jwks.keys[0])))
  await refused(verifier.verify(hs256), /algorithm/)
  // Both refused from the header alone, before any key was fetched.
  assert.deepEqual(deps.requests, [])

  const { privateKey } = await generateKeyPair('ES256')
  const signed = (header: { kid?: string }) => new SignJWT(claims).setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', ...header }).sign(privateKey)
  await refused(verifier.verify(await signed({ kid: 'not-published' })), /key/)
  await refused(verifier.verify(await signed(kid === undefined ? {} : { kid })))
  assert.equal((await verifier.verify(genuine)).subject, 'worker')
})

test('a token bound to a key (DPoP) is refused: its proof is not checked here', async () => {
  const bound = await jwtIssuer.token({ dpop: true })
  assert.ok(decodeJwt(bound).cnf)
  await refused(createExternalTokenVerifier([jwtOptions()]).verify(bound), /cnf/)
  const boundOpaque = await opaqueIssuer.token({ dpop: true })
  await refused(createExternalTokenVerifier([opaqueOptions()]).verify(boundOpaque))
  // The same issuer's unbound opaque token passes: the binding is what failed.
  assert.equal((await createExternalTokenVerifier([opaqueOptions()]).verify(await opaqueIssuer.token())).subject, 'worker')
})

test('requireTyp refuses JWTs not typed at+jwt (RFC 9068), which pass by default', async (t) => {
  const issuer = await startKeyIssuer()
  t.after(() => issuer.close())
  const untyped = await issuer.sign()
  const typed = await issuer.sign({}, { typ: 'application/at+jwt' })
  assert.equal((await createExternalTokenVerifier([{ issuer: issuer.issuer, audience: API }]).verify(untyped)).subject, 'user-1')
  const strict = createExternalTokenVerifier([{ issuer: issuer.issuer, audience: API, requireTyp: true }])
  await refused(strict.verify(untyped))
  await refused(strict.verify(await issuer.sign({}, { typ: 'JWT' })))
  assert.equal((await strict.verify(typed)).subject, 'user-1')
})

test('a JWT needs sub and exp', async (t) => {
  const issuer = await startKeyIssuer()
  t.after(() => issuer.close())
  const verifier = createExternalTokenVerifier([{ issuer: issuer.issuer, audience: API }])
  await refused(verifier.verify(await issuer.sign({ sub: undefined })))
  await refused(verifier.verify(await issuer.sign({ sub: '' })))
  await refused(verifier.verify(await issuer.sign({ exp: undefined })))
  assert.equal((await verifier.verify(await issuer.sign())).subject, 'user-1')
})

test('scopes come from scope, else scp (array or string); scopeClaim replaces both', async (t) => {
  const issuer = await startKeyIssuer()
  t.after(() => issuer.close())
  const verifier = createExternalTokenVerifier([{ issuer: issuer.issuer, audience: API }])
  assert.deepEqual((await verifier.verify(await issuer.sign({ scope: 'a b', scp: ['c'] }))).scopes, ['a', 'b'])
  assert.deepEqual((await verifier.verify(await issuer.sign({ scp: ['c', 'd'] }))).scopes, ['c', 'd'])
  assert.deepEqual((await verifier.verify(await issuer.sign({ scp: 'e f' }))).scopes, ['e', 'f'])
  assert.deepEqual((await verifier.verify(await issuer.sign({}))).scopes, [])
  // Keycloak puts roles where scopes would be.
  const keycloak = createExternalTokenVerifier([{
    issuer: issuer.issuer,
    audience: API,
    scopeClaim: (claims) => (claims.realm_access as { roles?: string[] } | undefined)?.roles ?? []
  }])
  const token = await issuer.sign({ scope: 'openid profile', realm_access: { roles: ['items:read'] }, azp: 'spa' })
  const verified = await keycloak.verify(token)
  assert.deepEqual(verified.scopes, ['items:read'])
  assert.equal(verified.clientId, 'spa')
})

test('metadata is found at RFC 8414\'s well-known URI too, and must name the issuer it is fetched for', async (t) => {
  const rfc8414 = await startKeyIssuer({ path: '/realms/test', metadataAt: 'rfc8414' })
  t.after(() => rfc8414.close())
  assert.equal((await createExternalTokenVerifier([{ issuer: rfc8414.issuer, audience: API }]).verify(await rfc8414.sign())).issuer, rfc8414.issuer)

  // Metadata naming another issuer would let whoever serves it choose the keys.
  const impostor = await startKeyIssuer({ namesIssuer: 'https://idp.example.test' })
  t.after(() => impostor.close())
  await unanswered(createExternalTokenVerifier([{ issuer: impostor.issuer, audience: API }]).verify(await impostor.sign()))
})

test('an opaque token is verified by introspection with the API\'s credentials', async () => {
  const token = await opaqueIssuer.token({ scope: 'items:read items:write' })
  assert.throws(() => decodeProtectedHeader(token))
  const deps = recording()
  const verified = await createExternalTokenVerifier([jwtOptions(), opaqueOptions()], deps).verify(token)
  assert.equal(verified.issuer, opaqueIssuer.issuer)
  assert.equal(verified.subject, 'worker')
  assert.equal(verified.clientId, 'worker')
  assert.deepEqual(verified.scopes, ['items:read', 'items:write'])
  assert.equal(typeof verified.expiresAt, 'number')

  const introspection = deps.requests.find((r) => r.init?.method === 'POST')
  assert.ok(introspection)
  const { clientId, clientSecret } = opaqueIssuer.introspector
  assert.equal(new Headers(introspection.init?.headers).get('authorization'), `Basic ${Buffer.from(`${clientId}:${clientSecret}`).toString('base64')}`)
  assert.deepEqual(Object.fromEntries(new URLSearchParams(String(introspection.init?.body))), { token, token_type_hint: 'access_token' })
  // Only the issuer that introspects was asked.
  assert.ok(deps.requests.every((r) => r.url.startsWith(opaqueIssuer.issuer)))
})

test('an opaque token for another resource server is refused', async () => {
  const other = await opaqueIssuer.token({ resource: OTHER_API })
  await refused(createExternalTokenVerifier([opaqueOptions()]).verify(other), /not active/)
  assert.equal((await createExternalTokenVerifier([opaqueOptions({ audience: OTHER_API })]).verify(other)).subject, 'worker')
})

test('an opaque token is refused without a request when no issuer introspects', async () => {
  const deps = recording()
  await refused(createExternalTokenVerifier([jwtOptions()], deps).verify(await opaqueIssuer.token()))
  assert.deepEqual(deps.requests, [])
})

test('a revoked opaque token is refused, and the refusal is cached for 30 s', async () => {
  const token = await opaqueIssuer.token()
  await opaqueIssuer.revoke(token)
  const deps = recording()
  const verifier = createExternalTokenVerifier([opaqueOptions()], deps)
  await refused(verifier.verify(token), /not active/)
  await refused(verifier.verify(token), /not active/)
  assert.equal(deps.introspections(), 1)
  deps.shift = 31_000
  await refused(verifier.verify(token))
  assert.equal(deps.introspections(), 2)
})

test('an introspection answer is reused until maxSeconds, and never past the token\'s exp', async () => {
  const deps = recording()
  const verifier = createExternalTokenVerifier([opaqueOptions({ cache: { maxSeconds: 120 } })], deps)
  const token = await opaqueIssuer.token()
  await verifier.verify(token)
  await verifier.verify(token)
  assert.equal(deps.introspections(), 1)
  deps.shift = 121_000
  await verifier.verify(token)
  assert.equal(deps.introspections(), 2)

  const shortLived = await startExternalIssuer({ format: 'opaque', ttl: 5 })
  try {
    const clock = recording()
    const cached = createExternalTokenVerifier([{ issuer: shortLived.issuer, audience: API, introspection: shortLived.introspector, cache: { maxSeconds: 3600 } }], clock)
    const brief = await shortLived.token()
    const { expiresAt } = await cached.verify(brief)
    assert.equal(typeof expiresAt, 'number')
    // Past exp (and the clock tolerance), the issuer is asked again, and the token refused.
    clock.shift = (expiresAt as number) * 1000 + 31_000 - Date.now()
    await refused(cached.verify(brief))
    assert.equal(clock.introspections(), 2)
  } finally {
    await shortLived.close()
  }
})

test('an introspection answer counts only when active, for this issuer and audience, for an unbound access token', async (t) => {
  const issuer = await startKeyIssuer()
  t.after(() => issuer.close())
  const verifier = createExternalTokenVerifier([{ issuer: issuer.issuer, audience: API, introspection: { clientId: 'api', clientSecret: 's' }, cache: { maxSeconds: 0 } }])
  const now = Math.floor(Date.now() / 1000)
  const active = { active: true, iss: issuer.issuer, aud: [API, OTHER_API], sub: 'user-1', client_id: 'spa', exp: now + 600, token_type: 'Bearer', scope: 'items:read' }
  const answer = async (body: unknown) => {
    issuer.introspectionAnswer = body
    return verifier.verify('an-opaque-token')
  }

  assert.deepEqual(await answer(active), { issuer: issuer.issuer, subject: 'user-1', clientId: 'spa', scopes: ['items:read'], claims: active, expiresAt: now + 600 })
  // RFC 7662 requires only active; a client's own token may name no subject but the client.
  assert.equal((await answer({ active: true, client_id: 'worker' })).subject, 'worker')
  assert.equal((await answer({ ...active, token_use: 'access_token' })).subject, 'user-1')

  const refusals: Record<string, unknown> = {
    inactive: { ...active, active: false },
    'another issuer': { ...active, iss: 'https://idp.example.test' },
    'another audience': { ...active, aud: OTHER_API },
    expired: { ...active, exp: now - 31 },
    'a refresh token (ORY Hydra)': { ...active, token_use: 'refresh_token' },
    'a DPoP-bound token': { ...active, token_type: 'DPoP' },
    'a certificate-bound token': { ...active, cnf: { 'x5t#S256': 'abc' } },
    'no subject and no client': { active: true, scope: 'items:read' }
  }
  for (const [what, body] of Object.entries(refusals)) {
    await refused(answer(body), /not active/).catch((err: unknown) => { throw new Error(what, { cause: err }) })
  }
  // An answer that is not an introspection response: the issuer failed, not the token.
  for (const body of [{ active: 'true' }, { active: true, exp: 'tomorrow' }, 'active']) await unanswered(answer(body))
})

test('with several issuers introspecting, one that is down does not hide the answer of the other', async () => {
  const down = `http://127.0.0.1:${await closedPort()}`
  const verifier = createExternalTokenVerifier([{ issuer: down, audience: API, introspection: { clientId: 'a', clientSecret: 'b' } }, opaqueOptions()])
  assert.equal((await verifier.verify(await opaqueIssuer.token())).issuer, opaqueIssuer.issuer)
  // Refused by the one that answered, but perhaps the other's: not judged.
  const revoked = await opaqueIssuer.token()
  await opaqueIssuer.revoke(revoked)
  await unanswered(verifier.verify(revoked))
})

test('requests that bring the same opaque token at once share one introspection', async () => {
  const deps = recording()
  const verifier = createExternalTokenVerifier([opaqueOptions()], deps)
  const token = await opaqueIssuer.token()
  const all = await Promise.all(Array.from({ length: 5 }, () => verifier.verify(token)))
  assert.ok(all.every((v) => v.subject === 'worker'))
  assert.equal(deps.introspections(), 1)
})

test('the introspection cache holds at most maxEntries tokens, the least recently used leaving first', async () => {
  const deps = recording()
  const verifier = createExternalTokenVerifier([opaqueOptions({ cache: { maxEntries: 2 } })], deps)
  const [a, b, c] = await Promise.all([opaqueIssuer.token(), opaqueIssuer.token(), opaqueIssuer.token()]) as [string, string, string]
  await verifier.verify(a)
  await verifier.verify(b)
  await verifier.verify(a) // a is now more recent than b
  assert.equal(deps.introspections(), 2)
  await verifier.verify(c) // b leaves
  assert.equal(deps.introspections(), 3)
  await verifier.verify(a)
  await verifier.verify(c)
  assert.equal(deps.introspections(), 3)
  await verifier.verify(b)
  assert.equal(deps.introspections(), 4)
})

test('an issuer that cannot be reached answers 503, not 401, and is not asked again for 30 s', async () => {
  const down = `http://127.0.0.1:${await closedPort()}`
  const { privateKey } = await generateKeyPair('ES256')
  const token = await new SignJWT({ iss: down, aud: API, sub: 'user-1' }).setProtectedHeader({ alg: 'ES256', kid: 'k' }).setExpirationTime('5m').sign(privateKey)
  const deps = recording()
  const verifier = createExternalTokenVerifier([{ issuer: down, audience: API, introspection: { clientId: 'a', clientSecret: 'b' } }], deps)
  await unanswered(verifier.verify(token))
  const asked = deps.requests.length
  assert.ok(asked > 0)
  await unanswered(verifier.verify(token))
  assert.equal(deps.requests.length, asked)
  deps.shift = 31_000
  await unanswered(verifier.verify(token))
  assert.ok(deps.requests.length > asked)
  // Introspection too.
  await unanswered(verifier.verify('an-opaque-token'))
})

test('an issuer that stops answering after discovery answers 503 for keys and introspection', async (t) => {
  const issuer = await startExternalIssuer({ format: 'opaque' })
  t.after(() => issuer.close())
  const opaque = await issuer.token()
  const verifier = createExternalTokenVerifier([{ issuer: issuer.issuer, audience: API, introspection: issuer.introspector }])
  await verifier.verify(await issuer.token()) // discovery done, an answer cached
  const { privateKey } = await generateKeyPair('ES256')
  const jwt = await new SignJWT({ iss: issuer.issuer, aud: API, sub: 'user-1' }).setProtectedHeader({ alg: 'ES256', kid: 'k' }).setExpirationTime('5m').sign(privateKey)
  await issuer.close()
  await unanswered(verifier.verify(opaque))
  await unanswered(verifier.verify(jwt))
})

test('an issuer answering 5xx, or too slowly, answers 503, not 401', async (t) => {
  const issuer = await startKeyIssuer()
  t.after(() => issuer.close())
  const token = await issuer.sign()
  issuer.failWith(500)
  await unanswered(createExternalTokenVerifier([{ issuer: issuer.issuer, audience: API }]).verify(token))

  // Discovery fine, then the key set fails.
  const verifier = createExternalTokenVerifier([{ issuer: issuer.issuer, audience: API, introspection: { clientId: 'a', clientSecret: 'b' } }])
  issuer.failWith(undefined)
  assert.equal((await verifier.verify(token)).subject, 'user-1')
  issuer.failWith(503)
  await unanswered(verifier.verify('an-opaque-token'))

  // AbortSignal.timeout's error, as fetch throws it when the issuer is too slow.
  const slow: typeof fetch = async (_input, init) => {
    assert.ok(init?.signal instanceof AbortSignal)
    throw new DOMException('The operation was aborted due to timeout', 'TimeoutError')
  }
  await unanswered(createExternalTokenVerifier([{ issuer: issuer.issuer, audience: API }], { fetch: slow }).verify(token))
})

test('a key set that fails is not fetched again for 30 s', async (t) => {
  const issuer = await startKeyIssuer()
  t.after(() => issuer.close())
  const token = await issuer.sign()
  const deps = recording()
  const verifier = createExternalTokenVerifier([{ issuer: issuer.issuer, audience: API, introspection: { clientId: 'a', clientSecret: 'b' } }], deps)
  await refused(verifier.verify('an-opaque-token')) // discovery done
  issuer.failWith(502)
  await unanswered(verifier.verify(token))
  const asked = deps.requests.length
  await unanswered(verifier.verify(token))
  assert.equal(deps.requests.length, asked)
  issuer.failWith(undefined)
  deps.shift = 31_000
  assert.equal((await verifier.verify(token)).subject, 'user-1')
})

test('a key set that is not JSON answers 503; one without the token\'s key, 401', async (t) => {
  const issuer = await startKeyIssuer()
  t.after(() => issuer.close())
  const genuine = await issuer.sign()
  const jwksOf = (body: string): typeof fetch => async (input, init) =>
    String(input).endsWith('/jwks') ? new Response(body, { status: 200, headers: { 'content-type': 'application/json' } }) : fetch(input, init)
  await unanswered(createExternalTokenVerifier([{ issuer: issuer.issuer, audience: API }], { fetch: jwksOf('<html>') }).verify(genuine))
  const { publicKey } = await generateKeyPair('ES256')
  const other = { ...await exportJWK(publicKey), kid: 'other', alg: 'ES256', use: 'sig' }
  await refused(createExternalTokenVerifier([{ issuer: issuer.issuer, audience: API }], { fetch: jwksOf(JSON.stringify({ keys: [other] })) }).verify(genuine), /key/)
})

test('malformed tokens are refused without a request; handles() tells which tokens are for this verifier', async () => {
  const deps = recording()
  const verifier = createExternalTokenVerifier([jwtOptions(), opaqueOptions()], deps)
  for (const token of ['', 'has space', 'x'.repeat(20_000), 'e30.e30.']) await refused(verifier.verify(token))
  assert.deepEqual(deps.requests, [])

  assert.equal(verifier.handles(await jwtIssuer.token()), true)
  assert.equal(verifier.handles(await foreignIssuer.token()), false)
  assert.equal(verifier.handles('opaque-token'), true)
  assert.equal(verifier.handles('has space'), false)
  assert.equal(createExternalTokenVerifier([jwtOptions()]).handles('opaque-token'), false)
})
