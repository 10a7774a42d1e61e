#!/bin/sh
# Start Alertmanager with webhook URLs substituted from the environment.
#
# Alertmanager does not expand environment variables in its config, and 0.25
# has no url_file for webhook_configs nor webhook_url_file for discord_configs.
# This script copies the mounted config, replaces the placeholder URLs with
#   ALERT_WEBHOOK_URL   (or the content of the file $ALERT_WEBHOOK_URL_FILE)
#   DISCORD_WEBHOOK_URL (or the content of the file $DISCORD_WEBHOOK_URL_FILE)
#   HEARTBEAT_URL       (or the content of the file $HEARTBEAT_URL_FILE)
# and execs Alertmanager on the copy with any arguments given to this script.
set -eu

SRC=${ALERTMANAGER_CONFIG_TEMPLATE:-/etc/alertmanager/alertmanager.yml}
# The copy goes to a writable directory together with templates/, because
# Alertmanager resolves the relative `templates/*.tmpl` against the config's
# directory.
DST_DIR=${ALERTMANAGER_CONFIG_DIR:-/tmp/alertmanager-config}
DST=$DST_DIR/alertmanager.yml
BIN=${ALERTMANAGER_BIN:-/bin/alertmanager}

WEBHOOK_PLACEHOLDER='http://alert-webhook.invalid/alerts'
DISCORD_PLACEHOLDER='https://discord.invalid/api/webhooks/replace-me'
HEARTBEAT_PLACEHOLDER='http://heartbeat.invalid/ping'

value() {
	# $1: variable name; prints its value or the first line of the file named by ${1}_FILE
	eval "v=\${$1:-}"
	eval "f=\${$1_FILE:-}"
	if [ -z "$v" ] && [ -n "$f" ] && [ -r "$f" ]; then
		v=$(head -n 1 "$f")
	fi
	printf '%s' "$v"
}

escape() {
	# escape for the replacement side of sed s|...|...|
	printf '%s' "$1" | sed -e 's/[\\&|]/\\&/g'
}

webhook=$(value ALERT_WEBHOOK_URL)
discord=$(value DISCORD_WEBHOOK_URL)
heartbeat=$(value HEARTBEAT_URL)

mkdir -p "$DST_DIR"
cp "$SRC" "$DST"
if [ -d "$(dirname "$SRC")/templates" ]; then
	rm -rf "$DST_DIR/templates"
	cp -R "$(dirname "$SRC")/templates" "$DST_DIR/templates"
fi
if [ -n "$webhook" ]; then
	sed -i "s|$WEBHOOK_PLACEHOLDER|$(escape "$webhook")|g" "$DST"
fi
if [ -n "$discord" ]; then
	sed -i "s|$DISCORD_PLACEHOLDER|$(escape "$discord")|g" "$DST"
fi
if [ -n "$heartbeat" ]; then
	sed -i "s|$HEARTBEAT_PLACEHOLDER|$(escape "$heartbeat")|g" "$DST"
fi

exec "$BIN" --config.file="$DST" "$@"
