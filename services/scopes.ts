import type { Client } from './clients.js'
import { oauthError } from '../errors.js'

/**
 * The scope that lets a third-party client manage the user's account (password, email,
 * linked providers). First-party clients need no scope for that; a third-party client gets
 * this one only when its `scopes` option names it, and the consent page then says so.
 */
export const ACCOUNT_SCOPE = 'account:manage'

/** Splits an RFC 6749 §3.3 scope string; duplicates collapse. */
export function parseScope (scope: string | undefined): string[] {
  if (scope === undefined) return []
  return [...new Set(scope.split(' ').filter((s) => s !== ''))]
}

/**
 * Whether the client may obtain the scope: what its `scopes` option lists, or, without the
 * option, every scope but the account scope, which a third-party client must be given by name.
 */
export function clientMayHave (client: Client, scope: string): boolean {
  if (client.scopes !== undefined) return client.scopes.includes(scope)
  return scope !== ACCOUNT_SCOPE || client.firstParty
}

export interface ScopeRequest {
  requested: string[]
  /** Every scope this server knows, name → description. */
  known: Readonly<Record<string, string>>
  /** What the user (or, later, the client acting alone) may have. */
  allowed: readonly string[]
  /** The client asking, whose own limits apply (clientMayHave); none for a client acting alone. */
  client?: Client
  /** Granted when none is requested; undefined = everything allowed. */
  defaults?: readonly string[]
}

/**
 * The scopes to grant: the request when every scope in it may be had, the defaults
 * (narrowed to what may be had) when it asks for none, invalid_scope otherwise.
 */
export function grantScopes ({ requested, known, allowed, client, defaults }: ScopeRequest): string[] {
  const mayHave = new Set(allowed.filter((s) => client === undefined || clientMayHave(client, s)))
  if (requested.length === 0) return (defaults ?? allowed).filter((s) => mayHave.has(s))
  for (const scope of requested) {
    if (!Object.hasOwn(known, scope)) throw oauthError('invalid_scope', `Unknown scope: ${scope}`)
    if (!mayHave.has(scope)) throw oauthError('invalid_scope', `Scope not allowed: ${scope}`)
  }
  return requested
}
