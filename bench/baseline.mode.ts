/**
 * Baselines on the identical load (same connections, client ids, topics,
 * fixes, QoS 1 and window), with no provisioning and no authentication:
 * - aedes: bare Aedes that acknowledges and drops; throughput = PUBACKs/s;
 * - mosquitto: Mosquitto relaying to one MQTT.js subscriber on
 *   `devices/+/telemetry` at QoS 1; throughput = messages/s the subscriber got.
 */
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { writeFile } from 'node:fs/promises'
import path from 'node:path'
import { anonymousDevices, benchSelf, closeHelper, newRun, runPhases, startLoadgen, watch, type ModeContext, type ModeRun } from './mode.js'
import { captureOutput, freePort, makeTempDir, portOpen, removeTempDir, stopChild, track, waitFor } from './processes.js'
import type { AedesSinkApi, SubscriberApi } from './protocol.js'
import { forkHelper, type RpcChild } from './rpc.js'

const MOSQUITTO = '/usr/sbin/mosquitto'

export async function runAedes(ctx: ModeContext): Promise<ModeRun> {
  const run = newRun(ctx, 'aedes')
  const sink = forkHelper<AedesSinkApi>('aedes', 'aedes-sink.child.ts')
  let loadgen: Awaited<ReturnType<typeof startLoadgen>>['loadgen'] | undefined
  try {
    const { port } = await sink.call('listen')
    const started = await startLoadgen(`mqtt://127.0.0.1:${port}`, anonymousDevices(ctx.opts.devices))
    loadgen = started.loadgen
    run.setup.connectS = started.connectS
    const lg = loadgen
    await runPhases(
      ctx,
      {
        loadgen: lg,
        withLatency: false,
        procs: [watch('aedes', sink.pid), watch('loadgen', lg.pid), benchSelf()],
        // Nothing is stored: an acknowledged fix is a delivered one.
        delivered: async () => (await lg.call('snapshot')).acked,
      },
      run,
    )
  } catch (err) {
    run.error = (err as Error).message
  } finally {
    await closeHelper(loadgen)
    await closeHelper(sink)
  }
  return run
}

/**
 * Mosquitto keeps at most 20 QoS 1 messages in flight and 1000 queued per
 * subscriber by default and drops beyond that; with one subscriber taking the
 * whole fleet's traffic both limits are lifted, so the figure is what it
 * relays, not what it discards.
 */
const mosquittoConf = (port: number) =>
  [
    `listener ${port} 127.0.0.1`,
    'allow_anonymous true',
    'persistence false',
    'max_inflight_messages 0',
    'max_queued_messages 0',
    'log_dest stderr',
    'log_type error',
    'log_type warning',
    '',
  ].join('\n')

export async function runMosquitto(ctx: ModeContext): Promise<ModeRun> {
  const run = newRun(ctx, 'mosquitto')
  if (!existsSync(MOSQUITTO)) return { ...run, skipped: `${MOSQUITTO} not installed (Debian package mosquitto)` }
  const dir = makeTempDir('fleetpulse-bench-mosquitto-')
  const port = await freePort()
  const conf = path.join(dir, 'mosquitto.conf')
  await writeFile(conf, mosquittoConf(port))
  const broker = track(spawn(MOSQUITTO, ['-c', conf], { stdio: ['ignore', 'pipe', 'pipe'] }))
  const output = captureOutput(broker)
  let subscriber: RpcChild<SubscriberApi> | undefined
  let loadgen: Awaited<ReturnType<typeof startLoadgen>>['loadgen'] | undefined
  try {
    await waitFor('mosquitto listening', async () => ((await portOpen('127.0.0.1', port)) ? true : undefined), {
      timeoutMs: 10_000, child: broker, output,
    })
    const mqttUrl = `mqtt://127.0.0.1:${port}`
    const sub = forkHelper<SubscriberApi>('subscriber', 'subscriber.child.ts')
    subscriber = sub
    await sub.call('connect', { mqttUrl, topic: 'devices/+/telemetry', qos: 1 })
    const started = await startLoadgen(mqttUrl, anonymousDevices(ctx.opts.devices))
    loadgen = started.loadgen
    run.setup.connectS = started.connectS
    await runPhases(
      ctx,
      {
        loadgen,
        withLatency: false,
        procs: [watch('mosquitto', broker.pid), watch('subscriber', sub.pid), watch('loadgen', loadgen.pid), benchSelf()],
        delivered: () => sub.call('received'),
      },
      run,
    )
  } catch (err) {
    run.error = (err as Error).message
  } finally {
    await closeHelper(loadgen)
    await closeHelper(subscriber)
    await stopChild(broker)
    removeTempDir(dir)
  }
  return run
}
