/**
 * Walks Fastify's route table rather than sampling it: every route is public
 * (from a short list) or declares a permission; every guarded route answers 401
 * without a token and 403 to a role without its permission; every route taking
 * an id answers 404 for another organization's id and changes nothing; every
 * mutating route writes exactly one audit row. A new route without an entry in
 * ROUTES below fails this file, so it cannot be added unchecked.
 */
import { randomUUID } from 'node:crypto'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { RouteAccess } from '../api/access.js'
import { ROLES, type Permission, type Role } from '../api/permissions.js'
import { SIGNATURE_HEADER, signBody } from '../core/signing.js'
import { api, login, provisionVehicle, startTestPlatform, type TestPlatform } from './helpers/platform.js'

const PUBLIC = [
  'GET /healthz', 'GET /readyz', 'GET /metrics',
  'POST /api/v1/auth/login', 'POST /api/v1/auth/refresh', 'POST /api/v1/auth/logout',
  'POST /api/v1/drivers/background-check/callback',
  'OPTIONS *',
  // The dispatcher console: the page, its bundle and its settings (it logs in itself).
  'GET /', 'GET /console/app.js', 'GET /console/app.js.map', 'GET /console/app.css', 'GET /console/config.json',
]

interface Org {
  adminToken: string
  adminId: string
  vehicleId: string
  deviceId: string
  userId: string
  driverId: string
  notificationId: string
  driverDocumentId: string
  vehicleDocumentId: string
  replayId: string
  geofenceId: string
  alertRuleId: string
  /** An approved driver with a login, and an active vehicle, for dispatch. */
  walkDriver: { id: string; userId: string; token: string }
  walkVehicleId: string
  /** A pending order; one in transit with a proof of delivery; both of the walk driver. */
  orderId: string
  podOrderId: string
  /** A ticket opened by staff and one opened by the walk driver, each with a photo. */
  ticketId: string
  ticketPhotoId: string
  driverTicketId: string
  driverTicketPhotoId: string
}

type DriverStage = 'applicant' | 'background_check' | 'passed' | 'training' | 'trained' | 'approved' | 'active'

interface Ctx {
  a: Org
  b: Org
  /** A fresh user of org A per call, for routes that change a user. */
  newUser(): Promise<string>
  /** A fresh vehicle of org A brought to a workflow state. */
  newVehicle(state: 'draft' | 'in_review' | 'approved' | 'active'): Promise<string>
  /** A fresh device of org A bound to its fixture vehicle. */
  newDevice(): Promise<string>
  /** A fresh geofence of org A. */
  newGeofence(): Promise<string>
  /** A fresh alert rule of org A. */
  newAlertRule(): Promise<string>
  /** A fresh vehicle of org A with a destination. */
  vehicleWithDestination(): Promise<string>
  /** A fresh driver of org A brought to a stage of the workflow. */
  newDriver(stage: DriverStage): Promise<string>
  /** The background-check reference of a driver. */
  checkReference(driverId: string): Promise<string>
  /** An access token of a user with role driver, linked to a driver. */
  driverToken(): Promise<string>
  /** A fresh order of org A's walk driver, brought to a status. */
  newOrder(status: 'pending' | 'assigned' | 'picked_up' | 'in_transit'): Promise<string>
  /** A fresh ticket of org A (about its walk driver), brought to a status. */
  newTicket(status: 'open' | 'resolved'): Promise<string>
  refreshToken(): Promise<string>
}

interface RouteCase {
  /** Headers for the request, given its body (a signature). */
  headers?: (body: unknown) => Record<string, string>
  /** Who the audit row names: the admin (default) or nobody (an outside system). */
  actor?: 'admin' | 'none'
  /** A driver-app route (own:*): called by each organization's walk driver instead of its admin. */
  asDriver?: boolean
  /** The token for the reads walk, when the admin is not the one who may read it. */
  token?: (ctx: Ctx) => Promise<string>
  /** Path parameters for org `org`'s records. */
  params?: (ctx: Ctx, org: Org) => Promise<Record<string, string>> | Record<string, string>
  body?: (ctx: Ctx) => Promise<unknown> | unknown
  query?: string
  /** Mutations: the audit action exactly one row must carry. */
  audit?: string
  expect?: number
}

/** A one-file multipart form with a tiny PDF. */
const pdfForm = () => {
  const form = new FormData()
  form.append('file', new Blob([new TextEncoder().encode('%PDF-1.7\n%%EOF\n')]), 'walk.pdf')
  return form
}

const uniqueEmail = () => `walk-${randomUUID()}@example.com`

/** Each order gets windows of its own, so one driver and one vehicle may hold them all. */
let orderSlot = 0
const orderBody = () => {
  const at = (h: number) => new Date(Date.now() + (orderSlot * 10 + h) * 3_600_000).toISOString()
  orderSlot++
  const stop = (h: number) => ({ address: 'Walk street 1', lat: 52.5, lon: 13.4, window: { from: at(h), to: at(h + 1) } })
  return { customerRef: 'WALK', pickup: stop(0), dropoff: stop(2), lineItems: [{ description: 'Walk box', quantity: 1, unitWeightKg: 1, unitVolumeM3: 0.01, unitValue: 1 }] }
}
const ORDER_STEPS = { pending: [], assigned: ['assign'], picked_up: ['assign', 'pick-up'], in_transit: ['assign', 'pick-up', 'depart'] } as const

