// Limits of the API that both sides of a call need: the server refuses more, the client splits.
// The .proto files state them in words; these are the same numbers for the code.

/** The most revocations one BranchService.AckRevocations call may acknowledge (more: INVALID_ARGUMENT). */
export const MAX_ACKS = 1_000
