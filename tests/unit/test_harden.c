/* Unit tests of common/harden.c: the seccomp allowlist and dropping root, in child processes. */
#include "tests/unit/testutil.h"

#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "common/harden.h"

/* Run fn in a child with stderr captured; its exit status (or 128+signal) and stderr. */
static int
in_child(int (*fn)(void), char *errbuf, size_t cap)
{
	int p[2], status;
	pid_t pid;
	ssize_t n;
	size_t have = 0;

	assert_int_equal(pipe(p), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(p[0]);
		dup2(p[1], 2);
		_exit(fn());
	}
	close(p[1]);
	while (have + 1 < cap && (n = read(p[0], errbuf + have, cap - have - 1)) > 0)
		have += (size_t)n;
	errbuf[have] = '\0';
	close(p[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static void *
thread_main(void *arg)
{
	return arg;
}

/* What a daemon does after the filter is in: files, sockets, threads, time. */
static int
allowed_work(void)
{
	char err[KETEN_ERRLEN], path[64];
	int fd, sv[2];
	pthread_t t;
	static int token;
	void *ret;
	struct timespec ts = { 0, 1000000 };

	if (harden_seccomp(err) != 0)
		return 10;
	snprintf(path, sizeof(path), "/tmp/keten-harden-%d", (int)getpid());
	if ((fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600)) < 0 || write(fd, "x", 1) != 1 ||
	    fdatasync(fd) != 0 || close(fd) != 0 || unlink(path) != 0)
		return 11;
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0 || send(sv[0], "y", 1, 0) != 1)
		return 12;
	if (pthread_create(&t, NULL, thread_main, &token) != 0 || pthread_join(t, &ret) != 0 ||
	    ret != &token)
		return 13;
	if (nanosleep(&ts, NULL) != 0)
		return 14;
	return 0;
}

static void
test_seccomp_allows_daemon_work(void **state)
{
	char err[1024];

	(void)state;
#if defined(__SANITIZE_ADDRESS__)
	/* sanitizer builds run unfiltered (LeakSanitizer's exit-time tracer dies inside it) */
	assert_int_equal(harden_seccomp(err), HARDEN_NOT_IN_THIS_BUILD);
	skip();
#endif
	assert_int_equal(in_child(allowed_work, err, sizeof(err)), 0);
}

/* execve is not on the list: the daemon stops, naming the call. */
static int
forbidden_exec(void)
{
	char err[KETEN_ERRLEN];
	char *const argv[] = { "/bin/true", NULL };

	if (harden_seccomp(err) != 0)
		return 10;
	execv("/bin/true", argv);
	return 11;	/* not reached: execve traps */
}

static void
test_seccomp_stops_other_calls(void **state)
{
	char err[1024];

	(void)state;
#if defined(__SANITIZE_ADDRESS__)
	skip();
#endif
	assert_int_equal(in_child(forbidden_exec, err, sizeof(err)), 128 + SIGSYS);
	assert_contains(err, "FATAL seccomp: system call");
	assert_contains(err, "(execve) is not allowed");
}

static int
drop_to_nobody(void)
{
	char err[KETEN_ERRLEN];
	struct passwd *pw = getpwnam("nobody");

	if (pw == NULL)
		return 20;
	if (harden_drop_user("nobody", "user", err) != 0)
		return 21;
	if (getuid() != pw->pw_uid || geteuid() != pw->pw_uid || getgid() != pw->pw_gid)
		return 22;
	if (setuid(0) == 0)
		return 23;
	return 0;
}

static void
test_drop_user(void **state)
{
	char err[KETEN_ERRLEN], buf[256];

	(void)state;
	if (geteuid() != 0) {
		/* nothing to drop: the account named is not even looked up */
		assert_int_equal(harden_drop_user(NULL, "user", err), 0);
		assert_int_equal(harden_drop_user("no-such-account", "user", err), 0);
		return;
	}
	assert_int_equal(harden_drop_user(NULL, "user", err), KETEN_EPERM);
	assert_contains(err, "started as root without \"user\"");
	assert_int_equal(harden_drop_user("no-such-account-x", "user", err), KETEN_EINVAL);
	assert_contains(err, "user \"no-such-account-x\": no such account");
	assert_int_equal(harden_drop_user("root", "user", err), KETEN_EINVAL);
	assert_contains(err, "is root");
	assert_int_equal(in_child(drop_to_nobody, buf, sizeof(buf)), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_seccomp_allows_daemon_work),
		cmocka_unit_test(test_seccomp_stops_other_calls),
		cmocka_unit_test(test_drop_user),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
