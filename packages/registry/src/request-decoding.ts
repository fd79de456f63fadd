import type { ServiceDefinition } from '@grpc/grpc-js'
import { decodeStrict, ErrorCode, InvalidUtf8Error } from '@flexseat/proto'
import { RegistryError } from './errors'

const UNDECODABLE = Symbol('undecodable request')

/** What a request decodes to when its bytes are not a valid message: the error to answer with. */
interface Undecodable {
  readonly [UNDECODABLE]: RegistryError
}

/**
 * The service's definition with request decoding that never throws: bytes that are not the
 * method's request message, or hold a string field that is not UTF-8, decode to a marker the
 * handlers answer with INVALID_ARGUMENT ({@link undecodable}). grpc-js answers a decoder that
 * throws with INTERNAL, which tells a client the fault is ours; and the generated decoders would
 * store invalid UTF-8 as U+FFFD. This is the one place every string of every request is checked.
 */
export function decodingStrictly<S extends ServiceDefinition>(service: S): S {
  const out: Record<string, unknown> = {}
  for (const [name, method] of Object.entries(service)) {
    out[name] = {
      ...method,
      requestDeserialize: (bytes: Buffer): unknown => {
        try {
          return decodeStrict(method.requestDeserialize, bytes)
        } catch (error) {
          const marker: Undecodable = {
            [UNDECODABLE]:
              error instanceof InvalidUtf8Error
                ? new RegistryError(ErrorCode.ERROR_CODE_INVALID_ARGUMENT, 'request: a string field is not valid UTF-8', {}, { cause: error })
                : new RegistryError(ErrorCode.ERROR_CODE_INVALID_ARGUMENT, `request: not a ${method.path} request message (protobuf)`, {}, { cause: error }),
          }
          return marker
        }
      },
    }
  }
  return out as S
}

/** The INVALID_ARGUMENT to answer when `request` could not be decoded; undefined for a real request. */
export function undecodable(request: unknown): RegistryError | undefined {
  return typeof request === 'object' && request !== null && UNDECODABLE in request ? (request as Undecodable)[UNDECODABLE] : undefined
}
