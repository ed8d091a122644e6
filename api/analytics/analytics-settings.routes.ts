import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { AnalyticsSettings, PutAnalyticsSettingsBody } from '../../schemas/geofences.v1.js'
import { principalOf, requestMeta } from '../access.js'
import { problemResponses } from '../openapi.js'
import type { AnalyticsSettingsService } from './analytics-settings.service.js'

export const analyticsSettingsRoutes: FastifyPluginAsyncTypebox<{ service: AnalyticsSettingsService }> = async (app, { service }) => {
  app.get('/api/v1/analytics/settings', {
    config: { permission: 'dashboards:read' },
    schema: {
      tags: ['analytics'], summary: "The organization's analytics thresholds", description: '`updatedAt` is null while the defaults apply.',
      response: { 200: AnalyticsSettings, ...problemResponses(401, 403) },
    },
  }, async (req) => service.get(principalOf(req)))

  app.put('/api/v1/analytics/settings', {
    config: { permission: 'vehicles:write' },
    schema: {
      tags: ['analytics'], summary: "Change the organization's analytics thresholds",
      description: 'The overspeed limit applies outside geofences that have a limit of their own.',
      body: PutAnalyticsSettingsBody, response: { 200: AnalyticsSettings, ...problemResponses(400, 401, 403) },
    },
  }, async (req) => service.put(principalOf(req), req.body, requestMeta(req)))
}