const ROUTES: Record<string, RouteCase> = {
  'POST /api/v1/vehicles': { body: () => ({ name: 'Walker' }), audit: 'vehicle.create', expect: 201 },
  'GET /api/v1/vehicles': {},
  'GET /api/v1/vehicles/:id': { params: (_c, o) => ({ id: o.vehicleId }) },
  'POST /api/v1/vehicles/:id/devices': { params: (_c, o) => ({ id: o.vehicleId }), body: () => ({ kind: 'gps' }), audit: 'device.provision', expect: 201 },
  'GET /api/v1/vehicles/:id/position': { params: (_c, o) => ({ id: o.vehicleId }), expect: 204 /* no fix yet */ },
  'GET /api/v1/vehicles/:id/track': { params: (_c, o) => ({ id: o.vehicleId }) },
  'GET /api/v1/vehicles/:id/log': { params: (_c, o) => ({ id: o.vehicleId }) },
  'PATCH /api/v1/vehicles/:id': { params: (_c, o) => ({ id: o.vehicleId }), body: () => ({ plate: 'WALK-1' }), audit: 'vehicle.update' },
  'POST /api/v1/vehicles/:id/submit': { params: async (c, o) => ({ id: o === c.a ? await c.newVehicle('draft') : o.vehicleId }), audit: 'vehicle.submit' },
  'POST /api/v1/vehicles/:id/approve': { params: async (c, o) => ({ id: o === c.a ? await c.newVehicle('in_review') : o.vehicleId }), audit: 'vehicle.approve' },
  'POST /api/v1/vehicles/:id/reject': {
    params: async (c, o) => ({ id: o === c.a ? await c.newVehicle('in_review') : o.vehicleId }), body: () => ({ reason: 'papers missing' }), audit: 'vehicle.reject',
  },
  'POST /api/v1/vehicles/:id/activate': { params: async (c, o) => ({ id: o === c.a ? await c.newVehicle('approved') : o.vehicleId }), audit: 'vehicle.activate' },
  'POST /api/v1/vehicles/:id/deactivate': { params: async (c, o) => ({ id: o === c.a ? await c.newVehicle('active') : o.vehicleId }), audit: 'vehicle.deactivate' },
  'POST /api/v1/vehicles/:id/retire': { params: async (c, o) => ({ id: o === c.a ? await c.newVehicle('draft') : o.vehicleId }), audit: 'vehicle.retire' },
  'POST /api/v1/devices': { body: () => ({ kind: 'dashcam' }), audit: 'device.provision', expect: 201 },
  'GET /api/v1/devices': {},
  'GET /api/v1/devices/:id': { params: (_c, o) => ({ id: o.deviceId }) },
  'PATCH /api/v1/devices/:id': { params: (_c, o) => ({ id: o.deviceId }), body: () => ({ firmware: '2.4.1' }), audit: 'device.update' },
  'POST /api/v1/devices/:id/rotate-secret': { params: async (c, o) => ({ id: o === c.a ? await c.newDevice() : o.deviceId }), audit: 'device.rotate_secret' },
  'POST /api/v1/devices/:id/revoke': { params: async (c, o) => ({ id: o === c.a ? await c.newDevice() : o.deviceId }), audit: 'device.revoke' },
  'POST /api/v1/devices/:id/bind': { params: async (c, o) => ({ id: o === c.a ? await c.newDevice() : o.deviceId }), body: (c) => ({ vehicleId: c.a.vehicleId }), audit: 'device.bind' },
  'POST /api/v1/devices/:id/unbind': { params: async (c, o) => ({ id: o === c.a ? await c.newDevice() : o.deviceId }), audit: 'device.unbind' },
  'POST /api/v1/drivers': { body: () => ({ name: 'Walk driver' }), audit: 'driver.create', expect: 201 },
  'GET /api/v1/drivers': {},
  'GET /api/v1/drivers/:id': { params: (_c, o) => ({ id: o.driverId }) },
  'PATCH /api/v1/drivers/:id': { params: (_c, o) => ({ id: o.driverId }), body: () => ({ phone: '+49 30 1234' }), audit: 'driver.update' },
  'GET /api/v1/drivers/:id/log': { params: (_c, o) => ({ id: o.driverId }) },
  'POST /api/v1/drivers/:id/background-check': { params: async (c, o) => ({ id: o === c.a ? await c.newDriver('applicant') : o.driverId }), audit: 'driver.start_background_check' },
  'POST /api/v1/drivers/background-check/callback': {
    body: async (c) => ({ reference: await c.checkReference(await c.newDriver('background_check')), result: 'passed' }),
    headers: (body) => ({ [SIGNATURE_HEADER]: signBody(CHECK_SECRET, JSON.stringify(body)) }),
    audit: 'driver.background_check_result', actor: 'none', expect: 204,
  },
  'POST /api/v1/drivers/:id/training': {
    params: async (c, o) => ({ id: o === c.a ? await c.newDriver('passed') : o.driverId }), body: () => ({ modules: ['safety-101'] }), audit: 'driver.start_training',
  },
  'POST /api/v1/drivers/:id/training/:module/complete': {
    params: async (c, o) => ({ id: o === c.a ? await c.newDriver('training') : o.driverId, module: 'safety-101' }), audit: 'driver.complete_module',
  },
  'POST /api/v1/drivers/:id/approve': { params: async (c, o) => ({ id: o === c.a ? await c.newDriver('trained') : o.driverId }), audit: 'driver.approve' },
  'POST /api/v1/drivers/:id/reject': { params: async (c, o) => ({ id: o === c.a ? await c.newDriver('applicant') : o.driverId }), body: () => ({ reason: 'no licence' }), audit: 'driver.reject' },
  'POST /api/v1/drivers/:id/activate': { params: async (c, o) => ({ id: o === c.a ? await c.newDriver('approved') : o.driverId }), audit: 'driver.activate' },
  'POST /api/v1/drivers/:id/suspend': { params: async (c, o) => ({ id: o === c.a ? await c.newDriver('active') : o.driverId }), body: () => ({ reason: 'audit' }), audit: 'driver.suspend' },
  'POST /api/v1/drivers/:id/account': {
    params: async (c, o) => ({ id: o === c.a ? await c.newDriver('applicant') : o.driverId }), body: () => ({ email: uniqueEmail(), password: 'walk driver password' }), audit: 'driver.create_account',
  },
  'POST /api/v1/vehicles/:id/assign-driver': {
    params: async (c, o) => ({ id: o === c.a ? await c.newVehicle('approved') : o.vehicleId }), body: async (c) => ({ driverId: await c.newDriver('approved') }), audit: 'vehicle.assign_driver',
  },
  'POST /api/v1/vehicles/:id/unassign-driver': { params: async (c, o) => ({ id: o === c.a ? await c.newVehicle('approved') : o.vehicleId }), audit: 'vehicle.unassign_driver' },
  'GET /api/v1/me/driver': { token: (c) => c.driverToken() },
  'GET /api/v1/vehicles/:id/metrics': { params: (_c, o) => ({ id: o.vehicleId }) },
  'GET /api/v1/notifications': {},
  'POST /api/v1/notifications/:id/read': { params: (_c, o) => ({ id: o.notificationId }), audit: 'notification.read' },
  'POST /api/v1/notifications/read-all': { audit: 'notification.read_all' },
  'GET /api/v1/notifications/preferences': {},
  'PUT /api/v1/notifications/preferences': { body: () => ({ phone: '+4915112345678' }), audit: 'notification_preferences.update' },
  'GET /api/v1/notification-settings': {},
  'PUT /api/v1/notification-settings': { body: () => ({ channels: { '*': ['in_app'] }, webhook: null }), audit: 'notification_settings.update' },
  'POST /api/v1/drivers/:id/documents': { params: (_c, o) => ({ id: o.driverId }), query: '?kind=licence', body: pdfForm, audit: 'document.upload', expect: 201 },
  'GET /api/v1/drivers/:id/documents': { params: (_c, o) => ({ id: o.driverId }) },
  'GET /api/v1/drivers/:id/documents/:documentId/content': { params: (_c, o) => ({ id: o.driverId, documentId: o.driverDocumentId }) },
  'POST /api/v1/vehicles/:id/documents': { params: (_c, o) => ({ id: o.vehicleId }), query: '?kind=insurance', body: pdfForm, audit: 'document.upload', expect: 201 },
  'GET /api/v1/vehicles/:id/documents': { params: (_c, o) => ({ id: o.vehicleId }) },
  'GET /api/v1/vehicles/:id/documents/:documentId/content': { params: (_c, o) => ({ id: o.vehicleId, documentId: o.vehicleDocumentId }) },
  'POST /api/v1/vehicles/bulk': { body: async (c) => ({ action: 'submit', ids: [await c.newVehicle('draft')] }), audit: 'vehicle.submit' },
  'POST /api/v1/orders': { body: () => orderBody(), audit: 'order.create', expect: 201 },
  'GET /api/v1/orders': {},
  'GET /api/v1/orders/export': {},
  'GET /api/v1/orders/:id': { params: (_c, o) => ({ id: o.orderId }) },
  'GET /api/v1/orders/:id/activity': { params: (_c, o) => ({ id: o.orderId }) },
  'POST /api/v1/orders/:id/assign': {
    params: async (c, o) => ({ id: o === c.a ? await c.newOrder('pending') : o.orderId }), body: (c) => ({ driverId: c.a.walkDriver.id, vehicleId: c.a.walkVehicleId }), audit: 'order.assign',
  },
  'POST /api/v1/orders/:id/unassign': { params: async (c, o) => ({ id: o === c.a ? await c.newOrder('assigned') : o.orderId }), audit: 'order.unassign' },
  'POST /api/v1/orders/:id/pick-up': { params: async (c, o) => ({ id: o === c.a ? await c.newOrder('assigned') : o.orderId }), audit: 'order.pick_up' },
  'POST /api/v1/orders/:id/depart': { params: async (c, o) => ({ id: o === c.a ? await c.newOrder('picked_up') : o.orderId }), audit: 'order.depart' },
  'POST /api/v1/orders/:id/deliver': { params: async (c, o) => ({ id: o === c.a ? await c.newOrder('in_transit') : o.orderId }), audit: 'order.deliver' },
  'POST /api/v1/orders/:id/fail': { params: async (c, o) => ({ id: o === c.a ? await c.newOrder('in_transit') : o.orderId }), body: () => ({ reason: 'walk' }), audit: 'order.fail' },
  'POST /api/v1/orders/:id/cancel': { params: async (c, o) => ({ id: o === c.a ? await c.newOrder('pending') : o.orderId }), body: () => ({ reason: 'walk' }), audit: 'order.cancel' },
  'POST /api/v1/orders/bulk': { body: async (c) => ({ action: 'cancel', ids: [await c.newOrder('pending')], reason: 'walk' }), audit: 'order.cancel' },
  'POST /api/v1/orders/bulk-assign': {
    body: async (c) => ({ assignments: [{ orderId: await c.newOrder('pending'), driverId: c.a.walkDriver.id, vehicleId: c.a.walkVehicleId }] }), audit: 'order.assign',
  },
  'POST /api/v1/orders/:id/proof-of-delivery': {
    params: async (c, o) => ({ id: o === c.a ? await c.newOrder('in_transit') : o.podOrderId }), query: '?recipientName=Walker', body: pdfForm, audit: 'order.proof_of_delivery',
  },
  'GET /api/v1/orders/:id/proof-of-delivery': { params: (_c, o) => ({ id: o.podOrderId }) },
  'GET /api/v1/me/orders': { asDriver: true },
  'GET /api/v1/me/orders/:id': { asDriver: true, params: (_c, o) => ({ id: o.orderId }) },
  'GET /api/v1/me/orders/:id/activity': { asDriver: true, params: (_c, o) => ({ id: o.orderId }) },
  'POST /api/v1/me/orders/:id/pick-up': { asDriver: true, params: async (c, o) => ({ id: o === c.a ? await c.newOrder('assigned') : o.podOrderId }), audit: 'order.pick_up' },
  'POST /api/v1/me/orders/:id/depart': { asDriver: true, params: async (c, o) => ({ id: o === c.a ? await c.newOrder('picked_up') : o.podOrderId }), audit: 'order.depart' },
  'POST /api/v1/me/orders/:id/deliver': { asDriver: true, params: async (c, o) => ({ id: o === c.a ? await c.newOrder('in_transit') : o.podOrderId }), audit: 'order.deliver' },
  'POST /api/v1/me/orders/:id/fail': {
    asDriver: true, params: async (c, o) => ({ id: o === c.a ? await c.newOrder('in_transit') : o.podOrderId }), body: () => ({ reason: 'walk' }), audit: 'order.fail',
  },
  'POST /api/v1/me/orders/:id/proof-of-delivery': {
    asDriver: true, params: async (c, o) => ({ id: o === c.a ? await c.newOrder('in_transit') : o.podOrderId }), query: '?recipientName=Walker', body: pdfForm,
    audit: 'order.proof_of_delivery',
  },
  'GET /api/v1/me/orders/:id/proof-of-delivery': { asDriver: true, params: (_c, o) => ({ id: o.podOrderId }) },
  'POST /api/v1/tickets': { body: () => ({ category: 'other', description: 'Walk ticket' }), audit: 'ticket.open', expect: 201 },
  'GET /api/v1/tickets': {},
  'GET /api/v1/tickets/export': {},
  'GET /api/v1/tickets/:id': { params: (_c, o) => ({ id: o.ticketId }) },
  'GET /api/v1/tickets/:id/timeline': { params: (_c, o) => ({ id: o.ticketId }) },
  'POST /api/v1/tickets/:id/start': { params: async (c, o) => ({ id: o === c.a ? await c.newTicket('open') : o.ticketId }), audit: 'ticket.start' },
  'POST /api/v1/tickets/:id/resolve': { params: async (c, o) => ({ id: o === c.a ? await c.newTicket('open') : o.ticketId }), audit: 'ticket.resolve' },
  'POST /api/v1/tickets/:id/close': { params: async (c, o) => ({ id: o === c.a ? await c.newTicket('resolved') : o.ticketId }), audit: 'ticket.close' },
  'POST /api/v1/tickets/:id/reopen': { params: async (c, o) => ({ id: o === c.a ? await c.newTicket('resolved') : o.ticketId }), audit: 'ticket.reopen' },
  'POST /api/v1/tickets/:id/assign': { params: (_c, o) => ({ id: o.ticketId }), body: (c) => ({ assigneeId: c.a.adminId }), audit: 'ticket.assign' },
  'POST /api/v1/tickets/:id/comments': { params: (_c, o) => ({ id: o.ticketId }), body: () => ({ body: 'Walk comment' }), audit: 'ticket.comment' },
  'POST /api/v1/tickets/:id/photos': { params: (_c, o) => ({ id: o.ticketId }), body: pdfForm, audit: 'ticket.photo' },
  'GET /api/v1/tickets/:id/photos/:photoId': { params: (_c, o) => ({ id: o.ticketId, photoId: o.ticketPhotoId }) },
  'POST /api/v1/tickets/bulk': { body: async (c) => ({ action: 'start', ids: [await c.newTicket('open')] }), audit: 'ticket.start' },
  'POST /api/v1/tickets/bulk-assign': { body: async (c) => ({ ids: [await c.newTicket('open')], assigneeId: c.a.adminId }), audit: 'ticket.assign' },
  'POST /api/v1/me/tickets': { asDriver: true, body: () => ({ category: 'app_issue', description: 'Walk ticket' }), audit: 'ticket.open', expect: 201 },
  'GET /api/v1/me/tickets': { asDriver: true },
  'GET /api/v1/me/tickets/:id': { asDriver: true, params: (_c, o) => ({ id: o.driverTicketId }) },
  'GET /api/v1/me/tickets/:id/timeline': { asDriver: true, params: (_c, o) => ({ id: o.driverTicketId }) },
  'POST /api/v1/me/tickets/:id/comments': { asDriver: true, params: (_c, o) => ({ id: o.driverTicketId }), body: () => ({ body: 'Walk comment' }), audit: 'ticket.comment' },
  'POST /api/v1/me/tickets/:id/photos': { asDriver: true, params: (_c, o) => ({ id: o.driverTicketId }), body: pdfForm, audit: 'ticket.photo' },
  'GET /api/v1/me/tickets/:id/photos/:photoId': { asDriver: true, params: (_c, o) => ({ id: o.driverTicketId, photoId: o.driverTicketPhotoId }) },
  'POST /api/v1/organizations': { body: () => ({ name: 'Walk org', admin: { email: uniqueEmail(), password: 'walk admin password' } }), audit: 'organization.create', expect: 201 },
  'GET /api/v1/organizations': {},
  'POST /api/v1/users': { body: () => ({ email: uniqueEmail(), password: 'walk user password', name: 'Walker', role: 'analyst' }), audit: 'user.create', expect: 201 },
  'GET /api/v1/users': {},
  'GET /api/v1/users/:id': { params: (_c, o) => ({ id: o.userId }) },
  'PUT /api/v1/users/:id/role': { params: async (c, o) => ({ id: o === c.a ? await c.newUser() : o.userId }), body: () => ({ role: 'dispatcher' }), audit: 'user.role_change' },
  'POST /api/v1/users/:id/deactivate': { params: async (c, o) => ({ id: o === c.a ? await c.newUser() : o.userId }), audit: 'user.deactivate' },
  'POST /api/v1/users/:id/activate': { params: async (c, o) => ({ id: o === c.a ? await c.newUser() : o.userId }), audit: 'user.activate' },
  'POST /api/v1/users/:id/password': { params: async (c, o) => ({ id: o === c.a ? await c.newUser() : o.userId }), body: () => ({ password: 'walk new password' }), audit: 'user.password_reset' },
  'GET /api/v1/dashboards/fleet': {},
  'GET /api/v1/dashboards/vehicles/:id': { params: (_c, o) => ({ id: o.vehicleId }) },
  'GET /api/v1/dashboards/drivers/:id': { params: (_c, o) => ({ id: o.driverId }) },
  'GET /api/v1/analytics/heatmap': { query: '?minLat=52&minLon=13&maxLat=53&maxLon=14' },
  'GET /api/v1/trips': {},
  'GET /api/v1/events': {},
  'POST /api/v1/analytics/replays': { body: (c) => ({ vehicleIds: [c.a.vehicleId], from: '2026-01-01T00:00:00Z' }), audit: 'analytics.replay_requested', expect: 202 },
  'GET /api/v1/analytics/replays/:id': { params: (_c, o) => ({ id: o.replayId }) },
  'GET /api/v1/audit': {},
  'GET /api/v1/audit/export': {},
  'POST /api/v1/geofences': { body: () => ({ name: 'Walk yard', kind: 'circle', center: { lat: 52.5, lon: 13.4 }, radiusM: 200 }), audit: 'geofence.create', expect: 201 },
  'GET /api/v1/geofences': {},
  'GET /api/v1/geofences/:id': { params: (_c, o) => ({ id: o.geofenceId }) },
  'PATCH /api/v1/geofences/:id': { params: (_c, o) => ({ id: o.geofenceId }), body: () => ({ speedLimitKmh: 30 }), audit: 'geofence.update' },
  'DELETE /api/v1/geofences/:id': { params: async (c, o) => ({ id: o === c.a ? await c.newGeofence() : o.geofenceId }), audit: 'geofence.delete', expect: 204 },
  'PUT /api/v1/vehicles/:id/destination': { params: (_c, o) => ({ id: o.vehicleId }), body: () => ({ lat: 52.52, lon: 13.405 }), audit: 'vehicle.destination_set' },
  'GET /api/v1/vehicles/:id/destination': { params: (_c, o) => ({ id: o.vehicleId }) },
  'DELETE /api/v1/vehicles/:id/destination': {
    params: async (c, o) => ({ id: o === c.a ? await c.vehicleWithDestination() : o.vehicleId }), audit: 'vehicle.destination_clear', expect: 204,
  },
  'POST /api/v1/alert-rules': { body: () => ({ name: 'Walk rule', kind: 'device_event', recipient: { role: 'dispatcher' } }), audit: 'alert_rule.create', expect: 201 },
  'GET /api/v1/alert-rules': {},
  'GET /api/v1/alert-rules/:id': { params: (_c, o) => ({ id: o.alertRuleId }) },
  'PATCH /api/v1/alert-rules/:id': { params: (_c, o) => ({ id: o.alertRuleId }), body: () => ({ minSeverity: 'critical' }), audit: 'alert_rule.update' },
  'DELETE /api/v1/alert-rules/:id': { params: async (c, o) => ({ id: o === c.a ? await c.newAlertRule() : o.alertRuleId }), audit: 'alert_rule.delete', expect: 204 },
  'GET /api/v1/analytics/settings': {},
  'PUT /api/v1/analytics/settings': { body: () => ({ overspeedLimitKmh: 85 }), audit: 'analytics_settings.update' },
  'POST /api/v1/auth/login': { body: () => ({ email: 'admin@test.local', password: 'correct horse battery' }), audit: 'auth.login' },
  'POST /api/v1/auth/refresh': { body: async (c) => ({ refreshToken: await c.refreshToken() }), audit: 'auth.refresh' },
  'POST /api/v1/auth/logout': { body: async (c) => ({ refreshToken: await c.refreshToken() }), audit: 'auth.logout', expect: 204 },
}

