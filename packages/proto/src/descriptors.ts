import { readFileSync } from 'node:fs'
import { join } from 'node:path'

/** Path of the FileDescriptorSet of proto/ (built by `npm run generate`), for server reflection. */
export const DESCRIPTOR_SET_PATH = join(__dirname, '..', 'descriptors', 'flexseat.binpb')

/** The FileDescriptorSet of every flexseat proto file and its imports. */
export function readDescriptorSet(): Buffer {
  return readFileSync(DESCRIPTOR_SET_PATH)
}
