import { ADMIN_USER, buildDemo, DEMO_USER } from './app.js'

const port = Number(process.env.PORT ?? 3000)
const host = process.env.HOST ?? 'localhost'
// Wildcard addresses are not URLs a browser can use; name the machine instead.
const publicHost = host === '0.0.0.0' || host === '::' ? 'localhost' : host.includes(':') ? `[${host}]` : host
const issuer = process.env.ISSUER ?? `http://${publicHost}:${port}`

const app = await buildDemo({ issuer, logger: { level: process.env.LOG_LEVEL ?? 'info' } })
await app.listen({ port, host })
app.log.info(`Swagger UI: ${issuer}/docs  (Authorize → password or authorizationCode flow, client id "swagger-ui")`)
app.log.info(`Demo user: ${DEMO_USER.email} / ${DEMO_USER.password}`)
app.log.info(`Admin (superuser, permission "admin"; ask for the users:admin scope to administer users): ${ADMIN_USER.email} / ${ADMIN_USER.password}`)
app.log.info(process.env.SMTP_URL ? `Mail goes to ${process.env.SMTP_URL.replace(/\/\/[^@/]*@/, '//')}` : 'Mail is not sent: each mail\'s links are logged here (set SMTP_URL to send it)')
const providers = app.users.providers.map((p) => p.label).join(', ')
if (providers) app.log.info(`Sign-in providers on the login page: ${providers} (Demo IdP: any email, any password)`)
app.log.info('Clients: "swagger-ui" (Swagger UI), "demo-cli" (public, loopback redirect http://127.0.0.1:<any port>/callback, PKCE)')
if (!process.env.DEMO_SERVICE_SECRET) {
  // A throwaway secret of a demo client, printed so that it can be tried; set DEMO_SERVICE_SECRET to choose it.
  app.log.info(`Client "demo-service" (client_credentials, introspection) secret: ${app.demoServiceSecret}`)
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => { app.close().then(() => process.exit(0), () => process.exit(1)) })
}
