import { Type, type Static } from '@sinclair/typebox'

// RFC 9457 problem details, used by every non-OAuth endpoint for errors.
export const ProblemSchema = Type.Object({
  type: Type.String({ description: 'URI reference identifying the problem type' }),
  title: Type.String(),
  status: Type.Integer(),
  detail: Type.Optional(Type.String()),
  code: Type.Optional(Type.String({ description: 'Stable machine-readable error code, e.g. REGISTER_USER_ALREADY_EXISTS' })),
  errors: Type.Optional(Type.Array(Type.Object({
    path: Type.String(),
    message: Type.String()
  })))
}, { $id: 'fastify-users.Problem', title: 'Problem' })
export type Problem = Static<typeof ProblemSchema>

/**
 * A problem response as OpenAPI should show it and Fastify serialize it: RFC 9457's media
 * type, application/problem+json, with the Problem schema.
 */
export function problemResponse (description: string) {
  return { description, content: { 'application/problem+json': { schema: Type.Ref(ProblemSchema) } } }
}
