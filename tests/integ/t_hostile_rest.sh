# Hostile REST clients (issue [3/7] item 4 and the REST parts of 7): slow
# clients cannot lock partner systems out for longer than the header deadline,
# oversized bodies are refused before they are read, smuggling and %00 are
# refused; every refusal logged or answered in the API's JSON error shape.
. "$(dirname "$0")/lib.sh"
command -v python3 >/dev/null || die "python3 is needed"
net_create politie om
api_ports 1 || die "no free ports"
api_enable politie "$API_PORT" "api_max_connections: 8" "api_max_body_bytes: 65536"
broker_start
agent_start politie
agent_start om
export NET API_PORT MAXCONN=8
python3 "$KETEN_ROOT/tests/integ/hostile_rest.py" || die "hostile REST checks failed"
grep -q "api: all api_max_connections connections in use: a new one was refused" "$NET/politie.log" ||
	die "the refused connections were not logged"
grep -q "api: closed [0-9]* connections that did not send their headers within 10 s" "$NET/politie.log" ||
	die "the slow clients' connections were not logged as closed"
kill -0 "$(cat "$NET/politie.pid")" || die "the agent died"
echo "# slow clients cut at 10 s and logged; 413 before reading; smuggling, %00 and a recipient twice refused"
