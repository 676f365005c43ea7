/*
 * keten error codes: every fallible function returns 0 or a negative code,
 * and a message for a person (file:line:col where there is one) in a
 * caller-owned buffer of KETEN_ERRLEN bytes.
 *
 * Each family of codes has its own range, so that a code names its family
 * and no two codes share a value (tests/unit/test_err.c checks it):
 *   0               success, in every family
 *   -1 .. -99       KETEN_E*: the general codes below
 *   -101 .. -199    ENV_*: sealing, opening and verifying envelopes
 *                   (common/envelope.h; envelope_strerror)
 * keten_strerror names a code of either family.  The wire's ErrorCode
 * values (schemas/wire.proto) are what the protocol says to a peer, not
 * return values.
 */
#ifndef KETEN_ERR_H
#define KETEN_ERR_H

#include <stddef.h>

#define KETEN_ERR_ENV_FIRST (-101)	/* the ENV_* range */
#define KETEN_ERR_ENV_LAST (-199)

enum {
	KETEN_OK = 0,
	KETEN_EINVAL = -1,	/* bad input: a file, frame or argument is wrong */
	KETEN_ENOMEM = -2,
	KETEN_EIO = -3,		/* a system call on a file failed */
	KETEN_EPERM = -4,	/* not permitted: a secret file others may read, a change
				 * without the approvals it needs (common/trust.h) */
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

/* Static text for an error code of any family. */
const char *keten_strerror(int code);

/* printf into an error buffer of KETEN_ERRLEN bytes; returns `code`. */
int keten_seterr(char err[static KETEN_ERRLEN], int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
