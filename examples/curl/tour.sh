#!/usr/bin/env bash
# tour.sh - the README's five-minute tour of stratusd as one script:
# blobs, presigned URLs, tokens, queues and tables, with plain curl.
#
#   STRATUS_URL=http://127.0.0.1:8980 STRATUS_TOKEN=... bash tour.sh
#
# It expects the stores of the bundled etc/stratus.conf: the blob stores
# "scratch" (anonymous access allowed) and "shared" (a token needed), the
# queue store "jobs" and the table store "users". STRATUS_TOKEN is a token
# with rights on all of them (default: the bundled configuration's
# development token). Each step prints the command, then what it answered.
set -euo pipefail

B=${STRATUS_URL:-http://127.0.0.1:8980}
TOKEN=${STRATUS_TOKEN:-dev-token-change-me}
AUTH="Authorization: Bearer $TOKEN"

# run CMD...: show the command as one would type it (the base URL as $B,
# the token as $TOKEN), then run it.
run() {
	local a shown line=
	for a in "$@"; do
		shown=${a//$B/\$B}
		shown=${shown//$TOKEN/\$TOKEN}
		if [[ $a =~ ^[A-Za-z0-9_./:=@%,+-]+$ ]]; then
			line+=" $shown"
		elif [[ $shown != "$a" && $shown != *'"'* ]]; then
			line+=" \"$shown\""
		else
			line+=" '$shown'"
		fi
	done
	printf '\n$%s\n' "$line"
	"$@"
	echo
}

echo "# health, and the stores this token may see"
run curl -s "$B/v1/health"
run curl -s -H "$AUTH" "$B/v1/stores"

echo
echo "# put, with a content type and user metadata"
run curl -s -X PUT --data-binary @/etc/os-release \
	-H 'Content-Type: text/plain' -H 'X-Meta-Owner: alice' \
	"$B/v1/blobs/scratch/docs/os-release.txt"
echo
echo "# get ten bytes (206), then only the headers"
run curl -s -H 'Range: bytes=0-9' "$B/v1/blobs/scratch/docs/os-release.txt"
run curl -sI "$B/v1/blobs/scratch/docs/os-release.txt"

echo "# keys are any UTF-8: percent-encode them in the URL"
run curl -s -X PUT -d 'hi' "$B/v1/blobs/scratch/odd%20name%20%2B%20%E2%9C%93.txt"

echo
echo "# list by prefix, and by \"folder\""
run curl -s "$B/v1/blobs/scratch?prefix=docs/"
run curl -s "$B/v1/blobs/scratch?delimiter=/"

echo
echo "# copy on the server, a create-only write that finds the key taken, delete"
run curl -s -X PUT -H 'X-Copy-Source: scratch/docs/os-release.txt' \
	"$B/v1/blobs/scratch/copy.txt"
run curl -s -X PUT -H 'If-None-Match: *' -d x "$B/v1/blobs/scratch/copy.txt"
run curl -s -X DELETE -o /dev/null -w '%{http_code}' "$B/v1/blobs/scratch/copy.txt"

echo
echo "# a presigned URL: anyone may GET it without a token for 5 minutes"
run curl -s -X POST \
	-d '{"store":"scratch","key":"docs/os-release.txt","method":"GET","expires_in":300}' \
	"$B/v1/presign"
URL=$(curl -s -X POST \
	-d '{"store":"scratch","key":"docs/os-release.txt","method":"GET","expires_in":300}' \
	"$B/v1/presign" | sed -n 's/.*"url":"\([^"]*\)".*/\1/p')
run curl -s -o /dev/null -w '%{http_code} %{size_download} bytes' "$URL"

echo
echo "# the \"shared\" store needs a token: without one it does not exist"
run curl -s -X PUT -d x "$B/v1/blobs/shared/a.txt"
run curl -s -X PUT -d x -H "$AUTH" "$B/v1/blobs/shared/a.txt"

echo
echo "# queues: create, send, receive (hidden 60 s, long poll up to 5 s)"
run curl -s -o /dev/null -w '%{http_code}' -X PUT -H "$AUTH" "$B/v1/queues/jobs"
run curl -s -X POST -H "$AUTH" --data-binary 'resize photo 17' "$B/v1/queues/jobs/messages"
run curl -s -H "$AUTH" "$B/v1/queues/jobs/messages?max=10&visibility=60&wait=5"
echo "# (not acknowledged within 60 s, that message is delivered again)"
echo
echo "# acknowledge a message with its receipt: then it is gone for good"
run curl -s -X POST -H "$AUTH" -d 'second' "$B/v1/queues/jobs/messages"
R=$(curl -s -H "$AUTH" "$B/v1/queues/jobs/messages" |
	sed -n 's/.*"receipt":"\([^"]*\)".*/\1/p')
run curl -s -X DELETE -o /dev/null -w '%{http_code}' -H "$AUTH" \
	"$B/v1/queues/jobs/messages/$R"

echo
echo "# tables: create, put an entity, read it back"
run curl -s -o /dev/null -w '%{http_code}' -X PUT -H "$AUTH" "$B/v1/tables/users"
run curl -s -X PUT -H "$AUTH" -d '{"name":"Ann","age":41,"admin":true}' \
	"$B/v1/tables/users/eu/ann"
run curl -s -H "$AUTH" "$B/v1/tables/users/eu/ann"

echo
echo "# change it only if nobody else did since: If-Match with the ETag read"
E=$(curl -s -o /dev/null -D - -H "$AUTH" "$B/v1/tables/users/eu/ann" |
	tr -d '\r' | sed -n 's/^[Ee][Tt][Aa][Gg]: //p')
run curl -s -o /dev/null -w '%{http_code}' -X PUT -H "$AUTH" -H "If-Match: $E" \
	-d '{"name":"Ann","age":42}' "$B/v1/tables/users/eu/ann"
echo "# the same ETag again is stale now: 412, nothing changes"
run curl -s -o /dev/null -w '%{http_code}' -X PUT -H "$AUTH" -H "If-Match: $E" \
	-d '{"age":43}' "$B/v1/tables/users/eu/ann"
echo "# insert only"
run curl -s -o /dev/null -w '%{http_code}' -X PUT -H "$AUTH" -H 'If-None-Match: *' \
	-d '{"name":"Bob"}' "$B/v1/tables/users/eu/bob"
echo
echo "# a partition, in row-key order"
run curl -s -H "$AUTH" "$B/v1/tables/users/eu?prefix=a"

echo
echo "# metrics, in Prometheus text"
printf '\n$ curl -s $B/metrics | grep -m 3 ^stratus_\n'
curl -s "$B/metrics" | grep -m 3 '^stratus_' || true
