#!/bin/bash
#
# control_socket.sh AOE_BINARY
#
# The control socket of `aoe serve` (docs/control.md), through `aoe ctl` and `aoe overlay` and
# raw JSON lines, against a target serving a client in a network namespace:
#   - the socket is root's, mode 0600, and a non-root user cannot connect; a second aoe serve
#     given it stops at start without announcing its export;
#   - every command: exports, clients, stats (the upload counted), export.add/reload/remove (the
#     client sees each change), client.boot, overlay.list/show/reset/commit/rollback (the clients
#     see each change);
#   - malformed JSON, unknown commands and arguments, wrong types, bad MACs, bad export specs
#     and an oversize request each get a JSON error, and change nothing (the state before and
#     after is compared);
#   - the connection survives a malformed line, not an oversize one;
#   - an overlay directory's missing parents are made.
#
# Exit: 0 pass, 1 fail, 77 skipped (not root).
set -uo pipefail
source "$(dirname "$0")/lib.sh"
ov_init "$1"
command -v setpriv >/dev/null || t_skip "setpriv (util-linux) missing"

readonly MIB=16
BASE=$T_TMP/golden.img
SECOND=$T_TMP/second.img
ini_make_image "$BASE" "$MIB"
ini_make_image "$SECOND" 8
BASE_SHA=$(t_sha "$BASE")
OVERLAY_DIR=$T_TMP/e0.1
MAC1=02:00:00:0f:01:01
MAC2=02:00:00:0f:01:02
ov_client c1 "$MAC1"
ov_client c2 "$MAC2"
ov_serve "e0.1=$BASE,overlay=$OVERLAY_DIR"
ov_wait_ready
out=$T_TMP/out

# A second aoe serve given the first one's socket stops at start, and tells no initiator of its
# export (it used to announce e0.9 before it found the socket taken). A listener on c2's link
# counts config announcements of e0.9 while it starts and stops.
listener=$T_TMP/announcements
ip netns exec "$(t_ns c2)" python3 - ovc0 4 >"$listener" 2>&1 <<'PY' &
import socket, sys, time
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x88A2))
s.bind((sys.argv[1], 0))
s.settimeout(0.2)
deadline, count = time.time() + float(sys.argv[2]), 0
print("listening", flush=True)
while time.time() < deadline:
    try:
        f = s.recv(2048)
    except socket.timeout:
        continue
    if len(f) >= 20 and f[14] & 0x08 and f[16:18] == b"\0\0" and f[18] == 9 and f[19] == 1:
        count += 1
print("announcements", count)
PY
listener_pid=$!
for (( i = 0; i < 50; i++ )); do grep -q listening "$listener" && break; sleep 0.1; done
timeout 10 ip netns exec "$(t_ns target)" "$AOE_BIN" serve -i ovt1 -i ovt2 \
    --state-dir "$T_TMP/state-second" --control-socket "$OV_SOCKET" "e0.9=$SECOND" >"$out" 2>&1
t_expect "a second serve on a taken control socket stops: exit 1" "$?" 1 \
    "in use by another aoe serve" "$out"
wait "$listener_pid"
t_check "and announced nothing ($(tail -1 "$listener"))" grep -q '^announcements 0$' "$listener"

# raw LINE...: sends the lines on one connection, prints every response line.
raw() {
    python3 - "$OV_SOCKET" "$@" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.settimeout(10)
data = b""
for line in sys.argv[2:]:
    s.sendall(line.encode() + b"\n")
want = len(sys.argv) - 2
try:
    while data.count(b"\n") < want:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
except socket.timeout:
    pass
sys.stdout.write(data.decode())
PY
}
# state: everything a bad request must not change.
state() {
    { ov_ctl exports --json; ov_overlay list e0.1 --json; } 2>&1 | grep -v '"commit_bytes_copied"\|_seen'
}
# refused DESCRIPTION CODE LINE: LINE gets error CODE and changes nothing.
refused() {
    local what=$1 code=$2 line=$3 before after response
    before=$(state)
    response=$(raw "$line")
    after=$(state)
    if [[ "$(python3 -c 'import json,sys; r=json.loads(sys.argv[1]); print(r["ok"], r["error"]["code"])' "$response" 2>/dev/null)" == "False $code" ]] &&
        [[ "$before" == "$after" ]]; then
        t_pass "$what: error $code, nothing changed"
    else
        t_fail "$what: got '$response' (state changed: $([[ "$before" == "$after" ]] && echo no || echo yes))"
    fi
}
# read_at CLIENT SECTOR COUNT: the bytes a client reads.
read_at() {
    rm -f "$T_TMP/r.bin"
    ov_aoe "$1" cp -i ovc0 --no-progress e0.1 "$T_TMP/r.bin" --skip-sectors "$2" \
        --count-sectors "$3" >/dev/null 2>&1 && sha256sum <"$T_TMP/r.bin" | cut -d' ' -f1
}
base_at() { dd if="$BASE" bs=512 skip="$1" count="$2" status=none | sha256sum | cut -d' ' -f1; }

