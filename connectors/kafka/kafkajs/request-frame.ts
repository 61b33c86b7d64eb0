/**
 * kafkajs' request framing (`protocol/request.js`), byte for byte, with the payload copied once into an
 * exactly-sized buffer: kafkajs copies it twice, each time into a zero-filled encoder doubled as it grows
 * (about 1 MB allocated for a 250 KB produce request, and external memory that brings V8's GC on sooner).
 *
 * Request => Size:int32 ApiKey:int16 ApiVersion:int16 CorrelationId:int32 ClientId:nullable-string Payload
 */
import { encoderOf, type EncoderLike } from './record-encoder.ts'

export interface FramedRequest {
  correlationId: number
  clientId: string | null | undefined
  request: { apiKey: number; apiVersion: number; encode(): Promise<EncoderLike> | EncoderLike }
}

/** The module kafkajs requires as `protocol/request`. */
export function requestFrame(encoderPrototype: object): (framed: FramedRequest) => Promise<EncoderLike> {
  return async ({ correlationId, clientId, request: { apiKey, apiVersion, encode } }) => {
    const payload = await encode()
    if (payload == null || !Buffer.isBuffer(payload.buf)) throw new Error('value should be an instance of Encoder') // kafkajs' own words
    const clientIdLength = clientId == null ? 0 : Buffer.byteLength(clientId, 'utf8')
    const size = 2 + 2 + 4 + 2 + clientIdLength + payload.offset
    const buf = Buffer.allocUnsafe(4 + size)
    let pos = buf.writeInt32BE(size, 0)
    pos = buf.writeInt16BE(apiKey, pos)
    pos = buf.writeInt16BE(apiVersion, pos)
    pos = buf.writeInt32BE(correlationId, pos)
    if (clientId == null) {
      pos = buf.writeInt16BE(-1, pos)
    } else {
      pos = buf.writeInt16BE(clientIdLength, pos)
      pos += buf.write(clientId, pos, clientIdLength, 'utf8')
    }
    pos += payload.buf.copy(buf, pos, 0, payload.offset)
    if (pos !== buf.length) throw new Error(`request framing wrote ${pos} of ${buf.length} bytes`)
    return encoderOf(encoderPrototype, buf)
  }
}
