#!/bin/sh
# ip netns on a container: a namespace file is a symbolic link that opens
# the real namespace, so it can stand in /run/netns like any named netns.
# Run as root with containerfs mounted at /containers (or set CONTAINERS).
set -eu
C=${CONTAINERS:-/containers}

set -x
mkdir "$C/web"
mkdir -p /run/netns
ln -s "$C/web/network" /run/netns/web
ip netns exec web ip link

# Give web a veth pair: one end stays here (web0), the other becomes eth0
# inside the container.
ip link add web0 type veth peer name eth0 netns web
ip -n web link set eth0 up
ip -n web -brief link
nsenter --net="$C/web/network" ip -brief link show eth0   # the same namespace

# Clean up: deleting web0 deletes its peer too; the link in /run/netns is
# ours to remove; rmdir ends the container and its namespaces.
ip link del web0
rm /run/netns/web
rmdir "$C/web"