# --- access -----------------------------------------------------------------------------------
t_check "the socket is a socket owned by root with mode 0600" \
    test "$(stat -c '%F %u %a' "$OV_SOCKET")" = "socket 0 600"
setpriv --reuid=65534 --regid=65534 --clear-groups "$AOE_BIN" ctl -S "$OV_SOCKET" exports >"$out" 2>&1
rc=$?
t_expect "a non-root user cannot connect" "$rc" 1 "permission denied on $OV_SOCKET" "$out"

# --- exports and clients ------------------------------------------------------------------------
ov_pattern "$T_TMP/w.bin" client-1 1
ov_aoe c1 cp -i ovc0 --no-progress "$T_TMP/w.bin" e0.1 --seek-sectors 64 >/dev/null 2>&1 ||
    t_fail "upload from c1"
W_SHA=$(sha256sum <"$T_TMP/w.bin" | cut -d' ' -f1)
ov_ctl exports --json >"$out"
t_check "exports: e0.1 with its overlay at version 1" test \
    "$(ov_json "$out" "[(e['name'], e['overlay']['dir'], e['overlay']['current_version']) for e in r['exports']]")" \
    = "[('e0.1', '$OVERLAY_DIR', 1)]"
ov_ctl clients --json >"$out"
t_check "clients: c1 and c2 seen, c1 wrote 1 MiB into its overlay" test \
    "$(ov_json "$out" "sorted((c['mac'], c['bytes_written'] >= 1048576, c['overlay_bytes']) for c in r['exports'][0]['clients'])")" \
    = "[('$MAC1', True, 1048576), ('$MAC2', False, None)]"
ov_ctl clients >"$out" 2>&1
t_check "clients (table) names both MACs" grep -q "$MAC2" "$out"
ov_ctl clients --json >"$T_TMP/clients.json"
ov_ctl stats --json >"$out"
written_by_clients=$(ov_json "$T_TMP/clients.json" "sum(c['bytes_written'] for e in r['exports'] for c in e['clients'])")
t_check "stats: the target counted the upload's commands and as many bytes written as its clients did ($written_by_clients), and refused nothing" test \
    "$(ov_json "$out" "(r['counters']['ata_commands'] > 0, r['counters']['bytes_written'], r['counters']['refused_bad_argument'], r['replies_waiting_for_state'])")" \
    = "(True, $written_by_clients, 0, 0)"
ov_ctl stats >"$T_TMP/stats.txt" 2>&1
t_check "stats (table): one line per counter of the JSON, with its value" test \
    "$(awk '{ print $1 "=" $2 }' "$T_TMP/stats.txt" | grep -v '^replies_waiting_for_state=' | LC_ALL=C sort)" \
    = "$(ov_json "$out" "'\\n'.join(sorted(f'{k}={v}' for k, v in r['counters'].items()))")"
ov_overlay show e0.1 "$MAC1" --json >"$out"
t_check "overlay show: 1 MiB mapped, version 1" test \
    "$(ov_json "$out" "(r['mapped_bytes'], r['base_version'])")" = "(1048576, 1)"

