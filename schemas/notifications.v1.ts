/**
 * The notifications contract: REST request and response schemas (validation,
 * types, serialization, OpenAPI), the webhook payload organizations receive,
 * and the delivery job that crosses process boundaries through the job queue.
 */
import { Type, type Static } from '@sinclair/typebox'
import { DateTime, PageCursor, Uuid } from './api.v1.js'

/** `vehicle.submitted`, `driver.background_check_passed`, `document.expiring`: dotted lower-case words. */
export const NotificationKind = Type.String({ pattern: '^[a-z][a-z0-9_]*(\\.[a-z][a-z0-9_]*)+$', maxLength: 100 })

export const CHANNELS = ['in_app', 'email', 'sms', 'webhook'] as const
export type ChannelName = (typeof CHANNELS)[number]
export const ChannelName = Type.Union(CHANNELS.map((c) => Type.Literal(c)))

export const Notification = Type.Object({
  id: Uuid,
  kind: Type.String(),
  entity: Type.Object({ type: Type.String(), id: Type.String() }),
  title: Type.String(),
  body: Type.String(),
  read: Type.Boolean(),
  readAt: Type.Union([DateTime, Type.Null()]),
  createdAt: DateTime,
})
export type Notification = Static<typeof Notification>

export const NotificationListQuery = Type.Object(
  {
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 200, default: 50 })),
    cursor: Type.Optional(PageCursor),
    unread: Type.Optional(Type.Boolean({ description: 'true: only notifications not yet read' })),
  },
  { additionalProperties: false },
)
export type NotificationListQuery = Static<typeof NotificationListQuery>

export const ReadAllResult = Type.Object({ updated: Type.Integer({ description: 'notifications marked read by this call' }) })

// --- a user's own contact details for the channels that need them
/** E.164: + and 8 to 15 digits. */
export const PhoneNumber = Type.String({ pattern: '^\\+[1-9][0-9]{7,14}$', description: 'E.164, e.g. +4915112345678' })
export const NotificationPreferences = Type.Object({ phone: Type.Union([PhoneNumber, Type.Null()]) })
export type NotificationPreferences = Static<typeof NotificationPreferences>
export const PutNotificationPreferencesBody = Type.Object({ phone: Type.Union([PhoneNumber, Type.Null()]) }, { additionalProperties: false })

// --- per-organization settings
/** Kind -> channels; `*` is every kind without an entry of its own. */
export const ChannelRoutes = Type.Record(
  Type.String({ pattern: '^(?:\\*|[a-z][a-z0-9_]*(?:\\.[a-z][a-z0-9_]*)+)$' }),
  Type.Array(ChannelName, { maxItems: CHANNELS.length, uniqueItems: true }),
  {
    additionalProperties: false, maxProperties: 200,
    propertyNames: { maxLength: 100, pattern: '^(?:\\*|[a-z][a-z0-9_]*(?:\\.[a-z][a-z0-9_]*)+)$' },
    description: 'notification kind (or * for every other kind) -> channels',
  },
)
export type ChannelRoutes = Static<typeof ChannelRoutes>
export const DEFAULT_ROUTES: ChannelRoutes = { '*': ['in_app'] }

export const WebhookUrl = Type.String({ format: 'uri', pattern: '^https?://', maxLength: 2000 })
export const WebhookSecret = Type.String({ minLength: 24, maxLength: 200, pattern: '^[\\x21-\\x7e]+$', description: 'HMAC-SHA256 key; kept, never shown again' })

export const NotificationSettings = Type.Object({
  channels: ChannelRoutes,
  webhook: Type.Union([
    Type.Object({
      url: Type.String(),
      secretHint: Type.String({ description: 'the last 4 characters of the secret; the secret itself is never returned' }),
    }),
    Type.Null(),
  ]),
  /** What this server can deliver: email needs SMTP_URL, sms needs SMS_URL. */
  availableChannels: Type.Array(ChannelName),
  updatedAt: Type.Union([DateTime, Type.Null()]),
})
export type NotificationSettings = Static<typeof NotificationSettings>

export const PutNotificationSettingsBody = Type.Object(
  {
    channels: ChannelRoutes,
    webhook: Type.Union([
      Type.Object(
        { url: WebhookUrl, secret: Type.Optional(WebhookSecret) },
        { additionalProperties: false, description: 'secret may be left out to keep the current one' },
      ),
      Type.Null(),
    ]),
  },
  { additionalProperties: false },
)
export type PutNotificationSettingsBody = Static<typeof PutNotificationSettingsBody>

// --- what an organization's webhook receives (POST, JSON, header x-fleetpulse-signature)
export const WebhookEventV1 = Type.Object({
  id: Uuid,
  type: Type.String({ description: 'the notification kind' }),
  version: Type.Literal(1),
  createdAt: DateTime,
  organizationId: Uuid,
  entity: Type.Object({ type: Type.String(), id: Type.String() }),
  title: Type.String(),
  body: Type.String(),
  data: Type.Record(Type.String(), Type.Unknown()),
})
export type WebhookEventV1 = Static<typeof WebhookEventV1>

// --- the job queue
export const DELIVERY_JOB = 'notifications.deliver.v1'
/** One attempt at one delivery; attempt numbers start at 1. */
export const DeliveryJobV1 = Type.Object(
  { deliveryId: Uuid, attempt: Type.Integer({ minimum: 1 }) },
  { additionalProperties: false },
)
export type DeliveryJobV1 = Static<typeof DeliveryJobV1>

// --- what other modules hand to the dispatcher (in process; checked so a bad call fails loudly)
export const NotifyInput = Type.Object(
  {
    orgId: Uuid,
    /** One user, or every active user holding the role in the organization when this is sent. */
    recipient: Type.Union([
      Type.Object({ userId: Uuid }, { additionalProperties: false }),
      Type.Object({ role: Type.String({ pattern: '^[a-z_]+$', maxLength: 64 }) }, { additionalProperties: false }),
    ]),
    kind: NotificationKind,
    entity: Type.Object(
      { type: Type.String({ pattern: '^[a-z_]+$', maxLength: 64 }), id: Type.String({ minLength: 1, maxLength: 200 }) },
      { additionalProperties: false },
    ),
    title: Type.String({ minLength: 1, maxLength: 200 }),
    body: Type.String({ maxLength: 4000 }),
    /** Extra fields for webhook receivers. */
    data: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
  },
  { additionalProperties: false },
)
export type NotifyInput = Static<typeof NotifyInput>
