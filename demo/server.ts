import { buildDemo, DEMO_USER } from './app.js'

const port = Number(process.env.PORT ?? 3000)
const host = process.env.HOST ?? 'localhost'
// Wildcard addresses are not URLs a browser can use; name the machine instead.
const publicHost = host === '0.0.0.0' || host === '::' ? 'localhost' : host.includes(':') ? `[${host}]` : host
const issuer = process.env.ISSUER ?? `http://${publicHost}:${port}`

const app = await buildDemo({ issuer, logger: { level: process.env.LOG_LEVEL ?? 'info' } })
await app.listen({ port, host })
app.log.info(`Swagger UI: ${issuer}/docs  (Authorize → password flow, client id "swagger-ui")`)
app.log.info(`Demo user: ${DEMO_USER.email} / ${DEMO_USER.password}`)

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => { app.close().then(() => process.exit(0), () => process.exit(1)) })
}
