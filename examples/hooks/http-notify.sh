#!/bin/sh
# http-notify.sh: an example cset handover hook (see README.md beside this file).
#
# Sends the handover to an HTTP endpoint, for example a storage array's API that reverses the
# replication of the workload's volume so that the target member's copy becomes writable. The
# CSET_* values go as a JSON object in the body; the operation id also goes as the
# Idempotency-Key header, so an endpoint can recognise a repeated call: cset runs a hook again
# when a new leader resumes an operation whose hook was running when the old leader died.
#
# Environment, set by cset for every hook:
#   CSET_WORKLOAD CSET_GROUP CSET_OPERATION CSET_REASON
#   CSET_FROM_MEMBER CSET_FROM_SERVER CSET_TO_MEMBER CSET_TO_SERVER
# Environment, set by you (in csetd's environment, or in a wrapper that execs this script):
#   CSET_HOOK_URL         the endpoint (http:// or https://), required
#   CSET_HOOK_TOKEN_FILE  a file holding a bearer token for "Authorization: Bearer ..." (optional)
#   CSET_HOOK_TIMEOUT     seconds allowed for one attempt; no retry starts after that many seconds
#                         either, so the hook ends within about twice this (default 30)
#   CSET_HOOK_RETRIES     retries after a refused connection, a timeout or HTTP 408, 429, 500,
#                         502, 503 or 504 (default 2)
#   CSET_HOOK_METHOD      POST (default) or PUT
#   CSET_HOOK_CA_FILE     CA bundle to verify an https endpoint with (optional)
#
# Exit status: 0 when the endpoint answered 2xx, non-zero with the status and the start of the
# response body on stderr otherwise.
set -eu

die() {
	echo "http-notify: $*" >&2
	exit 1
}

need() {
	eval "val=\${$1-}"
	[ -n "$val" ] || die "$1 is not set; $2"
}

# json_string VALUE: VALUE as a JSON string (check_values has refused control characters).
json_string() {
	printf '"%s"' "$(printf '%s' "$1" | sed 's/\\/\\\\/g; s/"/\\"/g')"
}

# check_values: cset's names never hold control characters; refuse them rather than send
# something the endpoint may misread.
check_values() {
	for v in CSET_WORKLOAD CSET_GROUP CSET_OPERATION CSET_REASON CSET_FROM_MEMBER CSET_FROM_SERVER CSET_TO_MEMBER CSET_TO_SERVER; do
		eval "val=\${$v-}"
		case $val in
		*[[:cntrl:]]*) die "$v holds a control character" ;;
		esac
	done
}

positive_int() {
	case $2 in
	'' | *[!0-9]*) die "$1 must be a whole number of seconds or a count, got \"$2\"" ;;
	esac
}

command -v curl >/dev/null 2>&1 || die "curl is not installed"
need CSET_WORKLOAD "this script is meant to be run by cset as a handover hook"
need CSET_OPERATION "this script is meant to be run by cset as a handover hook"
need CSET_HOOK_URL "set it to the endpoint to call, e.g. https://array.example.com/api/replication/reverse"
case $CSET_HOOK_URL in
*[\"\\[:space:][:cntrl:]]*) die "CSET_HOOK_URL must not contain quotes, backslashes or spaces (percent-encode them)" ;;
http://?* | https://?*) ;;
*) die "CSET_HOOK_URL must start with http:// or https://, got \"$CSET_HOOK_URL\"" ;;
esac
case $CSET_OPERATION in
*[!A-Za-z0-9._-]*) die "CSET_OPERATION=\"$CSET_OPERATION\" is not an operation id" ;;
esac
timeout=${CSET_HOOK_TIMEOUT:-30}
retries=${CSET_HOOK_RETRIES:-2}
method=${CSET_HOOK_METHOD:-POST}
positive_int CSET_HOOK_TIMEOUT "$timeout"
positive_int CSET_HOOK_RETRIES "$retries"
[ "$timeout" -gt 0 ] || die "CSET_HOOK_TIMEOUT must be at least 1 second"
case $method in POST | PUT) ;; *) die "CSET_HOOK_METHOD must be POST or PUT, got \"$method\"" ;; esac