let platform: TestPlatform
let base: string
let ctx: Ctx
let routes: RouteAccess[]
const roleTokens = new Map<Role, string>()

const key = (r: { method: string; url: string }) => `${r.method} ${r.url}`
const fill = (url: string, params: Record<string, string>) => url.replace(/:(\w+)/g, (_m, name: string) => params[name] ?? randomUUID())
const isMutation = (method: string) => !['GET', 'HEAD', 'OPTIONS'].includes(method)

async function createUser(token: string, role: Role): Promise<{ id: string; email: string; password: string }> {
  const body = { email: uniqueEmail(), password: 'walk user password', name: `Walker ${role}`, role }
  const res = await api(base, 'POST', '/api/v1/users', { token, body })
  if (res.status !== 201) throw new Error(`create user: ${res.status} ${JSON.stringify(res.body)}`)
  return { id: res.body.id, email: body.email, password: body.password }
}

async function setUpOrg(adminToken: string): Promise<Org> {
  const me = await api(base, 'GET', '/api/v1/users?role=operational_admin', { token: adminToken })
  const vehicle = await provisionVehicle(base, adminToken, 'Walk fixture')
  const user = await createUser(adminToken, 'analyst')
  const driver = await api(base, 'POST', '/api/v1/drivers', { token: adminToken, body: { name: 'Walk fixture driver' } })
  const adminId = me.body.items[0].id as string
  const orgId = (await platform.postgres.pool.query('SELECT org_id FROM users WHERE id = $1', [adminId])).rows[0].org_id as string
  const sent = await platform.notifications!.dispatcher.notify({
    orgId, recipient: { userId: adminId }, kind: 'walk.fixture', entity: { type: 'walk', id: 'fixture' }, title: 'Walk fixture', body: '',
  })
  const driverDocument = await api(base, 'POST', `/api/v1/drivers/${driver.body.id}/documents?kind=licence`, { token: adminToken, body: pdfForm() })
  const vehicleDocument = await api(base, 'POST', `/api/v1/vehicles/${vehicle.vehicleId}/documents?kind=insurance`, { token: adminToken, body: pdfForm() })
  const replay = await api(base, 'POST', '/api/v1/analytics/replays', { token: adminToken, body: { vehicleIds: [vehicle.vehicleId], from: '2026-01-01T00:00:00Z' } })
  const geofence = await api(base, 'POST', '/api/v1/geofences', { token: adminToken, body: { name: 'Walk fixture', kind: 'circle', center: { lat: 1, lon: 1 }, radiusM: 100 } })
  await api(base, 'PUT', `/api/v1/vehicles/${vehicle.vehicleId}/destination`, { token: adminToken, body: { lat: 1, lon: 1 } })
  const rule = await api(base, 'POST', '/api/v1/alert-rules', { token: adminToken, body: { name: 'Walk fixture', kind: 'idling', recipient: { role: 'dispatcher' } } })
  const walkDriver = await newWalkDriver(adminToken)
  const walkVehicleId = (await provisionVehicle(base, adminToken, 'Walk dispatch van')).vehicleId
  for (const step of ['submit', 'approve', 'activate']) await api(base, 'POST', `/api/v1/vehicles/${walkVehicleId}/${step}`, { token: adminToken })
  const orderIn = (status: keyof typeof ORDER_STEPS) => orderOf(adminToken, walkDriver.id, walkVehicleId, status)
  const orderId = await orderIn('assigned')
  const podOrderId = await orderIn('in_transit')
  await api(base, 'POST', `/api/v1/orders/${podOrderId}/proof-of-delivery?recipientName=Walker`, { token: adminToken, body: pdfForm() })
  const ticket = await api(base, 'POST', '/api/v1/tickets', { token: adminToken, body: { category: 'other', description: 'Walk fixture', driverId: walkDriver.id } })
  const ticketPhoto = await api(base, 'POST', `/api/v1/tickets/${ticket.body.id}/photos`, { token: adminToken, body: pdfForm() })
  const driverTicket = await api(base, 'POST', '/api/v1/me/tickets', { token: walkDriver.token, body: { category: 'other', description: 'Walk fixture' } })
  const driverTicketPhoto = await api(base, 'POST', `/api/v1/me/tickets/${driverTicket.body.id}/photos`, { token: walkDriver.token, body: pdfForm() })
  return {
    adminToken, adminId, vehicleId: vehicle.vehicleId, deviceId: vehicle.deviceId, userId: user.id, driverId: driver.body.id,
    notificationId: sent.notificationIds[0]!, driverDocumentId: driverDocument.body.id, vehicleDocumentId: vehicleDocument.body.id,
    geofenceId: geofence.body.id, alertRuleId: rule.body.id, replayId: replay.body.id,
    walkDriver, walkVehicleId, orderId, podOrderId,
    ticketId: ticket.body.id, ticketPhotoId: ticketPhoto.body.photoIds[0], driverTicketId: driverTicket.body.id, driverTicketPhotoId: driverTicketPhoto.body.photoIds[0],
  }
}

