import multipart, { type MultipartFile } from '@fastify/multipart'
import type { FastifyRequest } from 'fastify'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Document, DocumentParams, IdParams, Page, PageQuery, UploadForm, UploadQuery } from '../../schemas/api.v1.js'
import { principalOf, requestMeta } from '../access.js'
import { AppError } from '../errors.js'
import { problemResponses } from '../openapi.js'
import type { Permission } from '../permissions.js'
import { uploadValidatorCompiler } from '../validation.js'
import type { OwnerType } from './documents.repository.js'
import type { DocumentsService } from './documents.service.js'

// Not TypeBox on purpose: the body is a stream, which no JSON schema types.
const binary = { schema: { type: 'string', format: 'binary' } }

/** The one file part of a multipart upload, as a stream (register @fastify/multipart in the route's plugin first). */
export async function uploadedFile(req: FastifyRequest): Promise<{ filename: string; stream: MultipartFile['file'] }> {
  if (!req.isMultipart()) throw new AppError('unsupported_media_type', 'send the document as multipart/form-data')
  const file = await req.file().catch((err: unknown) => {
    // busboy's parse errors (no boundary, a broken part) are the client's, not ours.
    throw new AppError('bad_request', `the multipart body cannot be read: ${(err as Error).message}`)
  })
  if (!file) throw new AppError('bad_request', 'the form has no file part')
  return { filename: file.filename, stream: file.file }
}

/** Where an upload route's multipart reader stops: one byte over our bound, so the store sees the overflow and refuses it. */
export const multipartLimits = (maxBytes: number) => ({ fileSize: maxBytes + 1, files: 1, fields: 20, parts: 21, fieldSize: 64 * 1024 })

/** The documented answer of a download: the file as uploaded, its type decided at upload. */
export const FileResponse: unknown = {
  description: 'the document as uploaded, with the type decided at upload',
  content: { 'application/pdf': binary, 'image/jpeg': binary, 'image/png': binary },
}

const OWNERS: Array<{ ownerType: Extract<OwnerType, 'driver' | 'vehicle'>; base: string; read: Permission; write: Permission }> = [
  { ownerType: 'driver', base: '/api/v1/drivers/:id/documents', read: 'drivers:read', write: 'drivers:write' },
  { ownerType: 'vehicle', base: '/api/v1/vehicles/:id/documents', read: 'vehicles:read', write: 'vehicles:write' },
]

export const documentsRoutes: FastifyPluginAsyncTypebox<{ service: DocumentsService; maxBytes: number }> = async (app, { service, maxBytes }) => {
  // One byte over our bound, so the store sees the overflow and refuses it.
  // Other form fields are ignored (within a small bound).
  await app.register(multipart, { limits: multipartLimits(maxBytes) })

  for (const { ownerType, base, read, write } of OWNERS) {
    app.post(base, {
      config: { permission: write },
      validatorCompiler: uploadValidatorCompiler,
      schema: {
        tags: ['documents'], summary: `Upload a document of a ${ownerType}`,
        description: `multipart/form-data with one file part: PDF, JPEG or PNG (decided by the content), at most ${maxBytes} bytes. `
          + 'A document with expiresOn reminds the fleet managers 30 and 7 days before.',
        consumes: ['multipart/form-data'], params: IdParams, querystring: UploadQuery, body: UploadForm,
        response: { 201: Document, ...problemResponses(400, 401, 403, 404, 413, 415) },
      },
    }, async (req, reply) => {
      const doc = await service.upload(principalOf(req), ownerType, req.params.id, req.query, await uploadedFile(req), requestMeta(req))
      return reply.status(201).send(doc)
    })

    app.get(base, {
      config: { permission: read },
      schema: {
        tags: ['documents'], summary: `List a ${ownerType}'s documents`, params: IdParams, querystring: PageQuery,
        response: { 200: Page(Document), ...problemResponses(400, 401, 403, 404) },
      },
    }, async (req) => service.list(principalOf(req), ownerType, req.params.id, req.query))

    app.get(`${base}/:documentId/content`, {
      config: { permission: read },
      schema: {
        tags: ['documents'], summary: `Download a ${ownerType}'s document`, params: DocumentParams,
        response: { 200: FileResponse, ...problemResponses(400, 401, 403, 404) },
      },
    }, async (req, reply) => {
      const { document, content } = await service.download(principalOf(req), ownerType, req.params.id, req.params.documentId)
      return reply
        .type(document.contentType)
        .header('content-length', String(document.sizeBytes))
        .header('content-disposition', `attachment; filename*=UTF-8''${encodeURIComponent(document.filename)}`)
        .send(content)
    })
  }
}
