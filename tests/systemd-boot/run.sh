#!/usr/bin/env bash
# The operator trial under a real systemd: builds the .deb from an already built tree, boots
# the Debian 12 root made by prepare-root.sh with systemd-nspawn (throwaway overlay, no
# network), and does what an operator does, each step a check: apt install, enable --now,
# status, journal, two clients, reload (good and broken), restart, two instances of the template
# parleyd@.service, the TLS certificate flow of the README, a hung parleyd killed by the watchdog,
# stop, a bad config, systemd-analyze security, remove and purge. Prints each check as it passes; on a failure, the unit's journal.
#
#   tests/systemd-boot/run.sh [BUILD_DIR]        (default: build/default)
#
# Exit status: 0 every check passed, 1 a check failed, 77 it cannot run here (not root, no
# systemd-nspawn or nsenter, no prepared root: run prepare-root.sh first). Needs no network.
# PARLEY_SYSTEMD_ROOT names the prepared root (default /var/cache/parley-systemd-root).
# 20 s on an idle 2-core machine (the boot takes a second), about a minute under load.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=SCRIPTDIR/lib.sh
source "$here/lib.sh"

[ $# -le 1 ] || die "usage: $0 [BUILD_DIR]"
build=${1:-$here/../../build/default}

skip() {
  echo "SKIP: $*"
  exit 77
}
[ "$(id -u)" -eq 0 ] || skip "needs root (systemd-nspawn)"
command -v systemd-nspawn >/dev/null || skip "no systemd-nspawn: apt-get install systemd-container (prepare-root.sh does)"
command -v nsenter >/dev/null || skip "no nsenter (util-linux)"
[ -f "$root/$marker" ] || skip "no prepared root in $root: run tests/systemd-boot/prepare-root.sh (needs the Debian archive)"
command -v jq >/dev/null || die "jq not found on the host: apt-get install jq (scripts/install-deps.sh)"
command -v openssl >/dev/null || die "openssl not found on the host: apt-get install openssl"

require_built "$build"

started=$SECONDS
work=$(mktemp -d /tmp/parley-systemd-boot.XXXXXX)
share="$work/share"  # read-only in the container as /srv/parley-trial
mkdir -p "$share"
nspawn=""
ct_pid=""
checks=0

# ct COMMAND...: runs COMMAND inside the booted container (all its namespaces), with a clean
# environment. machinectl cannot be used: it needs systemd as the host's PID 1.
ct() {
  nsenter -t "$ct_pid" -a -- env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 \
    TERM=dumb SYSTEMD_COLORS=0 SYSTEMD_PAGER= DEBIAN_FRONTEND=noninteractive "$@"
}

pass() {
  checks=$((checks + 1))
  printf 'ok %2d - %s (%d s)\n' "$checks" "$*" "$((SECONDS - started))"
}

# wait_for SECONDS WHAT COMMAND...: runs COMMAND every 0.2 s until it succeeds; fails the trial
# when it has not within SECONDS.
wait_for() {
  local limit=$1 what=$2 i
  shift 2
  local deadline=$((SECONDS + limit))
  for ((i = 0; i < limit * 5 + 1; i++)); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    [ "$SECONDS" -lt "$deadline" ] || break
    sleep 0.2
  done
  die "$what: not within $limit s"
}

prop() { ct systemctl show parleyd -p "$1" --value; }
pkg_status() { ct dpkg-query -W -f="\${Status}" parley 2>/dev/null; }

# The unit's log as JSON objects, one per line (systemd's own lines about the unit are not JSON).
events() { ct journalctl -u parleyd -o cat --no-pager | jq -cR 'fromjson? | objects'; }
count_events() { events | jq -s --arg e "$1" 'map(select(.event == $e)) | length'; }
has_event() { [ "$(count_events "$1")" -ge "$2" ]; }

# running_as PID: parleyd is active (running) and still the process PID.
running_as() {
  [ "$(prop ActiveState)/$(prop SubState)" = active/running ] && [ "$(prop MainPID)" = "$1" ]
}
# Never `producer | grep -q` here: with pipefail, grep -q leaving at the first match can kill the
# producer with SIGPIPE and turn a match into a failure. Output is read whole, then matched.
status_has() { [[ $(prop StatusText) == *"$1"* ]]; }
status_lacks() { ! status_has "$1"; }
journal_has() { [[ $(ct journalctl -u parleyd -o cat --no-pager) == *"$1"* ]]; }

write_config() {  # write_config JSON: the service's /etc/parley/parleyd.json
  printf '%s\n' "$1" | ct sh -c 'cat >/etc/parley/parleyd.json'
}

on_exit() {
  local rc=$?
  trap - EXIT ERR
  if [ "$rc" -ne 0 ]; then
    echo "not ok - the trial failed after $checks checks ($((SECONDS - started)) s)"
    if [ -z "$nspawn" ]; then
      :  # failed before the boot: the message above says why
    elif [ -n "$ct_pid" ] && kill -0 "$ct_pid" 2>/dev/null; then
      echo "--- systemctl status parleyd"
      ct systemctl status parleyd --no-pager -l 2>&1 | head -n 30 || true
      echo "--- journalctl -u parleyd (last 40 lines)"
      ct journalctl -u parleyd --no-pager -n 40 -o short-precise 2>&1 || true
    else
      echo "--- container console (last 30 lines)"
      tail -n 30 "$work/console.log" 2>/dev/null || true
    fi
  fi
  if [ -n "$nspawn" ] && kill -0 "$nspawn" 2>/dev/null; then
    # SIGTERM makes systemd-nspawn power the container off cleanly.
    kill -TERM "$nspawn" 2>/dev/null || true
    local i
    for ((i = 0; i < 100; i++)); do
      kill -0 "$nspawn" 2>/dev/null || break
      sleep 0.1
    done
    kill -0 "$nspawn" 2>/dev/null && kill -KILL "$nspawn" 2>/dev/null
    wait "$nspawn" 2>/dev/null || true
  fi
  if [ "$rc" -eq 0 ]; then rm -rf "$work"; else echo "kept: $work"; fi
  exit "$rc"
}
trap on_exit EXIT
# A command that fails outside a check (set -e) says which.
trap 'echo "FAIL: line $LINENO: $BASH_COMMAND (exit status $?)" >&2' ERR

# ---------------------------------------------------------------- the package and the files
deb=$(make_deb "$build" "$work")
cp "$deb" "$share/"
deb_name=$(basename "$deb")
# Two self-signed certificates, as two successive renewals of one lineage would bring.
for lineage in first renewed; do
  mkdir -p "$share/$lineage"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj "/CN=localhost ($lineage)" -addext "subjectAltName=DNS:localhost" \
    -keyout "$share/$lineage/privkey.pem" -out "$share/$lineage/fullchain.pem" 2>"$work/openssl.log" ||
    { cat "$work/openssl.log"; die "openssl req failed"; }
  chmod 0644 "$share/$lineage"/*.pem
done
# A broken renewal: a certificate with the key of another.
mkdir -p "$share/mismatched"
cp "$share/first/fullchain.pem" "$share/renewed/privkey.pem" "$share/mismatched/"
# The README's certbot deploy hook, exactly as printed there.
sed -n '/^## TLS in front of Parley/,/^## /p' "$here/../../README.md" |
  sed -n '/^#!\/bin\/sh$/,/^```$/p' | sed '$d' >"$share/deploy-hook"
grep -q 'systemctl reload parleyd' "$share/deploy-hook" ||
  die "no certbot deploy hook (#!/bin/sh ... systemctl reload parleyd) in README's TLS section"

# ---------------------------------------------------------------- boot
booted=$SECONDS
SYSTEMD_NSPAWN_UNIFIED_HIERARCHY=1 systemd-nspawn -b -D "$root" --volatile=overlay \
  --register=no --keep-unit --private-network --console=read-only \
  --machine="parley-trial-$$" --bind-ro="$share:/srv/parley-trial" >"$work/console.log" 2>&1 &
nspawn=$!
find_init() { ct_pid=$(pgrep -P "$nspawn" -x systemd) && [ -n "$ct_pid" ]; }
wait_for 20 "the container's systemd to start" find_init
find_init
wait_for 30 "the container's systemd to open its bus" ct test -S /run/systemd/private
state=$(timeout 60 nsenter -t "$ct_pid" -a -- systemctl is-system-running --wait 2>&1) || true
case $state in
  running) ;;
  degraded) echo "# degraded: $(ct systemctl --failed --no-legend --plain | awk '{print $1}' | xargs)" ;;
  *) die "the container did not boot: is-system-running says '$state'" ;;
esac
pass "booted Debian 12 (systemd $(ct systemctl --version | awk 'NR==1 {print $2}')) in $((SECONDS - booted)) s, $state"

# ---------------------------------------------------------------- install and start
ct apt-get install -y -q "/srv/parley-trial/$deb_name" >"$work/apt-install.log" 2>&1 ||
  { tail -n 20 "$work/apt-install.log"; die "apt install ./$deb_name failed (no network here: did prepare-root.sh cache its dependencies?)"; }
ct test -x /bin/kill || die "/bin/kill is missing after the install (ExecReload=): procps not pulled in"
[ "$(prop UnitFileState)" = disabled ] || die "the package enabled the unit itself: $(prop UnitFileState)"
pass "apt install ./$deb_name (offline, from the cache; procps came along; the unit is not enabled)"

ct systemctl enable --now parleyd >"$work/enable.log" 2>&1 || { cat "$work/enable.log"; die "systemctl enable --now parleyd failed"; }
[ "$(prop UnitFileState)" = enabled ] || die "not enabled"
[ "$(prop Type)" = notify ] || die "Type=$(prop Type)"
[ "$(prop ActiveState)/$(prop SubState)" = active/running ] || die "not active (running)"
status_has "sessions: 0, handshakes in progress: 0" || die "Status: '$(prop StatusText)'"
pass "systemctl enable --now: active (running), Type=notify, Status: \"$(prop StatusText)\""

wait_for 10 "a JSON 'listening' event in the journal" has_event listening 1
fingerprint=$(events | jq -rs 'map(select(.event == "listening")) | .[0].fingerprint')
[[ $fingerprint == SHA256:* ]] || die "listening without a SHA256: fingerprint"
listen=$(events | jq -cs 'map(select(.event == "listening")) | .[0] | {address, port}')
[ "$listen" = '{"address":"127.0.0.1","port":7777}' ] || die "listening on $listen"
order=$(events | jq -rs '[.[] | .event] | map(select(. == "nofile_limit" or . == "listening")) | .[0:2] | join(",")')
[ "$order" = nofile_limit,listening ] || die "the start logs $order, not nofile_limit then listening"
# LimitNOFILE=65536 sets soft and hard alike, capped by the host's own hard limit.
nofile=$(events | jq -cs 'map(select(.event == "nofile_limit")) | .[0]')
jq -e '.sufficient == true and .soft == .hard' <<<"$nofile" >/dev/null || die "nofile_limit: $nofile"
pass "journal: nofile_limit (soft = hard = $(jq .soft <<<"$nofile"), sufficient) then listening on 127.0.0.1:7777, $fingerprint"

# ---------------------------------------------------------------- the dynamic user's files
pid=$(prop MainPID)
uid=$(ct grep '^Uid:' "/proc/$pid/status" | awk '{print $2}')
if [ "$uid" -lt 61184 ] || [ "$uid" -gt 65519 ]; then
  die "parleyd runs as uid $uid, not a dynamic user (61184..65519)"
fi
[ "$(ct stat -c '%a %u' /var/lib/private/parleyd)" = "700 $uid" ] ||
  die "state directory: $(ct stat -c '%a %u' /var/lib/private/parleyd), want 700 $uid"
[ "$(ct readlink /var/lib/parleyd)" = private/parleyd ] || die "/var/lib/parleyd is not the link to private/parleyd"
[ "$(ct stat -c '%a %u' /var/lib/private/parleyd/identity.pem)" = "600 $uid" ] ||
  die "identity.pem: $(ct stat -c '%a %u' /var/lib/private/parleyd/identity.pem), want 600 $uid"
[ "$(ct parleyd --print-fingerprint --config /etc/parley/parleyd.json)" = "$fingerprint" ] ||
  die "parleyd --print-fingerprint disagrees with the journal"
pass "state directory 0700 and identity.pem 0600, owned by the dynamic user (uid $uid)"

# ---------------------------------------------------------------- two clients
# shellcheck disable=SC2016 # expanded by the container's shell
ct sh -c 'echo $$ >/run/parley-listen.pid
  exec parley --listen --raw --nick bob --room trial --fingerprint "$1" 127.0.0.1' sh "$fingerprint" \
  >"$work/listen.out" 2>"$work/listen.err" &
listener=$!
# file_has FILE FILTER: some JSON line of FILE passes FILTER (jq -e alone is true on no input).
file_has() { [ -n "$(jq -c "select($2)" "$1" 2>/dev/null)" ]; }
# --raw prints the acks too: the join's (id "room ROOM") says the listener is in the room.
joined() { file_has "$work/listen.out" '.type == "ack" and .id == "room trial"'; }
wait_for 20 "the listening client to join its room" joined
printf 'hello through systemd\n' |
  ct parley --nick alice --room trial --fingerprint "$fingerprint" 127.0.0.1 >"$work/say.out" 2>&1 ||
  { cat "$work/say.out"; die "the pipe-mode client failed"; }
relayed() {
  file_has "$work/listen.out" \
    '.type == "message" and .from == "alice" and .room == "trial" and .text == "hello through systemd"'
}
wait_for 10 "the message relayed to the listening client" relayed
# The admin socket (RuntimeDirectory=): root's parleyctl sees bob, still connected.
[ "$(ct stat -c '%a %u' /run/parleyd)" = "700 $uid" ] ||
  die "runtime directory: $(ct stat -c '%a %u' /run/parleyd), want 700 $uid"
[ "$(ct stat -c '%a %u' /run/parleyd/control.sock)" = "600 $uid" ] ||
  die "control.sock: $(ct stat -c '%a %u' /run/parleyd/control.sock), want 600 $uid"
ct parleyctl --json status | jq -e '.ok and .state == "running" and .sessions >= 1' >/dev/null ||
  die "parleyctl status: $(ct parleyctl --json status 2>&1)"
ct parleyctl --json sessions | jq -e '[.sessions[].nick] | index("bob")' >/dev/null ||
  die "parleyctl sessions does not list bob: $(ct parleyctl --json sessions 2>&1)"
pass "parleyctl status and sessions as root over /run/parleyd/control.sock (0700 dir, 0600 socket)"
# shellcheck disable=SC2016
ct sh -c 'kill -INT "$(cat /run/parley-listen.pid)"'
listener_gone() { ! kill -0 "$listener" 2>/dev/null; }
wait_for 10 "the listening client to exit on SIGINT" listener_gone
rc=0
wait "$listener" || rc=$?
[ "$rc" -eq 0 ] || { cat "$work/listen.err"; die "the listening client exited $rc on SIGINT"; }
pass "a message relayed from 'parley' in pipe mode to 'parley --listen' over 127.0.0.1:7777"

# ---------------------------------------------------------------- reload
config=$(ct cat /etc/parley/parleyd.json)
ct systemctl reload parleyd || die "systemctl reload parleyd failed"
wait_for 10 "a reload event" has_event reload 1
events | jq -es 'map(select(.event == "reload")) | .[-1].ok == true' >/dev/null || die "the reload failed"
running_as "$pid" || die "parleyd is not the same running process after a reload"
status_lacks "reload failed" || die "Status: '$(prop StatusText)'"
pass "systemctl reload: ok, same MainPID $pid"

write_config '{"listen": [{"address": "127.0.0.1", "port": 7777}], "limits": {"max_clients": -1}'
ct systemctl reload parleyd || die "systemctl reload parleyd (broken config) failed"
wait_for 10 "Status to say the reload failed" status_has "last reload failed"
events | jq -es 'map(select(.event == "reload")) | length == 2 and (.[-1] | .ok == false and .level == "error")' \
  >/dev/null || die "no reload event with ok:false"
running_as "$pid" || die "parleyd is not the same running process after a failed reload"
pass "broken config + reload: Status \"$(prop StatusText)\", same MainPID"

write_config "$config"
ct systemctl reload parleyd
wait_for 10 "Status to forget the failed reload" status_lacks "reload failed"
running_as "$pid" || die "parleyd is not the same running process after the reload"
pass "config fixed + reload: Status \"$(prop StatusText)\""

# ---------------------------------------------------------------- restart
ct systemctl restart parleyd
new_pid=$(prop MainPID)
[ "$new_pid" != "$pid" ] || die "MainPID $pid did not change across a restart"
wait_for 10 "a second listening event" has_event listening 2
[ "$(events | jq -rs 'map(select(.event == "listening")) | .[-1].fingerprint')" = "$fingerprint" ] ||
  die "the fingerprint changed across a restart"
pass "systemctl restart: MainPID $pid -> $new_pid, same fingerprint"

# ---------------------------------------------------------------- the template: two instances
# parleyd@1 and parleyd@2 beside parleyd.service, both on one port (reuse_port), no cluster block
# (no NATS here): each its own config, runtime directory and admin socket, all one dynamic user
# and one identity key. One after the other, as the README says (the first start creates the key).
iprop() { ct systemctl show "parleyd@$1" -p "$2" --value; }
ievents() { ct journalctl -u "parleyd@$1" -o cat --no-pager | jq -cR 'fromjson? | objects'; }
ilistening() { [ -n "$(ievents "$1" | jq -c 'select(.event == "listening")')" ]; }
for i in 1 2; do
  printf '{"listen": [{"address": "127.0.0.1", "port": 7800, "reuse_port": true}],
 "metrics": {"listen": "127.0.0.1:947%s"}}\n' "$i" | ct sh -c "cat >/etc/parley/parleyd@$i.json"
done
ct systemctl enable --now parleyd@1 >"$work/enable-1.log" 2>&1 ||
  { cat "$work/enable-1.log"; die "systemctl enable --now parleyd@1 failed"; }
ct systemctl start parleyd@2 || die "systemctl start parleyd@2 failed"
uid_of() { ct grep '^Uid:' "/proc/$1/status" | awk '{print $2}'; }
for i in 1 2; do
  [ "$(iprop "$i" ActiveState)/$(iprop "$i" SubState)/$(iprop "$i" Type)" = active/running/notify ] ||
    die "parleyd@$i: $(iprop "$i" ActiveState)/$(iprop "$i" SubState)/$(iprop "$i" Type)"
  [ "$(iprop "$i" Environment)" = "PARLEYD_INSTANCE=$i" ] || die "parleyd@$i: Environment=$(iprop "$i" Environment)"
  wait_for 10 "parleyd@$i's listening event" ilistening "$i"
  got=$(ievents "$i" | jq -rs 'map(select(.event == "listening")) | .[0] | "\(.port) \(.fingerprint)"')
  [ "$got" = "7800 $fingerprint" ] || die "parleyd@$i listens as '$got', want '7800 $fingerprint'"
  # The same dynamic user as parleyd.service (User=parleyd), so the key in /var/lib/parleyd is its.
  [ "$(uid_of "$(iprop "$i" MainPID)")" = "$uid" ] || die "parleyd@$i runs as uid $(uid_of "$(iprop "$i" MainPID)"), not $uid"
  [ "$(ct stat -c '%a %u' "/run/parleyd@$i" "/run/parleyd@$i/control.sock" | xargs)" = "700 $uid 600 $uid" ] ||
    die "/run/parleyd@$i: $(ct stat -c '%n %a %u' "/run/parleyd@$i" "/run/parleyd@$i/control.sock" | xargs)"
  ct parleyctl --socket "/run/parleyd@$i/control.sock" --json status | jq -e '.ok and .state == "running"' >/dev/null ||
    die "parleyctl --socket /run/parleyd@$i/control.sock status: $(ct parleyctl --socket "/run/parleyd@$i/control.sock" --json status 2>&1)"
done
[ "$(iprop 1 UnitFileState)/$(iprop 2 UnitFileState)" = enabled/disabled ] ||
  die "instances enabled: $(iprop 1 UnitFileState)/$(iprop 2 UnitFileState), want enabled/disabled"
[ "$(iprop 1 MainPID)" != "$(iprop 2 MainPID)" ] || die "parleyd@1 and parleyd@2 have one MainPID"
pass "parleyd@1 and parleyd@2: active on 127.0.0.1:7800 (reuse_port), uid $uid, $fingerprint, /run/parleyd@{1,2}/control.sock"

ct systemctl stop parleyd@2
ct test ! -e /run/parleyd@2 || die "/run/parleyd@2 is left after stopping parleyd@2"
[ "$(iprop 1 ActiveState)" = active ] || die "stopping parleyd@2 stopped parleyd@1 too"
ct parleyctl --socket /run/parleyd@1/control.sock --json status | jq -e '.ok' >/dev/null ||
  die "parleyd@1's admin socket is gone with parleyd@2"
ct rm /etc/parley/parleyd@2.json
pass "systemctl stop parleyd@2: its runtime directory gone, parleyd@1 and its socket untouched"

# ---------------------------------------------------------------- TLS: the README's certbot flow
ct install -D -m 0755 /srv/parley-trial/deploy-hook /etc/letsencrypt/renewal-hooks/deploy/parleyd
reloads=$(count_events reload)
ct env RENEWED_LINEAGE=/srv/parley-trial/first /etc/letsencrypt/renewal-hooks/deploy/parleyd ||
  die "the README's deploy hook failed"
wait_for 10 "the hook's reload" has_event reload $((reloads + 1))
[ "$(ct stat -c '%a %u' /var/lib/private/parleyd/tls /var/lib/private/parleyd/tls/fullchain.pem \
  /var/lib/private/parleyd/tls/privkey.pem | xargs)" = "700 $uid 644 $uid 600 $uid" ] ||
  die "tls files: $(ct stat -c '%n %a %u' /var/lib/private/parleyd/tls/*)"
write_config '{
  "listen": [
    {"address": "127.0.0.1", "port": 7777},
    {"address": "127.0.0.1", "port": 7443,
     "tls": {"cert": "/var/lib/parleyd/tls/fullchain.pem", "key": "/var/lib/parleyd/tls/privkey.pem"}}
  ],
  "identity_key": "/var/lib/parleyd/identity.pem",
  "log": {"format": "json", "level": "info"}
}'
ct parleyd --check-config /etc/parley/parleyd.json >/dev/null || die "check-config refuses the TLS listener"
listening=$(count_events listening)
ct systemctl restart parleyd || die "restart with a TLS listener failed"
wait_for 10 "the TLS listener" has_event listening $((listening + 2))
events | jq -es 'map(select(.event == "listening")) | .[-1] | .port == 7443 and .tls == true' >/dev/null ||
  die "no TLS listening event: $(events | jq -cs 'map(select(.event == "listening")) | .[-1]')"
say_tls() {  # say_tls LINEAGE: a message over TLS, trusting only LINEAGE's certificate
  printf 'over tls\n' | ct parley --nick "carol-$1" --fingerprint "$fingerprint" \
    --ca "/srv/parley-trial/$1/fullchain.pem" parleys://localhost:7443
}
say_tls first >"$work/tls.out" 2>&1 || { cat "$work/tls.out"; die "no session over TLS with the first certificate"; }
say_tls renewed >"$work/tls.out" 2>&1 && die "a client trusting only the renewed certificate got in before the renewal"
pass "TLS: README deploy hook installed the pair (0700/0644/0600, dynamic user), restart, a client over parleys://"

reloads=$(count_events reload)
pid=$(prop MainPID)
ct env RENEWED_LINEAGE=/srv/parley-trial/renewed /etc/letsencrypt/renewal-hooks/deploy/parleyd ||
  die "the deploy hook failed on renewal"
wait_for 10 "the renewal's reload" has_event reload $((reloads + 1))
events | jq -es 'map(select(.event == "reload")) | .[-1].ok == true' >/dev/null || die "the renewal's reload failed"
say_tls renewed >"$work/tls.out" 2>&1 || { cat "$work/tls.out"; die "the renewed certificate is not served after the hook's reload"; }
say_tls first >"$work/tls.out" 2>&1 && die "the old certificate is still served after the renewal"
running_as "$pid" || die "parleyd is not the same running process after the renewal"
pass "TLS renewal: the hook's reload serves the new certificate, same MainPID"

reloads=$(count_events reload)
ct env RENEWED_LINEAGE=/srv/parley-trial/mismatched /etc/letsencrypt/renewal-hooks/deploy/parleyd ||
  die "the deploy hook failed on the mismatched pair"
wait_for 10 "the mismatched pair's reload" has_event reload $((reloads + 1))
events | jq -es 'map(select(.event == "reload")) | .[-1].ok == false' >/dev/null ||
  die "a certificate with another's key did not fail the reload"
status_has "last reload failed" || die "Status: '$(prop StatusText)'"
say_tls renewed >"$work/tls.out" 2>&1 || { cat "$work/tls.out"; die "the pair in use was dropped after a failed reload"; }
running_as "$pid" || die "parleyd is not the same running process after a failed TLS reload"
ct env RENEWED_LINEAGE=/srv/parley-trial/renewed /etc/letsencrypt/renewal-hooks/deploy/parleyd
wait_for 10 "Status to forget the failed reload" status_lacks "reload failed"
pass "TLS, a key that is not the certificate's: reload fails (logged, Status), the pair in use stays"
ct rm -rf /etc/letsencrypt

# ---------------------------------------------------------------- the watchdog
ct mkdir -p /etc/systemd/system/parleyd.service.d
printf '[Service]\nWatchdogSec=2s\n' | ct sh -c 'cat >/etc/systemd/system/parleyd.service.d/watchdog.conf'
ct systemctl daemon-reload
ct systemctl restart parleyd
[ "$(prop WatchdogUSec)" = 2s ] || die "the drop-in did not lower WatchdogSec: $(prop WatchdogUSec)"
hung=$(prop MainPID)
restarts=$(prop NRestarts)
ct kill -STOP "$hung"
restarted() { [ "$(prop MainPID)" != "$hung" ] && running_as "$(prop MainPID)"; }
wait_for 30 "the watchdog to kill the stopped parleyd and systemd to restart it" restarted
journal_has 'Watchdog timeout' || die "no 'Watchdog timeout' in the journal"
[ "$(prop NRestarts)" -gt "$restarts" ] || die "NRestarts did not grow"
pass "SIGSTOP'd parleyd: watchdog timeout (WatchdogSec=2s drop-in), killed, restarted as $(prop MainPID)"
ct rm -rf /etc/systemd/system/parleyd.service.d
ct systemctl daemon-reload

# ---------------------------------------------------------------- stop
ct systemctl stop parleyd
[ "$(prop ActiveState)/$(prop SubState)" = inactive/dead ] || die "not inactive (dead) after stop"
[ "$(prop Result)" = success ] || die "stop: Result=$(prop Result)"
events | jq -es '.[-1].event == "shutdown" and .[-1].signal == "SIGTERM"' >/dev/null ||
  die "the last event is not shutdown on SIGTERM: $(events | tail -n 1)"
pass "systemctl stop: inactive (dead), Result=success, logged shutdown"

# ---------------------------------------------------------------- a bad config
write_config '{"listen": [{"address": "127.0.0.1", "port": 70000}]}'
ct systemctl start parleyd 2>/dev/null && die "systemctl start succeeded with a bad config"
[ "$(prop ExecMainStatus)" = 78 ] || die "bad config: exit status $(prop ExecMainStatus), not 78"
[ "$(prop ActiveState)" = failed ] || die "bad config: ActiveState=$(prop ActiveState)"
restarts=$(prop NRestarts)
# Nothing to poll for: no restart must happen. RestartSec=2s, so 5 s would show one.
for ((i = 0; i < 10; i++)); do
  sleep 0.5
  if [ "$(prop ActiveState)" != failed ] || [ "$(prop NRestarts)" != "$restarts" ]; then
    die "restarted after exit 78: ActiveState=$(prop ActiveState) NRestarts=$(prop NRestarts)"
  fi
done
journal_has 'listen[0].port: expected an integer' ||
  die "the config error is not in the journal"
pass "bad config: exit 78, failed, no restart in 5 s (RestartPreventExitStatus=78)"
write_config "$config"
ct systemctl reset-failed parleyd
ct systemctl start parleyd || die "start with the config restored failed"
pass "config restored: started again"

# ---------------------------------------------------------------- systemd-analyze security
for unit in parleyd parleyd@1; do  # parleyd@1 is still running
  exposure=$(ct systemd-analyze security "$unit" --no-pager |
    sed -n "s/.*Overall exposure level for $unit.service: \\([0-9.]*\\).*/\\1/p")
  [ -n "$exposure" ] || die "no exposure level from systemd-analyze security $unit"
  awk -v s="$exposure" 'BEGIN { exit !(s <= 2.0) }' || die "$unit: exposure $exposure is above 2.0"
  pass "systemd-analyze security $unit: exposure $exposure <= 2.0"
done

# ---------------------------------------------------------------- remove and purge
ct apt-get remove -y -q parley >"$work/remove.log" 2>&1 || { cat "$work/remove.log"; die "apt remove failed"; }
[ "$(pkg_status)" = "deinstall ok config-files" ] || die "not in config-files state: $(pkg_status)"
ct test -f /etc/parley/parleyd.json || die "apt remove deleted the conffile"
ct test -f /var/lib/private/parleyd/identity.pem || die "apt remove deleted the identity key"
ct test ! -e /usr/bin/parleyd || die "/usr/bin/parleyd is still there"
[ "$(prop ActiveState)" = inactive ] || die "parleyd is still $(prop ActiveState) after remove"
[ "$(iprop 1 ActiveState)" != active ] || die "parleyd@1 is still active after remove"
pass "apt remove: parleyd and parleyd@1 stopped, binary gone, conffile and identity key kept"
# parleyd@1's config is the operator's own file, not the package's: the operator deletes it.
ct rm /etc/parley/parleyd@1.json

ct apt-get purge -y -q parley >"$work/purge.log" 2>&1 || { cat "$work/purge.log"; die "apt purge failed"; }
case $(pkg_status) in
  "" | *" not-installed") ;;
  *) die "dpkg still has parley: $(pkg_status)" ;;
