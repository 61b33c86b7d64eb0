import { RowcastError } from '../../../core/errors.ts'
import type { AlertTransition } from '../alert-policy.ts'

/** What every channel is told: a transition, with a key stable per (sync, kind) and the host that noticed it. */
export interface AlertNotice extends AlertTransition {
  /** `rowcast/<sync>/<kind>`: the same for the trigger and its resolve (PagerDuty's dedup_key). */
  dedupKey: string
  source: string
}

export interface AlertChannel {
  readonly type: string
  send(notice: AlertNotice): Promise<void>
  close?(): void
}

const TIMEOUT_MS = 10_000

/** POSTs JSON; non-2xx is an error, retriable for 429 and 5xx (and network errors), not for other 4xx. */
export async function postJson(url: string, body: unknown, headers: Record<string, string> = {}): Promise<void> {
  let response: Response
  try {
    response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(TIMEOUT_MS),
    })
  } catch (error) {
    const cause = error instanceof Error && error.cause instanceof Error ? `: ${error.cause.message}` : ''
    throw new RowcastError('ALERT_DELIVERY_FAILED', `request failed${cause}`, { retriable: true, cause: error })
  }
  await response.arrayBuffer().catch(() => undefined) // drain, so the connection can be reused
  if (!response.ok) {
    const retriable = response.status === 429 || response.status >= 500
    throw new RowcastError('ALERT_DELIVERY_FAILED', `HTTP ${response.status}`, { retriable })
  }
}

export function headline(notice: AlertNotice): string {
  return notice.action === 'trigger' ? `FAILING: ${notice.summary}` : `RESOLVED: ${notice.summary.replace(/^resolved: /, '')}`
}
