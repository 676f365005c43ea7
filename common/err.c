/* keten error codes and their text. */
#include <stdarg.h>
#include <stdio.h>

#include "common/envelope.h"
#include "common/err.h"

const char *
keten_strerror(int code)
{
	switch (code) {
	case KETEN_OK: return "success";
	case KETEN_EINVAL: return "invalid input";
	case KETEN_ENOMEM: return "out of memory";
	case KETEN_EIO: return "input/output error";
	case KETEN_EPERM: return "not permitted";
	case KETEN_ENOTFOUND: return "not found";
	case KETEN_EDB: return "database error";
	case KETEN_EZMQ: return "messaging error";
	case KETEN_ECRYPTO: return "cryptographic failure";
	case KETEN_ETOOBIG: return "too large";
	case KETEN_EEXIST: return "already exists";
	case KETEN_EFULL: return "storage full";
	}
	if (code <= KETEN_ERR_ENV_FIRST && code >= KETEN_ERR_ENV_LAST)
		return envelope_strerror(code);
	return "unknown error";
}

int
keten_seterr(char err[static KETEN_ERRLEN], int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, KETEN_ERRLEN, fmt, ap);
	va_end(ap);
	return code;
}