/** A driver approved straight in the database (onboarding has routes of its own in this walk), with a login. */
async function newWalkDriver(adminToken: string) {
  const driver = await api(base, 'POST', '/api/v1/drivers', { token: adminToken, body: { name: 'Walk dispatch driver' } })
  await platform.postgres.pool.query(`UPDATE drivers SET state = 'approved' WHERE id = $1`, [driver.body.id])
  const email = uniqueEmail()
  const account = await api(base, 'POST', `/api/v1/drivers/${driver.body.id}/account`, { token: adminToken, body: { email, password: 'walk driver password' } })
  return { id: driver.body.id as string, userId: account.body.userId as string, token: await login(base, email, 'walk driver password') }
}

/** A new order of the driver on the vehicle, brought to a status through the API. */
async function orderOf(adminToken: string, driverId: string, vehicleId: string, status: keyof typeof ORDER_STEPS): Promise<string> {
  const order = await api(base, 'POST', '/api/v1/orders', { token: adminToken, body: orderBody() })
  for (const step of ORDER_STEPS[status]) {
    const res = await api(base, 'POST', `/api/v1/orders/${order.body.id}/${step}`, { token: adminToken, body: step === 'assign' ? { driverId, vehicleId } : undefined })
    if (res.status !== 200) throw new Error(`${step}: ${res.status} ${JSON.stringify(res.body)}`)
  }
  return order.body.id as string
}

