# Helpers shared by the scripts in this directory: source it (`. scripts/lib.sh`) from the
# repository root; it is not a command.

# The moto release the tests and benchmarks run against (tests/support/moto.rs).
MOTO_PACKAGE='moto[server]==5.2.5'

# apt_install PACKAGE...: installs Debian packages when running as root with apt-get,
# refreshing the package index once if the first attempt fails; otherwise says what is
# missing and fails.
apt_install() {
    if [[ $(id -u) != 0 ]] || ! command -v apt-get > /dev/null; then
        echo "${0##*/}: missing $*; install it (Debian/Ubuntu: apt-get install $*) and retry" >&2
        return 1
    fi
    echo "${0##*/}: installing $*" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" > /dev/null 2>&1 \
        || { apt-get update -q > /dev/null \
            && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" > /dev/null; }
}

# moto_venv [PIP_PACKAGE...]: the repository's .venv with moto and the given packages.
moto_venv() {
    [[ -x .venv/bin/python ]] || python3 -m venv .venv
    .venv/bin/pip install --quiet --disable-pip-version-check "$MOTO_PACKAGE" "$@"
}
