#!/usr/bin/env bash
# The load benchmark (issue 10). Builds the portal and the bare ceiling page
# (benches/load/ceiling.rs) in release, makes sure the region database holds $SCHOOLS
# schools (`school-portal demo --schools N`, which skips the schools it already made),
# starts both servers on it, logs in as several roles of different schools, drives each
# page class with wrk at $CONNECTIONS connections for $DURATION, and prints per class:
# requests/s, p50, p99, errors (socket errors + non-2xx/3xx answers), the ratio to the
# ceiling measured in the same run, and the portal's RSS after the class (and its peak).
#
#   benches/load.sh                       # 2,000 schools in school_portal_region
#   SCHOOLS=1 REGION_DATABASE_URL=postgres://postgres@127.0.0.1:5432/r1 benches/load.sh   # one school
#   SCHOOLS=200 REGION_DATABASE_URL=postgres://postgres@127.0.0.1:5432/r200 benches/load.sh
#
# KEEP_LOG=/path keeps the portal's log of the run there. RANDOM_PAGE_COST (default 1.1,
# docs/operations.md) is set on the region database before the run.
# Needs PostgreSQL reachable at REGION_DATABASE_URL (the database is created if missing,
# through psql), curl, and wrk (installed with apt-get when missing).
set -euo pipefail
cd "$(dirname "$0")/.."

REGION_URL=${REGION_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/school_portal_region}
SCHOOLS=${SCHOOLS:-2000}
PASSWORD=${BENCH_PASSWORD:-demo-demo-demo}
DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-64}
THREADS=${THREADS:-2}
PORTAL_PORT=${PORTAL_PORT:-18080}
CEILING_PORT=${CEILING_PORT:-18081}
SEARCH=${SEARCH:-елкин}
WORK=$(mktemp -d)

if ! command -v wrk >/dev/null; then
    echo "installing wrk" >&2
    if [ "$(id -u)" = 0 ]; then apt-get install -y wrk >&2; else sudo apt-get install -y wrk >&2; fi
fi

echo "building (release)..." >&2
cargo build --release --bin school-portal --bin ceiling >&2
BIN=target/release/school-portal
CEILING=target/release/ceiling

