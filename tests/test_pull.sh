#!/bin/sh
# test_pull.sh - `penny pull`, `list`, `rm` and `-m REF` against a local
# stand-in for the Hugging Face Hub (tests/hub_server.py on a free loopback
# port), serving small random GGUF models written by tool_genmodel:
# pull and pull again (nothing re-downloaded, per the server's request log),
# a dropped connection resumed with Range (next pull, and retries within one
# pull), a wrong hash refused and nothing kept, split models fetched whole
# and readable as one, names that would escape the store refused (from the
# user, from the listing, and links planted in the store), 404/401/500
# messages, HF_TOKEN sent but never shown, and `penny run -m ORG/REPO:Q8_0`
# offline after the server is gone.
set -u
B=${PENNY_BUILD:-build}
P="$B/penny"
GEN="$B/tests/tool_genmodel"
SPLIT="$B/tests/tool_gguf_split"
PY=${PYTHON:-/usr/bin/python3}
HERE=$(dirname "$0")
T=$(mktemp -d)
SRV=
trap '[ -n "$SRV" ] && kill "$SRV" 2>/dev/null; rm -rf "$T"' EXIT
fails=0
ok() { echo "ok: $1"; }
bad() { echo "FAILED: $1"; fails=$((fails + 1)); }

H="$T/hub"
LOG="$T/requests.log"
S="$T/store"
M="$S/models"
export PENNY_HOME="$S"
unset HF_TOKEN XDG_CACHE_HOME http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY
export no_proxy=127.0.0.1,localhost NO_PROXY=127.0.0.1,localhost
: > "$LOG"

# ---- the Hub's repositories ----
mk() { mkdir -p "$H/$1" && "$GEN" "$H/$1/$2" --type "$3" --seed "$4" > /dev/null || bad "genmodel $1/$2"; }
mk org1/tiny-GGUF tiny-Q8_0.gguf Q8_0 1
mk org1/tiny-GGUF tiny-Q4_0.gguf Q4_0 2
echo "# tiny" > "$H/org1/tiny-GGUF/README.md"
mk org1/multi-GGUF m-Q4_K_M.gguf Q4_0 3
mk org1/multi-GGUF m-Q8_0.gguf Q8_0 4
mk org1/resume-GGUF r-Q8_0.gguf Q8_0 5
mk org1/resume-GGUF r-Q4_0.gguf Q4_0 6
mk org1/corrupt-GGUF c-Q8_0.gguf Q8_0 7
mk org1/gated-GGUF g-Q8_0.gguf Q8_0 8
mk org1/link-GGUF l-Q8_0.gguf Q8_0 9
mk org1/split-GGUF mmproj-split-f16.gguf F16 10
mkdir -p "$H/org1/evil-GGUF" && echo x > "$H/org1/evil-GGUF/README.md"
"$GEN" "$T/whole.gguf" --type Q8_0 --seed 11 > /dev/null &&
    "$SPLIT" split "$T/whole.gguf" 2 "$H/org1/split-GGUF/big-Q8_0" || bad "writing the split model"
ZERO=0000000000000000000000000000000000000000000000000000000000000000
ctl() { printf '%s\n' "$1" > "$H/control.json"; }
ctl '{"page_size": 2}' # every listing comes in pages: the Link header is followed

"$PY" "$HERE/hub_server.py" "$H" "$LOG" "$T/port" &
SRV=$!
i=0
while [ ! -s "$T/port" ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i + 1)); done
[ -s "$T/port" ] || { echo "FAILED: the test server did not start"; exit 1; }
export PENNY_HF_ENDPOINT="http://127.0.0.1:$(cat "$T/port")"

reqs() { grep -c "$1" "$LOG"; }
# Runs penny pull; a sanitizer report (make test-asan) fails the test whatever the exit status.
pull() {
    "$P" pull "$@" > "$T/out" 2> "$T/err"
    rc=$?
    grep -q "Sanitizer\|runtime error" "$T/err" && bad "sanitizer report: pull $*: $(cat "$T/err")"
    return $rc
}
has() { grep -q -- "$1" "$T/err"; }

