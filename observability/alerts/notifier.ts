import { hostname } from 'node:os'
import { setTimeout as sleep } from 'node:timers/promises'
import { z } from 'zod'
import { errorMessage, isRetriable } from '../../core/errors.ts'
import type { Logger } from '../../core/logger.ts'
import { redactSecrets } from '../../core/secrets.ts'
import { delayFor } from '../../core/retry.ts'
import type { Telemetry } from '../../core/telemetry.ts'
import { AlertPolicy, type AlertThresholds, type AlertTransition } from './alert-policy.ts'
import type { AlertChannel, AlertNotice } from './channels/channel.ts'
import { createEmailChannel, emailChannelSchema } from './channels/email.ts'
import { createPagerDutyChannel, pagerDutyChannelSchema } from './channels/pagerduty.ts'
import { createSlackChannel, slackChannelSchema } from './channels/slack.ts'
import { createWebhookChannel, webhookChannelSchema } from './channels/webhook.ts'

export const alertChannelSchema = z.discriminatedUnion('type', [slackChannelSchema, pagerDutyChannelSchema, webhookChannelSchema, emailChannelSchema])
export const alertsConfigSchema = z.array(alertChannelSchema).default([])
export type AlertChannelConfig = z.infer<typeof alertChannelSchema>
export type AlertsConfig = z.infer<typeof alertsConfigSchema>

export interface RetryOptions {
  /** Tries per notice and channel, the first included. */
  attempts: number
  /** Wait before the first retry; doubles each time. */
  initialDelayMs: number
}

const DEFAULT_RETRY: RetryOptions = { attempts: 4, initialDelayMs: 1000 }
/** The longest wait between two tries of one notice. */
const MAX_DELAY_MS = 30_000
/** How long `close()` waits for notices still being delivered. */
const CLOSE_GRACE_MS = 5000

/**
 * Watches telemetry through the alert policy and sends one notice per transition to every configured channel.
 * Delivery is fire-and-forget for the pipeline: per channel, notices go out in order (a resolve never overtakes its
 * trigger); a failing channel is retried with backoff, then logged (without secrets) and given up on.
 */
export function createAlerts(options: {
  /** The validated `alerts` slice of the config: one entry per channel. */
  config: Readonly<AlertsConfig>
  /** The validated `alertThresholds` slice. */
  thresholds: Readonly<AlertThresholds>
  telemetry: Telemetry
  logger: Logger
  retry?: Partial<RetryOptions>
}): { close(): Promise<void> } {
  const channels = options.config.map(createChannel)
  const policy = new AlertPolicy(options.thresholds)
  const retry = { ...DEFAULT_RETRY, ...options.retry }
  const logger = options.logger.child({ component: 'alerts' })
  const source = hostname()
  const closing = new AbortController()
  const queues = new Map<AlertChannel, Promise<void>>(channels.map((channel) => [channel, Promise.resolve()]))
  let timer: NodeJS.Timeout | undefined

  const handle = (transitions: AlertTransition[]) => {
    for (const transition of transitions) dispatch(transition)
    schedule()
  }

  const off = [
    options.telemetry.on('state', (e) => handle(policy.observeState(e, Date.now()))),
    options.telemetry.on('rejected', (e) => handle(policy.observeRejected(e, Date.now()))),
    options.telemetry.on('checkpoint', (e) => handle(policy.observeCheckpoint(e, Date.now()))),
    options.telemetry.on('slotHealth', (e) => handle(policy.observeSlot(e, Date.now()))),
    options.telemetry.on('parked', (e) => handle(policy.observeParked(e, Date.now()))),
  ]

  function schedule(): void {
    clearTimeout(timer)
    const deadline = policy.nextDeadline()
    if (deadline === undefined || closing.signal.aborted) return
    timer = setTimeout(() => handle(policy.tick(Date.now())), Math.max(0, deadline - Date.now()))
    timer.unref()
  }

  function dispatch(transition: AlertTransition): void {
    const notice: AlertNotice = { ...transition, summary: redactSecrets(transition.summary), dedupKey: `rowcast/${transition.sync}/${transition.kind}`, source }
    const log = transition.action === 'trigger' ? logger.warn.bind(logger) : logger.info.bind(logger)
    log({ sync: notice.sync, kind: notice.kind, action: notice.action, channels: channels.length }, notice.summary)
    for (const [channel, queue] of queues) queues.set(channel, queue.then(() => deliver(channel, notice)))
  }

  async function deliver(channel: AlertChannel, notice: AlertNotice): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await channel.send(notice)
        logger.debug({ sync: notice.sync, kind: notice.kind, channel: channel.type, attempt }, 'alert delivered')
        return
      } catch (error) {
        const last = attempt >= retry.attempts || !isRetriable(error) || closing.signal.aborted
        const fields = { sync: notice.sync, kind: notice.kind, action: notice.action, channel: channel.type, attempt, error: redactSecrets(errorMessage(error)) }
        logger.warn(fields, last ? 'alert channel failed, giving up on this notice' : 'alert channel failed, retrying')
        if (last) return
        await sleep(delayFor({ initialMs: retry.initialDelayMs, maxMs: MAX_DELAY_MS }, attempt - 1), undefined, { signal: closing.signal }).catch(() => undefined)
      }
    }
  }

  return {
    async close() {
      for (const unsubscribe of off) unsubscribe()
      clearTimeout(timer)
      closing.abort() // a retry waiting out its backoff tries once more, now, and then gives up
      const grace = sleep(CLOSE_GRACE_MS, undefined, { ref: false })
      await Promise.race([Promise.allSettled(queues.values()), grace])
      for (const channel of channels) channel.close?.()
    },
  }
}

function createChannel(config: AlertChannelConfig): AlertChannel {
  switch (config.type) {
    case 'slack':
      return createSlackChannel(config)
    case 'pagerduty':
      return createPagerDutyChannel(config)
    case 'webhook':
      return createWebhookChannel(config)
    case 'email':
      return createEmailChannel(config)
  }
}
