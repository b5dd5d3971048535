// A small app for test/openapi-conformance.test.ts: one operation that documents a 200 and a
// 400 problem with one code, and answers what the query asks for.
import Fastify from 'fastify'
import { ProblemSchema, problemResponse } from '../../schemas/problem.js'

const app = Fastify()
app.addSchema(ProblemSchema)
app.get('/thing', {
  schema: {
    operationId: 'getThing',
    querystring: { type: 'object', properties: { status: { type: 'integer' }, code: { type: 'string' }, json: { type: 'boolean' } } },
    response: { 200: { type: 'object', properties: { ok: { type: 'boolean' } } }, 400: problemResponse('Refused', ['VALIDATION_ERROR']) }
  }
}, async (request, reply) => {
  const { status = 200, code, json = false } = request.query as { status?: number, code?: string, json?: boolean }
  if (status === 200) return { ok: true }
  const body = JSON.stringify({ type: 'about:blank', title: 'x', status, detail: 'x', code })
  return reply.code(status as 400).type(json ? 'application/json' : 'application/problem+json').send(body)
})
for (const url of process.argv.slice(2)) await app.inject({ url })
await app.close()
