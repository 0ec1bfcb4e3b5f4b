#!/bin/bash
# SPDX-License-Identifier: Apache-2.0 OR MIT
#
# The guest side of the vm suite, started by safe-mmap-vm-test.service as
# root once the basic system is up. Each check prints one PASS or FAIL line
# (with what it saw when it fails); the last line is
# SAFE-MMAP-VM-RESULT=<rc>, which the host turns into the test's status.

# The checks are functions called through run().
# shellcheck disable=SC2317
set -u -o pipefail

export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export SYSTEMD_PAGER="" SYSTEMD_COLORS=0 LC_ALL=C.UTF-8

here=/usr/local/lib/safe-mmap-vm
client=$here/vm-client
user=tester
svc=safe-mmapd.service
sock_unit=safe-mmapd.socket
idle=2                  # --exit-idle for the test, in seconds
tmp=$(mktemp -d)
passed=0
failed=0

echo "vm: checks start at $(cut -d' ' -f1 /proc/uptime)s of uptime, kernel $(uname -r)"

now() {
        cut -d' ' -f1 /proc/uptime
}

# run NAME FUNCTION [ARGS]: one check; its output is shown only on failure.
run() {
        local name=$1 out t0 t
        shift
        t0=$(now)
        out=$("$@" 2>&1)
        local rc=$?
        t=$(awk -v a="$t0" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }')
        if [ "$rc" = 0 ]; then
                passed=$((passed + 1))
                echo "vm: PASS $name (${t}s)"
        else
                failed=$((failed + 1))
                echo "vm: FAIL $name (${t}s)"
                sed 's/^/vm:     /' <<< "$out" | head -n 40
        fi
}

# info NAME FUNCTION: output for the log, never a verdict.
info() {
        local name=$1
        shift
        echo "vm: --- $name"
        "$@" 2>&1 | sed 's/^/vm:     /'
}

as_user() {
        setpriv --reuid="$user" --regid="$user" --init-groups -- "$@"
}

# hold SECONDS: keep a connection to the daemon open in the background, so
# that --exit-idle does not stop it meanwhile; release stops it early. The
# client must not share the caller's stdout: a check's output is read to
# its end, which would wait for the client.
hold() {
        setpriv --reuid="$user" --regid="$user" --init-groups -- \
                "$client" hold "$socket" "$1" > "$tmp/hold" 2>&1 &
        holder=$!
        local _
        for _ in $(seq 20); do
                grep -q connected "$tmp/hold" && return 0
                sleep 0.2
        done
        cat "$tmp/hold"
        return 1
}

release() {
        kill "$holder" 2> /dev/null
        wait "$holder" 2> /dev/null
        return 0
}

# The monotonic time the service's main process last started; 0 if never.
started_at() {
        systemctl show -P ExecMainStartTimestampMonotonic "$svc"
}

# Every systemctl costs about half a second in an emulated guest: poll slowly.
wait_inactive() {
        local state deadline=$((SECONDS + 20))
        while :; do
                state=$(systemctl is-active "$svc")
                case $state in
                inactive) return 0 ;;
                failed) echo "$svc failed"; return 1 ;;
                esac
                [ $SECONDS -lt $deadline ] || break
                sleep 0.5
        done
        echo "$svc still $state after 20 s"
        return 1
}

# expect_client WANT_KIND WANT_FS MODE PATH [AS]: vm-client MODE PATH maps
# PATH as WANT_KIND on WANT_FS and the bytes equal the file's.
expect_client() {
        local kind=$1 fs=$2 mode=$3 path=$4 who=${5:-user} rc=0
        if [ "$who" = user ]; then
                as_user "$client" "$mode" "$path" > "$tmp/out" 2> "$tmp/err" || rc=$?
        else
                "$client" "$mode" "$path" > "$tmp/out" 2> "$tmp/err" || rc=$?
        fi
        cat "$tmp/err"
        [ "$rc" = 0 ] || { echo "vm-client exited $rc"; return 1; }
        grep -qxE "vm-client: kind=$kind size=$(stat -c %s "$path") fs=$fs ino=[0-9]+" "$tmp/err" ||
                { echo "expected kind=$kind fs=$fs size=$(stat -c %s "$path")"; return 1; }
        # An fs-verity file is served as itself, never as a copy.
        if [ "$kind" = fs-verity ] && ! grep -q " ino=$(stat -c %i "$path")\$" "$tmp/err"; then
                echo "not the file itself: inode $(stat -c %i "$path") expected"
                return 1
        fi
        cmp "$path" "$tmp/out"
}

