#!/bin/sh
# A "pod" with containerfs: two containers, web and sidecar, that share one
# network namespace (and so one loopback), each with its own pid, UTS, IPC,
# mount and cgroup namespaces. Run as root with containerfs mounted at
# /containers (or CONTAINERS=/other/mount sh examples/pod.sh).
#
# Shown: mkdir, rm + ln -s to share a namespace, nsenter on a namespace
# file, `echo $$ > tasks` to enter a container, cat tasks, rmdir.
set -eu
C=${CONTAINERS:-/containers}
www=$(mktemp -d)
trap 'rm -rf "$www"' EXIT
echo "hello from web" > "$www/index.html"

set -x
mkdir "$C/web" "$C/sidecar"

# sidecar gives up its own network namespace (rm: inherit the parent's) and
# links web's instead: from now on they share it.
rm "$C/sidecar/network"
ln -s ../web/network "$C/sidecar/network"
readlink "$C/web/network" "$C/sidecar/network"

# nsenter takes the namespace files as they are.
nsenter --net="$C/web/network" ip link set lo up
nsenter --net="$C/sidecar/network" ip -brief addr show lo

# A server in web: the shell enters the container (cgroup and namespaces),
# then becomes the server. Entering a mount namespace resets the working
# directory and root to the container's /, so the paths below are absolute.
sh -c 'echo $$ > "$1/web/tasks" && exec busybox httpd -f -p 127.0.0.1:8080 -h "$2"' \
  sh "$C" "$www" &
server=$!

# A client in sidecar reaches it over the shared loopback.
for _ in 1 2 3 4 5 6 7 8 9 10; do
  sh -c 'echo $$ > "$1/sidecar/tasks" && exec busybox wget -q -O - http://127.0.0.1:8080/ 2>/dev/null' \
    sh "$C" && break
  sleep 0.2
done

cat "$C/web/tasks"               # the server, as this shell's pid namespace sees it
cat "$C/web/hostname" "$C/sidecar/hostname"
nsenter --uts="$C/sidecar/uts" hostname

# Tear down: web cannot go while sidecar shares its network namespace.
rmdir "$C/web" || true           # EBUSY
rmdir "$C/sidecar"
rmdir "$C/web"                   # kills the server with the container
wait "$server" || true
