/* UTF-8 decoding and validation (common/utf8.c). */
#ifndef KETEN_COMMON_UTF8_H
#define KETEN_COMMON_UTF8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * The code point that s[0..len) starts with, in *cp: returns its length in
 * bytes (1-4), or 0 when s does not start with a well-formed UTF-8 sequence
 * (cut short, overlong, a surrogate, beyond U+10FFFF) or starts with NUL.
 */
size_t utf8_decode(const char *s, size_t len, uint32_t *cp);
/* True when s[0..len) is valid UTF-8 without NUL bytes. */
bool utf8_valid(const char *s, size_t len);
/*
 * Copy the NUL-terminated s into out[0..cap) (cap >= 4) whole when it fits,
 * else cut at a code point boundary and ended by "...": at most cap - 1
 * bytes and the NUL.  Bytes that are not well-formed UTF-8 become '?'.
 * Returns the length written.
 */
size_t utf8_cut(char *out, size_t cap, const char *s);

#endif
