#!/usr/bin/env bash
# System tools the tests use: pdftotext/pdftoppm/pdfinfo (poppler-utils) read
# rendered PDFs back (and pdftoppm draws the admin's previews); Chromium drives
# the admin in a browser test; wrk loads the web tier in bench/load.py. Installed
# only when missing; needs root (as on CI) or sudo.
set -euo pipefail
missing=()
command -v pdftotext >/dev/null 2>&1 || missing+=(poppler-utils)
# CMaps poppler needs to read Chinese and Japanese text back out of a PDF.
[ -d /usr/share/poppler/cMap ] || missing+=(poppler-data)
# Headless Chromium and its WebDriver for the admin's browser test
# (tests/invoicing/admin/test_browser.py), from Debian: no browser download.
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
# curl runs the README's walk-through (tests/test_walkthrough.py), as a reader does.
command -v curl >/dev/null 2>&1 || missing+=(curl)
# wrk drives the load benchmark (bench/load.py); no test needs it.
command -v wrk >/dev/null 2>&1 || missing+=(wrk)
[ ${#missing[@]} -eq 0 ] && exit 0
echo "installing system packages: ${missing[*]}"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