const CHECK_SECRET = 'walk-background-check-secret-0123456789'
let vendor: Server

beforeAll(async () => {
  // The background-check vendor, the one outside service we cannot run: answers a reference.
  vendor = createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ reference: `walk-${randomUUID()}` })))
  await new Promise<void>((r) => vendor.listen(0, '127.0.0.1', r))
  platform = await startTestPlatform({
    BACKGROUND_CHECK_URL: `http://127.0.0.1:${(vendor.address() as AddressInfo).port}/`, BACKGROUND_CHECK_SECRET: CHECK_SECRET,
  })
  base = platform.apiUrl
  routes = platform.api!.routes.filter((r) => r.method !== 'HEAD' && !r.url.startsWith('/docs'))
  const adminToken = await login(base)
  const bEmail = uniqueEmail()
  const org = await api(base, 'POST', '/api/v1/organizations', { token: adminToken, body: { name: 'Org B', admin: { email: bEmail, password: 'org b admin password' } } })
  expect(org.status).toBe(201)
  const a = await setUpOrg(adminToken)
  const b = await setUpOrg(await login(base, bEmail, 'org b admin password'))
  ctx = {
    a, b,
    newUser: async () => (await createUser(adminToken, 'analyst')).id,
    newDriver: async (stage) => {
      const id = (await api(base, 'POST', '/api/v1/drivers', { token: adminToken, body: { name: `Walk ${stage}` } })).body.id as string
      const steps: Array<() => Promise<unknown>> = [
        () => api(base, 'POST', `/api/v1/drivers/${id}/background-check`, { token: adminToken }),
        async () => {
          const body = JSON.stringify({ reference: await ctx.checkReference(id), result: 'passed' })
          await fetch(`${base}/api/v1/drivers/background-check/callback`, {
            method: 'POST', body, headers: { 'content-type': 'application/json', [SIGNATURE_HEADER]: signBody(CHECK_SECRET, body) },
          })
        },
        () => api(base, 'POST', `/api/v1/drivers/${id}/training`, { token: adminToken, body: { modules: ['safety-101'] } }),
        () => api(base, 'POST', `/api/v1/drivers/${id}/training/safety-101/complete`, { token: adminToken }),
        () => api(base, 'POST', `/api/v1/drivers/${id}/approve`, { token: adminToken }),
        () => api(base, 'POST', `/api/v1/drivers/${id}/activate`, { token: adminToken }),
      ]
      const stages: DriverStage[] = ['applicant', 'background_check', 'passed', 'training', 'trained', 'approved', 'active']
      for (const step of steps.slice(0, stages.indexOf(stage))) await step()
      return id
    },
    checkReference: async (driverId) =>
      (await platform.postgres.pool.query('SELECT background_check_ref AS r FROM drivers WHERE id = $1', [driverId])).rows[0].r as string,
    driverToken: async () => {
      const email = uniqueEmail()
      await api(base, 'POST', `/api/v1/drivers/${a.driverId}/account`, { token: adminToken, body: { email, password: 'walk driver password' } })
      return login(base, email, 'walk driver password')
    },
    newGeofence: async () =>
      (await api(base, 'POST', '/api/v1/geofences', { token: adminToken, body: { name: 'Walk fresh', kind: 'circle', center: { lat: 1, lon: 1 }, radiusM: 100 } })).body.id as string,
    newAlertRule: async () =>
      (await api(base, 'POST', '/api/v1/alert-rules', { token: adminToken, body: { name: 'Walk fresh', kind: 'idling', recipient: { role: 'dispatcher' } } })).body.id as string,
    vehicleWithDestination: async () => {
      const id = (await api(base, 'POST', '/api/v1/vehicles', { token: adminToken, body: { name: 'Walk heading' } })).body.id as string
      await api(base, 'PUT', `/api/v1/vehicles/${id}/destination`, { token: adminToken, body: { lat: 1, lon: 1 } })
      return id
    },
    newDevice: async () => (await api(base, 'POST', '/api/v1/devices', { token: adminToken, body: { kind: 'gps', vehicleId: a.vehicleId } })).body.id as string,
    newVehicle: async (state) => {
      const v = await api(base, 'POST', '/api/v1/vehicles', { token: adminToken, body: { name: `Walk ${state}` } })
      const path = { draft: [], in_review: ['submit'], approved: ['submit', 'approve'], active: ['submit', 'approve', 'activate'] }[state]
      for (const step of path) {
        const res = await api(base, 'POST', `/api/v1/vehicles/${v.body.id}/${step}`, { token: adminToken })
        if (res.status !== 200) throw new Error(`${step}: ${res.status} ${JSON.stringify(res.body)}`)
      }
      return v.body.id as string
    },
    newOrder: (status) => orderOf(adminToken, a.walkDriver.id, a.walkVehicleId, status),
    newTicket: async (status) => {
      const t = await api(base, 'POST', '/api/v1/tickets', { token: adminToken, body: { category: 'other', description: `Walk ${status}`, driverId: a.walkDriver.id } })
      if (status === 'resolved') await api(base, 'POST', `/api/v1/tickets/${t.body.id}/resolve`, { token: adminToken })
      return t.body.id as string
    },
    refreshToken: async () => (await api(base, 'POST', '/api/v1/auth/login', { body: { email: 'admin@test.local', password: 'correct horse battery' } })).body.refreshToken,
  }
  for (const role of Object.keys(ROLES) as Role[]) {
    const u = await createUser(adminToken, role)
    roleTokens.set(role, await login(base, u.email, u.password))
  }
})
afterAll(async () => {
  await platform?.close()
  vendor?.close()
})

