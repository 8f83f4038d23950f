#!/bin/sh
# Controlling and observing a container: freeze and thaw, wait for its
# members to exit with poll(2) on `events`, kill its members, read its
# cgroup's statistics, give it clock offsets, delegate it to a user.
# Run as root with containerfs mounted at /containers (or
# CONTAINERS=/other/mount sh examples/control.sh).
set -eu
C=${CONTAINERS:-/containers}

set -x
mkdir "$C/batch"
sleep 1000 &
worker=$!
echo "$worker" > "$C/batch/tasks"
cat "$C/batch/events"                 # populated 1, frozen 0

# Freeze: returns once the whole container is frozen.
echo 1 > "$C/batch/freeze"
cat "$C/batch/events"                 # frozen 1
grep State "/proc/$worker/status"
echo 0 > "$C/batch/freeze"

# Waiting for the members to be gone: inotify does not work through FUSE;
# poll(2) on events does (it wakes on every change of cgroup.events).
python3 - "$C/batch/events" <<'PY' &
import os, select, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
os.read(fd, 100)
p = select.poll(); p.register(fd, select.POLLPRI)
while True:
    p.poll(10000)
    os.lseek(fd, 0, 0)
    text = os.read(fd, 100).decode()
    if "populated 0" in text:
        print("batch is empty"); break
PY
waiter=$!
sleep 0.2
echo 1 > "$C/batch/kill"              # every member; the init stays
wait "$waiter"
wait "$worker" 2>/dev/null || true

# The cgroup's statistics and controller files.
head -3 "$C/batch/cpu.stat"
ls "$C/batch" | grep '\.' || true     # memory.max, pids.max, ... where enabled

rmdir "$C/batch"

# Clock offsets need a time namespace of the container's own.
mkdir "$C/clock"
touch "$C/clock/time"
echo "boottime 86400 0" > "$C/clock/timens_offsets"
cat "$C/clock/timens_offsets"
rmdir "$C/clock"

# Delegation: user 1000 may create, enter and remove containers below
# `team` (mount with -o allow_other for users to reach the tree).
if grep -q "$C .*allow_other" /proc/mounts; then
  mkdir "$C/team"
  chown -R 1000:1000 "$C/team"
  setpriv --reuid=1000 --regid=1000 --clear-groups sh -c "
    mkdir $C/team/app
    sleep 100 & echo \$! > $C/team/app/tasks
    cat $C/team/app/tasks
    kill \$!
    rmdir $C/team/app"
  rmdir "$C/team"
fi
