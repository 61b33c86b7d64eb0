// TEMPORARY until the sink split lands: openKafkaSink over today's KafkaSink.
import type { Kafka } from 'kafkajs'
import type { MessageSink, SinkEvents } from '../../core/contracts.ts'
import { RowcastError, errorMessage } from '../../core/errors.ts'
import type { Logger } from '../../core/logger.ts'
import { formatLsn } from '../../core/lsn.ts'
import { progressRecord, readProgress } from './exactly-once.ts'
import { KafkaSink, type SinkLimits } from './sink.ts'

export type KafkaClient = Kafka
export type { SinkLimits }

export async function openKafkaSink(options: { kafka: Kafka; limits: SinkLimits; logger: Logger; events: SinkEvents; exactlyOnce?: { transactionalId: string; progressTopic: string; progressKey: string } }): Promise<MessageSink> {
  const { kafka, exactlyOnce } = options
  const producer = KafkaSink.producerFor(kafka, exactlyOnce?.transactionalId)
  try {
    await producer.connect()
  } catch (error) {
    throw new RowcastError('KAFKA_UNREACHABLE', `cannot connect to Kafka: ${errorMessage(error)}`, { cause: error })
  }
  const admin = kafka.admin()
  try {
    await admin.connect()
  } catch (error) {
    await producer.disconnect().catch(() => undefined)
    throw new RowcastError('KAFKA_UNREACHABLE', `cannot connect to Kafka: ${errorMessage(error)}`, { cause: error })
  }
  const close = async () => {
    await admin.disconnect().catch(() => undefined)
    await producer.disconnect().catch(() => undefined)
  }
  let progress
  if (exactlyOnce !== undefined) {
    try {
      const resume = await readProgress(kafka, exactlyOnce.progressTopic, exactlyOnce.progressKey)
      if (resume.lsn > 0n) options.logger.info({ through: formatLsn(resume.lsn), partial: resume.partial === null ? undefined : { txLsn: formatLsn(resume.partial.txLsn), messages: resume.partial.messages } }, 'exactly-once: skipping what is already committed to Kafka')
      progress = { ...progressRecord(exactlyOnce.progressTopic, exactlyOnce.progressKey), resume }
    } catch (error) {
      await close()
      throw error
    }
  }
  const sink = new KafkaSink({ producer, admin, limits: options.limits, logger: options.logger, events: options.events, ...(progress === undefined ? {} : { progress }) })
  return {
    enqueue: (batch, ticket, txLsn) => sink.enqueue(batch, ticket, txLsn),
    get inFlight() {
      return sink.inFlight
    },
    drain: () => sink.drain(),
    stop: () => sink.stop(),
    close: async () => {
      sink.stop()
      await close()
    },
  }
}
