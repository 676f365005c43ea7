/*
 * Confinement of the daemons (docs/security.md, "Hardening").
 *
 * harden_drop_user: started as root, a daemon reads its secret key files,
 * then becomes the configured unprivileged account (groups, gid, uid; it
 * checks it cannot become root again) before it opens its data directory,
 * so everything it creates belongs to that account.
 *
 * harden_seccomp: a seccomp filter (libseccomp) that allows only the
 * system calls keten-broker and keten-agent use, installed before the
 * ZeroMQ context and libmicrohttpd start their threads (which inherit it).
 * Any other call stops the daemon with "seccomp: system call N (name) is
 * not allowed" on stderr and exit status 159 (128 + SIGSYS), so a missing
 * entry is found, not silently worked around.
 */
#ifndef KETEN_HARDEN_H
#define KETEN_HARDEN_H

#include "common/err.h"

/*
 * As root: become `user` (required; NULL refuses, naming the key).  Not
 * root: nothing to drop (0), whatever `user` says.  0 or an error.
 */
int harden_drop_user(const char *user, const char *key_name, char err[static KETEN_ERRLEN]);

/*
 * For -n: what harden_drop_user and opening data_dir would refuse, without
 * doing either: as root, `user` missing, unknown or root; and whether the
 * account the daemon will run as (us, or `user` by its primary group, as
 * harden_drop_user becomes it) can write data_dir, or create it in its
 * parent.  0 or an error naming the directory and the account.
 */
int harden_check_user(const char *user, const char *key_name, const char *data_dir,
    char err[static KETEN_ERRLEN]);

/*
 * Install the filter.  0, HARDEN_NOT_IN_THIS_BUILD in a sanitizer build
 * (LeakSanitizer cannot work inside it), or an error (the daemon should not
 * run unconfined by surprise).
 */
#define HARDEN_NOT_IN_THIS_BUILD 1
int harden_seccomp(char err[static KETEN_ERRLEN]);

#endif
