#!/usr/bin/env bash
# Entrypoint of onehost-base/postgres, the local stand-in for the official postgres:17
# image. It keeps that image's contract (docker-library/postgres), so one compose file
# works with either:
#   POSTGRES_PASSWORD or POSTGRES_PASSWORD_FILE  required: the superuser's password
#   POSTGRES_USER or POSTGRES_USER_FILE          superuser name (default: postgres)
#   POSTGRES_DB or POSTGRES_DB_FILE              database made on first start (default: the user)
#   POSTGRES_INITDB_ARGS                         extra initdb arguments
#   PGDATA                                       data directory (default: /var/lib/postgresql/data)
#   /docker-entrypoint-initdb.d/*.sh, *.sql      run once, after the database is made
# Arguments that start with neither "postgres" nor "-" are run as given.
set -Eeuo pipefail

# die LINE...: print the lines as one error message and exit.
die() {
	printf 'error: %s\n' "$1" >&2
	shift
	if [ "$#" -gt 0 ]; then
		printf '       %s\n' "$@" >&2
	fi
	exit 1
}

log() {
	printf 'entrypoint: %s\n' "$*"
}

# file_env VAR [DEFAULT]: export VAR from $VAR, or from the file named by $VAR_FILE.
file_env() {
	local var="$1" default="${2:-}"
	local file_var="${var}_FILE"
	local value="$default"
	if [ -n "${!var:-}" ] && [ -n "${!file_var:-}" ]; then
		die "both $var and $file_var are set; they are exclusive"
	fi
	if [ -n "${!var:-}" ]; then
		value="${!var}"
	elif [ -n "${!file_var:-}" ]; then
		[ -r "${!file_var}" ] || die "$file_var names ${!file_var}, which cannot be read"
		value="$(<"${!file_var}")"
	fi
	export "$var"="$value"
	unset "$file_var"
}

setup_env() {
	file_env POSTGRES_PASSWORD
	file_env POSTGRES_USER postgres
	file_env POSTGRES_DB "$POSTGRES_USER"
	export PGDATA="${PGDATA:-/var/lib/postgresql/data}"
	export POSTGRES_INITDB_ARGS="${POSTGRES_INITDB_ARGS:-}"
}

require_password() {
	if [ -z "$POSTGRES_PASSWORD" ]; then
		die "no superuser password: set POSTGRES_PASSWORD, or POSTGRES_PASSWORD_FILE to a file holding it." \
			"The server would otherwise accept no password logins over the network, so it does not start."
	fi
}

is_root() {
	[ "$(id -u)" = 0 ]
}

create_directories() {
	mkdir -p "$PGDATA" /var/run/postgresql
	chmod 0700 "$PGDATA" || :
	chmod 03775 /var/run/postgresql || :
	if is_root; then
		find "$PGDATA" \! -user postgres -exec chown postgres:postgres '{}' +
		find /var/run/postgresql \! -user postgres -exec chown postgres:postgres '{}' +
	fi
}

# Run this script again as the postgres user (util-linux setpriv; no gosu needed).
drop_privileges() {
	export HOME=/var/lib/postgresql
	exec setpriv --reuid=postgres --regid=postgres --init-groups -- "${BASH_SOURCE[0]}" "$@"
}

is_initialized() {
	[ -s "$PGDATA/PG_VERSION" ]
}

# Password from a file descriptor, never on the command line; scram-sha-256 for
# network connections, trust on the container's own unix socket (as the official image).
init_cluster() {
	local -a extra_args=()
	read -r -a extra_args <<<"$POSTGRES_INITDB_ARGS"
	initdb --username="$POSTGRES_USER" --pwfile=<(printf '%s\n' "$POSTGRES_PASSWORD") \
		--auth-local=trust --auth-host=scram-sha-256 "${extra_args[@]}"
	printf '\n# onehost-base/postgres: password logins from any address\nhost all all all scram-sha-256\n' \
		>>"$PGDATA/pg_hba.conf"
}

psql_local() {
	psql -v ON_ERROR_STOP=1 --no-psqlrc --no-password --username "$POSTGRES_USER" "$@"
}

# A server on the unix socket only, so nothing can connect over the network until
# the database exists.
start_temporary_server() {
	pg_ctl -D "$PGDATA" -o "-c listen_addresses='' -p 5432" -w start
}

stop_temporary_server() {
	pg_ctl -D "$PGDATA" -m fast -w stop
}

create_database() {
	local exists
	exists="$(psql_local --dbname postgres --tuples-only --no-align --set db="$POSTGRES_DB" \
		<<<"SELECT 1 FROM pg_database WHERE datname = :'db';")"
	if [ -z "$exists" ]; then
		psql_local --dbname postgres --set db="$POSTGRES_DB" <<<'CREATE DATABASE :"db";'
	fi
}

run_init_files() {
	local file
	for file in /docker-entrypoint-initdb.d/*; do
		case "$file" in
		*.sh)
			log "running $file"
			if [ -x "$file" ]; then
				"$file"
			else
				# shellcheck disable=SC1090  # user-provided init script
				. "$file"
			fi
			;;
		*.sql)
			log "running $file"
			psql_local --dbname "$POSTGRES_DB" -f "$file"
			;;
		*) ;;
		esac
	done
}

initialize() {
	log "initializing a new cluster in $PGDATA"
	init_cluster
	start_temporary_server
	create_database
	run_init_files
	stop_temporary_server
	log "PostgreSQL init process complete; ready for start up."
}

main() {
	if [ "$#" -eq 0 ] || [ "${1:0:1}" = '-' ]; then
		set -- postgres "$@"
	fi
	if [ "$1" != postgres ]; then
		exec "$@"
	fi
	setup_env
	require_password
	create_directories
	if is_root; then
		drop_privileges "$@"
	fi
	if ! is_initialized; then
		initialize
	fi
	unset POSTGRES_PASSWORD
	shift
	exec postgres -c listen_addresses='*' "$@"
}

main "$@"