# The installed library maps a memfd sealed against every change, bytes intact.
check_memfd_accepted() {
        local rc=0
        as_user "$client" memfd seal,shrink,grow,write > "$tmp/out" 2> "$tmp/err" || rc=$?
        cat "$tmp/err"
        [ "$rc" = 0 ] || { echo "vm-client exited $rc"; return 1; }
        grep -qxE "vm-client: kind=sealed-memfd size=65536 fs=tmpfs ino=[0-9]+" "$tmp/err" || return 1
        [ "$(tr -d x < "$tmp/out" | wc -c)" = 0 ] && [ "$(wc -c < "$tmp/out")" = 65536 ]
}

# expect_refused_args ERRNO ARGS...: vm-client ARGS... exits 1 with error=ERRNO.
expect_refused_args() {
        local want=$1 rc=0
        shift
        as_user "$client" "$@" > /dev/null 2> "$tmp/err" || rc=$?
        cat "$tmp/err"
        [ "$rc" = 1 ] || { echo "vm-client exited $rc, expected 1"; return 1; }
        grep -qx "vm-client: error=$want" "$tmp/err"
}

# expect_refused ERRNO MODE PATH: vm-client exits 1 with error=ERRNO.
expect_refused() {
        local want=$1 mode=$2 path=$3 rc=0
        as_user "$client" "$mode" "$path" > /dev/null 2> "$tmp/err" || rc=$?
        cat "$tmp/err"
        [ "$rc" = 1 ] || { echo "vm-client exited $rc, expected 1"; return 1; }
        grep -qx "vm-client: error=$want" "$tmp/err"
}

# ---- the machine and the payload

check_guest() {
        [ "$(cat /proc/1/comm)" = systemd ] || { echo "PID 1 is $(cat /proc/1/comm)"; return 1; }
        daemon=$(systemctl show -P ExecStart "$svc" | sed -n 's/.*path=\([^ ;]*\).*/\1/p' | head -n 1)
        echo "daemon: ${daemon:-none}"
        command -v safe-mmap && [ -x "${daemon:-/nonexistent}" ] && [ -x "$client" ]
}