token=
if [ -n "${CSET_HOOK_TOKEN_FILE:-}" ]; then
	[ -r "$CSET_HOOK_TOKEN_FILE" ] || die "token file $CSET_HOOK_TOKEN_FILE cannot be read"
	token=$(sed -n 1p "$CSET_HOOK_TOKEN_FILE" | tr -d '\r')
	[ -n "$token" ] || die "token file $CSET_HOOK_TOKEN_FILE is empty"
	case $token in *[!A-Za-z0-9._~+/=-]*) die "token file $CSET_HOOK_TOKEN_FILE holds characters a bearer token cannot have" ;; esac
fi
if [ -n "${CSET_HOOK_CA_FILE:-}" ]; then
	[ -r "$CSET_HOOK_CA_FILE" ] || die "CA file $CSET_HOOK_CA_FILE cannot be read"
	case $CSET_HOOK_CA_FILE in *[\"\\]*) die "CSET_HOOK_CA_FILE must not contain quotes or backslashes" ;; esac
fi

check_values
body=$(printf '{"workload":%s,"group":%s,"operation":%s,"reason":%s,"from_member":%s,"from_server":%s,"to_member":%s,"to_server":%s}' \
	"$(json_string "$CSET_WORKLOAD")" "$(json_string "${CSET_GROUP:-}")" "$(json_string "$CSET_OPERATION")" \
	"$(json_string "${CSET_REASON:-}")" "$(json_string "${CSET_FROM_MEMBER:-}")" "$(json_string "${CSET_FROM_SERVER:-}")" \
	"$(json_string "${CSET_TO_MEMBER:-}")" "$(json_string "${CSET_TO_SERVER:-}")")

tmp=$(mktemp -d "${TMPDIR:-/tmp}/http-notify.XXXXXX") || die "cannot create a temporary directory"
trap 'rm -rf "$tmp"' EXIT
trap 'exit 143' TERM
trap 'exit 130' INT

# Everything curl is told goes through a config file (mode 0600), so the token never appears on
# a command line that ps would show.
umask 077
{
	printf 'url = "%s"\n' "$CSET_HOOK_URL"
	printf 'request = "%s"\n' "$method"
	printf 'header = "Content-Type: application/json"\n'
	printf 'header = "Idempotency-Key: %s"\n' "$CSET_OPERATION"
	[ -z "$token" ] || printf 'header = "Authorization: Bearer %s"\n' "$token"
	[ -z "${CSET_HOOK_CA_FILE:-}" ] || printf 'cacert = "%s"\n' "$CSET_HOOK_CA_FILE"
} >"$tmp/curl.conf"
printf '%s' "$body" >"$tmp/body.json"

connect=$((timeout < 10 ? timeout : 10))
status=0
code=$(curl --silent --show-error --config "$tmp/curl.conf" --data-binary "@$tmp/body.json" \
	--connect-timeout "$connect" --max-time "$timeout" --retry "$retries" --retry-max-time "$timeout" \
	--retry-connrefused --output "$tmp/response" --write-out '%{http_code}' 2>"$tmp/curl.err") || status=$?
if [ "$status" -ne 0 ]; then
	die "$method $CSET_HOOK_URL for $CSET_WORKLOAD (operation $CSET_OPERATION) failed: $(tr '\n' ' ' <"$tmp/curl.err")(curl exit $status)"
fi
case $code in
2??)
	echo "http-notify: $method $CSET_HOOK_URL for $CSET_WORKLOAD (operation $CSET_OPERATION, ${CSET_FROM_MEMBER:-nowhere} -> ${CSET_TO_MEMBER:-?}): HTTP $code" >&2
	;;
*)
	die "$method $CSET_HOOK_URL for $CSET_WORKLOAD (operation $CSET_OPERATION) answered HTTP $code: $(head -c 512 "$tmp/response" | tr '\n' ' ')"
	;;
esac