# ---- 1. pull, pull again ----
if pull org1/tiny-GGUF:Q8_0 && [ "$(cat "$T/out")" = "$M/org1/tiny-GGUF/tiny-Q8_0.gguf" ] &&
    cmp -s "$H/org1/tiny-GGUF/tiny-Q8_0.gguf" "$M/org1/tiny-GGUF/tiny-Q8_0.gguf"; then
    ok "pull ORG/REPO:Q8_0 stores the file, prints its path"
else bad "pull ORG/REPO:Q8_0: $(cat "$T/err")"; fi
sha=$(sha256sum "$H/org1/tiny-GGUF/tiny-Q8_0.gguf" | cut -c1-64)
grep -q "$sha" "$M/org1/tiny-GGUF/manifest.json" && ok "manifest records the sha256" ||
    bad "manifest lacks the sha256"
has "sha256 verified" && ok "stderr reports the verified download" || bad "no verified line: $(cat "$T/err")"
[ "$(find "$S" -name '*.partial' | wc -l)" -eq 0 ] && ok "no partial file left" || bad "partial left"
[ "$(reqs '/tree/main?recursive=true&cursor=2')" -ge 1 ] && ok "listing pages followed" ||
    bad "listing pagination not followed"

n1=$(reqs "GET	/cdn/org1/tiny-GGUF/tiny-Q8_0.gguf")
if pull hf.co/org1/tiny-GGUF:q8_0 && has "already in the store" &&
    [ "$(reqs "GET	/cdn/org1/tiny-GGUF/tiny-Q8_0.gguf")" -eq "$n1" ] &&
    [ "$(reqs "/resolve/main/tiny-Q8_0.gguf")" -eq 1 ]; then
    ok "pull again (hf.co/..., lower-case quant): nothing downloaded"
else bad "pull again re-downloaded or failed: $(cat "$T/err")"; fi

pull org1/tiny-GGUF/tiny-Q4_0.gguf && cmp -s "$H/org1/tiny-GGUF/tiny-Q4_0.gguf" "$(cat "$T/out")" &&
    ok "pull ORG/REPO/FILE.gguf" || bad "pull ORG/REPO/FILE.gguf: $(cat "$T/err")"
if ! pull org1/tiny-GGUF && has "has 2 models" && has "tiny-Q4_0.gguf" && has "tiny-Q8_0.gguf"; then
    ok "no quant and two models: the error lists the choices"
else bad "ambiguous pull: $(cat "$T/err")"; fi
pull org1/multi-GGUF && [ "$(cat "$T/out")" = "$M/org1/multi-GGUF/m-Q4_K_M.gguf" ] &&
    ok "no quant: Q4_K_M is the default" || bad "default quant: $(cat "$T/err")"
! pull org1/tiny-GGUF:Q2_K && has "no .gguf file for quantization Q2_K" &&
    ok "unknown quant: clear message" || bad "unknown quant: $(cat "$T/err")"

# ---- 2. interrupted downloads resume ----
ctl '{"page_size": 2, "drop": {"org1/resume-GGUF/r-Q8_0.gguf": 1}}'
part="$M/org1/resume-GGUF/r-Q8_0.gguf.partial"
full=$(wc -c < "$H/org1/resume-GGUF/r-Q8_0.gguf")
if ! pull --retries 0 org1/resume-GGUF:Q8_0 && [ -f "$part" ] && [ ! -e "${part%.partial}" ]; then
    ok "dropped connection: pull fails, keeps only the .partial"
else bad "dropped connection: $(cat "$T/err")"; fi
have=$(wc -c < "$part" 2> /dev/null || echo 0)
[ "$have" -gt 0 ] && [ "$have" -lt "$full" ] && ok "partial holds $have of $full bytes" ||
    bad "partial holds $have of $full bytes"
"$P" list 2> /dev/null | grep -q resume && bad "list shows an unfinished download" ||
    ok "list does not show the partial"
if pull org1/resume-GGUF:Q8_0 && has "resuming at" &&
    grep -q "GET	/cdn/org1/resume-GGUF/r-Q8_0.gguf	bytes=$have-	none	206" "$LOG" &&
    cmp -s "$H/org1/resume-GGUF/r-Q8_0.gguf" "$M/org1/resume-GGUF/r-Q8_0.gguf"; then
    ok "next pull resumes with Range: bytes=$have- and verifies"
