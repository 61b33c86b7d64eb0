/**
 * Timestamps and dates as exact integers for Avro's logical types, over PostgreSQL's whole range: years past 9999
 * and BC dates (PostgreSQL's text "0044-03-15 12:00:00 BC"). JavaScript's Date stops at ±275760 years and its
 * numbers at 2^53 µs (years 1684–2255), so the calendar is computed here, in days, and the result is a bigint.
 */

/** "2024-01-02T03:04:05.123456+05:30", a space for the T, 4 to 6 year digits, an optional " BC" after the zone. */
const ISO_DATE_TIME = /^(\d{4,6})-(\d\d)-(\d\d)[T ](\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d(?::?\d\d)?)?( BC)?$/
const ISO_DATE = /^(\d{4,7})-(\d\d)-(\d\d)( BC)?$/
const MICROS_PER_DAY = 86_400_000_000n

/** Epoch microseconds of an ISO-8601 date-time; a missing zone means UTC (local types require none). */
export function parseIsoMicros(text: string, local: boolean): bigint | undefined {
  const m = ISO_DATE_TIME.exec(text)
  if (m === null) return undefined
  const [, y, mo, d, h, mi, s, fraction = '', zone, bc] = m
  if (local && zone !== undefined) return undefined
  let offsetSeconds = 0
  if (zone !== undefined && zone !== 'Z') {
    const digits = zone.replace(':', '')
    offsetSeconds = (zone[0] === '-' ? -1 : 1) * (Number(digits.slice(1, 3)) * 3600 + Number(digits.slice(3, 5) || '0') * 60)
  }
  const days = daysFromCivil(year(y, bc), Number(mo), Number(d))
  const seconds = Number(h) * 3600 + Number(mi) * 60 + Number(s) - offsetSeconds
  return BigInt(days) * MICROS_PER_DAY + BigInt(seconds) * 1_000_000n + BigInt(`${fraction}000000`.slice(0, 6))
}

/** Days since 1970-01-01 of "YYYY-MM-DD" (or "YYYY-MM-DD BC"). */
export function parseIsoDays(text: string): number | undefined {
  const m = ISO_DATE.exec(text)
  return m === null ? undefined : daysFromCivil(year(m[1], m[4]), Number(m[2]), Number(m[3]))
}

/** Epoch microseconds as ISO-8601 with as many fraction digits as needed, "Z" unless local; BC years end in " BC". */
export function formatIsoMicros(micros: bigint, local: boolean): string {
  const days = floorDiv(micros, MICROS_PER_DAY)
  const inDay = micros - days * MICROS_PER_DAY
  const seconds = Number(inDay / 1_000_000n)
  const fraction = String(inDay % 1_000_000n).padStart(6, '0').replace(/0+$/, '')
  const time = `${pad(Math.floor(seconds / 3600))}:${pad(Math.floor(seconds / 60) % 60)}:${pad(seconds % 60)}${fraction === '' ? '' : `.${fraction}`}`
  const [date, bc] = formatDate(Number(days))
  return `${date}T${time}${local ? '' : 'Z'}${bc}`
}

export function formatIsoDays(days: number): string {
  const [date, bc] = formatDate(days)
  return date + bc
}

function formatDate(days: number): [string, string] {
  const [y, m, d] = civilFromDays(days)
  const bc = y <= 0
  return [`${String(bc ? 1 - y : y).padStart(4, '0')}-${pad(m)}-${pad(d)}`, bc ? ' BC' : '']
}

/** 1 BC is year 0 of the proleptic Gregorian calendar, 2 BC year -1. */
function year(digits: string, bc: string | undefined): number {
  return bc === undefined ? Number(digits) : 1 - Number(digits)
}

/** Days since 1970-01-01 in the proleptic Gregorian calendar (H. Hinnant's days_from_civil). */
function daysFromCivil(y: number, m: number, d: number): number {
  const yy = m <= 2 ? y - 1 : y
  const era = Math.floor(yy / 400)
  const yoe = yy - era * 400
  const doy = Math.floor((153 * (m > 2 ? m - 3 : m + 9) + 2) / 5) + d - 1
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy
  return era * 146097 + doe - 719468
}

function civilFromDays(days: number): [number, number, number] {
  const z = days + 719468
  const era = Math.floor(z / 146097)
  const doe = z - era * 146097
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365)
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100))
  const mp = Math.floor((5 * doy + 2) / 153)
  const d = doy - Math.floor((153 * mp + 2) / 5) + 1
  const m = mp < 10 ? mp + 3 : mp - 9
  return [yoe + era * 400 + (m <= 2 ? 1 : 0), m, d]
}

function floorDiv(a: bigint, b: bigint): bigint {
  const q = a / b
  return a % b !== 0n && a < 0n !== b < 0n ? q - 1n : q
}

function pad(n: number): string {
  return String(n).padStart(2, '0')
}
