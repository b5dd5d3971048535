/**
 * Every path of ours under the app's `prefix`, spelled once: route registration, redirects,
 * links, published endpoint URLs and cookie paths all come from here. (Routes declare
 * their own last segment, relative to the prefix they are registered under.)
 */
export function routePaths (prefix: string) {
  const wellKnown = `${prefix}/.well-known`
  const oauth = `${prefix}/oauth`
  const auth = `${prefix}/auth`
  const account = `${prefix}/account`
  return {
    wellKnown,
    jwks: `${wellKnown}/jwks.json`,
    oauth,
    authorize: `${oauth}/authorize`,
    login: `${oauth}/login`,
    consent: `${oauth}/consent`,
    token: `${oauth}/token`,
    revoke: `${oauth}/revoke`,
    introspect: `${oauth}/introspect`,
    userinfo: `${oauth}/userinfo`,
    auth,
    /** Sign-in for the app's own pages, without an OAuth client: GET shows the page, POST signs in. */
    sessionLogin: `${prefix}/login`,
    /** The account pages: for people in a browser, beside the JSON API under /auth. */
    account,
    registerPage: `${account}/register`,
    forgotPasswordPage: `${account}/forgot-password`,
    /** Where mailed links lead. */
    verifyPage: `${account}/verify`,
    resetPasswordPage: `${account}/reset-password`,
    users: `${prefix}/users`,
    /** One provider's routes, under /auth/<name>. */
    provider (name: string) {
      const base = `${auth}/${name}`
      return {
        base,
        authorize: `${base}/authorize`,
        callback: `${base}/callback`,
        associate: `${base}/associate/`,
        associateCallback: `${base}/associate/callback`
      }
    },
    /** Swagger UI (docs.path), and its redirect page that receives authorization codes. */
    docs (docsPath: string) {
      return { ui: `${prefix}${docsPath}`, oauth2Redirect: `${prefix}${docsPath}/static/oauth2-redirect.html` }
    }
  }
}

export type RoutePaths = ReturnType<typeof routePaths>

/**
 * The same-site path a browser may be sent back to after signing in, or undefined: a path of
 * the issuer's origin only, never another origin, a scheme-relative `//host` or a backslash
 * form that browsers read as one (no open redirect).
 */
export function sameSitePath (value: string, issuer: string): string | undefined {
  // eslint-disable-next-line no-control-regex -- control characters are what this refuses
  if (value.length > 2048 || !value.startsWith('/') || value.startsWith('//') || /[\\\u0000-\u001f\u007f]/.test(value)) return undefined
  const origin = new URL(issuer).origin
  const url = new URL(value, origin)
  return url.origin === origin ? `${url.pathname}${url.search}` : undefined
}