/**
 * A token of org A without the permission: a role lacking it, or for
 * organizations:manage an organization's own admin; undefined when every user
 * holds it (reading your own notifications).
 */
function tokenLacking(permission: Permission): string | undefined {
  const role = (Object.keys(ROLES) as Role[]).find((r) => !(ROLES[r] as readonly Permission[]).includes(permission))
  if (role) return roleTokens.get(role)!
  return permission === 'organizations:manage' ? roleTokens.get('operational_admin')! : undefined
}

describe('the route table', () => {
  it('has an entry in this walk for every route, and no stale entries', () => {
    const guarded = routes.filter((r) => !r.public).map(key).sort()
    expect(guarded.filter((k) => !ROUTES[k])).toEqual([])
    const all = new Set(routes.map(key))
    expect(Object.keys(ROUTES).filter((k) => !all.has(k))).toEqual([])
  })

  it('makes public only the short list; every other route declares a permission', () => {
    expect(routes.filter((r) => r.public).map(key).sort()).toEqual([...PUBLIC].sort())
    for (const r of routes.filter((x) => !x.public)) expect(r.permission, key(r)).toBeDefined()
  })

  it('answers 401 without a token and 403 to a role without the permission, on every guarded route', async () => {
    for (const r of routes.filter((x) => !x.public)) {
      const url = fill(r.url, {})
      const anonymous = await api(base, r.method, url, { body: isMutation(r.method) ? {} : undefined })
      expect(anonymous.status, `${key(r)} without a token`).toBe(401)
      const lacking = tokenLacking(r.permission!)
      if (!lacking) continue
      const denied = await api(base, r.method, url, { token: lacking, body: isMutation(r.method) ? {} : undefined })
      expect(denied.status, `${key(r)} without ${r.permission}`).toBe(403)
      expect(denied.body.code).toBe('forbidden')
    }
  })
})

