import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import {
  BindDeviceBody, CreateDeviceBody, Device, DeviceListQuery, IdParams, Page, ProvisionDeviceBody, ProvisionedDevice, UpdateDeviceBody,
} from '../../schemas/api.v1.js'
import { principalOf, requestMeta } from '../access.js'
import { problemResponses } from '../openapi.js'
import type { DevicesService } from './devices.service.js'

const CREDENTIALS = 'Answers the MQTT credentials: username = id, password = secret. The secret is shown only here.'

export const devicesRoutes: FastifyPluginAsyncTypebox<{ service: DevicesService }> = async (app, { service }) => {
  app.post('/api/v1/devices', {
    config: { permission: 'devices:write' },
    schema: {
      tags: ['devices'], summary: 'Provision a device, bound to a vehicle or not yet', description: CREDENTIALS,
      body: CreateDeviceBody, response: { 201: ProvisionedDevice, ...problemResponses(400, 401, 403, 404, 409) },
    },
  }, async (req, reply) => reply.status(201).send(await service.provision(principalOf(req), req.body, requestMeta(req))))

  app.post('/api/v1/vehicles/:id/devices', {
    config: { permission: 'devices:write' },
    schema: {
      tags: ['devices'], summary: 'Provision a device for a vehicle', description: CREDENTIALS,
      params: IdParams, body: ProvisionDeviceBody, response: { 201: ProvisionedDevice, ...problemResponses(400, 401, 403, 404, 409) },
    },
  }, async (req, reply) => reply.status(201).send(await service.provision(principalOf(req), { kind: req.body.kind, vehicleId: req.params.id }, requestMeta(req))))

  app.get('/api/v1/devices', {
    config: { permission: 'vehicles:read' },
    schema: { tags: ['devices'], summary: 'List devices', querystring: DeviceListQuery, response: { 200: Page(Device), ...problemResponses(400, 401, 403) } },
  }, async (req) => service.list(principalOf(req), req.query))

  app.get('/api/v1/devices/:id', {
    config: { permission: 'vehicles:read' },
    schema: { tags: ['devices'], summary: 'Get a device (kind, firmware, binding, last seen)', params: IdParams, response: { 200: Device, ...problemResponses(400, 401, 403, 404) } },
  }, async (req) => service.get(principalOf(req), req.params.id))

  app.patch('/api/v1/devices/:id', {
    config: { permission: 'devices:write' },
    schema: { tags: ['devices'], summary: "Set a device's firmware version", params: IdParams, body: UpdateDeviceBody, response: { 200: Device, ...problemResponses(400, 401, 403, 404, 409) } },
  }, async (req) => service.update(principalOf(req), req.params.id, req.body.firmware, requestMeta(req)))

  app.post('/api/v1/devices/:id/rotate-secret', {
    config: { permission: 'devices:write' },
    schema: {
      tags: ['devices'], summary: "Replace a device's secret", description: `The old secret stops working and a connected device is disconnected. ${CREDENTIALS}`,
      params: IdParams, response: { 200: ProvisionedDevice, ...problemResponses(400, 401, 403, 404, 409) },
    },
  }, async (req) => service.rotateSecret(principalOf(req), req.params.id, requestMeta(req)))

  app.post('/api/v1/devices/:id/revoke', {
    config: { permission: 'devices:write' },
    schema: {
      tags: ['devices'], summary: 'Revoke a device for good', description: 'A connected device is disconnected at once and every later CONNECT is refused.',
      params: IdParams, response: { 200: Device, ...problemResponses(400, 401, 403, 404, 409) },
    },
  }, async (req) => service.revoke(principalOf(req), req.params.id, requestMeta(req)))

  app.post('/api/v1/devices/:id/bind', {
    config: { permission: 'devices:write' },
    schema: {
      tags: ['devices'], summary: 'Bind a device to a vehicle', description: 'A connected device reconnects and publishes for the new vehicle.',
      params: IdParams, body: BindDeviceBody, response: { 200: Device, ...problemResponses(400, 401, 403, 404, 409) },
    },
  }, async (req) => service.bind(principalOf(req), req.params.id, req.body.vehicleId, requestMeta(req)))

  app.post('/api/v1/devices/:id/unbind', {
    config: { permission: 'devices:write' },
    schema: {
      tags: ['devices'], summary: 'Unbind a device from its vehicle', description: 'An unbound device cannot connect until it is bound again.',
      params: IdParams, response: { 200: Device, ...problemResponses(400, 401, 403, 404, 409) },
    },
  }, async (req) => service.bind(principalOf(req), req.params.id, null, requestMeta(req)))
}
