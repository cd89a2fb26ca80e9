# Sourced by scripts/serve and scripts/test: make .venv and install Préau into it.
# Usage: bootstrap_venv LOCK   ("serve" or "dev": requirements/LOCK.txt)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"

pick_python() {
  for candidate in "${PYTHON:-}" python3.13 python3.12 python3.11 python3; do
    [ -n "$candidate" ] || continue
    if command -v "$candidate" >/dev/null 2>&1 &&
       "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
      echo "$candidate"; return 0
    fi
  done
  echo "Préau needs Python 3.11 or newer on PATH" >&2
  return 1
}

bootstrap_venv() {
  local lock="$ROOT/requirements/$1.txt" stamp
  # The lock must have been made from this pyproject.toml (clear message if not).
  "$(pick_python)" "$ROOT/scripts/lockfile.py" check
  if [ ! -x "$VENV/bin/python" ]; then
    echo "==> creating $VENV"
    "$(pick_python)" -m venv "$VENV"
  fi
  # Reinstall only when the lock or pyproject.toml changed. Exact versions, every file checked
  # against its hash, nothing resolved here: a dependency that moves upstream
  # cannot change what a fresh clone runs (docs/decisions.md, "Locked installs").
  # The lock and pyproject.toml both: a change of packages or entry points
  # (no new dependency) must reinstall Préau itself too.
  stamp="$VENV/.installed-$(cat "$lock" "$ROOT/pyproject.toml" | sha256sum | cut -c1-16)-$1"
  if [ ! -f "$stamp" ]; then
    echo "==> installing the locked dependencies (requirements/$1.txt) into $VENV"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
      --require-hashes --no-deps -r "$lock"
    (cd "$ROOT" && "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
      --no-deps --no-build-isolation -e .)
    touch "$stamp"
  fi
}

# Install a Node package folder's dependencies from its lock file, again only
# when the lock file changed. Usage: bootstrap_node RELATIVE_DIR
bootstrap_node() {
  local dir="$ROOT/$1" stamp
  command -v npm >/dev/null 2>&1 || { echo "Préau's $1 needs Node.js 20+ and npm on PATH" >&2; return 1; }
  stamp="$dir/node_modules/.installed-$(sha256sum "$dir/package-lock.json" | cut -c1-16)"
  if [ ! -f "$stamp" ]; then
    echo "==> npm ci in $1"
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
    touch "$stamp"
  fi
}

# Build a Node package folder (`npm run build`) only when its sources changed
# since the last build: the stamp in dist/ records a hash of every file that
# goes into it. Usage: build_node RELATIVE_DIR
build_node() {
  local dir="$ROOT/$1" hash
  hash="$(cd "$dir" && find src package.json package-lock.json ./*.mjs ./*.json -type f 2>/dev/null \
          | LC_ALL=C sort | xargs sha256sum | sha256sum | cut -c1-16)"
  if [ ! -f "$dir/dist/.built-$hash" ]; then
    echo "==> building $1"
    (cd "$dir" && npm run --silent build)
    touch "$dir/dist/.built-$hash"
  fi
}

# The browser tests drive Debian's Chromium (never a downloaded browser).
ensure_chromium() {
  [ -x /usr/bin/chromium ] && return 0
  if [ "$(id -u)" = 0 ]; then
    echo "==> installing chromium (apt-get)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "The browser tests need /usr/bin/chromium: run 'sudo apt-get install chromium' (Debian) first" >&2
    return 1
  fi
}

# What the tests need from Debian, installed here rather than by a test
# fixture: iproute2 (network namespaces for WebRTC tests), Janus (the SFU) and
# ClamAV's daemon (attachment scanning; its packaged service is not used).
# promtool (checks deploy/'s alert rules) comes from Debian's prometheus
# package; only the one binary is taken out of it, so no Prometheus server is
# installed or started on the machine.
ensure_promtool() {
  command -v promtool >/dev/null 2>&1 && return 0
  if [ "$(id -u)" != 0 ]; then
    echo "The alert-rule check needs promtool: run 'sudo apt-get install prometheus' first" >&2
    return 1
  fi
  echo "==> installing promtool (from Debian's prometheus package)"
  local dir
  dir="$(mktemp -d)"
  (cd "$dir" && { apt-get download -qq prometheus 2>/dev/null ||
    { apt-get update -qq && apt-get download -qq prometheus; }; }) >/dev/null
  dpkg -x "$dir"/prometheus_*.deb "$dir/unpacked"
  install -m 755 "$dir/unpacked/usr/bin/promtool" /usr/local/bin/promtool
  rm -rf "$dir"
}

ensure_test_packages() {
  ensure_promtool
  local missing=()
  command -v ip >/dev/null 2>&1 || missing+=(iproute2)
  command -v janus >/dev/null 2>&1 || missing+=(janus)
  # clamd (Debian's clamav-daemon): the attachment scanning tests start their
  # own on a private socket with a signature database they write themselves.
  [ -x /usr/sbin/clamd ] || missing+=(clamav-daemon)
  # dbus-daemon: the notification-click browser test's private session bus.
  command -v dbus-daemon >/dev/null 2>&1 || missing+=(dbus-daemon)
  # Single sign-on tests: LemonLDAP::NG's portal (OIDC, CAS) under Starman,
  # with the Perl modules its Debian package only recommends.
  [ -f /usr/share/lemonldap-ng/portal/htdocs/index.psgi ] \
    || missing+=(lemonldap-ng liblemonldap-ng-portal-perl)
  command -v starman >/dev/null 2>&1 || missing+=(starman)
  # SAML 2.0: the portal's SAML issuer (Lasso) and Préau's signature checks (xmlsec1).
  perl -MLasso -e1 >/dev/null 2>&1 || missing+=(liblasso-perl)
  command -v xmlsec1 >/dev/null 2>&1 || missing+=(xmlsec1)
  perl -MImage::Magick -MIO::String -MGD::SecurityImage -e1 >/dev/null 2>&1 \
    || missing+=(libimage-magick-perl libio-string-perl libgd-securityimage-perl
                 libcrypt-openssl-bignum-perl libconvert-base32-perl libipc-run-perl
                 libmime-tools-perl libio-socket-timeout-perl libunicode-string-perl
                 libapache-session-browseable-perl libcookie-baker-xs-perl
                 libhttp-parser-xs-perl libstring-random-perl libxml-simple-perl
                 libxml-libxml-perl libemail-sender-perl libdbi-perl libnet-ldap-perl)
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" = 0 ]; then
    echo "==> installing ${missing[*]} (apt-get)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "The WebRTC, SFU and attachment tests need ${missing[*]}: run 'sudo apt-get install ${missing[*]}' first" >&2
    return 1
  fi
}
