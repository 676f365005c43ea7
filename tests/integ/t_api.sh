# The agent's REST API (agent/rest.c) over real HTTP against a real broker and
# agents: every endpoint, authentication, errors and limits, slow clients,
# concurrent submitters losing nothing, the counters of /metrics, and
# schemas/openapi.yaml against the server and rest.c.  The checks are in
# api_test.py (Python 3 standard library only).
. "$(dirname "$0")/lib.sh"
command -v python3 >/dev/null || die "python3 is needed"
net_create
api_ports 3 || die "no free ports"
# politie pseudonymises case references; its bodies are limited to 4 KiB
printf 'network_key: "%s"\n' "$(head -c 32 /dev/urandom | base64)" >"$NET/keys/network.key"
chmod 600 "$NET/keys/network.key"
echo "network_key: keys/network.key" >>"$NET/politie.yaml"
api_enable politie "$API_PORT" "api_max_body_bytes: 4096"
api_enable gemeente-amsterdam $((API_PORT + 1))
api_enable kmar $((API_PORT + 2))
export NET API_PORT KETEN KETEN_ROOT
api_test="python3 $KETEN_ROOT/tests/integ/api_test.py"

# the broker is not up yet: submissions are stored and stay queued
agent_start politie
$api_test queued || die "API checks (broker down) failed"

broker_start
agent_start gemeente-amsterdam
KETEN_TEST_CLOCK_OFFSET_MS=600000 agent_start kmar	# its messages are rejected
start=$SECONDS
$api_test main || die "API checks failed"
echo "# API checks took $((SECONDS - start)) s"
grep -q "REST API on http://127.0.0.1:$API_PORT/v1/" "$NET/politie.log" || die "the API start is not logged"
grep -qF "$(cat "$NET/api.token")" "$NET"/*.log && die "the token reached a log"
true