esac
# Nothing named parley anywhere (the unit, its links, deb-systemd-helper's state, dpkg's lists)
# that the prepared root did not have already, nothing in DynamicUser's private directories;
# /root holds only the trial clients' known_hosts.
(cd "$root" && find . -xdev -name '*parley*' | sed 's|^\.||' | sort) >"$work/pristine.txt"
ct find / -xdev \( -path /proc -o -path /sys -o -path /root -o -path /srv \) -prune -o \
  \( -name '*parley*' -o -path '/var/lib/private/*' -o -path '/var/log/private/*' \) -print |
  sort >"$work/after-purge.txt"
leftovers=$(comm -13 "$work/pristine.txt" "$work/after-purge.txt")
[ -z "$leftovers" ] || die "left after purge: $leftovers"
for p in /etc/parley /var/lib/parleyd /var/lib/private/parleyd /var/log/parleyd \
  /etc/systemd/system/parleyd.service /etc/systemd/system/multi-user.target.wants/parleyd.service \
  /usr/lib/systemd/system/parleyd.service /usr/lib/systemd/system/parleyd@.service \
  /etc/systemd/system/multi-user.target.wants/parleyd@1.service; do
  ct test ! -e "$p" -a ! -L "$p" || die "$p is left after purge"
done
pass "apt purge: no parley file, directory, link (parleyd@1's too), unit, conffile or state left"

echo "systemd-boot trial: $checks checks passed in $((SECONDS - started)) s"
