# Checks that a test's tools are installed, so that a missing one fails the
# test at its start, naming the Debian package to install, instead of a
# "command not found" in the middle of a run. `scripts/deps test` installs
# every package named here.
#
#   need COMMAND PACKAGE       e.g. need jq jq
#   need_file PATH PACKAGE     e.g. need_file "$FAKETIME_LIB" libfaketime

FAKETIME_LIB=/usr/lib/$(uname -m)-linux-gnu/faketime/libfaketimeMT.so.1

need_missing() {
	echo "FAIL: $(basename "$0") needs $1: install the Debian package $2" \
		"(scripts/deps test installs it)" >&2
	exit 1
}

need() {
	command -v "$1" >/dev/null 2>&1 || need_missing "'$1'" "$2"
}

need_file() {
	[[ -e $1 ]] || need_missing "$1" "$2"
}
