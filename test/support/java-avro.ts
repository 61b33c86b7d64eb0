import { execFile } from 'node:child_process'
import { existsSync, readdirSync } from 'node:fs'
import { homedir } from 'node:os'
import { join } from 'node:path'
import { repoRoot } from '../../scripts/stack-env.ts'

/**
 * Apache Avro's Java decoder (test/support/java/AvroDecode.java), a reader that is not ours: it runs on the jars of
 * the stack's Schema Registry distribution (scripts/registry.sh caches it, avro and jackson included).
 * Returns one record per value, field name -> the text Java prints (longs exact, logical types not converted).
 */
export function javaAvroDecode(schema: string, bodies: readonly Buffer[]): Promise<Record<string, string>[]> {
  return new Promise((resolve, reject) => {
    const child = execFile('java', ['-cp', `${registryLib()}/*`, join(repoRoot, 'test', 'support', 'java', 'AvroDecode.java')], { timeout: 120_000, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error) return reject(new Error(`AvroDecode.java failed: ${error.message}\n${stderr}`))
      const lines = stdout.split('\n').filter((line) => line !== '')
      if (lines.length !== bodies.length) return reject(new Error(`AvroDecode.java printed ${lines.length} records for ${bodies.length} values`))
      resolve(lines.map((line) => Object.fromEntries(line.split('\t').map((pair) => [pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1)]))))
    })
    child.stdin?.end(`${schema}\n${bodies.map((b) => b.toString('hex')).join('\n')}\n`)
  })
}

/** The lib folder of the cached Apicurio Registry distribution (see scripts/registry.sh: CACHE_DIR). */
function registryLib(): string {
  const cache = process.env.ROWCAST_CACHE ?? join(homedir(), '.cache', 'rowcast')
  const dist = existsSync(cache) ? readdirSync(cache).filter((d) => d.startsWith('apicurio-registry-')).sort().pop() : undefined
  if (dist === undefined) throw new Error(`no Apicurio Registry distribution under ${cache}: run \`bash scripts/registry.sh up\` once`)
  return join(cache, dist, 'lib')
}
