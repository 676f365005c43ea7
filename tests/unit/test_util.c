/* Unit tests of common/util.c: UUIDs, ids, big-endian, files, paths. */
#include "tests/unit/testutil.h"

#include <dirent.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <sys/wait.h>
#include <sodium.h>

#include "common/util.h"

static uint64_t
uuid_ms(const uint8_t id[static KETEN_UUIDBYTES])
{
	uint64_t ms = 0;

	for (int i = 0; i < 6; i++)
		ms = ms << 8 | id[i];
	return ms;
}

static void
test_uuid7(void **state)
{
	uint8_t id[KETEN_UUIDBYTES], prev[KETEN_UUIDBYTES];
	int64_t before = now_ms();

	assert_true(sodium_init() >= 0);
	uuid7_new(prev);
	for (int i = 0; i < 1000; i++) {
		uuid7_new(id);
		assert_int_equal(id[6] >> 4, 7);		/* version 7 */
		assert_int_equal(id[8] >> 6, 2);		/* variant 10 */
		assert_true(uuid_ms(id) >= (uint64_t)before);
		assert_true(uuid_ms(id) >= uuid_ms(prev));	/* time-ordered prefix */
		assert_memory_not_equal(id, prev, KETEN_UUIDBYTES);
		memcpy(prev, id, sizeof(id));
	}
	assert_true(uuid_ms(id) <= (uint64_t)now_ms());
	/* the clock itself is sane: after 2025, and monotonic ms does not go back */
	assert_true(before > 1735689600000LL);
	int64_t m1 = mono_ms(), m2 = mono_ms();
	assert_true(m2 >= m1);
}

static void
test_uuid_format_parse(void **state)
{
	uint8_t id[KETEN_UUIDBYTES], back[KETEN_UUIDBYTES];
	char s[KETEN_UUIDSTRLEN];

	for (int i = 0; i < KETEN_UUIDBYTES; i++)
		id[i] = (uint8_t)(i + 1);
	id[15] = 0xaf;
	uuid_format(s, id);
	assert_string_equal(s, "01020304-0506-0708-090a-0b0c0d0e0faf");
	assert_int_equal(uuid_parse(back, s), 0);
	assert_memory_equal(back, id, KETEN_UUIDBYTES);
	/* upper case is accepted */
	memset(back, 0, sizeof(back));
	assert_int_equal(uuid_parse(back, "01020304-0506-0708-090A-0B0C0D0E0FAF"), 0);
	assert_memory_equal(back, id, KETEN_UUIDBYTES);

	/* random round trips */
	for (int i = 0; i < 100; i++) {
		uuid7_new(id);
		uuid_format(s, id);
		assert_int_equal(strlen(s), 36);
		assert_int_equal(uuid_parse(back, s), 0);
		assert_memory_equal(back, id, KETEN_UUIDBYTES);
	}
}

static void
test_uuid_parse_rejects(void **state)
{
	static const char *const bad[] = {
		"",
		"01020304-0506-0708-090a-0b0c0d0e0fa",		/* 35 */
		"01020304-0506-0708-090a-0b0c0d0e0faf0",	/* 37 */
		"010203040-506-0708-090a-0b0c0d0e0faf",		/* dash moved */
		"01020304-05060-708-090a-0b0c0d0e0faf",
		"01020304-0506-0708-090a0-b0c0d0e0faf",
		"01020304x0506-0708-090a-0b0c0d0e0faf",
		"0102030405060708090a0b0c0d0e0faf0000",		/* no dashes */
		"01020304-0506-0708-090g-0b0c0d0e0faf",		/* not hex */
		"01020304-0506-0708-090a-0b0c0d0e0f a",
		"{1020304-0506-0708-090a-0b0c0d0e0fa}",
		"-1020304-0506-0708-090a-0b0c0d0e0faf",
		"+1020304-0506-0708-090a-0b0c0d0e0faf",
	};
	uint8_t out[KETEN_UUIDBYTES], zero[KETEN_UUIDBYTES] = { 0 };

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(out, 0, sizeof(out));
		if (uuid_parse(out, bad[i]) != KETEN_EINVAL)
			fail_msg("\"%s\" accepted", bad[i]);
		assert_memory_equal(out, zero, sizeof(out));	/* untouched */
	}
}

