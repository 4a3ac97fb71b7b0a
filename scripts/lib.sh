# Shared by the scripts in this folder: sets up the virtualenv and node tools
# from the repo's own files, once, and again only when those files change.
# Usage: source scripts/lib.sh; ensure_venv; ensure_buf; ensure_debian CMD=PACKAGE...

VENV=${CHRONO_VENV:-.venv}
PY="$VENV/bin/python"

ensure_venv() {
  local stamp="$VENV/.chrono-installed"
  local want
  want=$(cat pyproject.toml requirements/*.txt | sha256sum | cut -d' ' -f1)
  if [ ! -x "$PY" ]; then
    echo "creating virtualenv $VENV" >&2
    python3 -m venv "$VENV"
  fi
  if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    echo "installing chrono and its dev tools into $VENV" >&2
    "$PY" -m pip install --quiet --upgrade pip
    # The native engine first, from its hash-pinned file, so that the extra below
    # finds it installed and verified.
    "$PY" -m pip install --quiet --require-hashes --no-deps -r requirements/native.txt
    "$PY" -m pip install --quiet --editable ".[dev,native,bench]"
    echo "$want" > "$stamp"
  fi
  export PATH="$PWD/$VENV/bin:$PATH"
}

ensure_buf() {
  local stamp="node_modules/.chrono-installed"
  local want
  want=$(sha256sum package-lock.json | cut -d' ' -f1)
  if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ] || [ ! -x node_modules/.bin/buf ]; then
    echo "installing buf from package-lock.json" >&2
    npm ci --silent --no-audit --no-fund
    echo "$want" > "$stamp"
  fi
  BUF="$PWD/node_modules/.bin/buf"
}

# ensure_debian CMD=PACKAGE ...: installs each PACKAGE from Debian whose CMD is missing
# (a path for commands that are not on PATH, such as PostgreSQL's initdb).
ensure_debian() {
  local missing=() pair cmd
  for pair in "$@"; do
    cmd=${pair%%=*}
    if [[ $cmd == /* ]]; then compgen -G "$cmd" >/dev/null || missing+=("${pair#*=}")
    else command -v "$cmd" >/dev/null || missing+=("${pair#*=}"); fi
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    local sudo=()
    [ "$(id -u)" = 0 ] || sudo=(sudo)
    echo "installing ${missing[*]} from Debian" >&2
    "${sudo[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends \
      "${missing[@]}" >/dev/null
  fi
}
