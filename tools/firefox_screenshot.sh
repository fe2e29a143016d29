#!/usr/bin/env bash
# Screenshot of a page (a report.html or a batch index.html) in Firefox ESR with WebGL, for the
# by-hand check that the viewer works in Firefox as well as in Chromium (whose check is a test).
# Headless Firefox has no WebGL here, so Firefox runs in a virtual X server (Mesa llvmpipe).
#
#   tools/firefox_screenshot.sh PAGE.html OUT.png [X,Y]...
#
# Each X,Y (screen pixels of the 1400x1000 screen) is clicked in turn after the page has loaded,
# with a screenshot after each: OUT-1.png, OUT-2.png, ...
# Needs: apt-get install firefox-esr xvfb xdotool libgl1-mesa-dri python3-pil
set -euo pipefail
page=$(realpath "$1") out=$2
shift 2
display=:$((90 + RANDOM % 100))
profile=$(mktemp -d)
cat > "$profile/user.js" <<'PREFS'
user_pref("webgl.force-enabled", true);
user_pref("browser.shell.checkDefaultBrowser", false);
user_pref("datareporting.policy.dataSubmissionEnabled", false);
user_pref("browser.sessionstore.resume_from_crash", false);
PREFS
Xvfb "$display" -screen 0 1400x1000x24 >/dev/null 2>&1 &
xvfb=$!
trap 'kill $firefox $xvfb 2>/dev/null || true; rm -rf "$profile"' EXIT
sleep 2
DISPLAY=$display HOME=$profile firefox-esr --profile "$profile" --new-instance --width 1400 \
  --height 1000 "file://$page" >/dev/null 2>&1 &
firefox=$!
grab() { /usr/bin/python3 -c "from PIL import ImageGrab; ImageGrab.grab(xdisplay='$display').save('$1')"; }
sleep 20
grab "$out"
n=0
for xy in "$@"; do
  n=$((n + 1))
  DISPLAY=$display xdotool mousemove "${xy%,*}" "${xy#*,}" click 1
  sleep 6
  grab "${out%.png}-$n.png"
done
echo "screenshots: $out${n:+ and $n more}"
