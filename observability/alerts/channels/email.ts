import { hostname } from 'node:os'
import type { Transporter } from 'nodemailer'
import { z } from 'zod'
import { secret, urlPassword } from '../../../core/secret-field.ts'
import { RowcastError } from '../../../core/errors.ts'
import { headline, type AlertChannel, type AlertNotice } from './channel.ts'

export const emailChannelSchema = z
  .object({
    type: z.literal('email'),
    /** `smtp://user:pass@host:port` (STARTTLS required) or `smtps://…` (TLS from the start). */
    smtp: secret(
      z
        .string()
        .regex(/^smtps?:\/\//, 'must be an smtp:// or smtps:// URL')
        // nodemailer reads options from the URL's query, and they would win over ours: TLS is set here, not there.
        .refine((url) => !TLS_QUERY.test(url), 'TLS is not set in the URL: use smtps://, or allowPlaintext: true on this channel'),
      urlPassword,
    ),
    to: z.array(z.string().email()).min(1),
    from: z.string().optional(),
    /** smtp:// to a server without STARTTLS: send the password and the alert in clear. Off unless set. */
    allowPlaintext: z.boolean().optional(),
  })
  .strict()
export type EmailChannelConfig = z.infer<typeof emailChannelSchema>

const TLS_QUERY = /[?&](secure|requireTLS|ignoreTLS|opportunisticTLS|tls\b[^=&]*)=/i

/**
 * Email over SMTP (nodemailer): a subject and a plain-text body per notice. With smtp:// the connection must
 * be upgraded with STARTTLS before the password or the alert is sent (nodemailer's default would go on in
 * clear when the server does not offer it, or when someone on the path strips the offer), unless `allowPlaintext`.
 */
export function createEmailChannel(config: EmailChannelConfig): AlertChannel {
  // nodemailer (~2 MiB of heap) is loaded with the first email, not at start-up.
  let transport: Transporter | undefined
  const from = config.from ?? `rowcast@${hostname()}`
  const requireTLS = config.allowPlaintext !== true
  return {
    type: 'email',
    async send(notice) {
      try {
        transport ??= (await import('nodemailer')).createTransport({ url: config.smtp, requireTLS })
        await transport.sendMail({ from, to: config.to, ...emailContent(notice) })
      } catch (error) {
        // nodemailer errors can quote the server's reply, never the URL; still, keep only the message
        const message = error instanceof Error ? error.message : String(error)
        const code = (error as { code?: unknown }).code
        const hint = requireTLS && code === 'ETLS' ? ' — the server did not start TLS (STARTTLS), so neither the password nor the alert was sent: use smtps:// or a server with STARTTLS, or set allowPlaintext: true on this channel to send in clear' : ''
        throw new RowcastError('ALERT_DELIVERY_FAILED', `smtp: ${message}${hint}`, { retriable: true, cause: error })
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