# --- malformed and refused requests change nothing ------------------------------------------------
refused "malformed JSON" bad-json '{"command": "exports"'
refused "not an object" bad-request '["exports"]'
refused "no command" bad-request '{"args": {}}'
refused "an unknown field" bad-request '{"command": "exports", "verb": 1}'
refused "stats with an argument" bad-argument '{"command": "stats", "args": {"export": "e0.1"}}'
refused "an unknown command" unknown-command '{"command": "overlay.destroy", "args": {"export": "e0.1"}}'
refused "a missing argument" bad-argument '{"command": "overlay.reset", "args": {"export": "e0.1"}}'
refused "an unknown argument" bad-argument "{\"command\": \"overlay.reset\", \"args\": {\"export\": \"e0.1\", \"mac\": \"$MAC1\", \"force\": true}}"
refused "an argument of the wrong type" bad-argument '{"command": "overlay.rollback", "args": {"export": 1}}'
refused "a broadcast MAC" bad-argument '{"command": "overlay.reset", "args": {"export": "e0.1", "mac": "ff:ff:ff:ff:ff:ff"}}'
refused "a malformed MAC" bad-argument '{"command": "client.boot", "args": {"mac": "52:54"}}'
refused "an unknown export" no-such-export "{\"command\": \"overlay.reset\", \"args\": {\"export\": \"e9.9\", \"mac\": \"$MAC1\"}}"
refused "a client without overlay" no-overlay "{\"command\": \"overlay.reset\", \"args\": {\"export\": \"e0.1\", \"mac\": \"$MAC2\"}}"
refused "a bad export spec" bad-argument '{"command": "export.add", "args": {"spec": "e0.2=/x,speed=9"}}'
refused "an overlay export with ro" bad-argument "{\"command\": \"export.add\", \"args\": {\"spec\": \"e0.2=$SECOND,ro,overlay=$T_TMP/ro-overlay\"}}"
refused "lifetime without overlay" bad-argument "{\"command\": \"export.add\", \"args\": {\"spec\": \"e0.2=$SECOND,lifetime=discard-on-boot\"}}"
refused "a broadcast slot" bad-argument "{\"command\": \"export.add\", \"args\": {\"spec\": \"e0.255=$SECOND\"}}"
refused "an interface not served" bad-argument "{\"command\": \"export.add\", \"args\": {\"spec\": \"e0.2=$SECOND,iface=nosuch0\"}}"
refused "a reload to ro with overlay" bad-argument "{\"command\": \"export.reload\", \"args\": {\"export\": \"e0.1\", \"spec\": \"e0.1=$BASE,ro,overlay=$OVERLAY_DIR\"}}"
refused "an export that exists" refused "{\"command\": \"export.add\", \"args\": {\"spec\": \"e0.1=$SECOND\"}}"
refused "an image that does not exist" refused '{"command": "export.add", "args": {"spec": "e0.2=/nonexistent.img"}}'
refused "an overlay directory in use" refused "{\"command\": \"export.add\", \"args\": {\"spec\": \"e0.2=$SECOND,overlay=$OVERLAY_DIR\"}}"
refused "a reload that renames" bad-argument "{\"command\": \"export.reload\", \"args\": {\"export\": \"e0.1\", \"spec\": \"e0.3=$BASE\"}}"
refused "nothing to roll back" refused '{"command": "overlay.rollback", "args": {"export": "e0.1"}}'
refused "commit of a client without overlay" no-overlay "{\"command\": \"overlay.commit\", \"args\": {\"export\": \"e0.1\", \"mac\": \"$MAC2\"}}"

raw '{oops' '{"id": 5, "command": "exports"}' >"$out"
t_check "the connection goes on after a malformed line" \
    test "$(python3 -c 'import json,sys; l=open(sys.argv[1]).read().splitlines(); print(json.loads(l[0])["error"]["code"], json.loads(l[1])["id"], json.loads(l[1])["ok"])' "$out")" = "bad-json 5 True"
python3 - "$OV_SOCKET" >"$out" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.settimeout(10)
try:
    s.sendall(b'{"command": "exports", "args": {"x": "' + b"a" * 70000 + b'"}}\n{"command": "exports"}\n')
except OSError:
    pass
data = b""
try:
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
except (socket.timeout, OSError):
    pass
sys.stdout.write(data.decode())
PY
t_check "an oversize request: request-too-large, then the connection is closed" \
    test "$(python3 -c 'import json,sys; l=open(sys.argv[1]).read().splitlines(); print(len(l), json.loads(l[0])["error"]["code"])' "$out")" = "1 request-too-large"

# --- export.add, export.reload, export.remove -----------------------------------------------------
ov_ctl add "e0.2=$SECOND" >"$out" 2>&1
t_check "export.add: e0.2 added" grep -q "added e0.2" "$out"
rm -f "$T_TMP/e02.img"
ov_aoe c2 cp -i ovc0 --no-progress e0.2 "$T_TMP/e02.img" >/dev/null 2>&1
t_check "the client reads the added export" cmp -s "$T_TMP/e02.img" "$SECOND"
ov_ctl reload e0.2 "e0.2=$SECOND,ro" >"$out" 2>&1
t_check "export.reload: e0.2 now read-only" test \
    "$(ov_ctl exports --json | python3 -c 'import json,sys; print([e["read_only"] for e in json.load(sys.stdin)["exports"] if e["name"] == "e0.2"])')" = "[True]"
