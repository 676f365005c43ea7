/* keten error codes: every fallible function returns 0 or a negative code. */
#ifndef KETEN_ERR_H
#define KETEN_ERR_H

#include <stddef.h>

enum {
	KETEN_OK = 0,
	KETEN_EINVAL = -1,	/* bad input: a file, frame or argument is wrong */
	KETEN_ENOMEM = -2,
	KETEN_EIO = -3,		/* a system call on a file failed */
	KETEN_EPERM = -4,	/* a secret file is readable by others */
	KETEN_ENOTFOUND = -5,
	KETEN_EDB = -6,		/* LMDB error */
	KETEN_EZMQ = -7,	/* ZeroMQ error */
	KETEN_ECRYPTO = -8,
	KETEN_ETOOBIG = -9,
	KETEN_EEXIST = -10,
	KETEN_EFULL = -11,	/* storage full: refuse new work, keep serving */
};

/* Size of the caller-owned buffer that receives a human-readable error. */
#define KETEN_ERRLEN 512

/* Static text for an error code. */
const char *keten_strerror(int code);

/* printf into an error buffer of KETEN_ERRLEN bytes; returns `code`. */
int keten_seterr(char err[static KETEN_ERRLEN], int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
