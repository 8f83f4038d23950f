#!/bin/sh
# A small system in two containers, with file operations alone: a busybox
# root file system for each (`ln -s DIR C/root`), a veth pair between their
# network namespaces (nsenter on the `network` file), busybox httpd started
# in one through `run` and a page fetched from the other, both consoles
# shown (`cat C/console`), and a memory limit where the memory controller
# is in cgroup v2. Run as root with containerfs mounted at /containers (or
# CONTAINERS=/other/mount sh examples/system.sh). Needs busybox-static and
# iproute2; leaves nothing behind.
set -eu
C=${CONTAINERS:-/containers}
busybox=$(command -v busybox) || { echo "system.sh: busybox-static is needed" >&2; exit 1; }
work=$(mktemp -d /tmp/containerfs-system.XXXXXX)
chmod 755 "$work"

cleanup() {
  # rmdir kills what runs inside; the veth pair goes with the namespaces.
  for c in web client; do
    if [ -d "$C/$c" ]; then rmdir "$C/$c" || true; fi
  done
  rm -rf "$work"
}
trap cleanup EXIT

# A root file system: busybox and a link per applet, /etc, /www.
make_root() {
  mkdir -p "$1/bin" "$1/etc" "$1/tmp" "$1/www"
  cp "$busybox" "$1/bin/busybox"
  for applet in $("$busybox" --list); do
    [ "$applet" = busybox ] || ln -s busybox "$1/bin/$applet"
  done
  echo "root:x:0:0:root:/:/bin/sh" > "$1/etc/passwd"
  echo "root:x:0:" > "$1/etc/group"
}

# Waits (10 s at most) until the console of container $1 shows $2.
wait_console() {
  for _ in $(seq 100); do
    grep -q "$2" "$C/$1/console" && return 0
    sleep 0.1
  done
  echo "system.sh: no '$2' on the console of $1:" >&2
  cat "$C/$1/console" >&2
  return 1
}

make_root "$work/web"
make_root "$work/client"
echo "<h1>hello from web</h1>" > "$work/web/www/index.html"

set -x
mkdir "$C/web" "$C/client"
ln -s "$work/web" "$C/web/root"
ln -s "$work/client" "$C/client/root"
readlink "$C/web/root"
cat "$C/web/devices"             # its own /dev: null zero full random urandom tty console ptmx pts

# A memory limit, where memory is a cgroup v2 controller (on hybrid hosts
# it may be in cgroup v1 only).
if [ -e "$C/web/memory.max" ]; then
  echo 64M > "$C/web/memory.max"
  cat "$C/web/memory.max"
else
  echo "no memory.max here: the memory controller is not in cgroup v2 on this host"
fi

# A veth pair: eth0 in web's network namespace, its peer eth0 in client's
# (named by client's init, a pid of this pid namespace).
nsenter --net="$C/web/network" ip link add eth0 type veth peer name eth0 netns "$(cat "$C/client/init")"

# Programs inside: each line written to `run` starts /bin/sh -c LINE in
# the container, on its console, a child of its init.
echo 'ip link set lo up && ip addr add 10.0.0.1/24 dev eth0 && ip link set eth0 up && echo web-net-up' > "$C/web/run"
echo 'ip link set lo up && ip addr add 10.0.0.2/24 dev eth0 && ip link set eth0 up && echo client-net-up' > "$C/client/run"
wait_console web web-net-up
wait_console client client-net-up
echo 'echo httpd-starting; exec httpd -f -p 80 -h /www' > "$C/web/run"
wait_console web httpd-starting
cat "$C/web/tasks"               # its sh, now httpd: a member, child of web's init

# The page, fetched from client (retried while httpd starts listening).
echo 'for i in 1 2 3 4 5 6 7 8 9 10; do wget -q -O - http://10.0.0.1/ && break; sleep 0.2; done; echo fetched' > "$C/client/run"
wait_console client fetched

# The consoles: what the programs wrote (kept by each init, 64 KiB).
cat "$C/web/console"
cat "$C/client/console"
grep -q "hello from web" "$C/client/console"
set +x
echo "system.sh: the page went from web to client"
