# What the tests need from the machine, and how it gets there. Sourced by scripts/test (and so
# by .ci/run, which calls it); not run by itself.
#
#   prereqs_toolchains   finds Go and cargo (also in their usual install directories, added to
#                        PATH) or stops with one line saying how to install the missing one
#   prereqs_packages     makes every tool of PREREQ_PACKAGES present: installs what is missing
#                        with apt-get when it can (root or passwordless sudo; no service is
#                        started), or stops with one line naming the tool and the command
#
# To add a prerequisite (e.g. chromium for browser tests), add one line to PREREQ_PACKAGES and,
# if a version matters, a `prereq_ok_<tool>` function; nothing else changes.

# tool|Debian package|what it is for
PREREQ_PACKAGES=(
    "prometheus|prometheus|the metrics and dashboard tests (tests/metrics)"
    "node|nodejs|checking the k6 scripts (tests/k6_scripts.rs), node 20 or newer"
    "chromium|chromium|the match explorer's real-browser tests (tests/ui/), headless"
)

prereq_say() { echo "scripts/test: $*" >&2; }

prereq_die() {
    prereq_say "$*"
    exit 1
}

# A tool passes if it is on PATH and, when `prereq_ok_<tool>` exists, that says yes.
prereq_ok() {
    local tool="$1"
    command -v "$tool" >/dev/null 2>&1 || return 1
    if declare -F "prereq_ok_$tool" >/dev/null; then
        "prereq_ok_$tool"
    fi
}

# node 20+ (`node --version` prints v20.1.0).
prereq_ok_node() {
    local v
    v="$(node --version 2>/dev/null)" || return 1
    v="${v#v}"
    ((${v%%.*} >= 20))
}

# "prometheus is missing" or "node v18.20.4 is too old".
prereq_state() {
    if ! command -v "$1" >/dev/null 2>&1; then
        echo "$1 is missing"
    else
        echo "$1 $("$1" --version 2>/dev/null | head -n 1) is too old"
    fi
}

PREREQ_SUDO=()
PREREQ_APT_UPDATED=""

# Can we install with apt-get? Sets PREREQ_SUDO.
prereq_can_apt() {
    command -v apt-get >/dev/null 2>&1 || return 1
    if [[ "$(id -u)" == 0 ]]; then
        PREREQ_SUDO=(env DEBIAN_FRONTEND=noninteractive)
    elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        PREREQ_SUDO=(sudo -n env DEBIAN_FRONTEND=noninteractive)
    else
        return 1
    fi
}

# apt-get install, with no service started: a policy-rc.d that refuses every start (the
# prometheus package would otherwise start a daemon on :9090; the tests start their own on free
# ports), removed afterwards if we created it.
prereq_apt_install() {
    local policy=/usr/sbin/policy-rc.d created="" rc=0
    local opts=(-y -q -o DPkg::Lock::Timeout=600 -o Dpkg::Options::=--force-confdef
        -o Dpkg::Options::=--force-confold)
    if [[ ! -e "$policy" ]]; then
        printf '#!/bin/sh\nexit 101\n' | "${PREREQ_SUDO[@]}" tee "$policy" >/dev/null &&
            "${PREREQ_SUDO[@]}" chmod 755 "$policy" && created=1
    fi
    if [[ -z "$PREREQ_APT_UPDATED" ]]; then
        prereq_say "apt-get update"
        "${PREREQ_SUDO[@]}" apt-get "${opts[@]}" update </dev/null >&2 || rc=$?
        PREREQ_APT_UPDATED=1
    fi
    if ((rc == 0)); then
        prereq_say "apt-get install --no-install-recommends $*"
        "${PREREQ_SUDO[@]}" apt-get "${opts[@]}" install --no-install-recommends "$@" \
            </dev/null >&2 || rc=$?
    fi
    if [[ -n "$created" ]]; then
        "${PREREQ_SUDO[@]}" rm -f "$policy" || true
    fi
    return "$rc"
}

prereqs_packages() {
    local entry tool package why
    for entry in "${PREREQ_PACKAGES[@]}"; do
        IFS='|' read -r tool package why <<<"$entry"
        prereq_ok "$tool" && continue
        if prereq_can_apt; then
            prereq_say "$(prereq_state "$tool"), needed for $why: installing $package"
            prereq_apt_install "$package" ||
                prereq_die "'apt-get install $package' failed (see above); $tool is needed for $why"
            prereq_ok "$tool" ||
                prereq_die "after 'apt-get install $package', $(prereq_state "$tool"), needed for $why: install a newer one (node: https://nodejs.org/en/download)"
        else
            prereq_die "$(prereq_state "$tool"), needed for $why: install it with 'sudo apt-get install --no-install-recommends $package' (or run scripts/test as root and it will)"
        fi
    done
}

prereqs_toolchains() {
    local d
    if ! command -v "${GO:-go}" >/dev/null 2>&1; then
        for d in /usr/local/go/bin /usr/lib/go/bin "$HOME/go/bin" "$HOME/.local/go/bin"; do
            if [[ -x "$d/go" ]]; then
                export PATH="$d:$PATH"
                break
            fi
        done
    fi
    if ! command -v cargo >/dev/null 2>&1 && [[ -f "$HOME/.cargo/env" ]]; then
        # shellcheck disable=SC1091
        . "$HOME/.cargo/env"
    fi
    command -v cargo >/dev/null 2>&1 ||
        prereq_die "cargo is missing: install Rust 1.90 or newer with 'curl --proto =https -sSf https://sh.rustup.rs | sh' (https://rustup.rs)"
    command -v "${GO:-go}" >/dev/null 2>&1 ||
        prereq_die "go is missing (it builds the FerretDB test server): install Go 1.24 or newer from https://go.dev/dl/ (e.g. 'tar -C /usr/local -xzf go1.26.*.linux-amd64.tar.gz')"
}
