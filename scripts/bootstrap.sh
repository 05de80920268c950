#!/usr/bin/env bash
# Install what the demo and the tests need on a Debian machine: apt packages, the
# project's virtualenv, and a running Docker daemon. Safe to run again: it skips what is there.
set -euo pipefail

cd "$(dirname "$0")/.."
# command:package — a command already on PATH (however it was installed) is left alone.
REQUIREMENTS=(dockerd:docker.io mmdebstrap:mmdebstrap packer:packer ssh:openssh-client
  ssh-keygen:openssh-client curl:curl git:git make:make docker-registry:docker-registry
  systemd-analyze:systemd
  chromium-headless-shell:chromium-headless-shell)  # the browser test of the edge's CSP
VENV=.venv

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

install_apt_packages() {
  local missing=() requirement
  for requirement in "${REQUIREMENTS[@]}"; do
    command -v "${requirement%%:*}" >/dev/null || missing+=("${requirement#*:}")
  done
  python3 -c 'import ensurepip' 2>/dev/null || missing+=(python3-venv)
  [ -f /usr/share/keyrings/debian-archive-keyring.gpg ] || missing+=(debian-archive-keyring)
  [ ${#missing[@]} -eq 0 ] && return
  echo "==> installing ${missing[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
  # The registry tests start their own docker-registry on 127.0.0.1; the package's own service
  # would serve every interface on :5000.
  if [ -d /run/systemd/system ] && systemctl is-enabled --quiet docker-registry 2>/dev/null; then
    as_root systemctl disable --now docker-registry
  fi
}

install_virtualenv() {
  local stamp="$VENV/.installed" inputs
  inputs=$(cat pyproject.toml constraints.txt example/requirements.txt | sha256sum | cut -c1-16)
  [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$inputs" ] && return
  echo "==> installing the Python environment in $VENV"
  [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --upgrade pip
  "$VENV/bin/pip" install --quiet --constraint constraints.txt --editable '.[test]' \
    --requirement example/requirements.txt
  echo "$inputs" > "$stamp"
}

# checkov pins its own versions of libraries the project also uses: it gets a virtualenv of its own.
install_checkov() {
  local tool="$VENV/tools/checkov" version
  version=$(sed -n 's/^checkov==//p' constraints-tools.txt)
  [ -x "$tool/bin/checkov" ] && [ "$("$tool/bin/checkov" --version)" = "$version" ] && return
  echo "==> installing checkov $version in $tool"
  python3 -m venv "$tool"
  "$tool/bin/pip" install --quiet --requirement constraints-tools.txt
}

start_docker() {
  docker info >/dev/null 2>&1 && return
  if [ -d /run/systemd/system ]; then
    as_root systemctl start docker
  else
    echo "==> starting dockerd (no systemd here); its log is /var/log/onehost-dockerd.log"
    as_root sh -c 'nohup dockerd >/var/log/onehost-dockerd.log 2>&1 &'
  fi
  for _ in $(seq 1 60); do
    docker info >/dev/null 2>&1 && return
    sleep 0.5
  done
  echo "dockerd did not become ready in 30 s; see /var/log/onehost-dockerd.log" >&2
  exit 1
}

install_apt_packages
install_virtualenv
install_checkov
start_docker
