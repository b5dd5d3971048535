import { Ajv, type AnySchema } from 'ajv'
import addFormatsModule from 'ajv-formats'
import type { FastifyInstance, FastifySchema, FastifySchemaCompiler } from 'fastify'

// ajv-formats is CommonJS; under NodeNext its default import is the module object.
const addFormats = addFormatsModule as unknown as typeof addFormatsModule.default

function strictAjv (coerce: boolean) {
  const ajv = new Ajv({ removeAdditional: false, useDefaults: true, coerceTypes: coerce ? 'array' : false, allErrors: false, strict: false })
  addFormats(ajv)
  return ajv
}

/**
 * Fastify's default Ajv removes unknown properties silently. Our routes instead refuse
 * them (a typo in a field name must not pass for a valid request) and never coerce body
 * types; query strings and params are still coerced, as they are only ever strings.
 * Installed on our own encapsulated routes only: the app's routes keep its settings.
 *
 * Set on each route rather than with setValidatorCompiler: Fastify rebuilds a context's
 * compiler from the root's factory as soon as a schema is added to it, and app.addSchema()
 * reaches every child context, so a compiler set on our scope was silently replaced by
 * the app's default Ajv (which strips unknown fields and coerces types) whenever the app
 * added a schema of its own, before or after registering us.
 */
export function useStrictValidation (scope: FastifyInstance) {
  const bodyAjv = strictAjv(false)
  const paramAjv = strictAjv(true)
  let schemasAdded = false

  const compiler: FastifySchemaCompiler<FastifySchema> = ({ schema, httpPart }) => {
    if (!schemasAdded) {
      // Shared schemas ($id + addSchema) are known once the routes compile, not before.
      for (const shared of Object.values(scope.getSchemas()) as AnySchema[]) {
        bodyAjv.addSchema(shared)
        paramAjv.addSchema(shared)
      }
      schemasAdded = true
    }
    const ajv = httpPart === 'body' ? bodyAjv : paramAjv
    // An Ajv function (boolean + .errors) lets Fastify word the error as it does for its own.
    return ajv.compile(schema as AnySchema)
  }
  scope.addHook('onRoute', (route) => { route.validatorCompiler ??= compiler })
}

/**
 * A validator for a route whose documented schema for one part (the body, or the query) is
 * stricter than what it accepts: that part is checked against `schema`, not against the one
 * the OpenAPI document shows; the others as on our other routes.
 */
export function validateWith (schema: AnySchema, part: 'body' | 'querystring' = 'body'): FastifySchemaCompiler<FastifySchema> {
  // As on our other routes: bodies are never coerced, query strings and params are.
  return ({ schema: routeSchema, httpPart }) => strictAjv(httpPart !== 'body').compile(httpPart === part ? schema : routeSchema as AnySchema)
}
