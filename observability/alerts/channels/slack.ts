import { z } from 'zod'
import { secret } from '../../../core/secret-field.ts'
import { postJson, type AlertChannel, type AlertNotice } from './channel.ts'

export const slackChannelSchema = z
  .object({
    type: z.literal('slack'),
    /** Incoming webhook URL. */
    /** The incoming-webhook URL is itself the credential. */
    url: secret(z.string().url()),
  })
  .strict()
export type SlackChannelConfig = z.infer<typeof slackChannelSchema>

/** Slack incoming webhook: `{ text, blocks }`. */
export function createSlackChannel(config: SlackChannelConfig): AlertChannel {
  return { type: 'slack', send: (notice) => postJson(config.url, slackBody(notice)) }
}

export function slackBody(notice: AlertNotice): { text: string; blocks: unknown[] } {
  const icon = notice.action === 'trigger' ? ':rotating_light:' : ':white_check_mark:'
  const title = notice.action === 'trigger' ? 'failing' : 'recovered'
  const text = `${icon} rowcast sync \`${notice.sync}\` ${title} (${notice.kind}): ${notice.summary}`
  return {
    text,
    blocks: [
      { type: 'section', text: { type: 'mrkdwn', text } },
      { type: 'context', elements: [{ type: 'mrkdwn', text: `${notice.source} · ${new Date(notice.time).toISOString()} · ${notice.dedupKey}` }] },
    ],
  }
}
