# Shared by the scripts in this directory: sourced, not run.
# shellcheck shell=bash

# The Debian packages the build, the tests, the lab and the benchmarks need.
MSSCLAMP_PACKAGES=(
    pkg-config libnetfilter-queue-dev libmnl-dev libpcap-dev
    iptables nftables iproute2 tcpdump netsniff-ng curl ethtool python3 procps util-linux
    prometheus  # promtool, for the alert rules test
    wireguard-go wireguard-tools openvpn openssl  # the tunnel lab (scripts/tunnellab)
    charon-systemd strongswan-swanctl libcharon-extra-plugins libstrongswan-extra-plugins
    libstrongswan-standard-plugins libcharon-extauth-plugins  # tunnellab --kind ipsec (extauth: xauth-generic)
)

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# Installs whatever of MSSCLAMP_PACKAGES is missing (root only; apt-get update once per run).
ensure_packages() {
    local missing=()
    local package
    for package in "${MSSCLAMP_PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ "$(id -u)" -ne 0 ]; then
        die "missing Debian packages: ${missing[*]} (run as root, or: apt-get install ${missing[*]})"
    fi
    say "installing ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

command -v swift >/dev/null 2>&1 || [ ! -x /opt/swift/usr/bin/swift ] || export PATH="/opt/swift/usr/bin:$PATH"
command -v swift >/dev/null 2>&1 || die "swift is not on PATH"

# Deletes network namespaces whose names start with one of the given prefixes (leftovers of a crash).
delete_namespaces() {
    local prefix name
    for prefix in "$@"; do
        for name in $(ip netns list 2>/dev/null | awk '{print $1}' | grep "^${prefix}" || true); do
            ip netns pids "$name" 2>/dev/null | xargs -r kill -9 2>/dev/null || true
            ip netns del "$name" 2>/dev/null || true
        done
    done
}

# Writes the units for PREFIX into DIR: mssclamp.service (instance 0, /etc/mssclamp/mssclamp.toml) and
# the template mssclamp@.service, made from it, for further instances: mssclamp@NAME reads
# /etc/mssclamp/NAME.toml, runs as instance NAME and takes extra options (--metrics ADDR) from
# MSSCLAMP_OPTIONS in /etc/mssclamp/NAME.env. One source, so the two never drift apart.
render_units() {
    local prefix=$1 dir=$2
    mkdir -p "$dir"
    sed "s|/usr/local/|$prefix/|g" packaging/mssclamp.service > "$dir/mssclamp.service.tmp"
    sed -e 's|^Description=.*|& (instance %i)|' \
        -e 's|/etc/mssclamp/mssclamp.toml|/etc/mssclamp/%i.toml|g' \
        -e 's| --install-rules --metrics [^ ]*$| --instance %i --install-rules $MSSCLAMP_OPTIONS|' \
        -e 's|rules remove --keep-net --config \([^ ]*\)$|rules remove --keep-net --config \1 --instance %i|' \
        -e 's|^ExecStartPre=|EnvironmentFile=-/etc/mssclamp/%i.env\n&|' \
        "$dir/mssclamp.service.tmp" > "$dir/mssclamp@.service.tmp"
    grep -q -- '--instance %i --install-rules' "$dir/mssclamp@.service.tmp" \
        && grep -q -- 'rules remove --keep-net --config /etc/mssclamp/%i.toml --instance %i' "$dir/mssclamp@.service.tmp" \
        || die "packaging/mssclamp.service changed: the template unit can no longer be made from it"
    mv "$dir/mssclamp.service.tmp" "$dir/mssclamp.service"
    mv "$dir/mssclamp@.service.tmp" "$dir/mssclamp@.service"
}
