#!/bin/sh
# Answers each line the boot test writes on the diagnostics port with one line:
#   unit=<ActiveState> pid=<MainPID> rss_kb=<VmRSS> hwm_kb=<VmHWM> uptime_s=<s> boot=<...>
# (docs/image.md). Exits at end of file (the host closed its side); systemd restarts it.
set -eu
port=$1
exec 3<>"$port"
while read -r _ <&3; do
    state=$(systemctl show -p ActiveState --value opentla-unit.service)
    pid=$(systemctl show -p MainPID --value opentla-unit.service)
    rss=0
    hwm=0
    if [ "$pid" != 0 ] && [ -r "/proc/$pid/status" ]; then
        rss=$(sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$pid/status")
        hwm=$(sed -n 's/^VmHWM:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$pid/status")
    fi
    up=$(cut -d' ' -f1 /proc/uptime)
    ready=$(systemctl show -p ActiveEnterTimestampMonotonic --value opentla-unit.service)
    echo "unit=$state pid=$pid rss_kb=$rss hwm_kb=$hwm uptime_s=$up active_at_us=$ready" >&3
done
