/**
 * Request validation with two Ajv instances: querystrings, params and headers
 * arrive as text, so their scalars are coerced ("50" -> 50); a JSON body is
 * already typed, so nothing in it is coerced (`"plate": false` is refused, not
 * stored as "false").
 */
import { Ajv, type Options } from 'ajv'
import addFormatsModule from 'ajv-formats'
import type { FastifyInstance } from 'fastify'

// ajv-formats is CommonJS with a default export.
const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv

const common: Options = { removeAdditional: false, useDefaults: true, allErrors: false, strict: false }

export function registerValidation(app: FastifyInstance): void {
  const body = addFormats(new Ajv({ ...common, coerceTypes: false }))
  const text = addFormats(new Ajv({ ...common, coerceTypes: 'array' }))
  app.setValidatorCompiler(({ schema, httpPart }) => (httpPart === 'body' ? body : text).compile(schema))
}
