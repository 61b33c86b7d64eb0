/**
 * The members of a JSON object text with each value's own text, for the Avro writer: a json/jsonb column spliced
 * into a composed message (core/json-text.ts) must reach an Avro string field as PostgreSQL's text, and JSON.parse
 * would round its numbers (12345678901234567890, 1.10) and reorder nothing back. Only the top level is split; the
 * text is the composer's, valid JSON by construction, so the scan checks only what it needs to find the ends.
 */
export function objectMembers(text: string): [string, string][] | undefined {
  let i = skipSpace(text, 0)
  if (text.charCodeAt(i) !== 0x7b /* { */) return undefined
  i = skipSpace(text, i + 1)
  const members: [string, string][] = []
  if (text.charCodeAt(i) === 0x7d /* } */) return members
  for (;;) {
    if (text.charCodeAt(i) !== 0x22) return undefined
    const keyEnd = stringEnd(text, i)
    const key = JSON.parse(text.slice(i, keyEnd)) as string
    i = skipSpace(text, keyEnd)
    if (text.charCodeAt(i) !== 0x3a /* : */) return undefined
    const start = skipSpace(text, i + 1)
    const end = valueEnd(text, start)
    members.push([key, text.slice(start, end).trimEnd()])
    i = skipSpace(text, end)
    const c = text.charCodeAt(i)
    if (c === 0x7d) return skipSpace(text, i + 1) === text.length ? members : undefined
    if (c !== 0x2c /* , */) return undefined
    i = skipSpace(text, i + 1)
  }
}

function skipSpace(text: string, i: number): number {
  while (i < text.length) {
    const c = text.charCodeAt(i)
    if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) break
    i++
  }
  return i
}

/** The index after the closing quote of the string starting at `i`. */
function stringEnd(text: string, i: number): number {
  for (let j = i + 1; j < text.length; j++) {
    const c = text.charCodeAt(j)
    if (c === 0x5c /* \ */) j++
    else if (c === 0x22) return j + 1
  }
  return text.length
}

/** The index where the value starting at `i` ends: the ',' or '}' after it at the top level. */
function valueEnd(text: string, i: number): number {
  let depth = 0
  for (let j = i; j < text.length; j++) {
    const c = text.charCodeAt(j)
    if (c === 0x22) j = stringEnd(text, j) - 1
    else if (c === 0x7b || c === 0x5b) depth++
    else if (c === 0x7d || c === 0x5d) {
      if (depth === 0) return j
      depth--
    } else if (c === 0x2c && depth === 0) return j
  }
  return text.length
}
