import { execFile } from 'node:child_process'
import { join } from 'node:path'
import type { StackEnv } from '../../scripts/stack-env.ts'
import { repoRoot } from '../../scripts/stack-env.ts'

/**
 * Kafka's own partition for each key, from its Java client (test/support/java/Murmur2Partition.java run
 * against the stack's kafka-clients jar): the reference rowcast's partitioner must agree with.
 * Keys travel hex-encoded on stdin, so unicode survives whatever the JVM's locale is.
 */
export function javaPartitions(env: StackEnv, partitions: number, keys: readonly string[]): Promise<number[]> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      'java',
      ['-cp', `${env.KAFKA_LIB}/*`, join(repoRoot, 'test', 'support', 'java', 'Murmur2Partition.java'), String(partitions)],
      { timeout: 60_000, maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) => {
        if (error) return reject(new Error(`Murmur2Partition.java failed: ${error.message}\n${stderr}`))
        const out = stdout.split('\n').filter((line) => line !== '').map(Number)
        if (out.length !== keys.length) return reject(new Error(`Murmur2Partition.java printed ${out.length} partitions for ${keys.length} keys`))
        resolve(out)
      },
    )
    child.stdin?.end(keys.map((k) => Buffer.from(k, 'utf8').toString('hex')).join('\n') + '\n')
  })
}
