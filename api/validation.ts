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

const body = addFormats(new Ajv({ ...common, coerceTypes: false }))
const text = addFormats(new Ajv({ ...common, coerceTypes: 'array' }))

type Compile = (input: { schema: object; httpPart?: string }) => (data: unknown) => boolean

const compile: Compile = ({ schema, httpPart }) => (httpPart === 'body' ? body : text).compile(schema)

export function registerValidation(app: FastifyInstance): void {
  app.setValidatorCompiler(compile)
}

/**
 * For a multipart upload route: its body schema only documents the form (the
 * file is streamed and checked by the handler); everything else is validated.
 */
export const uploadValidatorCompiler: Compile = (input) => (input.httpPart === 'body' ? () => true : compile(input))
