# Sourced by scripts/demo, scripts/test and the benchmark scripts: makes sure what Platica needs on
# a Debian machine is there (cargo, libpq-dev for the build, the PostgreSQL server binaries),
# installing it when we can (root) and saying exactly what to run when we cannot.

have_pg_server() {
  command -v initdb >/dev/null 2>&1 && command -v postgres >/dev/null 2>&1 && return 0
  ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1
}

ensure_postgres() {
  have_pg_server && return 0
  echo "PostgreSQL server binaries (initdb, postgres) are missing." >&2
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "Installing them with apt-get (package postgresql)..." >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
    # Debian's package starts a cluster of its own; Platica runs its own private one instead.
    (command -v pg_ctlcluster >/dev/null && pg_lsclusters -h 2>/dev/null | while read -r ver name _; do
      pg_ctlcluster "$ver" "$name" stop 2>/dev/null || true; done) || true
    have_pg_server && return 0
  fi
  echo "Install them with:  sudo apt-get install postgresql   (then run this command again)" >&2
  exit 1
}

ensure_cargo() {
  command -v cargo >/dev/null 2>&1 || {
    echo "cargo is missing: install Rust from your distribution or with rustup, then run this again." >&2
    exit 1
  }
  ensure_libpq
}

# The build links libpq (the replication client, pg_walstream, uses its libpq backend through
# pq-sys): it needs libpq's development files (libpq.so, pkg-config's libpq.pc).
have_libpq_dev() {
  pkg-config --exists libpq 2>/dev/null && return 0
  ls /usr/lib/*/libpq.so /usr/lib/libpq.so >/dev/null 2>&1
}

ensure_libpq() {
  have_libpq_dev && return 0
  echo "libpq's development files are missing (the build links libpq)." >&2
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "Installing them with apt-get (packages libpq-dev, pkg-config)..." >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libpq-dev pkg-config >/dev/null
    have_libpq_dev && return 0
  fi
  echo "Install them with:  sudo apt-get install libpq-dev pkg-config   (then run this command again)" >&2
  exit 1
}

# The web app's end-to-end tests (crates/platica/tests/web_e2e.rs) drive Debian's chromium.
have_chromium() {
  [ -x "${CHROMIUM:-/usr/bin/chromium}" ]
}

ensure_chromium() {
  have_chromium && return 0
  echo "chromium (${CHROMIUM:-/usr/bin/chromium}) is missing: the web app's browser tests need it." >&2
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "Installing it with apt-get (package chromium)..." >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
    have_chromium && return 0
  fi
  echo "Install it with:  sudo apt-get install chromium   (or set CHROMIUM to a Chromium binary), then run this again." >&2
  exit 1
}

# The API contract test (crates/platica/tests/it/contract.rs) runs schemathesis, a property-based API
# fuzzer from PyPI, from a virtualenv beside the build (pinned: a new release may check more).
SCHEMATHESIS_VERSION=4.32.5

schemathesis_venv() {
  echo "${CARGO_TARGET_DIR:-target}/schemathesis-venv"
}

ensure_schemathesis() {
  local venv st
  venv="$(schemathesis_venv)"
  st="$venv/bin/schemathesis"
  if [ -x "$st" ] && "$st" --version 2>/dev/null | grep -q "version $SCHEMATHESIS_VERSION\$"; then
    return 0
  fi
  if ! python3 -m venv --help >/dev/null 2>&1 || ! python3 -c 'import ensurepip' >/dev/null 2>&1; then
    echo "python3 with venv is missing: the API contract test needs it to install schemathesis." >&2
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
      echo "Installing it with apt-get (packages python3, python3-venv)..." >&2
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3 python3-venv >/dev/null
    fi
  fi
  if ! python3 -c 'import ensurepip' >/dev/null 2>&1; then
    echo "Install it with:  sudo apt-get install python3 python3-venv   (then run this command again)" >&2
    exit 1
  fi
  echo "Installing schemathesis $SCHEMATHESIS_VERSION into $venv..." >&2
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION" >&2 || {
    echo "Could not install schemathesis with pip: see the error above." >&2
    exit 1
  }
}
