import { hostname } from 'node:os'
import type { Transporter } from 'nodemailer'
import { z } from 'zod'
import { RowcastError } from '../../../core/errors.ts'
import { headline, type AlertChannel, type AlertNotice } from './channel.ts'

export const emailChannelSchema = z
  .object({
    type: z.literal('email'),
    /** `smtp://user:pass@host:port` (STARTTLS when offered) or `smtps://…` (TLS from the start). */
    smtp: z.string().regex(/^smtps?:\/\//, 'must be an smtp:// or smtps:// URL'),
    to: z.array(z.string().email()).min(1),
    from: z.string().optional(),
  })
  .strict()
export type EmailChannelConfig = z.infer<typeof emailChannelSchema>

/** Email over SMTP (nodemailer): a subject and a plain-text body per notice. */
export function createEmailChannel(config: EmailChannelConfig): AlertChannel {
  // nodemailer (~2 MiB of heap) is loaded with the first email, not at start-up.
  let transport: Transporter | undefined
  const from = config.from ?? `rowcast@${hostname()}`
  return {
    type: 'email',
    async send(notice) {
      try {
        transport ??= (await import('nodemailer')).createTransport(config.smtp)
        await transport.sendMail({ from, to: config.to, ...emailContent(notice) })
      } catch (error) {
        // nodemailer errors can quote the server's reply, never the URL; still, keep only the message
        const message = error instanceof Error ? error.message : String(error)
        throw new RowcastError('ALERT_DELIVERY_FAILED', `smtp: ${message}`, { retriable: true, cause: error })
      }
    },
    close: () => transport?.close(),
  }
}

export function emailContent(notice: AlertNotice): { subject: string; text: string } {
  return {
    subject: `[rowcast] ${headline(notice)}`.slice(0, 200),
    text: [
      headline(notice),
      '',
      `sync:     ${notice.sync}`,
      `kind:     ${notice.kind}`,
      `status:   ${notice.action === 'trigger' ? 'failing' : 'resolved'}`,
      `time:     ${new Date(notice.time).toISOString()}`,
      `source:   ${notice.source}`,
      `alert id: ${notice.dedupKey}`,
    ].join('\n'),
  }
}
