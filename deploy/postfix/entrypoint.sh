#!/bin/sh
# Postfix in a container in front of dlp-proxy: Debian's configuration plus deploy/postfix/main.cf
# and master.cf exactly as shipped (docs/postfix.md), then the few values that differ in a
# container, from the environment. Rebuilt from those sources at every start; then runs "$@".
set -eu

conf=${POSTFIX_CONFIG_DIR:-/etc/postfix}
snippets=${POSTFIX_SNIPPETS:-/usr/local/share/dlp-proxy/postfix}
base_master=${POSTFIX_BASE_MASTER:-/usr/share/postfix/master.cf.dist}

fail() {
    echo "postfix-entrypoint: $*" >&2
    exit 1
}

: "${POSTFIX_MYHOSTNAME:?the name Postfix greets with, e.g. mail.example.co.jp}"
: "${POSTFIX_MYNETWORKS:?the networks that may send mail through Postfix}"
: "${POSTFIX_CONTENT_FILTER:?the dlp-proxy transport, e.g. dlpfilter:[dlp-proxy]:10025}"
: "${POSTFIX_REINJECTION:?the listener dlp-proxy delivers to, e.g. 10026 (all interfaces)}"
: "${POSTFIX_PROXY_NETWORKS:?the networks of the dlp-proxy nodes (the only reinjection clients)}"
: "${POSTFIX_RELAYHOST:?where Postfix delivers, e.g. [smtp.example.net]:25}"

# The shipped snippets name loopback addresses; in a container the proxy is another host.
shipped_filter="dlpfilter:[127.0.0.1]:10025"
shipped_listener="127.0.0.1:10026"
shipped_listener_re='127\.0\.0\.1:10026'
grep -Fqx "content_filter = $shipped_filter" "$snippets/main.cf" ||
    fail "$snippets/main.cf: no 'content_filter = $shipped_filter' line"
[ "$(grep -c "^$shipped_listener_re " "$snippets/master.cf")" = 1 ] ||
    fail "$snippets/master.cf: no single '$shipped_listener' service"

mkdir -p "$conf"
cp "$snippets/main.cf" "$conf/main.cf"
{
    cat "$base_master"
    echo
    sed "s/^$shipped_listener_re /$POSTFIX_REINJECTION /" "$snippets/master.cf"
} >"$conf/master.cf"

postconf -c "$conf" -e \
    "compatibility_level = 3.6" \
    "maillog_file = /dev/stdout" \
    "myhostname = $POSTFIX_MYHOSTNAME" \
    "inet_protocols = ipv4" \
    "mynetworks = $POSTFIX_MYNETWORKS" \
    "mydestination =" \
    "local_recipient_maps =" \
    "alias_maps =" \
    "alias_database =" \
    "relayhost = $POSTFIX_RELAYHOST" \
    "content_filter = $POSTFIX_CONTENT_FILTER"

# No chroot: a chrooted daemon would need copies of /etc/hosts and /etc/resolv.conf, which
# Docker writes into the container at start.
postconf -c "$conf" -F '*/*/chroot = n'

# The reinjection accepts mail (and XFORWARD) from the proxy nodes only. A master.cf -o value
# cannot hold spaces: the list is written with commas.
proxies=$(echo "$POSTFIX_PROXY_NETWORKS" | tr -s ', \t' ',' | sed 's/^,//; s/,$//')
reinjection="$POSTFIX_REINJECTION/inet"
postconf -c "$conf" -P \
    "$reinjection/mynetworks=$proxies" \
    "$reinjection/smtpd_authorized_xforward_hosts=$proxies"

exec "$@"