else bad "resume: $(cat "$T/err")"; fi

ctl '{"page_size": 2, "drop": {"org1/resume-GGUF/r-Q4_0.gguf": 2}}'
if pull org1/resume-GGUF:Q4_0 && [ "$(reqs "GET	/cdn/org1/resume-GGUF/r-Q4_0.gguf")" -eq 3 ] &&
    has "r-Q4_0.gguf: cannot fetch from .*(retry 2 of 3)" &&
    [ "$(grep "GET	/cdn/org1/resume-GGUF/r-Q4_0.gguf	bytes=" "$LOG" | grep -c "	206$")" -eq 2 ] &&
    cmp -s "$H/org1/resume-GGUF/r-Q4_0.gguf" "$M/org1/resume-GGUF/r-Q4_0.gguf"; then
    ok "two drops in one pull: retried twice with Range, then verified"
else bad "retries within a pull: $(cat "$T/err")"; fi

# ---- 3. wrong hash ----
ctl '{"page_size": 2, "corrupt": ["org1/corrupt-GGUF/c-Q8_0.gguf"]}'
if ! pull org1/corrupt-GGUF:Q8_0 && has "sha256 mismatch" &&
    [ -z "$(ls -A "$M/org1/corrupt-GGUF" | grep gguf)" ]; then
    ok "wrong hash: refused, neither the file nor a partial kept"
else bad "wrong hash: $(cat "$T/err"); $(ls -A "$M/org1/corrupt-GGUF")"; fi
ctl '{"page_size": 2}'

# ---- 4. split models ----
p1="$M/org1/split-GGUF/big-Q8_0-00001-of-00002.gguf"
if pull org1/split-GGUF && [ "$(cat "$T/out")" = "$p1" ] &&
    cmp -s "$H/org1/split-GGUF/big-Q8_0-00002-of-00002.gguf" "${p1%00001-of-00002.gguf}00002-of-00002.gguf" &&
    [ ! -e "$M/org1/split-GGUF/mmproj-split-f16.gguf" ]; then
    ok "split model: both parts fetched (projector file passed over)"
else bad "split pull: $(cat "$T/err")"; fi
"$SPLIT" check "$p1" "$T/whole.gguf" > "$T/chk" 2>&1 && grep -q "ok: 2 parts" "$T/chk" &&
    ok "split parts open as one model (gguf_split_open)" || bad "split check: $(cat "$T/chk")"
"$P" list > "$T/list" 2>&1
# the split model runs and generates exactly what the unsplit file does
"$P" run -m "$p1" -p "hello" -n 12 --temp 0 > "$T/gen_split" 2> "$T/err_split" &&
    "$P" run -m "$T/whole.gguf" -p "hello" -n 12 --temp 0 > "$T/gen_whole" 2>/dev/null &&
    cmp -s "$T/gen_split" "$T/gen_whole" && ok "split model generates like the whole file" ||
    bad "split run: $(cat "$T/err_split")"
grep -q "org1/split-GGUF/big-Q8_0-00001-of-00002.gguf .*(2 parts)" "$T/list" &&
    ok "list shows the split model once" || bad "list split: $(cat "$T/list")"
kib=$(wc -c < "$H/org1/tiny-GGUF/tiny-Q8_0.gguf" | awk '{ printf "%.1f KiB", $1 / 1024 }')
grep -q "^org1/tiny-GGUF/tiny-Q8_0.gguf *$kib  $M/org1/tiny-GGUF/tiny-Q8_0.gguf$" "$T/list" &&
    ok "list: ref, size, path" || bad "list: $(cat "$T/list")"

# ---- 5. names that would leave the store ----
n0=$(wc -l < "$LOG")
for r in ../x /abs a/../../b org1/../x org1/tiny-GGUF/../../x.gguf org1/tiny-GGUF/sub/../x.gguf \
    org1/.hidden org1/tiny-GGUF/.x.gguf org1/tiny-GGUF/x.txt "$(printf 'org1/ti\001ny')" \
    "$(printf 'org1/tiny-GGUF/a\033[2Jb.gguf')" 'org1/tiny-GGUF:Q8_0/x.gguf' 'org1//tiny'; do
    if pull "$r"; then bad "accepted '$r'"; elif [ ! -s "$T/err" ]; then bad "no message for '$r'"; fi
