#!/bin/sh
# Creates the cset system user the units run as, and the configuration directory's owner.
set -e
if ! getent group cset >/dev/null; then
  groupadd --system cset
fi
if ! getent passwd cset >/dev/null; then
  useradd --system --gid cset --home-dir /var/lib/cset --no-create-home --shell /usr/sbin/nologin --comment "cset cluster set" cset
fi
chown root:cset /etc/cset
chmod 0750 /etc/cset
chown root:cset /etc/cset/agent.yaml
chmod 0640 /etc/cset/agent.yaml
if [ -d /run/systemd/system ]; then
  systemctl daemon-reload >/dev/null 2>&1 || true
fi
exit 0
