#!/bin/sh
# Answers each line the boot test writes on the diagnostics port (docs/image.md):
#   status   one line: unit=<ActiveState> pid=<MainPID> rss_kb=<VmRSS> hwm_kb=<VmHWM>
#            uptime_s=<s> active_at_us=<when the unit's service became active>
#   analyze  systemd-analyze's time, the unit's critical chain and the 25 slowest units
#            (blame), where the CPU time went (/proc/stat's CPU line since boot; PID 1,
#            udevd, journald and the unit: own and reaped children's user+system
#            seconds), then a line "end-of-analysis"
# Exits at end of file (the host closed its side); systemd restarts it.
set -eu
port=$1
exec 3<>"$port"
while read -r request <&3; do
    if [ "$request" = analyze ]; then
        {
            systemd-analyze time || true
            systemd-analyze critical-chain --no-pager opentla-unit.service || true
            systemd-analyze blame --no-pager | head -n 25 || true
            echo "uptime_s=$(cut -d' ' -f1 /proc/uptime) $(head -n 1 /proc/stat)"
            # comm is field 2; utime stime cutime cstime are fields 14-17 (clock ticks)
            awk '$2 ~ /^\((systemd|systemd-udevd|systemd-journal|tla-unit)\)$/ {
                printf "cpu %s pid=%s own_s=%.2f children_s=%.2f\n", $2, $1,
                    ($14 + $15) / 100, ($16 + $17) / 100 }' /proc/[0-9]*/stat 2>/dev/null || true
            echo end-of-analysis
        } >&3 2>&1
        continue
    fi
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