static void
test_agency_id_valid(void **state)
{
	char id[KETEN_IDMAX + 2];
	static const char *const good[] = { "a", "0", "politie", "riec-west", "a1-b2",
		"gemeente-0363", "a-" };
	static const char *const bad[] = { "", "-a", "Politie", "a_b", "a b", "a.b", "a/b",
		"p\xc3\xa9", "a\n", " a", "a:b" };

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		if (!agency_id_valid(good[i]))
			fail_msg("\"%s\" refused", good[i]);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (agency_id_valid(bad[i]))
			fail_msg("\"%s\" accepted", bad[i]);

	memset(id, 'x', sizeof(id));
	id[KETEN_IDMAX - 1] = '\0';	/* 63 characters */
	assert_true(agency_id_valid(id));
	id[KETEN_IDMAX - 1] = 'x';
	id[KETEN_IDMAX] = '\0';		/* 64 characters */
	assert_false(agency_id_valid(id));
}

static void
test_be64(void **state)
{
	static const uint64_t values[] = { 0, 1, 0xff, 0x100, 0x0102030405060708ULL,
		1ULL << 63, UINT64_MAX - 1, UINT64_MAX };
	static const uint8_t want[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
	uint8_t buf[8], a[8], b[8];

	be64_put(buf, 0x0102030405060708ULL);
	assert_memory_equal(buf, want, 8);
	for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
		be64_put(buf, values[i]);
		assert_true(be64_get(buf) == values[i]);
	}
	/* byte order sorts like the numbers (LMDB keys rely on this) */
	be64_put(a, 0x00ffffffffffffffULL);
	be64_put(b, 0x0100000000000000ULL);
	assert_true(memcmp(a, b, 8) < 0);
}

/* Names in `dir` other than "." and ".."; returns how many. */
static int
count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			n++;
	closedir(d);
	return n;
}

static void
test_file_write_atomic(void **state)
{
	char dir[TU_DIRLEN], err[KETEN_ERRLEN], *path, *text, *missing;
	mode_t old = umask(077);	/* the requested mode must win over the umask */

	tu_tmpdir(dir);
	path = tu_printf("%s/out.txt", dir);
	assert_int_equal(file_write_atomic(path, "hello\n", 6, 0644, err), 0);
	assert_int_equal(tu_mode(path), 0644);
	text = tu_read(path);
	assert_string_equal(text, "hello\n");
	free(text);

	/* replacing: new content and new mode, no temporary file left behind */
	assert_int_equal(file_write_atomic(path, "secret", 6, 0600, err), 0);
	assert_int_equal(tu_mode(path), 0600);
	text = tu_read(path);
	assert_string_equal(text, "secret");
	free(text);
	assert_int_equal(count_entries(dir), 1);

	umask(0);
	assert_int_equal(file_write_atomic(path, "", 0, 0640, err), 0);
	assert_int_equal(tu_mode(path), 0640);
	text = tu_read(path);
	assert_string_equal(text, "");
	free(text);
	assert_int_equal(count_entries(dir), 1);
	umask(old);

	/* a directory that does not exist */
	missing = tu_printf("%s/no/such/dir/out.txt", dir);
	err[0] = '\0';
	assert_int_equal(file_write_atomic(missing, "x", 1, 0600, err), KETEN_EIO);
	assert_contains(err, "/no/such/dir/out.txt");
	free(missing);
	free(path);
	tu_rmtree(dir);
}

/*
 * Hostile files given where a policy, directory or configuration is read
 * (issue [3/7] item 7): a FIFO (it hung lint and the broker's SIGHUP), a
 * device, a symbolic link loop, a directory, a file over the limit: each an
 * error naming the file, at once.
 */
