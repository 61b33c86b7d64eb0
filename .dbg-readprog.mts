import { kafkaClient, stack } from '/work/main/test/support/harness.ts'
async function main() {
const env = await stack()
const kafka = kafkaClient(env)
const admin = kafka.admin(); await admin.connect()
const topics = (await admin.listTopics()).filter((t) => t.startsWith('eos_progress_'))
const topic = process.argv[2] ?? topics.at(-1)!
console.log(topics.length, topic, await admin.fetchTopicOffsets(topic))
await admin.disconnect()
const c = kafka.consumer({ groupId: 'dbg' + Date.now() })
await c.connect(); await c.subscribe({ topic, fromBeginning: true })
await c.run({ eachMessage: async ({ message }) => console.log(message.offset, message.value?.toString()) })
setTimeout(() => c.disconnect().then(() => process.exit(0)), 6000)
}
void main()
