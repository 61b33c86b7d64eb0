import { z } from 'zod'
import { secret, urlPassword } from '../../../core/secret-field.ts'
import { postJson, type AlertChannel, type AlertNotice } from './channel.ts'

export const webhookChannelSchema = z
  .object({
    type: z.literal('webhook'),
    url: secret(z.string().url(), urlPassword),
    /** Extra request headers (e.g. an Authorization header from `${ENV_VAR}`). */
    headers: z.record(secret(z.string())).default({}),
  })
  .strict()
export type WebhookChannelConfig = z.infer<typeof webhookChannelSchema>

/** The generic webhook's JSON body (documented in the README); `version` changes only on breaking changes. */
export interface WebhookBody {
  version: 1
  action: 'trigger' | 'resolve'
  sync: string
  kind: string
  summary: string
  dedupKey: string
  source: string
  time: string
}

export function createWebhookChannel(config: WebhookChannelConfig): AlertChannel {
  return { type: 'webhook', send: (notice) => postJson(config.url, webhookBody(notice), config.headers) }
}

export function webhookBody(notice: AlertNotice): WebhookBody {
  const { action, sync, kind, summary, dedupKey, source, time } = notice
  return { version: 1, action, sync, kind, summary, dedupKey, source, time: new Date(time).toISOString() }
}
