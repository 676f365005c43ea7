/* Confinement of the daemons: dropping root, and a seccomp allowlist. */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <seccomp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/harden.h"

/* May uid (primary group gid) write and enter the directory of st? */
static bool
may_write(const struct stat *st, uid_t uid, gid_t gid)
{
	if (uid == 0)
		return true;
	if (st->st_uid == uid)
		return (st->st_mode & 0300) == 0300;
	if (st->st_gid == gid)
		return (st->st_mode & 0030) == 0030;
	return (st->st_mode & 0003) == 0003;
}

int
harden_check_user(const char *user, const char *key_name, const char *data_dir,
    char err[static KETEN_ERRLEN])
{
	uid_t uid = geteuid();
	gid_t gid = getegid();
	const char *who = "this account";
	struct passwd *pw;
	struct stat st;
	char parent[4096];

	if (uid == 0) {
		if (user == NULL)
			return keten_seterr(err, KETEN_EPERM, "started as root without \"%s\": name the "
			    "unprivileged account to run as (e.g. %s: keten); keten does not run as "
			    "root", key_name, key_name);
		errno = 0;
		if ((pw = getpwnam(user)) == NULL)
			return keten_seterr(err, KETEN_EINVAL, "%s \"%s\": no such account", key_name,
			    user);
		if (pw->pw_uid == 0)
			return keten_seterr(err, KETEN_EINVAL, "%s \"%s\" is root; name an "
			    "unprivileged account", key_name, user);
		uid = pw->pw_uid;
		gid = pw->pw_gid;
		who = user;
	}
	if (stat(data_dir, &st) == 0) {
		if (!S_ISDIR(st.st_mode))
			return keten_seterr(err, KETEN_EINVAL, "data_dir %s is not a directory", data_dir);
		if (!may_write(&st, uid, gid))
			return keten_seterr(err, KETEN_EPERM, "data_dir %s is not writable by %s "
			    "(uid %u): chown it to that account", data_dir, who, (unsigned)uid);
		return 0;
	}
	snprintf(parent, sizeof(parent), "%s", data_dir);
	char *slash = strrchr(parent, '/');
	if (slash == parent)
		slash[1] = '\0';
	else if (slash != NULL)
		*slash = '\0';
	else
		snprintf(parent, sizeof(parent), ".");
	if (stat(parent, &st) != 0)
		return keten_seterr(err, KETEN_ENOTFOUND, "data_dir %s: its parent %s does not exist",
		    data_dir, parent);
	if (!may_write(&st, uid, gid))
		return keten_seterr(err, KETEN_EPERM, "data_dir %s does not exist and %s (uid %u) "
		    "cannot create it in %s: make it (install -d -m 0700 -o ACCOUNT %s)", data_dir,
		    who, (unsigned)uid, parent, data_dir);
	return 0;
}

int
harden_drop_user(const char *user, const char *key_name, char err[static KETEN_ERRLEN])
{
	struct passwd *pw;

	if (geteuid() != 0)
		return 0;
	if (user == NULL)
		return keten_seterr(err, KETEN_EPERM, "started as root without \"%s\": name the "
		    "unprivileged account to run as (e.g. %s: keten); keten does not run as root",
		    key_name, key_name);
	errno = 0;
	if ((pw = getpwnam(user)) == NULL)
		return keten_seterr(err, KETEN_EINVAL, "%s \"%s\": no such account%s%s", key_name, user,
		    errno ? ": " : "", errno ? strerror(errno) : "");
	if (pw->pw_uid == 0)
		return keten_seterr(err, KETEN_EINVAL, "%s \"%s\" is root; name an unprivileged "
		    "account", key_name, user);
	/*
	 * Only the account's primary group, none of its supplementary ones: the
	 * daemon needs no more, and initgroups() would ask every group database
	 * of nsswitch.conf, loading modules such as libnss_systemd (which talks
	 * to systemd over a socket) into the daemon for good.
	 */
	gid_t gid = pw->pw_gid;
	if (setgroups(1, &gid) != 0 || setgid(gid) != 0 || setuid(pw->pw_uid) != 0)
		return keten_seterr(err, KETEN_EPERM, "cannot become %s: %s", user, strerror(errno));
	if (setuid(0) == 0 || geteuid() == 0 || getegid() == 0)
		return keten_seterr(err, KETEN_EPERM, "dropped to %s but could become root again", user);
#if defined(__SANITIZE_ADDRESS__)
	/* a changed uid makes the process non-dumpable, and LeakSanitizer's
	 * tracer can then not ptrace it at exit (it waits for ever): sanitizer
	 * builds only, never in a release build */
	prctl(PR_SET_DUMPABLE, 1);
#endif
	return 0;
}

