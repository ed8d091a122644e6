/**
 * POSTs JSON for the webhook and SMS channels. Webhook URLs are written by
 * organizations, so by default a request may reach public addresses only: the
 * check runs on the address actually connected to (in the socket's DNS lookup),
 * so a name that resolves to 127.0.0.1 or the cloud metadata address is refused
 * too. Redirects are not followed; any status but 2xx is a failed attempt.
 */
import dns from 'node:dns'
import http from 'node:http'
import https from 'node:https'
import net, { type LookupFunction } from 'node:net'
import { DeliveryError } from './channel.js'

const PRIVATE = new net.BlockList()
for (const [address, prefix] of [
  ['0.0.0.0', 8], ['10.0.0.0', 8], ['100.64.0.0', 10], ['127.0.0.0', 8], ['169.254.0.0', 16], ['172.16.0.0', 12],
  ['192.0.0.0', 24], ['192.168.0.0', 16], ['198.18.0.0', 15], ['224.0.0.0', 4], ['240.0.0.0', 4],
] as const) PRIVATE.addSubnet(address, prefix, 'ipv4')
for (const [address, prefix] of [['::', 128], ['::1', 128], ['fc00::', 7], ['fe80::', 10], ['ff00::', 8]] as const) PRIVATE.addSubnet(address, prefix, 'ipv6')

/** Loopback, private, link-local (cloud metadata), carrier-grade NAT, multicast and reserved ranges. */
export function isPrivateAddress(address: string): boolean {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)
  if (mapped) return PRIVATE.check(mapped[1]!, 'ipv4')
  const family = net.isIP(address)
  if (family === 0) return true
  return PRIVATE.check(address, family === 4 ? 'ipv4' : 'ipv6')
}

const publicOnlyLookup: LookupFunction = (hostname, options, callback) => {
  dns.lookup(hostname, { ...options, all: true }, (err, addresses) => {
    if (err) return callback(err, '', 0)
    const refused = addresses.find((a) => isPrivateAddress(a.address))
    if (refused || addresses.length === 0) {
      const error = Object.assign(new Error(`${hostname} resolves to a private address (${refused?.address ?? 'none'})`), { code: 'EPRIVATEADDRESS' })
      return callback(error, '', 0)
    }
    // The callback's shape follows the caller's `all` option.
    if (options.all) return (callback as unknown as (e: null, a: dns.LookupAddress[]) => void)(null, addresses)
    callback(null, addresses[0]!.address, addresses[0]!.family)
  })
}

/** A URL whose host is an IP literal or localhost is checked at once (no lookup runs for those). */
export function privateHostOf(url: URL): string | undefined {
  const host = url.hostname.replace(/^\[|\]$/g, '')
  if (host === 'localhost' || host.endsWith('.localhost')) return host
  return net.isIP(host) !== 0 && isPrivateAddress(host) ? host : undefined
}

export interface PostOptions {
  timeoutMs: number
  allowPrivate: boolean
}

/** Answers the status of a 2xx response; throws a DeliveryError (with the status, when there was one) otherwise. */
export function postJson(target: string, body: string, headers: Record<string, string>, options: PostOptions): Promise<number> {
  let url: URL
  try {
    url = new URL(target)
  } catch {
    return Promise.reject(new DeliveryError(`not a URL: ${target.slice(0, 200)}`, undefined, true))
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return Promise.reject(new DeliveryError(`unsupported URL scheme ${url.protocol}`, undefined, true))
  if (!options.allowPrivate) {
    const host = privateHostOf(url)
    if (host) return Promise.reject(new DeliveryError(`${host} is a private address`))
  }
  const request = url.protocol === 'https:' ? https.request : http.request
  return new Promise<number>((resolve, reject) => {
    const req = request(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)), ...headers },
      ...(options.allowPrivate ? {} : { lookup: publicOnlyLookup }),
    }, (res) => {
      const status = res.statusCode ?? 0
      let excerpt = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => {
        if (excerpt.length < 200) excerpt += chunk
      })
      res.on('end', () => {
        if (status >= 200 && status < 300) return resolve(status)
        reject(new DeliveryError(`HTTP ${status}${excerpt ? `: ${excerpt.slice(0, 200)}` : ''}`, status))
      })
      res.on('error', (err) => reject(new DeliveryError(err.message, status)))
    })
    // The whole exchange, not just socket idleness: a receiver trickling bytes cannot hold a worker.
    const timer = setTimeout(() => req.destroy(new Error(`no complete answer within ${options.timeoutMs} ms`)), options.timeoutMs)
    req.on('close', () => clearTimeout(timer))
    req.on('error', (err) => reject(err instanceof DeliveryError ? err : new DeliveryError(err.message)))
    req.end(body)
  })
}
