/** Dashboards, trips and events lists, the H3 heatmap, and analytics replays. */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { IdParams, Page } from '../../schemas/api.v1.js'
import {
  AnalyticsEvent, DayQuery, DriverDashboard, EventsQuery, FleetOverview, Heatmap, HeatmapQuery, ListQuery, RangeQuery, Replay, ReplayBody, Trip, VehicleDashboard,
} from '../../schemas/analytics.v1.js'
import { principalOf, requestMeta } from '../access.js'
import { problemResponses } from '../openapi.js'
import type { AnalyticsService } from './analytics.service.js'

export const analyticsRoutes: FastifyPluginAsyncTypebox<{ service: AnalyticsService }> = async (app, { service }) => {
  app.get('/api/v1/dashboards/fleet', {
    config: { permission: 'dashboards:read' },
    schema: {
      tags: ['dashboards'], summary: 'Fleet overview: vehicles moving, idle, stopped and offline now; today\'s KPIs and alerts; ETA accuracy',
      response: { 200: FleetOverview, ...problemResponses(401, 403, 503) },
    },
  }, async (req) => service.fleet(principalOf(req)))

  app.get('/api/v1/dashboards/vehicles/:id', {
    config: { permission: 'dashboards:read' },
    schema: {
      tags: ['dashboards'], summary: "A vehicle's day: KPIs, trips, events, latest fix and latest device (dashcam) event",
      params: IdParams, querystring: DayQuery, response: { 200: VehicleDashboard, ...problemResponses(400, 401, 403, 404, 503) },
    },
  }, async (req) => service.vehicle(principalOf(req), req.params.id, req.query))

  app.get('/api/v1/dashboards/drivers/:id', {
    config: { permission: 'dashboards:read' },
    schema: {
      tags: ['dashboards'], summary: "A driver's KPIs per day and in total, with the safety score (default: the last 30 days)",
      params: IdParams, querystring: RangeQuery, response: { 200: DriverDashboard, ...problemResponses(400, 401, 403, 404, 503) },
    },
  }, async (req) => service.driver(principalOf(req), req.params.id, req.query))

  app.get('/api/v1/analytics/heatmap', {
    config: { permission: 'dashboards:read' },
    schema: {
      tags: ['dashboards'], summary: 'Fixes per H3 cell in a bounding box and time range (default: the last 24 hours; at most 31 days)',
      querystring: HeatmapQuery, response: { 200: Heatmap, ...problemResponses(400, 401, 403, 503) },
    },
  }, async (req) => service.heatmap(principalOf(req), req.query))

  app.get('/api/v1/trips', {
    config: { permission: 'dashboards:read' },
    schema: {
      tags: ['dashboards'], summary: 'Trips, newest first (default: the last 7 days; at most 92)',
      querystring: ListQuery, response: { 200: Page(Trip), ...problemResponses(400, 401, 403, 503) },
    },
  }, async (req) => service.trips(principalOf(req), req.query))

  app.get('/api/v1/events', {
    config: { permission: 'dashboards:read' },
    schema: {
      tags: ['dashboards'], summary: 'Driving events, idles and geofence events, newest first (default: the last 7 days; at most 92)',
      querystring: EventsQuery, response: { 200: Page(AnalyticsEvent), ...problemResponses(400, 401, 403, 503) },
    },
  }, async (req) => service.events(principalOf(req), req.query))

  app.post('/api/v1/analytics/replays', {
    config: { permission: 'analytics:manage' },
    schema: {
      tags: ['dashboards'], summary: 'Recompute the derived facts of vehicles from their stored fixes (run by the stream; poll its progress)',
      body: ReplayBody, response: { 202: Replay, ...problemResponses(400, 401, 403, 404) },
    },
  }, async (req, reply) => reply.status(202).send(await service.requestReplay(principalOf(req), req.body, requestMeta(req))))

  app.get('/api/v1/analytics/replays/:id', {
    config: { permission: 'analytics:manage' },
    schema: { tags: ['dashboards'], summary: "A replay's status and progress", params: IdParams, response: { 200: Replay, ...problemResponses(400, 401, 403, 404) } },
  }, async (req) => service.replay(principalOf(req), req.params.id))
}