if ov_aoe c2 cp -i ovc0 --no-progress --timeout 5 "$T_TMP/w.bin" e0.2 >/dev/null 2>&1; then
    t_fail "a write to the reloaded read-only export succeeded"
else
    t_pass "a write to the reloaded read-only export fails"
fi
# A relative path means the caller's directory: aoe ctl sends it absolute. A client that sends
# one relative is refused, rather than the server opening whatever that name is in its own
# working directory.
(cd "$T_TMP" && ov_ctl add e0.3=second.img) >"$out" 2>&1
t_check "export.add of a relative path from aoe ctl: the caller's file" \
    test "$(ov_ctl exports --json | python3 -c 'import json,sys; print([e["path"] for e in json.load(sys.stdin)["exports"] if e["name"] == "e0.3"])')" = "['$(realpath "$SECOND")']"
ov_ctl remove e0.3 >/dev/null 2>&1
raw '{"command":"export.add","args":{"spec":"e0.3=second.img"}}' >"$out"
t_check "export.add of a relative path over the socket is refused" \
    grep -q '"bad-argument".*second.img is a relative path; give an absolute one' "$out"
# A spec the server finds wrong is a bad argument for aoe ctl too: exit 2, like its own checks.
ov_ctl add e0.4 >"$out" 2>&1
t_expect "aoe ctl add of a spec without a path: exit 2" "$?" 2 "(bad-argument)" "$out"
ov_ctl add "e0.4=$SECOND,lifetime=persist" >"$out" 2>&1
t_expect "aoe ctl add of a spec the server's checks refuse (lifetime without overlay): exit 2" \
    "$?" 2 "(bad-argument)" "$out"
# The golden image of e0.1 exported again read-write would change every client's base.
ov_ctl add "e0.6=$BASE" >"$out" 2>&1
t_expect "the overlay base exported read-write elsewhere is refused" "$?" 1 \
    "export e0.6 would write $BASE, the image export e0.1 gives its clients as the base" "$out"
ov_ctl add "e0.6=$BASE,ro" >"$out" 2>&1 || t_fail "the overlay base read-only: $(cat "$out")"
ov_ctl remove e0.6 >/dev/null 2>&1
ov_ctl remove e0.2 >"$out" 2>&1
t_check "export.remove: e0.2 removed" grep -q "removed e0.2" "$out"
if ov_aoe c2 config -i ovc0 e0.2 --timeout 1 >/dev/null 2>&1; then
    t_fail "the removed export still answers"
else
    t_pass "the removed export no longer answers"
fi

# --- client.boot and lifetimes ----------------------------------------------------------------------
ov_ctl boot "$MAC1" >"$out" 2>&1
t_check "a boot keeps a persist overlay" test "$(read_at c1 64 2048)" = "$W_SHA"
t_check "ctl boot says it dropped nothing" grep -q "e0.1: nothing dropped" "$out"
ov_ctl reload e0.1 "e0.1=$BASE,overlay=$OVERLAY_DIR,lifetime.$MAC1=discard-on-boot" >"$out" 2>&1 ||
    t_fail "reload with a per-client lifetime: $(cat "$out")"
t_check "a reload keeps the overlays" test "$(read_at c1 64 2048)" = "$W_SHA"
ov_ctl stats --json >"$out"
t_check "a reload keeps the target's counters (bytes written still $written_by_clients)" test \
    "$(ov_json "$out" "r['counters']['bytes_written']")" = "$written_by_clients"
ov_ctl boot "$MAC1" >"$out" 2>&1
t_check "a boot drops a discard-on-boot overlay: the client reads the base" \
    test "$(read_at c1 64 2048)" = "$(base_at 64 2048)"
t_check "ctl boot says what it dropped" \
    grep -q "e0.1: overlay discarded (lifetime discard-on-boot); it reads version 1" "$out"

