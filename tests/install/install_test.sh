#!/usr/bin/env bash
# tests/install/install_test.sh BUILD_DIR VERSION — installs the build into a
# temporary prefix, moves the installed tree elsewhere (gregor.pc must not
# depend on where it was installed), and builds hello_gregor.c against it
# three ways: pkg-config (shared), pkg-config --static (a fully static
# executable), and a CMake project's find_package(gregor) (shared and static
# targets). Each program must run and print the version, the config error
# and "producer OK". Needs a build without sanitizers (a static executable
# cannot carry ASan). Env: CC (default cc), CMAKE (default cmake).
set -euo pipefail
build=$1 version=$2
here=$(cd "$(dirname "$0")" && pwd)
cc=${CC:-cc}
cmake=${CMAKE:-cmake}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

fail() { echo "install_test: $*" >&2; exit 1; }

"$cmake" --install "$build" --prefix "$tmp/installed" >"$tmp/install.log" 2>&1 ||
  { cat "$tmp/install.log" >&2; fail "cmake --install failed"; }
mv "$tmp/installed" "$tmp/moved"
prefix=$tmp/moved
pc=$(find "$prefix" -name gregor.pc)
[ -n "$pc" ] || fail "no gregor.pc under the installed tree"
export PKG_CONFIG_PATH=$(dirname "$pc")

includedir=$(pkg-config --variable=includedir gregor)
[ -f "$includedir/gregor/gregor.h" ] ||
  fail "gregor.pc's includedir '$includedir' has no gregor/gregor.h (the tree was moved to $prefix)"
libdir=$(pkg-config --variable=libdir gregor)

expected="version $version
config ERR_CONFIG: request_timeout_ms: 'abc' is not an integer
producer OK"

check() { # name, executable
  local out
  out=$("$2" 2>&1) || fail "$1: exited with status $?: $out"
  [ "$out" = "$expected" ] || fail "$1: printed
$out
instead of
$expected"
  echo "install_test: $1: ok"
}

# shellcheck disable=SC2046 # pkg-config prints a list of flags
"$cc" -o "$tmp/hello_pc_shared" "$here/hello_gregor.c" $(pkg-config --cflags --libs gregor) \
  -Wl,-rpath,"$libdir" || fail "pkg-config shared: the link failed"
check "pkg-config shared" "$tmp/hello_pc_shared"
libs=$(ldd "$tmp/hello_pc_shared")
case "$libs" in
  *"libgregor.so"*"=> $prefix/"*) ;;
  *) fail "pkg-config shared: not linked against the installed libgregor.so: $libs" ;;
esac

# shellcheck disable=SC2046
"$cc" -static -o "$tmp/hello_pc_static" "$here/hello_gregor.c" $(pkg-config --static --cflags --libs gregor) \
  2>"$tmp/static.log" || { cat "$tmp/static.log" >&2; fail "pkg-config --static: the static link failed"; }
check "pkg-config static" "$tmp/hello_pc_static"

"$cmake" -S "$here" -B "$tmp/find_package" -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_C_COMPILER="$cc" \
  >"$tmp/fp.log" 2>&1 && "$cmake" --build "$tmp/find_package" >>"$tmp/fp.log" 2>&1 ||
  { cat "$tmp/fp.log" >&2; fail "find_package: the project did not build"; }
check "find_package gregor::gregor" "$tmp/find_package/hello_shared"
check "find_package gregor::gregor_static" "$tmp/find_package/hello_static"

# Handlers: the installed gregor knows the example handlers by name, and a
# plugin built as docs/HANDLERS.md says (pkg-config --cflags, no -lgregor)
# loads into it and registers.
src=$(cd "$here/../.." && pwd)
handlers=$("$prefix/bin/gregor" handlers 2>&1) || fail "gregor handlers: $handlers"
for h in count_words flaky json_route passthrough split_words; do
  case "$handlers" in *"$h "*) ;; *) fail "the installed gregor handlers lacks $h: $handlers" ;; esac
done
# shellcheck disable=SC2046
"$cc" -shared -fPIC -o "$tmp/upper.so" "$src/tests/plugins/upper_plugin.c" $(pkg-config --cflags gregor) ||
  fail "the plugin did not build with pkg-config --cflags gregor"
out=$("$prefix/bin/gregor" handlers -p "$tmp/upper.so" 2>&1) || fail "gregor handlers -p upper.so: $out"
case "$out" in *"upper "*"upper-cases the value"*) ;; *) fail "the plugin's handler is not listed: $out" ;; esac
out=$("$prefix/bin/gregor" check "$src/conf/wordcount.yaml" 2>&1) || fail "gregor check conf/wordcount.yaml: $out"
echo "install_test: handlers and plugins: ok"