# Every installed program and library finds its libraries through the
# loader's own search path (a libdir Debian does not search, such as
# /usr/lib64, shows here as "not found"), with nothing set in the environment.
check_ldd() {
        local f bad=0 files
        daemon=$(systemctl show -P ExecStart "$svc" | sed -n 's/.*path=\([^ ;]*\).*/\1/p' | head -n 1)
        mapfile -t files < <(command -v safe-mmap; echo "$daemon"; echo "$client"
                find /usr/lib /usr/lib64 /usr/local/lib -name 'libsafe-mmap.so*' -type f 2> /dev/null)
        [ ${#files[@]} -ge 4 ] || { echo "installed: ${files[*]}"; bad=1; }
        for f in "${files[@]}"; do
                echo "== $f"
                env -u LD_LIBRARY_PATH ldd "$f" || bad=1
                env -u LD_LIBRARY_PATH ldd "$f" | grep -q 'not found' && bad=1
        done
        return "$bad"
}

# ---- socket activation

check_socket_idle() {
        systemctl status --no-pager "$sock_unit"
        [ "$(systemctl is-active "$sock_unit")" = active ] || return 1
        [ -S "$socket" ] || { echo "no SOCK_SEQPACKET socket file: '$socket'"; return 1; }
        [ "$(stat -c %a:%U "$socket")" = 666:root ] || { echo "socket $(stat -c %a:%U "$socket")"; return 1; }
        [ "$(systemctl is-active "$svc")" = inactive ] && [ "$(started_at)" = 0 ] ||
                { echo "$svc is $(systemctl is-active "$svc") before any client"; return 1; }
}

# run.sh replaced the unit's --exit-idle with a short one in a drop-in
# (cheaper than a daemon-reload here).
check_exit_idle() {
        systemctl show -P ExecStart "$svc"
        systemctl show -P ExecStart "$svc" | grep -q -- "--exit-idle=$idle "
}

make_data() {
        mkdir -p /srv/data /srv/secret
        head -c 300000 /dev/urandom > /srv/data/blob
        echo "the end" >> /srv/data/blob
        chmod 0644 /srv/data/blob
        head -c 70000 /dev/urandom > /srv/secret/blob
        chmod 0700 /srv/secret
        chmod 0600 /srv/secret/blob
}

check_cat_activates() {
        as_user safe-mmap cat --no-fallback /srv/data/blob > "$tmp/cat" || return 1
        cmp /srv/data/blob "$tmp/cat" || return 1
        local at
        at=$(started_at)
        echo "service started at $at"
        [ "$at" != 0 ]
}

check_status_line() {
        local r=0
        hold 30 || { release; return 1; }
        # The connection is queued on systemd's socket before the daemon
        # runs; a notify service is active once it said READY=1.
        poll is_active || { release; return 1; }
        systemctl status --no-pager "$svc" > "$tmp/status" 2>&1
        as_user safe-mmap status || r=1
        release
        cat "$tmp/status"
        grep -q '^ *Status: "' "$tmp/status" && return $r
}

is_active() {
        systemctl is-active "$svc"
}

# What the unit and the daemon's own sandbox leave the running process:
# at most CAP_DAC_READ_SEARCH (2) and CAP_LEASE (28), no new privileges, a
# seccomp filter.
check_confined() {
        local pid eff r=0
        hold 30 || { release; return 1; }
        poll is_active || { release; return 1; }
        pid=$(systemctl show -P MainPID "$svc")
        grep -E '^(Uid|Cap(Inh|Prm|Eff|Bnd|Amb)|NoNewPrivs|Seccomp|Seccomp_filters):' "/proc/$pid/status" \
                > "$tmp/proc-status" || r=1
        release
        cat "$tmp/proc-status"
        eff=$(sed -n 's/^CapEff:[[:space:]]*//p' "$tmp/proc-status")
        [ -n "$eff" ] && [ $((16#$eff & ~((1 << 2) | (1 << 28)))) = 0 ] || { echo "capabilities beyond the two"; r=1; }
        grep -qE '^NoNewPrivs:[[:space:]]+1$' "$tmp/proc-status" || r=1
        grep -qE '^Seccomp:[[:space:]]+2$' "$tmp/proc-status" || r=1
        return $r
}

# Fails when the unit was never loaded or started: systemctl reports any
# unknown unit as inactive with Result=success.
service_known() {
        [ "$(systemctl show -P LoadState "$svc")" = loaded ] || { echo "$svc is not loaded"; return 1; }
        [ "$(started_at)" != 0 ] || { echo "$svc never started"; return 1; }
}

check_idle_exit() {
        service_known || return 1
        wait_inactive || return 1
        systemctl show -p Result -p ExecMainStatus -p ExecMainCode "$svc"
        [ "$(systemctl show -P Result "$svc")" = success ] &&
                [ "$(systemctl show -P ExecMainStatus "$svc")" = 0 ]
}

check_reactivation() {
        local before after
        before=$(started_at)
        expect_client sealed-memfd tmpfs snapshot-fd /srv/data/blob || return 1
        after=$(started_at)
        echo "started at $before, then at $after"
        [ "$after" -gt "$before" ]
}

# ---- policy grants

check_refused_without_grant() {
        service_known || return 1
        ! as_user safe-mmap cat /srv/secret/blob > /dev/null || return 1
        expect_refused EACCES snapshot /srv/secret/blob
}

grant() {
        mkdir -p /etc/safe-mmap/policy.d
        printf '[Grant]\nPath=/srv/secret\nUsers=%s\n' "$user" > /etc/safe-mmap/policy.d/vm.conf
}

check_granted() {
        as_user safe-mmap cat --no-fallback /srv/secret/blob > "$tmp/cat" || return 1
        cmp /srv/secret/blob "$tmp/cat" || return 1
        expect_client sealed-memfd tmpfs snapshot /srv/secret/blob
}

# poll CHECK...: retries CHECK for a few seconds, for a daemon that handles
# a signal between two requests.
poll() {
        for _ in $(seq 15); do
                "$@" > "$tmp/poll" 2>&1 && return 0
                sleep 0.3
        done
        cat "$tmp/poll"
        return 1
}

# A running daemon drops a removed grant on SIGHUP.
check_sighup_revokes() {
        local r=0
        hold 60 || { release; return 1; }
        expect_client sealed-memfd tmpfs snapshot /srv/secret/blob || r=1
        rm /etc/safe-mmap/policy.d/vm.conf
        if [ $r = 0 ]; then
                systemctl kill --kill-whom=main --signal=SIGHUP "$svc" || r=1
        fi
        if [ $r = 0 ]; then
                poll expect_refused EACCES snapshot /srv/secret/blob || r=1
        fi
        release
        return $r
}

# An administrator adds a grant and reloads the unit (the daemon starts
# without the grant, whatever the check before left behind).
check_reload_grants() {
        local r=0
        rm -f /etc/safe-mmap/policy.d/vm.conf
        wait_inactive || return 1
        hold 60 || { release; return 1; }
        expect_refused EACCES snapshot /srv/secret/blob || r=1
        grant
        if [ $r = 0 ]; then
                systemctl reload "$svc" ||
                        { r=1; journalctl -b -u "$svc" -n 4 -o cat --no-pager; }
        fi
        if [ $r = 0 ]; then
                poll expect_client sealed-memfd tmpfs snapshot /srv/secret/blob || r=1
        fi
        release
        return $r
}

# safe-mmapd --check-policy reads the installed policy directory as a reload
# would; a file with a doubled key makes it fail with file:line.
check_policy_check() {
        local daemon out
        daemon=$(systemctl cat "$svc" | sed -n 's/^ExecStart=\([^ ]\+\).*/\1/p' | tail -n 1)
        grant
        out=$("$daemon" --check-policy 2>&1) || { echo "$out"; return 1; }
        grep -q '^vm.conf:1: tree /srv/secret ' <<< "$out" || { echo "$out"; return 1; }
        mkdir -p "$tmp/policy.d"
        printf '[Grant]\nPath=/srv/secret\nPath=/etc\nUsers=%s\n' "$user" > "$tmp/policy.d/bad.conf"
        chmod 0644 "$tmp/policy.d/bad.conf"
        ! out=$("$daemon" --check-policy "$tmp/policy.d" 2>&1) || { echo "$out"; return 1; }
        grep -q 'bad.conf:3: Path= given twice' <<< "$out" || { echo "$out"; return 1; }
}

# The example policy shipped with the daemon is valid as it stands, once the
# users, group and paths it names exist.
check_policy_example() {
        local daemon out dir=/usr/share/doc/safe-mmap/examples/policy.d
        daemon=$(systemctl cat "$svc" | sed -n 's/^ExecStart=\([^ ]\+\).*/\1/p' | tail -n 1)
        [ -r "$dir/50-app.conf" ] || { echo "no $dir/50-app.conf installed"; return 1; }
        getent group appreaders > /dev/null || groupadd appreaders
        id app > /dev/null 2>&1 || useradd --uid 1001 --no-create-home app
        id monitor > /dev/null 2>&1 || useradd --no-create-home monitor
        mkdir -p /srv/app/config /etc/app
        [ -e /etc/app/key.pub ] || echo key > /etc/app/key.pub
        out=$("$daemon" --check-policy "$dir" 2>&1) || { echo "$out"; return 1; }
        echo "$out"
        grep -q '^2 grant(s), 0 error(s)\.$' <<< "$out"
}

# systemctl stop sends SIGTERM: a clean exit, even with a client connected.
check_stop_clean() {
        hold 30 || { release; return 1; }
        poll is_active || { release; return 1; }
        systemctl stop "$svc"
        release
        systemctl show -p Result -p ExecMainCode -p ExecMainStatus "$svc"
        [ "$(systemctl show -P Result "$svc")" = success ] &&
                [ "$(systemctl show -P ExecMainStatus "$svc")" = 0 ]
}

# Without the socket, the library makes the snapshot itself unless told
# not to; the socket file is gone with the unit.
check_no_socket() {
        systemctl stop "$sock_unit" || return 1
        [ ! -e "$socket" ] || { echo "$socket left behind"; return 1; }
        ! as_user safe-mmap cat --no-fallback /srv/data/blob > /dev/null || return 1
        as_user safe-mmap cat /srv/data/blob > "$tmp/cat" || return 1
        cmp /srv/data/blob "$tmp/cat" || return 1
        systemctl start "$sock_unit" && [ -S "$socket" ]
}

# ---- journald and the unit's hardening

# A request the daemon cannot decode: logged as a warning.
send_junk() {
        as_user "$client" junk "$socket"
}

# "PRIORITY MESSAGE" for each line the daemon logged in this boot.
daemon_journal() {
        journalctl -b -u "$svc" _COMM=safe-mmapd -o json --output-fields=PRIORITY,MESSAGE --no-pager |
                awk '{
                        p = "?"; m = "";
                        if (match($0, /"PRIORITY":"[0-7]"/))
                                p = substr($0, RSTART + 12, 1);
                        if (match($0, /"MESSAGE":"([^"\\]|\\.)*"/))
                                m = substr($0, RSTART + 11, RLENGTH - 12);
                        print p, m;
                }'
}

check_journal() {
        journalctl --sync
        daemon_journal > "$tmp/journal"
        cat "$tmp/journal"
        # journald strips the "<N>" prefix it understood; one left in the
        # text means the daemon wrote it where journald does not look.
        ! grep -E '^. <[0-7]>' "$tmp/journal" || return 1
        grep -qE '^6 uid=[0-9]+ pid=[0-9]+: snapshot of [0-9]+ bytes of blob ' "$tmp/journal" ||
                { echo "no snapshot served through a grant at info"; return 1; }
        grep -qE '^6 No request for [0-9]+ s, exiting' "$tmp/journal" ||
                { echo "no idle exit at info"; return 1; }
        grep -qE '^4 uid=[0-9]+ pid=[0-9]+: bad request' "$tmp/journal" ||
                { echo "no bad request at warning"; return 1; }
        ! grep -E '^[0-3] ' "$tmp/journal" || { echo "errors logged"; return 1; }
}

show_security() {
        systemd-analyze security --no-pager "$svc"
}

# The units as installed, with the binary they name in place. The guest has
# no man-db, so the Documentation= pages are not looked up here.
check_units_verify() {
        systemd-analyze verify --man=no "$(systemctl show -P FragmentPath "$sock_unit")" \
                "$(systemctl show -P FragmentPath "$svc")" || return 1
}

# The exposure must not creep up: 1.2 when this was written.
check_security_exposure() {
        local level
        level=$(systemd-analyze security --no-pager "$svc" |
                sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
        echo "exposure $level"
        awk -v l="$level" 'BEGIN { exit !(l != "" && l <= 1.5) }'
}

# ---- fs-verity

check_verity_setup() {
        mkdir -p /srv/verity
        mount -t ext4 /dev/vda /srv/verity || return 1
        local f
        for f in large empty small; do
                fsverity enable "/srv/verity/$f.bin" || return 1
                fsverity measure "/srv/verity/$f.bin" || return 1
        done
        # The kernel now refuses writes to the file.
        ! sh -c 'echo x >> /srv/verity/small.bin' 2> /dev/null
}

check_tool_check() {
        as_user safe-mmap check /srv/verity/large.bin /srv/verity/empty.bin > "$tmp/out" || return 1
        cat "$tmp/out"
        grep -qx "/srv/verity/large.bin: fs-verity, $(stat -c %s /srv/verity/large.bin) bytes" "$tmp/out" &&
                grep -qx "/srv/verity/empty.bin: fs-verity, 0 bytes" "$tmp/out"
}

# The digest the library reads is the one fsverity-utils measures.
check_verity_digest() {
        local f want rc=0
        for f in large empty small; do
                want=$(fsverity measure "/srv/verity/$f.bin" | cut -d' ' -f1)
                as_user "$client" digest "/srv/verity/$f.bin" > "$tmp/out" 2> "$tmp/err" || rc=$?
                cat "$tmp/out" "$tmp/err"
                [ "$rc" = 0 ] || { echo "vm-client exited $rc"; return 1; }
                [ "$(cat "$tmp/out")" = "$want" ] || { echo "expected $want"; return 1; }
        done
}

# map-verity with the right digest maps the file itself; any other is refused.
check_verity_required() {
        local path=/srv/verity/large.bin want wrong rc=0
        want=$(fsverity measure "$path" | cut -d' ' -f1)
        as_user "$client" map-verity "$path" "$want" > "$tmp/out" 2> "$tmp/err" || rc=$?
        cat "$tmp/err"
        [ "$rc" = 0 ] || { echo "vm-client exited $rc with the right digest $want"; return 1; }
        grep -qx "vm-client: kind=fs-verity size=$(stat -c %s "$path") fs=ext4 ino=$(stat -c %i "$path")" "$tmp/err" &&
                grep -qx "vm-client: flags=as-given,consistent" "$tmp/err" && cmp "$path" "$tmp/out" || return 1
        # The same digest with its last hex digit changed.
        wrong=${want%?}$([ "${want: -1}" = 0 ] && echo 1 || echo 0)
        rc=0
        as_user "$client" map-verity "$path" "$wrong" > /dev/null 2> "$tmp/err" || rc=$?
        cat "$tmp/err"
        [ "$rc" = 1 ] && grep -qx "vm-client: error=EKEYREJECTED" "$tmp/err" || return 1
        # The right digest of another verity file is the wrong one for this.
        rc=0
        as_user "$client" map-verity "$path" "$(fsverity measure /srv/verity/small.bin | cut -d' ' -f1)" \
                > /dev/null 2> "$tmp/err" || rc=$?
        [ "$rc" = 1 ] && grep -qx "vm-client: error=EKEYREJECTED" "$tmp/err"
}

check_tool_digest() {
        local path=/srv/verity/large.bin want rc=0
        want=$(fsverity measure "$path" | cut -d' ' -f1)
        as_user safe-mmap check --digest "$want" "$path" > "$tmp/out" || return 1
        cat "$tmp/out"
        grep -qx "$path: fs-verity, $(stat -c %s "$path") bytes, digest $want" "$tmp/out" || return 1
        as_user safe-mmap check --digest "${want#sha256:}" "$path" > /dev/null || return 1
        as_user safe-mmap check --digest "$(fsverity measure /srv/verity/small.bin | cut -d' ' -f1)" "$path" \
                2> "$tmp/err" || rc=$?
        cat "$tmp/err"
        [ "$rc" = 1 ] && grep -qx "safe-mmap: $path: fs-verity digest differs" "$tmp/err"
}

# Zero copy: the snapshot calls map an fs-verity file as it is, and say so.
expect_as_given() {
        expect_client fs-verity ext4 "$1" "$2" || return 1
        grep -qx "vm-client: flags=as-given,consistent" "$tmp/err"
}

# The library maps an fs-verity file it can open as given; one it may not
# open is asked for by path, and under a grant the daemon hands back the
# file itself: kind fs-verity, the same inode, never a copy.
check_daemon_serves_verity() {
        local dir=/srv/verity/private r=0
        local path=$dir/secret.bin
        mkdir -p "$dir" && chmod 0700 "$dir" || return 1
        head -c 20000 /srv/verity/large.bin > "$path" && chmod 0600 "$path" || return 1
        fsverity enable "$path" || return 1
        if as_user cat "$path" > /dev/null 2>&1; then
                echo "$user can open $path itself"
                return 1
        fi
        printf '[Grant]\nPath=%s\nUsers=%s\n' "$dir" "$user" > /etc/safe-mmap/policy.d/vm-verity.conf
        # A fresh start loads the grant, with the mount in place.
        systemctl stop "$svc"
        poll expect_client fs-verity ext4 snapshot "$path" || r=1
        cat "$tmp/err"
        [ $r = 0 ] && grep -q "^vm-client: flags=made-by-daemon" "$tmp/err" || r=1
        rm -f /etc/safe-mmap/policy.d/vm-verity.conf
        return $r
}

check_tool_check_refused() {
        local rc=0
        as_user safe-mmap check /srv/verity/plain.bin || rc=$?
        echo "exit $rc"
        [ "$rc" = 1 ]
}

# ---- run them

make_data
socket=$(systemctl show -P Listen "$sock_unit" | sed -n 's/^\(\/[^ ]*\) (SequentialPacket)$/\1/p')
run "guest: systemd is PID 1, safe-mmap installed" check_guest
run "installed programs and library: ldd resolves every library" check_ldd
run "socket listening, service inactive before the first client" check_socket_idle
run "short --exit-idle through a drop-in" check_exit_idle
run "unprivileged safe-mmap cat activates the service" check_cat_activates
run "systemctl status shows the STATUS= line, safe-mmap status answers" check_status_line
run "daemon confined: two capabilities at most, no_new_privs, seccomp" check_confined
run "vm-client snapshot-fd: sealed memfd from the daemon" \
        expect_client sealed-memfd tmpfs snapshot-fd /srv/data/blob
run "vm-client snapshot by path: sealed memfd from the daemon" \
        expect_client sealed-memfd tmpfs snapshot /srv/data/blob
run "service exits after --exit-idle" check_idle_exit
run "the next client activates it again" check_reactivation
run "path request refused without a grant" check_refused_without_grant
run "service exits after --exit-idle" check_idle_exit
grant
run "path request served under a grant (fresh start)" check_granted
run "grant removed, SIGHUP: refused again" check_sighup_revokes
run "grant added, systemctl reload: served again" check_reload_grants
run "safe-mmapd --check-policy: the installed grant, a doubled key fails" check_policy_check
run "safe-mmapd --check-policy: the shipped example policy is valid" check_policy_example

run "installed library: sealed memfd accepted" check_memfd_accepted
run "installed library: unsealed memfd refused" expect_refused EBADFD memfd none
run "installed library: memfd without grow refused" expect_refused EBADFD memfd seal,shrink,write
run "installed library: future-write is not write" expect_refused EBADFD memfd future-write,shrink,grow

run "fs-verity enabled on the scratch disk" check_verity_setup
run "map-fd of an fs-verity file (6 MiB)" expect_client fs-verity ext4 map-fd /srv/verity/large.bin
run "map-fd of an fs-verity file (0 bytes)" expect_client fs-verity ext4 map-fd /srv/verity/empty.bin
run "map-fd of an fs-verity file as root" expect_client fs-verity ext4 map-fd /srv/verity/small.bin root
run "map-fd of the same file without fs-verity: EBADFD" expect_refused EBADFD map-fd /srv/verity/plain.bin
run "safe-mmap check: fs-verity with the right sizes" check_tool_check
run "safe-mmap check without fs-verity: exit 1" check_tool_check_refused
run "zero copy: snapshot-fd maps an fs-verity file as given (6 MiB)" \
        expect_as_given snapshot-fd /srv/verity/large.bin
run "zero copy: snapshot by path maps an fs-verity file as given (6 MiB)" \
        expect_as_given snapshot /srv/verity/large.bin
run "zero copy: snapshot by path of an empty fs-verity file" \
        expect_as_given snapshot /srv/verity/empty.bin
run "daemon copies the file without fs-verity" \
        expect_client sealed-memfd tmpfs snapshot /srv/verity/plain.bin
run "daemon serves an fs-verity file it may open and the user may not, as itself" \
        check_daemon_serves_verity
run "fs-verity digest: what fsverity measure says" check_verity_digest
run "fs-verity digest of a sealed memfd: ENODATA" expect_refused ENODATA memfd-digest 4096
run "fs-verity digest required: right one maps, wrong ones EKEYREJECTED" check_verity_required
run "map-verity of the file without fs-verity: EBADFD" \
        expect_refused_args EBADFD map-verity /srv/verity/plain.bin \
        sha256:0000000000000000000000000000000000000000000000000000000000000000
run "safe-mmap check --digest: right digest passes, wrong one exits 1" check_tool_digest

run "service exits after --exit-idle" check_idle_exit
run "an undecodable request is answered and dropped" send_junk
run "systemctl stop: clean exit with a client connected" check_stop_clean
run "socket stopped: local snapshot, --no-fallback refused" check_no_socket
run "journald has the daemon's lines at their priorities" check_journal
run "systemd-analyze verify passes on the installed units" check_units_verify
run "systemd-analyze security: exposure at most 1.5" check_security_exposure
info "systemd-analyze security $svc" show_security

umount /srv/verity 2> /dev/null
echo "vm: checks end at $(cut -d' ' -f1 /proc/uptime)s of uptime"
echo "vm: $passed checks passed, $failed failed"
rm -rf "$tmp"
rc=0
[ "$failed" = 0 ] || rc=1
echo "SAFE-MMAP-VM-RESULT=$rc"
exit 0
