/**
 * A json/jsonb value exactly as PostgreSQL sent it. Serialisers splice `text` into the message unchanged, so a
 * 20-digit integer, `1.10`, key order and duplicate keys (json) reach Kafka as committed. Parsing happens only when
 * something reads into the value (`value`, a template's `{{ row.doc.x }}` through `toLiquid`).
 */
const NOT_PARSED: unique symbol = Symbol('not parsed')

export class JsonText {
  private parsed: unknown = NOT_PARSED

  constructor(readonly text: string) {}

  /** The parsed value (numbers beyond double precision are rounded, as by any JSON.parse). */
  get value(): unknown {
    if (this.parsed === NOT_PARSED) this.parsed = JSON.parse(this.text)
    return this.parsed
  }

  /** liquidjs reads properties of what this returns: templates that read into a json value see it parsed. */
  toLiquid(): unknown {
    return this.value
  }

  /** For generic JSON.stringify callers (logs, the debugger); message serialisers use `text`. */
  toJSON(): unknown {
    return this.value
  }

  toString(): string {
    return this.text
  }
}

/**
 * The value's text where text is wanted (inside a JSON string, a key, a header): a JSON string's content, any
 * other JSON value its text as sent.
 */
export function jsonPlainText(json: JsonText): string {
  const text = json.text
  const first = text.charCodeAt(0) === 0x22 ? 0x22 : text.trimStart().charCodeAt(0)
  return first === 0x22 ? (JSON.parse(text) as string) : text
}