# The region database: created if missing, then filled up to $SCHOOLS schools.
db_name=${REGION_URL##*/}
db_name=${db_name%%\?*}
admin_url=${REGION_URL%/*}/postgres
if [ "$(psql "$admin_url" -Atc "select 1 from pg_database where datname = '$db_name'")" != 1 ]; then
    psql "$admin_url" -qc "create database \"$db_name\""
fi
have=$(psql "$REGION_URL" -Atc "select count(*) from schools" 2>/dev/null || echo 0)
if [ "${have:-0}" -lt "$SCHOOLS" ] || [ -n "${REGENERATE:-}" ]; then
    echo "region: $SCHOOLS schools in $db_name..." >&2
    gen_started=$(date +%s)
    DATABASE_URL=$REGION_URL PORTAL_DB_STATEMENT_TIMEOUT_SECS=1200 RUST_LOG=warn \
        "$BIN" demo --schools "$SCHOOLS" --password "$PASSWORD" | grep -E '^Регион|создана|уже была' >&2 || true
    echo "region ready in $(( $(date +%s) - gen_started )) s" >&2
else
    # Already made (with $PASSWORD): `demo` again would reset three million passwords.
    echo "region: $have schools already in $db_name (REGENERATE=1 to run demo again)" >&2
    DATABASE_URL=$REGION_URL RUST_LOG=warn "$BIN" migrate >&2
fi

# The region's database is set up as docs/operations.md says for SSD-backed storage
# (RANDOM_PAGE_COST=4 measures PostgreSQL's default instead).
psql "$REGION_URL" -qc "alter database \"$db_name\" set random_page_cost = ${RANDOM_PAGE_COST:-1.1}"

# School K (0 = the demo school) has a fixed id (src/demo/region.rs).
school() {
    if [ "$1" = 0 ]; then echo 01900000-0000-7000-8000-00de00000001
    else printf '01900000-0000-7000-8000-00de0001%04x\n' "$1"; fi
}
login_of() { # role, school number
    if [ "$2" = 0 ]; then echo "$1@demo.local"; else echo "$1.$2@region.local"; fi
}
A=0
B=$(( SCHOOLS / 2 ))
C=$(( SCHOOLS - 1 ))

pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    if [ -n "${KEEP_LOG:-}" ]; then cp "$WORK/portal.log" "$KEEP_LOG" 2>/dev/null || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT

DATABASE_URL=$REGION_URL CEILING_ADDR=127.0.0.1:$CEILING_PORT CEILING_SCHOOL=$(school "$B") \
    "$CEILING" &
pids+=($!)
DATABASE_URL=$REGION_URL PORTAL_ADDR=127.0.0.1:$PORTAL_PORT RUST_LOG=warn \
    PORTAL_LOGIN_PER_IP_PER_MINUTE=100000000 PORTAL_JANITOR_INTERVAL_SECS=86400 \
    "$BIN" serve >"$WORK/portal.log" 2>&1 &
PORTAL_PID=$!
pids+=($PORTAL_PID)

wait_for() { # url
    for _ in $(seq 1 120); do
        if curl -sf -o /dev/null "$1"; then return 0; fi
        sleep 0.5
    done
    echo "no answer from $1" >&2
    cat "$WORK/portal.log" >&2
    exit 1
}
wait_for "http://127.0.0.1:$PORTAL_PORT/readyz"
wait_for "http://127.0.0.1:$CEILING_PORT/"

login() { # login -> session cookie value
    curl -s -o /dev/null -D - "http://127.0.0.1:$PORTAL_PORT/login" \
        --data-urlencode "login=$1" --data-urlencode "password=$PASSWORD" --data-urlencode "next=/" |
        tr -d '\r' | sed -n 's/^[Ss]et-[Cc]ookie: portal_session=\([^;]*\).*/\1/p' | head -1
}
declare -A COOKIE
for who in "operator 0" "admin $A" "admin $B" "admin $C" "director $A" "director $B" \
           "director $C" "deputy $B" "teacher $A" "teacher $C"; do
    set -- $who
    l=$(login_of "$1" "$2")
    COOKIE[$l]=$(login "$l")
    if [ -z "${COOKIE[$l]}" ]; then echo "login as $l failed" >&2; exit 1; fi
done

# The wrk script: cycles through "method path cookie body" entries given as arguments.
cat >"$WORK/cycle.lua" <<'LUA'
local reqs = {}
local n = 0
function init(args)
    for i = 1, #args, 4 do
        local headers = {}
        if args[i + 2] ~= "-" then headers["Cookie"] = "portal_session=" .. args[i + 2] end
        local body = nil
        if args[i + 3] ~= "-" then
            body = args[i + 3]
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        end
        reqs[#reqs + 1] = wrk.format(args[i], args[i + 1], headers, body)
    end
end
function request()
    n = n + 1
    return reqs[(n % #reqs) + 1]
end
LUA

ms() { # wrk's "1.23ms" / "456.00us" / "1.02s" / "2.00m" -> milliseconds
    awk -v v="$1" 'BEGIN {
        if (v ~ /us$/) { sub(/us$/, "", v); printf "%.2f", v / 1000 }
        else if (v ~ /ms$/) { sub(/ms$/, "", v); printf "%.2f", v }
        else if (v ~ /m$/) { sub(/m$/, "", v); printf "%.0f", v * 60000 }
        else if (v ~ /s$/) { sub(/s$/, "", v); printf "%.1f", v * 1000 }
        else printf "%s", v }'
}

CEILING_RPS=
run() { # label port entries...
    local label=$1 port=$2
    shift 2
    wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --timeout 10s --latency \
        -s "$WORK/cycle.lua" "http://127.0.0.1:$port" -- "$@" >"$WORK/out" 2>&1 || true
    local rps p50 p99 sock non2xx errors rss ratio
    rps=$(awk '/^Requests\/sec:/ {print $2}' "$WORK/out")
    p50=$(ms "$(awk '$1 == "50%" {print $2}' "$WORK/out")")
    p99=$(ms "$(awk '$1 == "99%" {print $2}' "$WORK/out")")
    sock=$(awk '/Socket errors:/ {gsub(",", ""); print $4 + $6 + $8 + $10}' "$WORK/out")
    non2xx=$(awk '/Non-2xx or 3xx responses:/ {print $5}' "$WORK/out")
    errors=$(( ${sock:-0} + ${non2xx:-0} ))
    rss=$(awk '/^VmRSS/ {printf "%.0f", $2 / 1024}' "/proc/$PORTAL_PID/status" 2>/dev/null || echo -)
    if [ -z "$CEILING_RPS" ]; then CEILING_RPS=$rps; fi
    ratio=$(awk -v a="$rps" -v b="$CEILING_RPS" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }')
    [ "$port" = "$CEILING_PORT" ] && rss=-
    printf '%-26s %9s %9s %9s %7s %6s %8s\n' "$label" "$rps" "$p50" "$p99" "$errors" "$ratio" "$rss"
}
get() { # login path -> entry
    echo GET "$2" "${COOKIE[$1]}" -
}

sa=$(school "$A"); sb=$(school "$B"); sc=$(school "$C")
ad_a=$(login_of admin "$A"); ad_b=$(login_of admin "$B"); ad_c=$(login_of admin "$C")
di_a=$(login_of director "$A"); di_b=$(login_of director "$B"); di_c=$(login_of director "$C")
de_b=$(login_of deputy "$B"); te_a=$(login_of teacher "$A"); te_c=$(login_of teacher "$C")
q=$(printf '%s' "$SEARCH" | od -An -tx1 | tr -d ' \n' | sed 's/../%&/g')

echo
echo "school-portal load benchmark: $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GB", $2 / 1048576}' /proc/meminfo) RAM, load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "random_page_cost = ${RANDOM_PAGE_COST:-1.1} on the region database (docs/operations.md); plan_cache_mode as the portal sets it"
echo "$(psql "$REGION_URL" -Atc "select count(*) || ' schools, ' || (select count(*) from accounts) || ' accounts, ' || (select count(*) from memberships) || ' memberships' from schools")"
echo "wrk -t$THREADS -c$CONNECTIONS -d$DURATION; p50/p99 in ms; ratio = req/s over the ceiling's; RSS of the portal in MB"
printf '%-26s %9s %9s %9s %7s %6s %8s\n' "page" "req/s" "p50" "p99" "errors" "ratio" "RSS"
run "ceiling (bare page)" "$CEILING_PORT" GET / - -
run "start page" "$PORTAL_PORT" $(get "$ad_a" "/s/$sa") $(get "$di_b" "/s/$sb") $(get "$te_c" "/s/$sc")
run "audit log" "$PORTAL_PORT" $(get "$ad_a" "/s/$sa/audit") $(get "$ad_c" "/s/$sc/audit")
run "invites" "$PORTAL_PORT" $(get "$ad_a" "/s/$sa/invites") $(get "$ad_b" "/s/$sb/invites")
run "movements" "$PORTAL_PORT" $(get "$ad_b" "/s/$sb/movements") $(get "$di_c" "/s/$sc/movements")
run "join requests" "$PORTAL_PORT" $(get "$ad_a" "/s/$sa/join-requests") $(get "$ad_c" "/s/$sc/join-requests")
run "classes" "$PORTAL_PORT" $(get "$ad_a" "/s/$sa/classes") $(get "$di_b" "/s/$sb/classes") $(get "$te_c" "/s/$sc/classes")
run "people" "$PORTAL_PORT" $(get "$ad_a" "/s/$sa/people") $(get "$ad_b" "/s/$sb/people") $(get "$di_c" "/s/$sc/people")
run "people search ?q=$SEARCH" "$PORTAL_PORT" $(get "$ad_a" "/s/$sa/people?q=$q") $(get "$ad_c" "/s/$sc/people?q=$q")
run "compliance" "$PORTAL_PORT" $(get "$di_a" "/s/$sa/compliance") $(get "$de_b" "/s/$sb/compliance") $(get "$te_a" "/s/$sa/compliance")
run "statistics" "$PORTAL_PORT" $(get "$di_a" "/s/$sa/stats") $(get "$di_b" "/s/$sb/stats") $(get "$de_b" "/s/$sb/stats")
run "operator's school list" "$PORTAL_PORT" $(get operator@demo.local /operator/schools) $(get operator@demo.local "/operator/schools?page=20")
body() { echo "login=$(printf '%s' "$1" | sed 's/@/%40/')&password=$PASSWORD&next=%2F"; }
run "login (POST, argon2)" "$PORTAL_PORT" POST /login - "$(body "$ad_b")" POST /login - "$(body "$te_c")"
CEILING_FIRST=$CEILING_RPS
run "ceiling again" "$CEILING_PORT" GET / - -
echo "peak RSS of the portal: $(awk '/^VmHWM/ {printf "%.0f MB", $2 / 1024}' "/proc/$PORTAL_PID/status")"
echo "(ratios use the first ceiling run, $CEILING_FIRST req/s)"
