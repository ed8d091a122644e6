import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { IdParams, Page } from '../../schemas/api.v1.js'
import {
  Notification, NotificationListQuery, NotificationPreferences, NotificationSettings, PutNotificationPreferencesBody,
  PutNotificationSettingsBody, ReadAllResult,
} from '../../schemas/notifications.v1.js'
import { principalOf, requestMeta } from '../access.js'
import { problemResponses } from '../openapi.js'
import { NOTIFICATIONS_MANAGE, NOTIFICATIONS_READ, type NotificationsService } from './notifications.service.js'

export const notificationsRoutes: FastifyPluginAsyncTypebox<{ service: NotificationsService }> = async (app, { service }) => {
  app.get('/api/v1/notifications', {
    config: { permission: NOTIFICATIONS_READ },
    schema: {
      tags: ['notifications'], summary: 'Your notifications, newest first',
      querystring: NotificationListQuery, response: { 200: Page(Notification), ...problemResponses(400, 401, 403) },
    },
  }, async (req) => service.list(principalOf(req), req.query))

  app.post('/api/v1/notifications/:id/read', {
    config: { permission: NOTIFICATIONS_READ },
    schema: {
      tags: ['notifications'], summary: 'Mark one of your notifications read', description: 'Marking it again keeps the first read time.',
      params: IdParams, response: { 200: Notification, ...problemResponses(400, 401, 403, 404) },
    },
  }, async (req) => service.markRead(principalOf(req), req.params.id, requestMeta(req)))

  app.post('/api/v1/notifications/read-all', {
    config: { permission: NOTIFICATIONS_READ },
    schema: { tags: ['notifications'], summary: 'Mark all your notifications read', response: { 200: ReadAllResult, ...problemResponses(401, 403) } },
  }, async (req) => service.markAllRead(principalOf(req), requestMeta(req)))

  app.get('/api/v1/notifications/preferences', {
    config: { permission: NOTIFICATIONS_READ },
    schema: { tags: ['notifications'], summary: 'Your contact details for notifications', response: { 200: NotificationPreferences, ...problemResponses(401, 403) } },
  }, async (req) => service.preferences(principalOf(req)))

  app.put('/api/v1/notifications/preferences', {
    config: { permission: NOTIFICATIONS_READ },
    schema: {
      tags: ['notifications'], summary: 'Set your contact details for notifications', description: 'The phone number SMS notifications go to (null: none).',
      body: PutNotificationPreferencesBody, response: { 200: NotificationPreferences, ...problemResponses(400, 401, 403) },
    },
  }, async (req) => service.putPreferences(principalOf(req), req.body, requestMeta(req)))

  app.get('/api/v1/notification-settings', {
    config: { permission: NOTIFICATIONS_MANAGE },
    schema: {
      tags: ['notifications'], summary: "Your organization's notification settings",
      description: 'Which kinds go to which channels, and the webhook endpoint (its secret is never shown).',
      response: { 200: NotificationSettings, ...problemResponses(401, 403) },
    },
  }, async (req) => service.getSettings(principalOf(req)))

  app.put('/api/v1/notification-settings', {
    config: { permission: NOTIFICATIONS_MANAGE },
    schema: {
      tags: ['notifications'], summary: "Replace your organization's notification settings",
      description: 'channels maps a kind (or * for every other kind) to channels; webhook.secret may be left out to keep the current one.',
      body: PutNotificationSettingsBody, response: { 200: NotificationSettings, ...problemResponses(400, 401, 403, 409) },
    },
  }, async (req) => service.putSettings(principalOf(req), req.body, requestMeta(req)))
}
