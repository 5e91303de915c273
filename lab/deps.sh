#!/usr/bin/env bash
# lab/deps.sh - install the host packages the build, the lab and the tests use.
# Idempotent; runs apt-get update only when something is missing.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
need_root
# chromium: the headless browser the /wall and /desk tests drive (chromedp); fonts-wqy-microhei: Chinese glyphs for its screenshots
# prometheus: promtool (deploy rules); systemd: systemd-analyze (the unit); dpkg: the .deb test
ensure_host_packages debootstrap redis-server redis-tools sip-tester curl protobuf-compiler libprotobuf-dev make \
  prometheus systemd dpkg chromium fonts-wqy-microhei
