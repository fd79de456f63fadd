import { BinaryReader } from '@bufbuild/protobuf/wire'

/** A string field of a message holds bytes that are not UTF-8 (see {@link decodeStrict}). */
export class InvalidUtf8Error extends Error {
  override readonly name = 'InvalidUtf8Error'
}

/** A reader whose string fields must be UTF-8: the generated decoders read strings without the check. */
class StrictUtf8Reader extends BinaryReader {
  override string(): string {
    try {
      return super.string(true)
    } catch (error) {
      // TextDecoder's fatal mode throws a TypeError; anything else (a truncated field) passes on.
      if (error instanceof TypeError) throw new InvalidUtf8Error('a string field is not valid UTF-8', { cause: error })
      throw error
    }
  }
}

/**
 * Decodes `bytes` with a generated deserializer (a service method's `requestDeserialize`, or a
 * message's `decode`), refusing invalid UTF-8 in any string field of the message and of the
 * messages nested in it, as proto3 requires of a parser; the generated decoders would substitute
 * U+FFFD and the bad bytes would be stored as text. Throws {@link InvalidUtf8Error} for that, and
 * whatever the decoder throws for bytes that are not the message at all.
 */
export function decodeStrict<T>(deserialize: (bytes: Buffer) => T, bytes: Uint8Array): T {
  // The generated `decode(input)` takes a reader in place of the bytes (`input instanceof
  // BinaryReader`), and hands the same reader to the decoders of nested messages.
  return deserialize(new StrictUtf8Reader(bytes) as unknown as Buffer)
}
