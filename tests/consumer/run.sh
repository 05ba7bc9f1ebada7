#!/usr/bin/env bash
# run.sh MODE SOURCE BUILD: configure, build and run the consumer project
# against qomnotify at SOURCE, used the way MODE says (see CMakeLists.txt);
# for find_package, install qomnotify to a prefix under BUILD first, and
# also build the consumer with pkg-config.
set -euo pipefail
mode=$1 src=$2 build=$3
rm -rf "$build"
mkdir -p "$build"
args=()
if [ "$mode" = find_package ]; then
  cmake -S "$src" -B "$build/qomnotify" -DQOMNOTIFY_BUILD_TESTS=OFF \
    -DQOMNOTIFY_BUILD_EXAMPLES=OFF -DCMAKE_INSTALL_PREFIX="$build/prefix" >/dev/null
  cmake --install "$build/qomnotify" >/dev/null
  args=(-DCMAKE_PREFIX_PATH="$build/prefix")
  # pkg-config too
  PKG_CONFIG_PATH="$build/prefix/share/pkgconfig" pkg-config --exists qomnotify
  # shellcheck disable=SC2046
  cc -std=c11 -o "$build/consumer_pc" "$(dirname "$0")/main.c" \
    $(PKG_CONFIG_PATH="$build/prefix/share/pkgconfig" pkg-config --cflags --libs qomnotify)
  "$build/consumer_pc"
fi
cmake -S "$(dirname "$0")" -B "$build/consumer" -DQOMNOTIFY_MODE="$mode" \
  -DQOMNOTIFY_SOURCE="$src" "${args[@]}" >/dev/null
cmake --build "$build/consumer" >/dev/null
"$build/consumer/consumer"
"$build/consumer/consumer_core"