/** Everything a route with this id could change: the user, vehicle, device, driver, geofence, alert rule, order or ticket row, the vehicle's devices and destination, the owner's documents. */
async function stateOf(id: string) {
  const { rows } = await platform.postgres.pool.query(
    `SELECT (SELECT row_to_json(u) FROM users u WHERE u.id = $1) AS "user",
            (SELECT row_to_json(v) FROM vehicles v WHERE v.id = $1) AS vehicle,
            (SELECT row_to_json(d) FROM devices d WHERE d.id = $1) AS device,
            (SELECT row_to_json(r) FROM drivers r WHERE r.id = $1) AS driver,
            (SELECT row_to_json(n) FROM notifications n WHERE n.id = $1) AS notification,
            (SELECT row_to_json(g) FROM geofences g WHERE g.id = $1) AS geofence,
            (SELECT row_to_json(r) FROM alert_rules r WHERE r.id = $1) AS alert_rule,
            (SELECT row_to_json(d) FROM vehicle_destinations d WHERE d.vehicle_id = $1) AS destination,
            (SELECT row_to_json(o) FROM orders o WHERE o.id = $1) AS "order",
            (SELECT row_to_json(t) FROM tickets t WHERE t.id = $1) AS ticket,
            (SELECT count(*)::int FROM documents d WHERE d.owner_id = $1) AS documents,
            (SELECT count(*)::int FROM devices d WHERE d.vehicle_id = $1) AS devices`,
    [id],
  )
  return rows[0]
}

