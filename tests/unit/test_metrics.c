/* Unit tests of broker/metrics.c: counting across commits and the text it serves. */
#include "tests/unit/testutil.h"

#include "broker/metrics.h"

static char *
render(const struct metrics *m, const struct metrics_state *st)
{
	char *out = NULL;
	size_t len = 0;

	assert_int_equal(metrics_render(m, st, &out, &len), 0);
	assert_int_equal(strlen(out), len);
	return out;
}

/* Line `series value` must be in the text. */
#define assert_series(text, series, value) do { \
	char *want_ = tu_printf("\n%s %s\n", (series), (value)); \
	assert_contains((text), want_); \
	free(want_); \
} while (0)

static void
test_empty(void **state)
{
	struct metrics *m = NULL;
	struct metrics_state st = { 0 };

	(void)state;
	assert_int_equal(metrics_new(&m), 0);
	assert_int_equal(metrics_fd(m), -1);	/* not serving */
	assert_int_equal(metrics_timeout(m, 500), 500);
	metrics_run(m);				/* a no-op */
	char *t = render(m, &st);
	/* every family is announced, with a type */
	assert_prefix(t, "# HELP keten_broker_submissions_total ");
	assert_contains(t, "# TYPE keten_broker_submissions_total counter\n");
	assert_contains(t, "# TYPE keten_broker_rejections_total counter\n");
	assert_contains(t, "# TYPE keten_broker_deliveries_total counter\n");
	assert_contains(t, "# TYPE keten_broker_ledger_entries_total counter\n");
	assert_contains(t, "# TYPE keten_broker_queue_depth gauge\n");
	assert_contains(t, "# TYPE keten_broker_connected_agents gauge\n");
	assert_contains(t, "# TYPE keten_broker_commit_seconds histogram\n");
	assert_contains(t, "# TYPE keten_broker_batch_size histogram\n");
	/* every reason is there from the start, so rate() works on the first refusal */
	assert_series(t, "keten_broker_rejections_total{reason=\"policy\"}", "0");
	assert_series(t, "keten_broker_rejections_total{reason=\"no-session\"}", "0");
	assert_series(t, "keten_broker_commit_seconds_bucket{le=\"+Inf\"}", "0");
	assert_series(t, "keten_broker_commit_seconds_count", "0");
	assert_int_equal(t[strlen(t) - 1], '\n');
	free(t);
	metrics_free(&m);
	assert_null(m);
	metrics_free(&m);
}

/* What a batch counts is seen only once it is committed; a failed commit forgets it. */
static void
test_commit_and_abort(void **state)
{
	struct metrics *m = NULL;
	struct metrics_state st = { 0 };
	char *t;

	(void)state;
	assert_int_equal(metrics_new(&m), 0);
	metrics_accepted(m);
	metrics_accepted(m);
	metrics_rejected(m, "policy");
	metrics_rejected(m, "no-such-reason");
	metrics_delivered(m);
	metrics_sent(m, 3);			/* at once, not per batch */
	t = render(m, &st);
	assert_series(t, "keten_broker_submissions_total{result=\"accepted\"}", "0");
	assert_series(t, "keten_broker_delivery_sends_total", "3");
	free(t);
	metrics_batch_abort(m);
	metrics_batch_commit(m, 0.0004, 1, 2);
	t = render(m, &st);
	assert_series(t, "keten_broker_submissions_total{result=\"accepted\"}", "0");
	assert_series(t, "keten_broker_rejections_total{reason=\"policy\"}", "0");
	free(t);

	metrics_accepted(m);
	metrics_duplicate(m);
	metrics_rejected(m, "policy");
	metrics_rejected(m, "signature");
	metrics_rejected(m, "bogus");		/* unknown reasons count as "error" */
	metrics_delivered(m);
	metrics_expired(m);
	metrics_batch_commit(m, 0.001, 5, 40);
	t = render(m, &st);
	assert_series(t, "keten_broker_submissions_total{result=\"accepted\"}", "1");
	assert_series(t, "keten_broker_lmdb_pages_written_total", "42");	/* every commit's pages */
	assert_series(t, "keten_broker_submissions_total{result=\"duplicate\"}", "1");
	assert_series(t, "keten_broker_submissions_total{result=\"rejected\"}", "3");
	assert_series(t, "keten_broker_rejections_total{reason=\"policy\"}", "1");
	assert_series(t, "keten_broker_rejections_total{reason=\"signature\"}", "1");
	assert_series(t, "keten_broker_rejections_total{reason=\"error\"}", "1");
	assert_series(t, "keten_broker_deliveries_total", "1");
	assert_series(t, "keten_broker_expired_total", "1");
	free(t);
	metrics_free(&m);
}

