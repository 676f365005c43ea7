/* UTF-8: one decoder, used by the codec, the directory and the YAML writer. */
#include <string.h>

#include "common/utf8.h"

size_t
utf8_decode(const char *str, size_t len, uint32_t *cp)
{
	const unsigned char *s = (const unsigned char *)str;
	uint32_t c;
	size_t n;
	uint32_t min;

	if (len == 0 || (c = s[0]) == 0)
		return 0;
	if (c < 0x80) {
		*cp = c;
		return 1;
	} else if ((c & 0xe0) == 0xc0) {
		n = 1, min = 0x80, c &= 0x1f;
	} else if ((c & 0xf0) == 0xe0) {
		n = 2, min = 0x800, c &= 0x0f;
	} else if ((c & 0xf8) == 0xf0) {
		n = 3, min = 0x10000, c &= 0x07;
	} else {
		return 0;
	}
	if (len <= n)
		return 0;
	for (size_t k = 1; k <= n; k++) {
		if ((s[k] & 0xc0) != 0x80)
			return 0;
		c = c << 6 | (s[k] & 0x3f);
	}
	if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return n + 1;
}

bool
utf8_valid(const char *str, size_t len)
{
	uint32_t cp;

	for (size_t i = 0, n; i < len; i += n)
		if ((n = utf8_decode(str + i, len - i, &cp)) == 0)
			return false;
	return true;
}

size_t
utf8_cut(char *out, size_t cap, const char *s)
{
	size_t len = strlen(s), i = 0, o = 0;

	while (i < len) {
		uint32_t cp;
		size_t n = utf8_decode(s + i, len - i, &cp);
		size_t w = n == 0 ? 1 : n;
		/* keep room for "..." unless the rest fits whole */
		size_t avail = cap - 1 - o;
		size_t room = len - i <= avail ? avail : avail < 3 ? 0 : avail - 3;
		if (w > room)
			break;
		if (n == 0)
			out[o] = '?';
		else
			memcpy(out + o, s + i, n);
		o += w;
		i += w;
	}
	if (i < len) {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o] = '\0';
	return o;
}
