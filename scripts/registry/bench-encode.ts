/**
 * Encode throughput of the registry encoder (Avro and JSON Schema) on a 12-field row, against the registry in
 * .stack/env (`bash scripts/registry.sh up`). Prints rows/s and bytes per message.
 *   node --import tsx scripts/registry/bench-encode.ts [rows]
 */
import { readFileSync } from 'node:fs'
import { SchemaRegistry } from '@kafkajs/confluent-schema-registry'
import { createLogger } from '../../core/logger.ts'
import type { ColumnInfo } from '../../core/changes.ts'
import { parseSchemaRegistryConfig } from '../../connectors/kafka/schema-registry/config.ts'
import { deriveSchema } from '../../connectors/kafka/schema-registry/derive-schema.ts'
import { createRegistryEncoder } from '../../connectors/kafka/schema-registry/registry-encoder.ts'

const url = /^SCHEMA_REGISTRY_URL=(.*)$/m.exec(readFileSync(new URL('../../.stack/env', import.meta.url), 'utf8'))?.[1]
if (url === undefined) throw new Error('SCHEMA_REGISTRY_URL is not in .stack/env: bash scripts/registry.sh up')
const count = Number(process.argv[2] ?? 200_000)
const column = (typeName: string, nullable = false): ColumnInfo => ({ name: 'c', typeOid: 0, typeName, nullable })
const fields = [
  ['id', 'int8'], ['email', 'text'], ['name', 'text'], ['active', 'bool'], ['score', 'float8'], ['balance', 'numeric'],
  ['created_at', 'timestamptz'], ['updated_at', 'timestamptz'], ['birthday', 'date'], ['profile', 'jsonb'], ['ref', 'uuid'], ['visits', 'int4'],
].map(([field, typeName]) => ({ field, column: column(typeName, field !== 'id') }))
const row = (i: number) => ({
  id: i, email: `user${i}@example.com`, name: 'Ada Lovelace', active: i % 2 === 0, score: i / 7, balance: '1234.50',
  created_at: '2024-01-02T03:04:05.123456Z', updated_at: null, birthday: '1815-12-10', profile: { theme: 'dark', n: i },
  ref: '6f1c1b8e-6d0a-4b8f-9a57-0e2d5b7f7c11', visits: i % 1000,
})
const config = parseSchemaRegistryConfig({ url }, process.cwd())
const logger = createLogger({ level: 'warn' })
const rows = Array.from({ length: 1000 }, (_, i) => row(i))

for (const format of ['avro', 'json-schema'] as const) {
  const encoder = createRegistryEncoder({ config, format, schema: deriveSchema(format, fields, 'bench'), topic: `rowcast-bench-${format}`, logger })
  await encoder.init()
  for (let i = 0; i < 20_000; i++) encoder.encode(rows[i % 1000]) // warm-up
  let bytes = 0
  const start = process.hrtime.bigint()
  for (let i = 0; i < count; i++) bytes += encoder.encode(rows[i % 1000]).length
  const seconds = Number(process.hrtime.bigint() - start) / 1e9
  console.log(`${format}: ${Math.round(count / seconds).toLocaleString('en')} rows/s, ${(bytes / count).toFixed(0)} bytes/message`)
}

// For comparison: the library's own async encode (schema cached after the first call), Avro.
const registry = new SchemaRegistry({ host: url })
const avroEncoder = createRegistryEncoder({ config, format: 'avro', schema: deriveSchema('avro', fields.filter((f) => f.column.typeName !== 'jsonb'), 'bench2'), topic: 'rowcast-bench-lib', logger })
await avroEncoder.init()
const plainRow = (i: number) => ({ ...row(i), profile: undefined, created_at: 1704164645123456, updated_at: null, birthday: -56270 })
const plainRows = rows.map((_, i) => plainRow(i))
const libCount = Math.min(count, 100_000)
const start = process.hrtime.bigint()
for (let i = 0; i < libCount; i++) await registry.encode(avroEncoder.schemaId as number, plainRows[i % 1000])
console.log(`library registry.encode (avro, awaited per message): ${Math.round(libCount / (Number(process.hrtime.bigint() - start) / 1e9)).toLocaleString('en')} rows/s`)
const start2 = process.hrtime.bigint()
for (let i = 0; i < libCount; i++) avroEncoder.encode(plainRows[i % 1000])
console.log(`rowcast encode, same rows as the library: ${Math.round(libCount / (Number(process.hrtime.bigint() - start2) / 1e9)).toLocaleString('en')} rows/s`)
