/**
 * Every file writes the same number of key slots, filled in key order and the rest cleared: a
 * phone keeps a key that a file no longer mentions, so a departed worker's keys would otherwise
 * stay on the desk. Keys past the last slot are left out (the sign-in key, first, never is).
 */
export const KEY_SLOTS = 30
