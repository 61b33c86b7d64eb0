/**
 * The JSON Schema of rowcast.yaml for editors (VS Code's YAML extension, any yaml-language-server client), generated
 * from the zod root schema so it cannot drift from what `rowcast validate` accepts. `scripts/build.sh` writes it to
 * dist/rowcast.schema.json: `node --import tsx scripts/json-schema.ts <file>`.
 *
 * It describes the file as written, before `${VAR}` interpolation: a string field with a pattern also accepts
 * `${VAR}`, and so does a field with a format. Checks that span fields (unique sync names, a registry for avro, files that exist) stay in
 * `rowcast validate`.
 */
import { writeFileSync } from 'node:fs'
import { ignoreOverride, zodToJsonSchema, type Options } from 'zod-to-json-schema'
import type { ZodTypeAny } from 'zod'
import { kafkaConfigSchema } from '../connectors/kafka/config.ts'
import { operatorModuleSchema, rootConfigSchema } from '../config/root-schema.ts'

type JsonSchema = Record<string, unknown>

const ENV_REFERENCE = '\\$\\{[A-Za-z_][A-Za-z0-9_]*\\}'

export function configJsonSchema(): JsonSchema {
  const noSecrets = () => undefined
  const operatorModule = operatorModuleSchema as ZodTypeAny
  const options: Partial<Options> = {
    $refStrategy: 'none',
    effectStrategy: 'input',
    // `operators: [./x.ts]` is short for `{ module: ./x.ts }` (a zod preprocess, which has no JSON Schema form).
    override: (def) => (def === operatorModule._def ? { anyOf: [{ type: 'string', minLength: 1 }, convert(operatorModule._def.schema as ZodTypeAny)] } : ignoreOverride),
  }
  function convert(schema: ZodTypeAny): JsonSchema {
    const { $schema: _ignored, ...rest } = zodToJsonSchema(schema, { ...options, override: undefined }) as JsonSchema
    return rest
  }
  const root = zodToJsonSchema(rootConfigSchema('.', noSecrets), options) as JsonSchema
  // destination.kafka is parsed by the Kafka connector's own schema inside a transform: put that schema in its place.
  const destination = (root.properties as Record<string, JsonSchema> | undefined)?.destination
  const destinationProps = destination?.properties as Record<string, JsonSchema> | undefined
  if (destinationProps?.kafka === undefined) throw new Error('json-schema: destination.kafka not found in the root schema')
  destinationProps.kafka = convert(kafkaConfigSchema('.', noSecrets) as unknown as ZodTypeAny)
  return {
    $schema: 'http://json-schema.org/draft-07/schema#',
    title: 'rowcast.yaml',
    description: 'rowcast config: PostgreSQL logical replication to Kafka (README: The config file)',
    ...allowEnvReferences(root),
  }
}

/** Every `pattern` also accepts a `${VAR}` reference (interpolated before validation). */
function allowEnvReferences<T>(value: T): T {
  if (Array.isArray(value)) return value.map(allowEnvReferences) as T
  if (value === null || typeof value !== 'object') return value
  const out: JsonSchema = {}
  const { format, ...rest } = value as JsonSchema
  // A format (e.g. uri) is checked on the text as written unless it is a `${VAR}` reference.
  if (typeof format === 'string') return { ...allowEnvReferences(rest), anyOf: [{ format }, { pattern: `^${ENV_REFERENCE}$` }] } as T
  for (const [key, v] of Object.entries(value)) {
    out[key] = key === 'pattern' && typeof v === 'string' ? `(?:${v})|${ENV_REFERENCE}` : key === 'properties' ? mapValues(v as JsonSchema) : allowEnvReferences(v)
  }
  return out as T
}

/** Property names are names, not schemas: only their values are walked. */
function mapValues(properties: JsonSchema): JsonSchema {
  return Object.fromEntries(Object.entries(properties).map(([name, schema]) => [name, allowEnvReferences(schema)]))
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const file = process.argv[2]
  if (!file) throw new Error('usage: node --import tsx scripts/json-schema.ts <output file>')
  writeFileSync(file, `${JSON.stringify(configJsonSchema(), null, 2)}\n`)
}
