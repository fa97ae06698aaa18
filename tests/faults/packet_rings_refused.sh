#!/usr/bin/env bash
# `aoe serve` on a kernel that refuses PACKET_MMAP rings (issue 9: unsupported settings fall
# back with one log line, never with an error that stops serving). The refusals come from an
# LD_PRELOAD library (refuse_packet_rings.cc, $AOE_REFUSE_RINGS_LIB):
#   - PACKET_VERSION refused (EINVAL), as by a kernel without TPACKET_V2;
#   - PACKET_TX_RING refused (ENOMEM) after the RX ring was set up, as when the ring's memory
#     cannot be had.
# For each: with the default `--packet-io auto` the target logs exactly one "packet rings
# unavailable" line naming the interface and the reason, and serves through the socket path
# (a download and an upload, both compared byte for byte); with `--packet-io ring` it stops
# at start-up with exit code 1 and the interface in its error. Without the library the same
# target moves frames through the rings and logs no fallback, so the library is what the
# checks above see.
set -uo pipefail
source "$(dirname "$0")/lib.sh"

faults_init cmp
faults_require_aoe cp
lib=${AOE_REFUSE_RINGS_LIB:-}
[[ -n $lib && -f $lib ]] || t_die "AOE_REFUSE_RINGS_LIB must name the refuse_packet_rings library"
faults_netns_pair

img=$T_TMP/disk.img upload=$T_TMP/upload.bin
t_random_file "$img" 8
t_random_file "$upload" 4

# serve_once REFUSAL ARGS...: aoe serve with the library refusing REFUSAL ("" for none).
serve_once() {
    local refuse=$1
    shift
    LD_PRELOAD=${refuse:+$lib} AOE_REFUSE_PACKET_OPTION=$refuse \
        t_serve "$FT" --log-level debug -i vt "$@" e1.1="$img"
}

# Both directions through the running target, compared byte for byte.
copies_are_intact() {
    faults_aoe cp -i vc --no-progress --timeout 10 e1.1 "$T_TMP/down.img" >/dev/null &&
        cmp -s "$img" "$T_TMP/down.img" &&
        faults_aoe cp -i vc --no-progress --timeout 10 "$upload" e1.1 >/dev/null &&
        cmp -s -n "$(stat -c %s "$upload")" "$upload" "$img"
}

fallback_lines() { grep -c 'vt: packet rings unavailable' "$SERVE_LOG"; }

for refusal in version tx_ring; do
    case $refusal in
        version) reason='Invalid argument' ;;
        tx_ring) reason='Cannot allocate memory' ;;
    esac
    serve_once "$refusal"
    t_check "$refusal refused, auto: exactly one fallback line" [ "$(fallback_lines)" -eq 1 ]
    t_check "$refusal refused, auto: the line gives the reason" \
        grep -q "packet rings unavailable ($reason); using the socket path" "$SERVE_LOG"
    t_check "$refusal refused, auto: download and upload intact" copies_are_intact
    t_check "$refusal refused, auto: still serving" t_serve_alive
    t_stop_pid "$SERVE_PID"

    out=$T_TMP/forced-$refusal.out
    LD_PRELOAD=$lib AOE_REFUSE_PACKET_OPTION=$refusal timeout 10 \
        ip netns exec "$FT" "$AOE_BIN" serve --packet-io ring -i vt e1.1="$img" >"$out" 2>&1
    t_expect "$refusal refused, --packet-io ring: stops at start-up naming vt" "$?" 1 \
        "cannot open interface 'vt': $reason" "$out"
done

serve_once ""
t_check "no refusal: frames move through the rings" \
    grep -q 'vt: moving frames through packet rings' "$SERVE_LOG"
t_check "no refusal: the log says a veth's read replies are not built in TX ring slots" \
    grep -q 'vt: moving frames through packet rings; read replies copied to a socket' "$SERVE_LOG"
t_check "no refusal: no fallback line" [ "$(fallback_lines)" -eq 0 ]
t_check "no refusal: download and upload intact" copies_are_intact
t_stop_pid "$SERVE_PID"

t_finish
