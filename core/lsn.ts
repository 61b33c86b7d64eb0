/** PostgreSQL log sequence numbers, as BigInt: compared as numbers, never as strings. */
export type Lsn = bigint

export function parseLsn(text: string): Lsn {
  const slash = text.indexOf('/')
  if (slash < 0) throw new TypeError(`not an LSN: "${text}"`)
  return (BigInt(`0x${text.slice(0, slash)}`) << 32n) | BigInt(`0x${text.slice(slash + 1)}`)
}

export function formatLsn(lsn: Lsn): string {
  return `${(lsn >> 32n).toString(16).toUpperCase()}/${(lsn & 0xffffffffn).toString(16).toUpperCase()}`
}