/* Buckets are cumulative and `le` is inclusive. */
static void
test_histograms(void **state)
{
	struct metrics *m = NULL;
	struct metrics_state st = { 0 };

	(void)state;
	assert_int_equal(metrics_new(&m), 0);
	metrics_batch_commit(m, 0.001, 1, 1);	/* exactly on a bound */
	metrics_batch_commit(m, 0.0011, 1024, 1);
	metrics_batch_commit(m, 30.0, 100000, 1);	/* above every bound */
	char *t = render(m, &st);
	assert_series(t, "keten_broker_commit_seconds_bucket{le=\"0.0005\"}", "0");
	assert_series(t, "keten_broker_commit_seconds_bucket{le=\"0.001\"}", "1");
	assert_series(t, "keten_broker_commit_seconds_bucket{le=\"0.0025\"}", "2");
	assert_series(t, "keten_broker_commit_seconds_bucket{le=\"5\"}", "2");
	assert_series(t, "keten_broker_commit_seconds_bucket{le=\"+Inf\"}", "3");
	assert_series(t, "keten_broker_commit_seconds_count", "3");
	assert_series(t, "keten_broker_commit_seconds_sum", "30.0021");
	assert_series(t, "keten_broker_batch_size_bucket{le=\"1\"}", "1");
	assert_series(t, "keten_broker_batch_size_bucket{le=\"512\"}", "1");
	assert_series(t, "keten_broker_batch_size_bucket{le=\"1024\"}", "2");
	assert_series(t, "keten_broker_batch_size_bucket{le=\"65536\"}", "2");
	assert_series(t, "keten_broker_batch_size_bucket{le=\"+Inf\"}", "3");
	assert_series(t, "keten_broker_batch_size_sum", "101025");
	assert_series(t, "keten_broker_batch_size_count", "3");
	free(t);
	metrics_free(&m);
}

static void
test_state(void **state)
{
	struct metrics *m = NULL;
	struct metrics_state st = { 0 };
	char *t, *h;
	size_t len;

	(void)state;
	assert_int_equal(metrics_new(&m), 0);
	st.ledger_entries = 42;
	st.queued = 7;
	st.connected_agents = 2;
	st.storage_used = 1000;
	st.storage_limit = 8000;
	st.storage_map = 10000;
	assert_int_equal(metrics_state_queue(&st, "om", 7), 0);
	assert_int_equal(metrics_state_queue(&st, "odd\"name\\x\ny", 0), 0);
	assert_int_equal(metrics_state_queue(&st, "a-recipient-id-far-too-long-to-be-an-agency-id-"
	    "of-the-directory-at-all", 1), KETEN_ETOOBIG);
	t = render(m, &st);
	assert_series(t, "keten_broker_ledger_entries_total", "42");
	assert_series(t, "keten_broker_queue_depth{recipient=\"om\"}", "7");
	/* label values are escaped */
	assert_contains(t, "\nketen_broker_queue_depth{recipient=\"odd\\\"name\\\\x\\ny\"} 0\n");
	assert_series(t, "keten_broker_connected_agents", "2");
	assert_series(t, "keten_broker_storage_used_bytes", "1000");
	assert_series(t, "keten_broker_storage_limit_bytes", "8000");
	assert_series(t, "keten_broker_storage_map_bytes", "10000");
	assert_series(t, "keten_broker_storage_refusing", "0");
	free(t);

	assert_int_equal(metrics_render_health(&st, &h, &len), 0);
	assert_string_equal(h, "{\"status\":\"ok\",\"storage\":\"ok\",\"ledger_entries\":42,"
	    "\"connected_agents\":2,\"queued\":7,\"storage_used_bytes\":1000,"
	    "\"storage_limit_bytes\":8000}\n");
	free(h);
	st.refusing = true;
	assert_int_equal(metrics_render_health(&st, &h, &len), 0);
	assert_prefix(h, "{\"status\":\"refusing-submissions\",\"storage\":\"nearly-full\",");
	free(h);
	t = render(m, &st);
	assert_series(t, "keten_broker_storage_refusing", "1");
	free(t);
	free(st.recipients);
	metrics_free(&m);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_commit_and_abort),
		cmocka_unit_test(test_histograms),
		cmocka_unit_test(test_state),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