/* The system calls both daemons make (LMDB, ZeroMQ, libsodium, libmicrohttpd, libc). */
static const char *const allowed[] = {
	/* memory */
	"brk", "mmap", "munmap", "mremap", "mprotect", "madvise", "mlock", "munlock", "mincore",
	/* files: LMDB, key and config reloads, the audit spool */
	"read", "write", "readv", "writev", "pread64", "pwrite64", "lseek", "close", "openat",
	"open", "fstat", "newfstatat", "stat", "lstat", "statx", "fstatfs", "fcntl", "flock",
	"fsync", "fdatasync", "msync", "ftruncate", "fallocate", "getdents64", "mkdir",
	"mkdirat", "unlink", "unlinkat", "rename", "renameat", "renameat2", "chmod", "fchmod",
	"access", "faccessat", "faccessat2", "readlink", "readlinkat", "getcwd", "umask", "dup",
	"dup2", "dup3", "pipe2", "ioctl", "fadvise64", "inotify_init1", "inotify_add_watch",
	/* sockets: ZeroMQ (tcp, ipc), libmicrohttpd */
	"socket", "socketpair", "bind", "listen", "accept", "accept4", "connect", "shutdown",
	"getsockname", "getpeername", "getsockopt", "setsockopt", "sendto", "recvfrom", "sendmsg",
	"recvmsg", "sendmmsg", "recvmmsg", "sendfile",
	/* waiting */
	"poll", "ppoll", "select", "pselect6", "epoll_create1", "epoll_ctl", "epoll_wait",
	"epoll_pwait", "eventfd2", "futex", "nanosleep", "clock_nanosleep", "clock_gettime",
	"gettimeofday", "sched_yield",
	/* threads (ZeroMQ I/O threads, libmicrohttpd per connection) */
	"clone", "clone3", "set_robust_list", "rseq", "set_tid_address", "exit", "exit_group",
	"sched_getaffinity", "sched_setscheduler", "sched_getscheduler", "sched_getparam",
	"sched_setparam", "prctl", "arch_prctl", "madvise",
	/* signals, identity, limits */
	"rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "sigaltstack", "restart_syscall",
	"getpid", "gettid", "getppid", "getuid", "geteuid", "getgid", "getegid", "tgkill",
	"uname", "sysinfo", "prlimit64", "getrlimit", "getrusage", "getrandom",
};

static void
on_sigsys(int sig, siginfo_t *si, void *ctx)
{
	char msg[160];
	char *name;
	int n;

	(void)sig, (void)ctx;
	name = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, si->si_syscall);
	n = snprintf(msg, sizeof(msg), "FATAL seccomp: system call %d (%s) is not allowed; "
	    "stopping (see docs/security.md)\n", si->si_syscall, name ? name : "?");
	if (n > 0 && write(2, msg, (size_t)n) < 0)
		n = 0;
	_exit(128 + SIGSYS);
}

int
harden_seccomp(char err[static KETEN_ERRLEN])
{
	struct sigaction sa = { .sa_sigaction = on_sigsys, .sa_flags = SA_SIGINFO };
	scmp_filter_ctx ctx;
	int rc;

#if defined(__SANITIZE_ADDRESS__)
	/* LeakSanitizer checks for leaks at exit from a tracer process it clones
	 * off the daemon; inside the filter that tracer dies and the daemon waits
	 * for it for ever.  Sanitizer builds therefore run unfiltered (the tests
	 * of the filter run in the normal build: docs/security.md). */
	(void)sa, (void)ctx, (void)rc, (void)err;
	return HARDEN_NOT_IN_THIS_BUILD;
#endif

	if ((ctx = seccomp_init(SCMP_ACT_TRAP)) == NULL)
		return keten_seterr(err, KETEN_ENOMEM, "seccomp: cannot create a filter");
	for (size_t i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++) {
		int nr = seccomp_syscall_resolve_name(allowed[i]);
		if (nr == __NR_SCMP_ERROR)
			continue;	/* not on this architecture */
		if ((rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0)) != 0 && rc != -EEXIST) {
			seccomp_release(ctx);
			return keten_seterr(err, KETEN_EINVAL, "seccomp: cannot allow %s: %s", allowed[i],
			    strerror(-rc));
		}
	}
	if (sigaction(SIGSYS, &sa, NULL) != 0 || (rc = seccomp_load(ctx)) != 0) {
		seccomp_release(ctx);
		return keten_seterr(err, KETEN_EPERM, "seccomp: cannot install the filter: %s",
		    strerror(errno));
	}
	seccomp_release(ctx);
	return 0;
}
