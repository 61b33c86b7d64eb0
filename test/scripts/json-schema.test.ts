import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdtempSync, readFileSync, readdirSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { promisify } from 'node:util'
import { Ajv, type ErrorObject } from 'ajv'
import { parse } from 'yaml'
import { configJsonSchema } from '../../scripts/json-schema.ts'
import { parseConfig } from '../../config/load-config.ts'
import { repoRoot } from '../../scripts/stack-env.ts'

/**
 * The editor schema (dist/rowcast.schema.json, generated from the zod schema at build time) checked by a validator
 * that is not ours (ajv): every example config passes, broken ones fail where zod fails them too.
 */

const schema = configJsonSchema()
const ajv = new Ajv({ allErrors: true, strict: true })
// The formats zod's schema uses, checked the way zod checks them (roughly): ajv ships none without ajv-formats.
ajv.addFormat('uri', (text: string) => URL.canParse(text))
ajv.addFormat('email', /^[^\s@]+@[^\s@]+\.[^\s@]+$/)
const validate = ajv.compile(schema)

/** `${VAR}` → a dummy value that fits where it stands (URLs, broker lists, tokens). */
function substitute(text: string): string {
  const dummies: Record<string, string> = { DATABASE_URL: 'postgres://rowcast:x@db:5432/app', KAFKA_BROKERS: 'kafka-1:9092,kafka-2:9092', SCHEMA_REGISTRY_URL: 'http://registry:8081' }
  return text.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_m, name: string) => dummies[name] ?? (/URL$/.test(name) ? 'https://example.com/hook' : `dummy-${name.toLowerCase()}`))
}

function errorsOf(value: unknown): string[] {
  return validate(value) ? [] : (validate.errors ?? []).map((e: ErrorObject) => `${e.instancePath || '/'} ${e.message ?? ''} ${JSON.stringify(e.params)}`)
}

const SCHEMA_LINE = /^# yaml-language-server: \$schema=(\S+)$/m

/** The example configs shipped in the repository, and the config of the README's "The config file". */
function examples(): { name: string; text: string; file?: string }[] {
  const files = [
    ...readdirSync(join(repoRoot, 'examples')).filter((f) => f.endsWith('.yaml')).map((f) => join(repoRoot, 'examples', f)),
    join(repoRoot, 'deploy', 'kubernetes', 'base', 'rowcast.yaml'),
  ]
  const readme = readFileSync(join(repoRoot, 'README.md'), 'utf8')
  const block = /## The config file[\s\S]*?```yaml\n([\s\S]*?)```/.exec(readme)?.[1]
  assert.ok(block, 'README: the yaml block of "The config file"')
  return [...files.map((file) => ({ name: file.slice(repoRoot.length + 1), text: readFileSync(file, 'utf8'), file })), { name: 'README.md (The config file)', text: block }]
}

describe('the config JSON Schema', () => {
  test('the examples (examples/*.yaml, the Kubernetes config, the README) validate after ${VAR} substitution', () => {
    const all = examples()
    assert.ok(all.length >= 4, all.map((e) => e.name).join(', '))
    for (const { name, text } of all) assert.deepEqual(errorsOf(parse(substitute(text))), [], name)
  })

  test('every example file names the built schema on its yaml-language-server line, by a path that leads to dist/', () => {
    for (const { name, text, file } of examples()) {
      if (file === undefined) continue
      const ref = SCHEMA_LINE.exec(text)?.[1]
      assert.ok(ref, `${name} has no "# yaml-language-server: $schema=" line`)
      assert.equal(resolve(dirname(file), ref), join(repoRoot, 'dist', 'rowcast.schema.json'), name)
    }
  })

  test('`${VAR}` references validate as written, also in fields with a pattern or a format', () => {
    const raw = parse(readFileSync(join(repoRoot, 'examples', 'schema-registry.yaml'), 'utf8')) as { syncs: { topic: string }[] }
    raw.syncs[0].topic = '${USERS_TOPIC}'
    assert.deepEqual(errorsOf(raw), [])
  })

  test('broken configs fail it, at the path zod names too', () => {
    const good = parse(substitute(readFileSync(join(repoRoot, 'examples', 'rowcast.yaml'), 'utf8'))) as Record<string, unknown>
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- a config as plain data, broken on purpose
    const broken: [string, (c: any) => void, RegExp][] = [
      ['an unknown key', (c) => (c.syncs[0].colour = 'blue'), /^\/syncs\/0 must NOT have additional properties .*colour/],
      ['a trigger that does not exist', (c) => (c.syncs[0].triggers = ['added', 'inserted']), /^\/syncs\/0\/triggers\/1 must be equal to one of the allowed values/],
      ['a sync name that cannot name a slot', (c) => (c.syncs[0].name = 'Users-1'), /^\/syncs\/0\/name must match pattern/],
      ['a negative limit', (c) => (c.limits = { maxInFlightMessages: -1 }), /^\/limits\/maxInFlightMessages must be > 0/],
      ['no syncs', (c) => (c.syncs = []), /^\/syncs must NOT have fewer than 1 items/],
      ['an unknown Kafka mechanism', (c) => (c.destination.kafka.auth = { mechanism: 'kerberos' }), /^\/destination\/kafka\/auth\/mechanism must be equal to one of the allowed values/],
      ['a port out of range', (c) => (c.http.port = 70000), /^\/http\/port must be <= 65535/],
    ]
    for (const [what, breakIt, expected] of broken) {
      const config = structuredClone(good)
      breakIt(config)
      const errors = errorsOf(config)
      assert.ok(errors.some((e) => expected.test(e)), `${what}: ${expected} in ${JSON.stringify(errors)}`)
      // The schema is generated from zod's: rowcast itself refuses the same file.
      assert.throws(() => parseConfig(JSON.stringify(config), repoRoot), { code: 'CONFIG_INVALID' }, what)
    }
  })

  test('the build writes the same schema (scripts/json-schema.ts as a command)', async () => {
    const out = join(mkdtempSync(join(tmpdir(), 'rowcast-schema-')), 'rowcast.schema.json')
    await promisify(execFile)(process.execPath, ['--import', 'tsx', join(repoRoot, 'scripts', 'json-schema.ts'), out], { cwd: repoRoot })
    assert.deepEqual(JSON.parse(readFileSync(out, 'utf8')), schema)
    assert.match(readFileSync(join(repoRoot, 'scripts', 'build.sh'), 'utf8'), /scripts\/json-schema\.ts dist\/rowcast\.schema\.json/)
  })
})
