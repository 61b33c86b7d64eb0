import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import type { StackEnv } from '../../scripts/stack-env.ts'
import { eventually } from './harness.ts'

const run = promisify(execFile)

/**
 * The values of a topic as kcat (librdkafka, a client that is not ours) reads them: raw bytes as text, one per
 * message, in offset order (one-partition topics). Waits until at least `count` are there.
 */
export async function kcatValues(env: StackEnv, topic: string, count: number, timeoutMs = 30_000): Promise<string[]> {
  const read = async (): Promise<string[]> => {
    // Each value is framed by a NUL-free marker so values may hold newlines.
    const { stdout } = await run('kcat', ['-C', '-b', env.KAFKA_BOOTSTRAP_PLAINTEXT, '-t', topic, '-o', 'beginning', '-e', '-q', '-f', '%s\u0001'], { maxBuffer: 64 * 1024 * 1024 })
    return stdout.split('\u0001').slice(0, -1)
  }
  return eventually(read, (values) => values.length >= count, timeoutMs, `${count} messages on ${topic} (kcat)`)
}
