#!/usr/bin/env bash
# Installs the .deb that `make package` built on this machine and runs the agent the way its
# unit does (`csetd agent -config /etc/cset/agent.yaml` as user cset, state in /var/lib/cset
# 0700), as a one-master set on loopback, then checks `csetctl status` and removes the package.
# Where systemd is PID 1 it starts the unit itself; elsewhere (a CI container) it runs the
# unit's ExecStart under the unit's user. Run by .ci/run after `make package`; needs root.
set -euo pipefail
cd "$(dirname "$0")/.."
arch=$(dpkg --print-architecture)
deb=$(ls dist/cset_*_"$arch".deb)
echo "installing $deb"
dpkg -i "$deb"
trap 'dpkg -r cset >/dev/null 2>&1 || true' EXIT

for f in /usr/bin/csetd /usr/bin/csetctl /lib/systemd/system/cset-agent.service /lib/systemd/system/cset-witness.service \
  /lib/systemd/system/cset-guard.service /etc/cset/agent.yaml /usr/share/man/man1/csetctl.1 \
  /usr/share/bash-completion/completions/csetctl /usr/share/doc/cset/deployment.md; do
  [ -e "$f" ] || { echo "the package lacks $f" >&2; exit 1; }
done
id cset >/dev/null || { echo "the package did not create the cset user" >&2; exit 1; }
[ "$(stat -c '%U:%G %a' /etc/cset/agent.yaml)" = "root:cset 640" ] || { echo "/etc/cset/agent.yaml: $(stat -c '%U:%G %a' /etc/cset/agent.yaml), want root:cset 640" >&2; exit 1; }
csetd version

# A one-master set on loopback: bootstrap once, DNS on an unprivileged port.
extra="-bootstrap -node-id pkgtest -grpc-addr 127.0.0.1:7100 -raft-addr 127.0.0.1:7101 -dns-addr 127.0.0.1:8653 -http-addr 127.0.0.1:7180 -ready-file /var/lib/cset/ready.json"
if [ -d /run/systemd/system ]; then
  mkdir -p /etc/systemd/system/cset-agent.service.d
  printf '[Service]\nExecStart=\nExecStart=/usr/bin/csetd agent -config /etc/cset/agent.yaml %s\n' "$extra" >/etc/systemd/system/cset-agent.service.d/test.conf
  systemctl daemon-reload
  systemctl start cset-agent.service
  stop() { systemctl stop cset-agent.service; rm -rf /etc/systemd/system/cset-agent.service.d; systemctl daemon-reload; }
else
  # The unit's StateDirectory, then its ExecStart as its User.
  install -d -o cset -g cset -m 0700 /var/lib/cset
  exec_start=$(sed -n 's/^ExecStart=//p' /lib/systemd/system/cset-agent.service)
  user=$(sed -n 's/^User=//p' /lib/systemd/system/cset-agent.service)
  # shellcheck disable=SC2086
  setpriv --reuid "$user" --regid "$user" --init-groups --no-new-privs $exec_start $extra >/tmp/cset-agent-pkgtest.log 2>&1 &
  pid=$!
  stop() { kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; }
fi
ok=""
for _ in $(seq 1 100); do
  if csetctl --addr 127.0.0.1:7100 --timeout 2s status >/tmp/cset-pkgtest-status.txt 2>&1 && grep -q "^leader: *pkgtest" /tmp/cset-pkgtest-status.txt && grep -q "^brake: *off" /tmp/cset-pkgtest-status.txt; then
    ok=1
    break
  fi
  sleep 0.2
done
stop
if [ -z "$ok" ]; then
  echo "csetctl status never showed a leader" >&2
  cat /tmp/cset-pkgtest-status.txt /tmp/cset-agent-pkgtest.log 2>/dev/null >&2 || true
  exit 1
fi
cat /tmp/cset-pkgtest-status.txt
[ "$(stat -c '%U %a' /var/lib/cset)" = "cset 700" ] || { echo "/var/lib/cset: $(stat -c '%U %a' /var/lib/cset), want cset 700" >&2; exit 1; }
echo "package install test passed"