done
[ "$(wc -l < "$LOG")" -eq "$n0" ] && ok "13 unsafe refs refused before any request" ||
    bad "an unsafe ref reached the server"
[ ! -e "$T/x" ] && [ ! -e "$T/b" ] && [ ! -e "$S/x" ] && ok "nothing written outside" || bad "escaped"

ctl "{\"page_size\": 2, \"extra\": {\"org1/evil-GGUF\": [{\"path\": \"../evil-Q8_0.gguf\", \"size\": 5, \"sha256\": \"$ZERO\"}, {\"path\": \"/tmp/evil-Q4_0.gguf\", \"size\": 5, \"sha256\": \"$ZERO\"}]}}"
! pull org1/evil-GGUF:Q8_0 && has "refusing the listed file name '../evil-Q8_0.gguf'" &&
    ! pull org1/evil-GGUF:Q4_0 && has "refusing the listed file name '/tmp/evil-Q4_0.gguf'" &&
    [ ! -e "$M/org1/evil-Q8_0.gguf" ] && [ ! -e /tmp/evil-Q4_0.gguf ] &&
    ok "listing names with '..' or absolute paths refused" || bad "listing escape: $(cat "$T/err")"
ctl '{"page_size": 2}'

mkdir -p "$T/outside" && ln -s "$T/outside" "$M/org1/link-GGUF"
! pull org1/link-GGUF:Q8_0 && has "symbolic link" && [ -z "$(ls -A "$T/outside")" ] &&
    ok "a link to outside in place of a repo folder: refused" || bad "dir link: $(cat "$T/err")"
echo secret > "$T/outside/secret"
q4="$M/org1/tiny-GGUF/tiny-Q4_0.gguf"
rm -f "$q4" && ln -s "$T/outside/secret" "$q4"
! pull org1/tiny-GGUF:Q4_0 && has "symbolic link" &&
    ! "$P" run -m org1/tiny-GGUF:Q4_0 -p hi -n 1 > /dev/null 2> "$T/err" && has "symbolic link" &&
    [ "$(cat "$T/outside/secret")" = secret ] &&
    ok "a link in place of a model file: pull and -m refuse it" || bad "file link: $(cat "$T/err")"
rm -f "$q4" && ln -s "$T/outside/secret" "$q4.partial"
! pull org1/tiny-GGUF:Q4_0 && has "symbolic link" && [ "$(cat "$T/outside/secret")" = secret ] &&
    ok "a link in place of a .partial: refused, target untouched" || bad "partial link: $(cat "$T/err")"
rm -f "$q4.partial"

# ---- 6. server errors ----
! pull org1/nope-GGUF && has "org1/nope-GGUF: not found on http://127.0.0.1" && has "HTTP 404" &&
    ok "404 repo: clear message" || bad "404: $(cat "$T/err")"
! pull org1/tiny-GGUF/nope.gguf && has "org1/tiny-GGUF has no file 'nope.gguf'" &&
    ok "missing file: clear message" || bad "missing file: $(cat "$T/err")"
ctl '{"status": {"org1/tiny-GGUF": 500}}'
n0=$(reqs "/api/models/org1/tiny-GGUF/")
! pull org1/tiny-GGUF:Q8_0 && has "server error from http://127.0.0.1:[0-9]* (HTTP 500)" &&
    has "simulated failure" && ok "500: clear message" || bad "500: $(cat "$T/err")"
ctl '{"page_size": 2}'
! pull org1/x%-GGUF && ok "bad characters in REPO refused" || bad "REPO with %"

# ---- 7. HF_TOKEN ----
TOKEN=hf_penny_SECRET_4242
ctl "{\"token\": \"$TOKEN\", \"cdn_host\": \"localhost\"}"
! pull org1/gated-GGUF:Q8_0 && has "access denied (HTTP 401)" && has "needs HF_TOKEN" &&
    ok "gated repo without a token: says HF_TOKEN is needed" || bad "401: $(cat "$T/err")"