static void
test_file_read_hostile(void **state)
{
	char dir[TU_DIRLEN], err[KETEN_ERRLEN], *buf = NULL, *fifo, *loop, *big;
	size_t len;
	FILE *f;

	(void)state;
	tu_tmpdir(dir);
	fifo = tu_printf("%s/policy.yaml", dir);
	assert_int_equal(mkfifo(fifo, 0600), 0);
	alarm(10);	/* were the open to block, the test fails rather than hangs */
	assert_int_equal(file_read(fifo, 1 << 20, &buf, &len, err), KETEN_EIO);
	assert_contains(err, "policy.yaml: not a regular file");
	assert_int_equal(file_read("/dev/zero", 1 << 20, &buf, &len, err), KETEN_EIO);
	assert_contains(err, "not a regular file");
	assert_int_equal(file_read(dir, 1 << 20, &buf, &len, err), KETEN_EIO);
	alarm(0);
	loop = tu_printf("%s/loop", dir);
	assert_int_equal(symlink(loop, loop), 0);
	assert_int_not_equal(file_read(loop, 1 << 20, &buf, &len, err), 0);
	assert_contains(err, "loop");
	big = tu_printf("%s/big.yaml", dir);
	assert_non_null(f = fopen(big, "w"));
	assert_int_equal(ftruncate(fileno(f), 5 << 20), 0);
	fclose(f);
	assert_int_equal(file_read(big, 4 << 20, &buf, &len, err), KETEN_ETOOBIG);
	assert_contains(err, "larger than");
	assert_null(buf);
	free(fifo);
	free(loop);
	free(big);
	tu_rmtree(dir);
}

static void
test_secret_file_read(void **state)
{
	char dir[TU_DIRLEN], err[KETEN_ERRLEN], link[TU_DIRLEN + 16];
	char *path, *buf = NULL;
	size_t len = 0;

	tu_tmpdir(dir);
	path = tu_write(dir, "s.secret", "GOOD", 0600);
	assert_int_equal(secret_file_read(path, 64, &buf, &len, err), 0);
	assert_int_equal(len, 4);
	assert_string_equal(buf, "GOOD");
	secret_file_free(&buf, len);
	assert_null(buf);
	assert_int_equal(chmod(path, 0400), 0);
	assert_int_equal(secret_file_read(path, 64, &buf, &len, err), 0);
	secret_file_free(&buf, len);
	static const mode_t bad[] = { 0640, 0604, 0620, 0602, 0610, 0601, 0666 };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(chmod(path, bad[i]), 0);
		err[0] = '\0';
		assert_int_equal(secret_file_read(path, 64, &buf, &len, err), KETEN_EPERM);
		assert_null(buf);
		assert_contains(err, path);
		assert_contains(err, "chmod 600");
	}
	/* a shared secret (the API token) may be read by its group, never written */
	static const mode_t shared_ok[] = { 0600, 0640, 0440, 0400 };
	static const mode_t shared_bad[] = { 0660, 0620, 0644, 0604, 0650, 0641 };
	for (size_t i = 0; i < sizeof(shared_ok) / sizeof(shared_ok[0]); i++) {
		assert_int_equal(chmod(path, shared_ok[i]), 0);
		assert_int_equal(shared_secret_file_read(path, 64, &buf, &len, err), 0);
		assert_string_equal(buf, "GOOD");
		secret_file_free(&buf, len);
	}
	for (size_t i = 0; i < sizeof(shared_bad) / sizeof(shared_bad[0]); i++) {
		assert_int_equal(chmod(path, shared_bad[i]), 0);
		err[0] = '\0';
		assert_int_equal(shared_secret_file_read(path, 64, &buf, &len, err), KETEN_EPERM);
		assert_null(buf);
		assert_contains(err, "chmod 640");
	}
	assert_int_equal(chmod(path, 0600), 0);
	/* larger than allowed */
	assert_int_equal(secret_file_read(path, 3, &buf, &len, err), KETEN_ETOOBIG);
	/* a symbolic link to a good secret file is not the file itself */
	snprintf(link, sizeof(link), "%s/link", dir);
	assert_int_equal(symlink(path, link), 0);
	assert_int_equal(secret_file_read(link, 64, &buf, &len, err), KETEN_EPERM);
	assert_contains(err, "symbolic link");
	/* a directory */
	assert_int_equal(secret_file_read(dir, 64, &buf, &len, err), KETEN_EIO);
	/* owned by someone else than root or us */
	if (geteuid() == 0) {
		assert_int_equal(chown(path, 12345, 12345), 0);
		assert_int_equal(secret_file_read(path, 64, &buf, &len, err), KETEN_EPERM);
		assert_contains(err, "owned by uid 12345");
	}
	free(path);
	tu_rmtree(dir);
}

/*
 * The file is judged and read through one descriptor: while another process
 * swaps a good secret file and a world-readable one under the path, every
 * read either refuses or returns the good file, never the bad one.  (A
 * check of the path followed by a read of the path, as before, returned the
 * bad file's content in some rounds.)
 */
