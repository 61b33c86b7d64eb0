import type { Kafka } from 'kafkajs'
import type { Logger } from '../../core/logger.ts'
import { kafkaLogCreator, toKafkaJsConfig } from './client-options.ts'
import type { KafkaConnectionConfig } from './config.ts'
import { installKafkajsFastPaths, loadKafkajs } from './kafkajs/patch.ts'

/** A connection to one Kafka cluster, shared by the syncs of a daemon; each sink opens its producer and admin on it. */
export type KafkaClient = Kafka

/** The daemon's Kafka client: the kafkajs fast paths installed (and their state logged) first, kafkajs' logs into ours. */
export function createKafkaClient(config: KafkaConnectionConfig, logger: Logger): KafkaClient {
  installKafkajsFastPaths(logger)
  const { Kafka } = loadKafkajs()
  return new Kafka(toKafkaJsConfig(config, kafkaLogCreator(logger)))
}