! HF_TOKEN=hf_wrong pull org1/gated-GGUF:Q8_0 && has "refused HF_TOKEN" &&
    ok "wrong token: says it was refused" || bad "wrong token: $(cat "$T/err")"
cp "$T/err" "$T/err.wrong"
if HF_TOKEN=$TOKEN pull org1/gated-GGUF:Q8_0 &&
    [ "$(grep '/org1/gated-GGUF/' "$LOG" | grep -v '/cdn/' | grep -c '	ok	200')" -ge 1 ] &&
    [ "$(grep '/resolve/main/g-Q8_0.gguf' "$LOG" | grep -c '	ok	302')" -eq 1 ]; then
    ok "HF_TOKEN sent as a bearer token (server checked it)"
else bad "token: $(cat "$T/err")"; fi
grep -q "GET	/cdn/org1/gated-GGUF/g-Q8_0.gguf	-	none	200" "$LOG" &&
    ok "the token is not sent on to the CDN host after the redirect" || bad "token sent to the CDN"
HF_TOKEN=$TOKEN "$P" pull -q org1/gated-GGUF:Q8_0 > "$T/out2" 2> "$T/err2"
if grep -rq "$TOKEN" "$T/out" "$T/err" "$T/err.wrong" "$T/out2" "$T/err2" "$S" "$LOG"; then
    bad "the token was printed or stored"
else ok "the token appears in no output, log or store file"; fi
ctl '{"page_size": 2}'

# ---- 8. offline: -m REF, info REF ----
kill "$SRV" 2> /dev/null
wait "$SRV" 2> /dev/null
SRV=
if "$P" run -m "$H/org1/tiny-GGUF/tiny-Q8_0.gguf" -p "Hello" -n 8 --temp 0 > "$T/want" 2> /dev/null &&
    "$P" run -m org1/tiny-GGUF:Q8_0 -p "Hello" -n 8 --temp 0 > "$T/got" 2> "$T/err" &&
    cmp -s "$T/want" "$T/got"; then
    ok "offline: penny run -m org1/tiny-GGUF:Q8_0 equals running the file"
else bad "run -m REF offline: $(cat "$T/err")"; fi
"$P" info org1/tiny-GGUF:Q8_0 > "$T/info" 2>&1 && grep -q "file: $M/org1/tiny-GGUF/tiny-Q8_0.gguf" "$T/info" &&
    ok "info REF" || bad "info REF: $(head -3 "$T/info")"
! pull org1/tiny-GGUF:Q8_0 && has "cannot fetch from http://127.0.0.1" &&
    ok "pull with the server gone: clear message" || bad "offline pull: $(cat "$T/err")"
! "$P" run -m org1/other-GGUF:Q8_0 -p hi > /dev/null 2> "$T/err" &&
    has "org1/other-GGUF:Q8_0 is not in the model store ($S); get it with: penny pull" &&
    ok "-m with an unknown REF says how to get it" || bad "unknown -m REF: $(cat "$T/err")"

# ---- 9. rm ----
"$P" rm org1/tiny-GGUF:Q8_0 > "$T/out" 2> "$T/err" && [ ! -e "$M/org1/tiny-GGUF/tiny-Q8_0.gguf" ] &&
    ! "$P" list 2> /dev/null | grep -q tiny-Q8_0 && ok "rm REF removes the file and its listing" ||
    bad "rm: $(cat "$T/err")"
! "$P" rm org1/tiny-GGUF:Q8_0 > /dev/null 2> "$T/err" && has "not in the model store" &&
    ok "rm of an absent model: clear message" || bad "rm absent: $(cat "$T/err")"
"$P" rm org1/split-GGUF > "$T/out" 2> "$T/err" && grep -q "(2 files)" "$T/out" &&
    [ ! -e "$M/org1/split-GGUF" ] && ok "rm ORG/REPO removes the repository" ||
    bad "rm repo: $(cat "$T/out" "$T/err")"
[ -e "$T/outside" ] && ok "outside folder untouched" || bad "outside folder removed"

[ "$fails" -eq 0 ] || { echo "$fails failures"; exit 1; }
echo "all pull tests passed"
