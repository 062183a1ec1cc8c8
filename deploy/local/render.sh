#!/bin/sh
# Renders the HAProxy and nginx configurations of the local topology from their templates, and makes the
# CDN's self-signed certificate. Used by scripts/stack (loopback, random ports) and by docker-compose.yml
# (service names, fixed ports), so both describe the same topology. POSIX sh + sed + openssl only.
#
#   render.sh config OUT_DIR     # writes OUT_DIR/haproxy.cfg and OUT_DIR/nginx.conf from the variables below
#   render.sh cert CERT_DIR      # writes CERT_DIR/cdn.crt and CERT_DIR/cdn.key unless they exist
#
# Variables (all required for `config`): APP1_ADDR APP2_ADDR APP3_ADDR (host:port of the instances),
# ALB_BIND ALB_ADDR STATS_BIND CDN_HTTP_BIND CDN_HTTPS_BIND CDN_HTTPS_PORT, ORIGIN_SECRET (letters and
# digits), STATE_DIR LOG_DIR CERT_DIR, CHECK_INTER CHECK_RISE CHECK_FALL (health checks: 1s, 2, 3).
set -eu
here=$(cd "$(dirname "$0")" && pwd)

render() { # TEMPLATE OUT
    sed -e "s|@APP1_ADDR@|$APP1_ADDR|g" -e "s|@APP2_ADDR@|$APP2_ADDR|g" -e "s|@APP3_ADDR@|$APP3_ADDR|g" \
        -e "s|@ALB_BIND@|$ALB_BIND|g" -e "s|@ALB_ADDR@|$ALB_ADDR|g" -e "s|@STATS_BIND@|$STATS_BIND|g" \
        -e "s|@CDN_HTTP_BIND@|$CDN_HTTP_BIND|g" -e "s|@CDN_HTTPS_BIND@|$CDN_HTTPS_BIND|g" \
        -e "s|@CDN_HTTPS_PORT@|$CDN_HTTPS_PORT|g" -e "s|@ORIGIN_SECRET@|$ORIGIN_SECRET|g" \
        -e "s|@STATE_DIR@|$STATE_DIR|g" -e "s|@LOG_DIR@|$LOG_DIR|g" -e "s|@CERT_DIR@|$CERT_DIR|g" \
        -e "s|@CHECK_INTER@|$CHECK_INTER|g" -e "s|@CHECK_RISE@|$CHECK_RISE|g" -e "s|@CHECK_FALL@|$CHECK_FALL|g" \
        "$1" >"$2.tmp"
    if grep -n '@[A-Z0-9_]*@' "$2.tmp" | grep -v '^[0-9]*:#' >&2; then
        echo "render.sh: placeholders left unreplaced in $2" >&2
        exit 1
    fi
    mv "$2.tmp" "$2"
}

case "${1:-}" in
config)
    out="${2:?usage: render.sh config OUT_DIR}"
    case "$ORIGIN_SECRET" in *[!A-Za-z0-9]* | '') echo "render.sh: ORIGIN_SECRET must be letters and digits" >&2; exit 1 ;; esac
    mkdir -p "$out"
    render "$here/haproxy.cfg.template" "$out/haproxy.cfg"
    render "$here/nginx.conf.template" "$out/nginx.conf"
    ;;
cert)
    dir="${2:?usage: render.sh cert CERT_DIR}"
    mkdir -p "$dir"
    if [ ! -s "$dir/cdn.crt" ] || [ ! -s "$dir/cdn.key" ]; then
        # A subjectAltName is what clients check (rustls, browsers, Python's ssl); the CN alone is not enough.
        openssl req -x509 -newkey rsa:2048 -nodes -days 7 -subj "/CN=localhost" \
            -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
            -keyout "$dir/cdn.key" -out "$dir/cdn.crt" 2>/dev/null
        chmod 600 "$dir/cdn.key"
    fi
    ;;
*)
    echo "usage: render.sh config OUT_DIR | cert CERT_DIR" >&2
    exit 2
    ;;
esac
