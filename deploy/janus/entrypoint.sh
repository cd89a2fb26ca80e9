#!/bin/sh
# Render Préau's Janus templates (*.jcfg.in) with the environment, then run Janus.
#   JANUS_SECRET        required: same value as Préau's PREAU_JANUS_ADMIN_SECRET
#   JANUS_PUBLIC_IP     the address clients reach for media (nat_1_1_mapping)
#   JANUS_INTERFACE     interface ICE gathers on (default eth0)
#   JANUS_RTP_PORTS     UDP media ports (default 20000-20199, published by compose)
#   JANUS_HTTP_PORT     the API's port (default 8088; reachable by Préau only)
# (JANUS_TEMPLATES and JANUS_CONFIG_OUT move the directories, for the tests.)
set -eu
: "${JANUS_SECRET:?set JANUS_SECRET}"
templates=${JANUS_TEMPLATES:-/etc/preau-janus}
out=${JANUS_CONFIG_OUT:-/tmp/janus-config}
mkdir -p "$out"
extra=""
if [ -n "${JANUS_PUBLIC_IP:-}" ]; then
    extra="nat_1_1_mapping = \"$JANUS_PUBLIC_IP\""
fi
for template in "$templates"/*.jcfg.in; do
    sed -e "s|@CONFIG_DIR@|$out|g" \
        -e "s|@SECRET@|$JANUS_SECRET|g" \
        -e "s|@ICE_INTERFACES@|${JANUS_INTERFACE:-eth0}|g" \
        -e "s|@NAT_EXTRA@|$extra|g" \
        -e "s|@RTP_PORTS@|${JANUS_RTP_PORTS:-20000-20199}|g" \
        -e "s|@HTTP_PORT@|${JANUS_HTTP_PORT:-8088}|g" \
        -e "s|@HTTP_IP@|0.0.0.0|g" \
        "$template" > "$out/$(basename "$template" .in)"
done
exec janus -F "$out" -C "$out/janus.jcfg"