describe('tenancy, route by route', () => {
  it("answers 404 on every route taking an id when the id is another organization's, and changes nothing", async () => {
    const withId = routes.filter((r) => !r.public && r.url.includes(':id'))
    expect(withId.length).toBeGreaterThan(5)
    for (const r of withId) {
      const c = ROUTES[key(r)]!
      const params = await c.params!(ctx, ctx.a)
      const body = c.body ? await c.body(ctx) : undefined
      const auditBefore = (await platform.postgres.pool.query('SELECT count(*)::int AS n FROM audit_log')).rows[0].n
      const before = await stateOf(params.id!)
      const res = await api(base, r.method, `${fill(r.url, params)}${c.query ?? ''}`, { token: c.asDriver ? ctx.b.walkDriver.token : ctx.b.adminToken, body })
      expect(res.status, `${key(r)} with org A's id as org B`).toBe(404)
      expect(res.body.code).toBe('not_found')
      const auditAfter = (await platform.postgres.pool.query('SELECT count(*)::int AS n FROM audit_log')).rows[0].n
      expect(auditAfter, `${key(r)} wrote nothing`).toBe(auditBefore)
      expect(await stateOf(params.id!), `${key(r)} changed nothing`).toEqual(before)
    }
  })
})

describe('audit, route by route', () => {
  it('writes exactly one audit row with actor, action and after for every mutating route', async () => {
    const mutating = routes.filter((r) => isMutation(r.method) && r.method !== 'OPTIONS')
    expect(mutating.length).toBeGreaterThan(8)
    for (const r of mutating) {
      const c = ROUTES[key(r)]!
      expect(c.audit, `${key(r)} names its audit action`).toBeDefined()
      const params = c.params ? await c.params(ctx, ctx.a) : {}
      const requestId = `walk-${randomUUID()}`
      const body = c.body ? await c.body(ctx) : undefined
      const res = await api(base, r.method, `${fill(r.url, params)}${c.query ?? ''}`, {
        token: r.public ? undefined : c.asDriver ? ctx.a.walkDriver.token : ctx.a.adminToken,
        body,
        headers: { 'x-request-id': requestId, ...c.headers?.(body) },
      })
      expect(res.status, `${key(r)}: ${JSON.stringify(res.body)}`).toBe(c.expect ?? 200)
      const { rows } = await platform.postgres.pool.query('SELECT * FROM audit_log WHERE request_id = $1', [requestId])
      expect(rows.map((x) => x.action), key(r)).toEqual([c.audit])
      expect(rows[0].actor_id, `${key(r)} actor`).toBe(c.actor === 'none' ? null : c.asDriver ? ctx.a.walkDriver.userId : ctx.a.adminId)
      expect(rows[0].ip).toBeTruthy()
      if (!r.url.startsWith('/api/v1/auth/') && c.actor !== 'none') {
        expect(rows[0].after, `${key(r)} after`).not.toBeNull()
        if (params.id && r.url.startsWith('/api/v1/users/')) expect(rows[0].before, `${key(r)} before`).not.toBeNull()
      }
    }
  })
})

describe('reads, route by route', () => {
  it('answers every GET route for its own organization', async () => {
    for (const r of routes.filter((x) => !x.public && x.method === 'GET')) {
      const c = ROUTES[key(r)]!
      const params = c.params ? await c.params(ctx, ctx.a) : {}
      const token = c.token ? await c.token(ctx) : c.asDriver ? ctx.a.walkDriver.token : ctx.a.adminToken
      const res = await api(base, 'GET', `${fill(r.url, params)}${c.query ?? ''}`, { token })
      expect(res.status, `${key(r)}: ${JSON.stringify(res.body)}`).toBe(c.expect ?? 200)
      // Every list is a page: {items, nextCursor}, with a capped page size.
      if (Array.isArray(res.body?.items)) {
        expect(res.body, `${key(r)} is a page`).toHaveProperty('nextCursor')
        const tooBig = await api(base, 'GET', `${fill(r.url, params)}?limit=100000`, { token })
        expect(tooBig.status, `${key(r)} caps its page size`).toBe(400)
      }
    }
  })
})
