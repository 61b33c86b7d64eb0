import { z } from 'zod'
import { secret } from '../../../core/secret-field.ts'
import { postJson, type AlertChannel, type AlertNotice } from './channel.ts'

export const pagerDutyChannelSchema = z
  .object({
    type: z.literal('pagerduty'),
    /** Integration (routing) key of an Events API v2 integration. */
    routingKey: secret(z.string().min(1)),
    url: z.string().url().default('https://events.pagerduty.com/v2/enqueue'),
    severity: z.enum(['critical', 'error', 'warning', 'info']).default('critical'),
  })
  .strict()
export type PagerDutyChannelConfig = z.infer<typeof pagerDutyChannelSchema>

/** PagerDuty Events API v2: `trigger` on failure and `resolve` on recovery, sharing one dedup_key per sync and kind. */
export function createPagerDutyChannel(config: PagerDutyChannelConfig): AlertChannel {
  return { type: 'pagerduty', send: (notice) => postJson(config.url, pagerDutyBody(notice, config)) }
}

export function pagerDutyBody(notice: AlertNotice, config: Pick<PagerDutyChannelConfig, 'routingKey' | 'severity'>): Record<string, unknown> {
  const base = { routing_key: config.routingKey, dedup_key: notice.dedupKey }
  if (notice.action === 'resolve') return { ...base, event_action: 'resolve' }
  return {
    ...base,
    event_action: 'trigger',
    payload: {
      summary: notice.summary.slice(0, 1024), // PagerDuty's limit
      source: notice.source,
      severity: config.severity,
      timestamp: new Date(notice.time).toISOString(),
      component: 'rowcast',
      group: notice.sync,
      class: notice.kind,
      custom_details: { sync: notice.sync, kind: notice.kind },
    },
  }
}
