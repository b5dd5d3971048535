import { oauthError } from './errors.js'

/** Splits an RFC 6749 §3.3 scope string; duplicates collapse. */
export function parseScope (scope: string | undefined): string[] {
  if (scope === undefined) return []
  return [...new Set(scope.split(' ').filter((s) => s !== ''))]
}

export interface ScopeRequest {
  requested: string[]
  /** Every scope this server knows, name → description. */
  known: Readonly<Record<string, string>>
  /** What the user (or, later, the client acting alone) may have. */
  allowed: readonly string[]
  /** What the client may obtain; undefined = no client-level limit. */
  clientAllowed?: readonly string[]
  /** Granted when none is requested; undefined = everything allowed. */
  defaults?: readonly string[]
}

/**
 * The scopes to grant: the request when every scope in it may be had, the defaults
 * (narrowed to what may be had) when it asks for none, invalid_scope otherwise.
 */
export function grantScopes ({ requested, known, allowed, clientAllowed, defaults }: ScopeRequest): string[] {
  const mayHave = new Set(allowed.filter((s) => clientAllowed === undefined || clientAllowed.includes(s)))
  if (requested.length === 0) return (defaults ?? allowed).filter((s) => mayHave.has(s))
  for (const scope of requested) {
    if (!Object.hasOwn(known, scope)) throw oauthError('invalid_scope', `Unknown scope: ${scope}`)
    if (!mayHave.has(scope)) throw oauthError('invalid_scope', `Scope not allowed: ${scope}`)
  }
  return requested
}