# --- overlay.reset, commit, rollback ----------------------------------------------------------------
ov_ctl reload e0.1 "e0.1=$BASE,overlay=$OVERLAY_DIR" >/dev/null 2>&1
ov_aoe c1 cp -i ovc0 --no-progress "$T_TMP/w.bin" e0.1 --seek-sectors 64 >/dev/null 2>&1
ov_overlay reset e0.1 "$MAC1" >"$out" 2>&1
t_check "overlay.reset: c1 reads the base again" test "$(read_at c1 64 2048)" = "$(base_at 64 2048)"
ov_aoe c1 cp -i ovc0 --no-progress "$T_TMP/w.bin" e0.1 --seek-sectors 64 >/dev/null 2>&1
ov_overlay commit e0.1 "$MAC1" >"$out" 2>&1
t_check "overlay.commit: version 2 is current" grep -q "version 2 (from version 1, overlay of $MAC1) is current" "$out"
t_check "c2 (no overlay) reads the committed data at once" test "$(read_at c2 64 2048)" = "$W_SHA"
t_check "c1 (moved onto version 2) still reads its data" test "$(read_at c1 64 2048)" = "$W_SHA"
ov_overlay list e0.1 --json >"$out"
# An export is named by its address, as in an export spec: e0.01 is e0.1 (an admin's finding:
# 'ctl add e0.01=...' made e0.1, and 'overlay show e0.01 ...' said there was no e0.01).
ov_overlay list e0.01 --json >"$out.2" 2>&1
t_check "overlay list e0.01 is overlay list e0.1" test \
    "$(ov_json "$out.2" "(r['export'], r['dir'], len(r['versions']))" 2>&1)" = \
    "$(ov_json "$out" "(r['export'], r['dir'], len(r['versions']))")"
t_check "overlay.list: versions 1 and 2*, no overlays left" test \
    "$(ov_json "$out" "([(v['id'], v['current']) for v in r['versions']], len(r['clients']))")" \
    = "([(1, False), (2, True)], 0)"
t_check "the committed version is a file of its own; the base is unchanged" \
    test -s "$OVERLAY_DIR/v2.img" -a "$(t_sha "$BASE")" = "$BASE_SHA"
ov_overlay rollback e0.1 >"$out" 2>&1
t_check "overlay.rollback: version 1 is current" grep -q "version 1 (from the image) is current" "$out"
t_check "after the rollback c2 reads the base again" test "$(read_at c2 64 2048)" = "$(base_at 64 2048)"

# A boot moves a client whose overlay is based on another version than the current one: c2
# writes on version 1, c1's commit makes version 3 current, c2 boots.
ov_aoe c2 cp -i ovc0 --no-progress "$T_TMP/w.bin" e0.1 --seek-sectors 64 >/dev/null 2>&1
ov_aoe c1 cp -i ovc0 --no-progress "$T_TMP/w.bin" e0.1 --seek-sectors 8192 >/dev/null 2>&1
ov_overlay commit e0.1 "$MAC1" >/dev/null 2>&1
ov_ctl boot "$MAC2" >"$out" 2>&1
t_check "ctl boot says it moved c2 off version 1" grep -q \
    "e0.1: overlay dropped: it was based on version 1, not the current one; it reads version 3" "$out"
t_check "after the boot c2 reads version 3: the base where it wrote, c1's data where c1 wrote" \
    test "$(read_at c2 64 2048) $(read_at c2 8192 2048)" = "$(base_at 64 2048) $W_SHA"
ov_ctl boot "$MAC2" --json >"$out" 2>&1
t_check "client.boot answers each overlay export's outcome" test \
    "$(ov_json "$out" "[(e['export'], e['overlay'], e['reads_version']) for e in r['exports']]")" \
    = "[('e0.1', 'kept', 3)]"

# --- An overlay directory whose parents do not exist yet ---------------------------------------------
# They are made, as for the documented /var/lib/aoekit/overlays/e0.1 on a fresh install: the
# parents 0755 (a daemon that drops to another user must still get through them), the overlay
# directory itself 0700. (SIGTERM while a commit runs is OverlayExport.AStopAbandons*.)
ov_ctl add "e0.5=$SECOND,overlay=$T_TMP/fresh/overlays/e0.5" >"$out" 2>&1 ||
    t_fail "add e0.5 with an overlay directory in directories to be made: $(cat "$out")"
t_check "the overlay directory's parents are made 0755, the directory 0700" test \
    "$(stat -c %a "$T_TMP/fresh" "$T_TMP/fresh/overlays" "$T_TMP/fresh/overlays/e0.5" | tr '\n' ' ')" = "755 755 700 "
ov_ctl remove e0.5 >/dev/null 2>&1

t_finish