static void
test_secret_file_swap(void **state)
{
	char dir[TU_DIRLEN], err[KETEN_ERRLEN], tmp[TU_DIRLEN + 16];
	char *good, *bad, *path, *buf = NULL;
	size_t len = 0;
	int ok = 0, refused = 0;
	pid_t pid;

	tu_tmpdir(dir);
	good = tu_write(dir, "good", "GOOD", 0600);
	bad = tu_write(dir, "bad", "BAD!", 0644);
	path = tu_write(dir, "key", "GOOD", 0600);
	snprintf(tmp, sizeof(tmp), "%s/tmp", dir);
	if ((pid = fork()) == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);	/* not past a failed assertion of ours */
		for (unsigned i = 0; i < 10000000; i++) {
			unlink(tmp);
			if (link(i % 2 ? bad : good, tmp) == 0)
				rename(tmp, path);
		}
		_exit(0);
	}
	assert_true(pid > 0);
	for (int i = 0; i < 20000; i++) {
		int rc = secret_file_read(path, 64, &buf, &len, err);
		if (rc == 0) {
			assert_string_equal(buf, "GOOD");
			secret_file_free(&buf, len);
			ok++;
		} else {
			refused++;
		}
	}
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	assert_true(ok > 0);	/* both files were seen */
	assert_true(refused > 0);
	free(good);
	free(bad);
	free(path);
	tu_rmtree(dir);
}

static void
test_path_resolve(void **state)
{
	static const struct { const char *base, *rel, *want; } cases[] = {
		{ "/etc/keten/broker.yaml", "data", "/etc/keten/data" },
		{ "/etc/keten/broker.yaml", "keys/b.secret", "/etc/keten/keys/b.secret" },
		{ "/etc/keten/broker.yaml", "/var/lib/keten", "/var/lib/keten" },
		{ "conf/agent.yaml", "state", "conf/state" },
		{ "agent.yaml", "state", "./state" },
		{ NULL, "state", "state" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *got = path_resolve(cases[i].base, cases[i].rel);
		assert_non_null(got);
		assert_string_equal(got, cases[i].want);
		free(got);
	}
}

static void
test_dir_ensure(void **state)
{
	char dir[TU_DIRLEN], err[KETEN_ERRLEN], *deep, *file;

	tu_tmpdir(dir);
	deep = tu_printf("%s/a/b/c", dir);
	assert_int_equal(dir_ensure(deep, 0700, err), 0);
	assert_int_equal(tu_mode(deep), 0700);
	assert_int_equal(dir_ensure(deep, 0700, err), 0);	/* exists: fine */
	free(deep);

	file = tu_write(dir, "plain", "x", 0644);
	assert_int_equal(dir_ensure(file, 0700, err), KETEN_EIO);
	assert_contains(err, file);
	deep = tu_printf("%s/under", file);
	assert_int_equal(dir_ensure(deep, 0700, err), KETEN_EIO);
	free(deep);
	free(file);
	assert_int_equal(dir_ensure("", 0700, err), KETEN_EINVAL);
	tu_rmtree(dir);
}

/* Regression: "DIR/keys/" (trailing slash) must get the requested mode too. */
static void
test_dir_ensure_trailing_slash(void **state)
{
	char dir[TU_DIRLEN], err[KETEN_ERRLEN], *keys, *slash;
	mode_t old = umask(022);

	tu_tmpdir(dir);
	keys = tu_printf("%s/keys", dir);
	slash = tu_printf("%s/", keys);
	assert_int_equal(dir_ensure(slash, 0700, err), 0);
	umask(old);
	unsigned mode = tu_mode(keys);
	free(keys);
	free(slash);
	tu_rmtree(dir);
	if (mode != 0700)
		fail_msg("DIR/keys/ created with mode %04o, expected 0700", mode);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_uuid7),
		cmocka_unit_test(test_uuid_format_parse),
		cmocka_unit_test(test_uuid_parse_rejects),
		cmocka_unit_test(test_agency_id_valid),
		cmocka_unit_test(test_be64),
		cmocka_unit_test(test_file_write_atomic),
		cmocka_unit_test(test_file_read_hostile),
		cmocka_unit_test(test_secret_file_read),
		cmocka_unit_test(test_secret_file_swap),
		cmocka_unit_test(test_path_resolve),
		cmocka_unit_test(test_dir_ensure),
		cmocka_unit_test(test_dir_ensure_trailing_slash),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
