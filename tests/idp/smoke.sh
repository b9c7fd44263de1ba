#!/usr/bin/env bash
# Smoke test of the test IdP (tests/idp/server.js) with curl, the way the Rust
# tests use it: discovery, the authorization-code + PKCE flow through our
# interaction forms, the token endpoint, refresh-token rotation and reuse
# detection, /test/stats, /test/revoke-grants, Deny, revocation,
# introspection, RP-initiated logout and /test/quirks.
#
# Usage: bash tests/idp/smoke.sh   (needs node, curl and `npm ci` done here)
#   IDP_LOG=/tmp/idp.log DEBUG=oidc-provider:error bash tests/idp/smoke.sh
#   keeps the IdPs' stderr (with oidc-provider's error details) in IDP_LOG.
# Exits non-zero on the first failure.
set -euo pipefail
cd "$(dirname "$0")"

CLIENT_ID=sealgate
CLIENT_SECRET=s3cret
REDIRECT_URI=http://127.0.0.1:9999/auth/callback/corp
POST_LOGOUT_URI=http://127.0.0.1:9999/signed-out
SCOPE='openid profile email groups offline_access'

WORK=$(mktemp -d)
SERVER_PID=
cleanup() {
  if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
  if [ -n "${IDP_LOG:-}" ]; then cat "$WORK"/*.err >>"$IDP_LOG" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }
ok() { echo "ok   $*"; }

# js FILE 'expression over j'  -- prints the expression's value for the JSON in FILE
js() { node -e 'const j = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")); const v = (0, eval)("(j) => " + process.argv[2])(j); process.stdout.write(v === undefined ? "" : typeof v === "string" ? v : JSON.stringify(v));' "$1" "$2"; }
# query URL NAME  -- one query parameter of a URL
query() { node -e 'const v = new URL(process.argv[1]).searchParams.get(process.argv[2]); process.stdout.write(v ?? "")' "$1" "$2"; }
# jwt_payload TOKEN  -- the decoded payload of a JWT, as JSON
jwt_payload() { node -e 'process.stdout.write(Buffer.from(process.argv[1].split(".")[1], "base64url").toString())' "$1"; }
urlenc() { node -e 'process.stdout.write(encodeURIComponent(process.argv[1]))' "$1"; }

# start_idp NAME [flags...]  -- starts server.js, sets ISSUER and SERVER_PID
start_idp() {
  local name=$1; shift
  node server.js --port 0 --client-id "$CLIENT_ID" --client-secret "$CLIENT_SECRET" \
    --redirect-uri "$REDIRECT_URI" --post-logout-redirect-uri "$POST_LOGOUT_URI" "$@" \
    >"$WORK/$name.out" 2>"$WORK/$name.err" &
  SERVER_PID=$!
  for _ in $(seq 100); do
    if [ -s "$WORK/$name.out" ]; then break; fi
    kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK/$name.err" >&2; fail "the IdP exited"; }
    sleep 0.1
  done
  local line; line=$(head -n1 "$WORK/$name.out")
  [[ $line =~ ^READY\ (http://127\.0\.0\.1:[0-9]+)$ ]] || fail "unexpected first line: '$line'"
  ISSUER=${BASH_REMATCH[1]}
  ok "IdP ($name) ready at $ISSUER"
}

stop_idp() {
  kill -TERM "$SERVER_PID"
  local rc=0; wait "$SERVER_PID" || rc=$?
  SERVER_PID=
  [ "$rc" = 0 ] || fail "the IdP exited with $rc on SIGTERM"
  [ "$(wc -l <"$WORK/$1.out")" = 1 ] || fail "stdout had more than the READY line: $(cat "$WORK/$1.out")"
  ok "IdP ($1) exited 0 on SIGTERM, stdout held only the READY line"
}

# req JAR METHOD URL [curl args...]  -- sets STATUS, LOCATION; body in $WORK/body
req() {
  local jar=$1 method=$2 url=$3; shift 3
  local out
  out=$(curl -sS -X "$method" -b "$jar" -c "$jar" -o "$WORK/body" -w '%{http_code} %{redirect_url}' "$@" "$url")
  STATUS=${out%% *}
  LOCATION=${out#* }
}

expect_status() { [ "$STATUS" = "$1" ] || { cat "$WORK/body" >&2; echo >&2; fail "$2: expected HTTP $1, got $STATUS"; }; }

# pkce  -- sets VERIFIER and CHALLENGE (S256)
pkce() {
  VERIFIER=$(node -e 'process.stdout.write(require("crypto").randomBytes(32).toString("base64url"))')
  CHALLENGE=$(node -e 'process.stdout.write(require("crypto").createHash("sha256").update(process.argv[1]).digest("base64url"))' "$VERIFIER")
}

# authorize JAR  -- starts an authorization request; sets STATE NONCE VERIFIER INTERACTION
authorize() {
  local jar=$1
  pkce
  STATE=st-$RANDOM$RANDOM
  NONCE=n-$RANDOM$RANDOM
  req "$jar" GET "$ISSUER/auth?response_type=code&client_id=$CLIENT_ID&redirect_uri=$(urlenc "$REDIRECT_URI")&scope=$(urlenc "$SCOPE")&state=$STATE&nonce=$NONCE&code_challenge=$CHALLENGE&code_challenge_method=S256"
  expect_status 303 "authorization request"
  [[ $LOCATION =~ ^$ISSUER/interaction/[A-Za-z0-9_-]+$ ]] || fail "authorize redirected to '$LOCATION', not an interaction page"
  INTERACTION=$LOCATION
}

# finish JAR  -- follows the resume redirect(s) to the redirect_uri; sets CALLBACK
finish() {
  local jar=$1
  for _ in 1 2 3 4 5; do
    [[ $LOCATION == "$REDIRECT_URI"* ]] && { CALLBACK=$LOCATION; return 0; }
    [[ $LOCATION == "$ISSUER"/* ]] || fail "redirected outside the IdP: '$LOCATION'"
    req "$jar" GET "$LOCATION"
    expect_status 303 "following $LOCATION"
  done
  fail "never redirected to the redirect_uri"
}

# sign_in JAR LOGIN PASSWORD  -- full browser part; sets CALLBACK, CODE
sign_in() {
  local jar=$1
  authorize "$jar"
  req "$jar" GET "$INTERACTION"
  expect_status 200 "interaction page"
  req "$jar" POST "$INTERACTION/login" --data-urlencode "login=$2" --data-urlencode "password=$3"
  expect_status 303 "login"
  finish "$jar"
  CODE=$(query "$CALLBACK" code)
  [ -n "$CODE" ] || fail "no code in $CALLBACK"
  [ "$(query "$CALLBACK" state)" = "$STATE" ] || fail "state not echoed in $CALLBACK"
  [ "$(query "$CALLBACK" iss)" = "$ISSUER" ] || fail "iss missing or wrong in $CALLBACK"
}

# token FILE [curl args...]  -- POST to the token endpoint with client_secret_basic
token() {
  local file=$1; shift
  curl -sS -o "$file" -w '%{http_code}' -u "$CLIENT_ID:$CLIENT_SECRET" "$ISSUER/token" "$@"
}

refresh() { token "$1" -d grant_type=refresh_token --data-urlencode "refresh_token=$2"; }

########################################################################
echo "== rotating refresh tokens"
start_idp rotating --rotate-refresh-tokens

curl -sS -o "$WORK/disco.json" "$ISSUER/.well-known/openid-configuration"
[ "$(js "$WORK/disco.json" 'j.issuer')" = "$ISSUER" ] || fail "discovery issuer"
[ "$(js "$WORK/disco.json" 'j.authorization_response_iss_parameter_supported')" = true ] || fail "iss parameter not advertised"
for key in revocation_endpoint end_session_endpoint introspection_endpoint userinfo_endpoint jwks_uri; do
  [ -n "$(js "$WORK/disco.json" "j.$key || ''")" ] || fail "discovery lacks $key"
done
[ "$(js "$WORK/disco.json" 'j.code_challenge_methods_supported')" = '["S256"]' ] || fail "code_challenge_methods_supported"
[ "$(js "$WORK/disco.json" '["openid","profile","email","groups","offline_access"].every(s => j.scopes_supported.includes(s))')" = true ] || fail "scopes_supported: $(js "$WORK/disco.json" j.scopes_supported)"
ok "discovery: issuer, iss parameter, revocation/end_session/introspection endpoints, S256, scopes"

# PKCE is required even for this confidential client.
req "$WORK/nopkce.jar" GET "$ISSUER/auth?response_type=code&client_id=$CLIENT_ID&redirect_uri=$(urlenc "$REDIRECT_URI")&scope=openid&state=s1"
expect_status 303 "authorization request without PKCE"
[ "$(query "$LOCATION" error)" = invalid_request ] || fail "no PKCE was not rejected: $LOCATION"
ok "authorization without code_challenge -> error=invalid_request ($(query "$LOCATION" error_description))"

JAR=$WORK/alice.jar
authorize "$JAR"
req "$JAR" GET "$INTERACTION"
expect_status 200 "interaction page"
UID_PATH=${INTERACTION#"$ISSUER"}
grep -q "action=\"$UID_PATH/login\"" "$WORK/body" || fail "no login form posting to $UID_PATH/login"
grep -q "action=\"$UID_PATH/abort\"" "$WORK/body" || fail "no abort form"
grep -q 'name="login"' "$WORK/body" && grep -q 'name="password"' "$WORK/body" || fail "no login/password inputs"
grep -q '>Sign in</button>' "$WORK/body" && grep -q '>Deny</button>' "$WORK/body" || fail "no Sign in / Deny buttons"
ok "interaction page $UID_PATH: forms POST $UID_PATH/login (login, password, 'Sign in') and $UID_PATH/abort ('Deny')"

req "$JAR" POST "$INTERACTION/login" --data-urlencode login=alice --data-urlencode password=wrong
expect_status 200 "wrong password"
grep -q 'Invalid login or password' "$WORK/body" || fail "no error shown for a wrong password"
ok "wrong password -> 200, form shown again with an error"

req "$JAR" POST "$INTERACTION/login" --data-urlencode login=alice --data-urlencode password=alice-password
expect_status 303 "login"
finish "$JAR"
CODE=$(query "$CALLBACK" code)
[ -n "$CODE" ] && [ "$(query "$CALLBACK" state)" = "$STATE" ] && [ "$(query "$CALLBACK" iss)" = "$ISSUER" ] \
  || fail "callback lacks code/state/iss: $CALLBACK"
ok "login -> 303 ... -> 303 to redirect_uri with code, state and iss=$ISSUER"

# A wrong code_verifier is refused.
STATUS=$(token "$WORK/t.json" -d grant_type=authorization_code --data-urlencode "code=$CODE" \
  --data-urlencode "redirect_uri=$REDIRECT_URI" -d code_verifier=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA)
[ "$STATUS" = 400 ] && [ "$(js "$WORK/t.json" j.error)" = invalid_grant ] || fail "wrong code_verifier: $STATUS $(cat "$WORK/t.json")"
ok "wrong code_verifier -> 400 invalid_grant"
# (the code is now consumed; get a fresh one)
sign_in "$JAR.2" alice alice-password

STATUS=$(token "$WORK/t.json" -d grant_type=authorization_code --data-urlencode "code=$CODE" \
  --data-urlencode "redirect_uri=$REDIRECT_URI" --data-urlencode "code_verifier=$VERIFIER")
[ "$STATUS" = 200 ] || fail "code exchange: $STATUS $(cat "$WORK/t.json")"
ACCESS=$(js "$WORK/t.json" j.access_token); ID_TOKEN=$(js "$WORK/t.json" j.id_token); RT1=$(js "$WORK/t.json" j.refresh_token)
[ -n "$ACCESS" ] && [ -n "$ID_TOKEN" ] && [ -n "$RT1" ] || fail "token response lacks a token: $(cat "$WORK/t.json")"
[ "$(js "$WORK/t.json" j.expires_in)" = 3600 ] || fail "expires_in is not 3600"
jwt_payload "$ID_TOKEN" >"$WORK/id.json"
node -e 'process.stdout.write(JSON.parse(Buffer.from(process.argv[1].split(".")[0], "base64url")).alg)' "$ID_TOKEN" | grep -qx RS256 || fail "ID token is not RS256"
[ "$(js "$WORK/id.json" '[j.iss, j.aud, j.sub, j.nonce, j.email, j.email_verified, j.name, j.preferred_username, j.groups.join(","), !!j.picture].join("|")')" \
  = "$ISSUER|$CLIENT_ID|alice-sub|$NONCE|alice@example.com|true|Alice Liddell|alice|admins,staff|true" ] \
  || fail "ID token payload: $(cat "$WORK/id.json")"
ok "code + client_secret_basic + code_verifier -> access_token, RS256 id_token, refresh_token"
echo "     id_token payload: $(cat "$WORK/id.json")"

curl -sS -o "$WORK/ui.json" -H "Authorization: Bearer $ACCESS" "$ISSUER/me"
[ "$(js "$WORK/ui.json" '[j.sub, j.email, j.name, j.groups.join(",")].join("|")')" = "alice-sub|alice@example.com|Alice Liddell|admins,staff" ] \
  || fail "userinfo: $(cat "$WORK/ui.json")"
ok "userinfo: $(cat "$WORK/ui.json")"

curl -sS -o "$WORK/in.json" -u "$CLIENT_ID:$CLIENT_SECRET" --data-urlencode "token=$ACCESS" "$ISSUER/token/introspection"
[ "$(js "$WORK/in.json" '[j.active, j.sub, j.client_id].join("|")')" = "true|alice-sub|$CLIENT_ID" ] || fail "introspection: $(cat "$WORK/in.json")"
ok "introspection: active=true sub=alice-sub"

STATUS=$(refresh "$WORK/r1.json" "$RT1")
[ "$STATUS" = 200 ] || fail "first refresh: $STATUS $(cat "$WORK/r1.json")"
RT2=$(js "$WORK/r1.json" j.refresh_token)
[ -n "$RT2" ] && [ "$RT2" != "$RT1" ] || fail "refresh token was not rotated"
[ -n "$(js "$WORK/r1.json" "j.id_token || ''")" ] && [ -n "$(js "$WORK/r1.json" "j.access_token || ''")" ] || fail "refresh response lacks tokens"
ok "refresh with RT1 -> 200, new access_token + id_token, rotated refresh token RT2"

STATUS=$(refresh "$WORK/r2.json" "$RT1")
[ "$STATUS" = 400 ] && [ "$(js "$WORK/r2.json" j.error)" = invalid_grant ] || fail "reusing RT1: $STATUS $(cat "$WORK/r2.json")"
ok "reuse of RT1 -> 400 $(cat "$WORK/r2.json")"

STATUS=$(refresh "$WORK/r3.json" "$RT2")
[ "$STATUS" = 400 ] && [ "$(js "$WORK/r3.json" j.error)" = invalid_grant ] || fail "RT2 after reuse: $STATUS $(cat "$WORK/r3.json")"
ok "RT2 after the reuse -> 400 $(cat "$WORK/r3.json") (grant revoked)"

curl -sS -o "$WORK/in2.json" -u "$CLIENT_ID:$CLIENT_SECRET" --data-urlencode "token=$ACCESS" "$ISSUER/token/introspection"
[ "$(js "$WORK/in2.json" j.active)" = false ] || fail "access token still active after reuse: $(cat "$WORK/in2.json")"
ok "the grant's access token is inactive too"

curl -sS -o "$WORK/stats.json" "$ISSUER/test/stats"
[ "$(js "$WORK/stats.json" '[j.token_requests.authorization_code, j.token_requests.refresh_token, j.refresh_failures].join(",")')" = "2,3,2" ] \
  || fail "stats: $(cat "$WORK/stats.json")"
ok "/test/stats: $(cat "$WORK/stats.json")"

# Deny
JAR=$WORK/deny.jar
authorize "$JAR"
req "$JAR" GET "$INTERACTION"
expect_status 200 "interaction page"
req "$JAR" POST "$INTERACTION/abort"
expect_status 303 "abort"
finish "$JAR"
[ "$(query "$CALLBACK" error)" = access_denied ] && [ "$(query "$CALLBACK" state)" = "$STATE" ] && [ "$(query "$CALLBACK" iss)" = "$ISSUER" ] \
  || fail "deny callback: $CALLBACK"
ok "Deny -> redirect_uri with error=access_denied, state and iss"

# /test/revoke-grants, bob, client_secret_post
JAR=$WORK/bob.jar
sign_in "$JAR" bob bob-password
STATUS=$(curl -sS -o "$WORK/t.json" -w '%{http_code}' "$ISSUER/token" -d grant_type=authorization_code \
  --data-urlencode "code=$CODE" --data-urlencode "redirect_uri=$REDIRECT_URI" --data-urlencode "code_verifier=$VERIFIER" \
  --data-urlencode "client_id=$CLIENT_ID" --data-urlencode "client_secret=$CLIENT_SECRET")
[ "$STATUS" = 200 ] || fail "code exchange with client_secret_post: $STATUS $(cat "$WORK/t.json")"
jwt_payload "$(js "$WORK/t.json" j.id_token)" >"$WORK/id.json"
[ "$(js "$WORK/id.json" '[j.sub, j.email, j.name, j.groups.join(",")].join("|")')" = "bob-sub|bob@example.com|Bob|staff" ] || fail "bob's ID token: $(cat "$WORK/id.json")"
ok "bob signs in; client_secret_post accepted; ID token sub=bob-sub groups=[staff]"
BOB_RT=$(js "$WORK/t.json" j.refresh_token)
sign_in "$WORK/alice3.jar" alice alice-password
token "$WORK/t.json" -d grant_type=authorization_code --data-urlencode "code=$CODE" \
  --data-urlencode "redirect_uri=$REDIRECT_URI" --data-urlencode "code_verifier=$VERIFIER" >/dev/null
ALICE_RT=$(js "$WORK/t.json" j.refresh_token)
curl -sS -o "$WORK/rv.json" -X POST "$ISSUER/test/revoke-grants?sub=alice-sub"
ok "POST /test/revoke-grants?sub=alice-sub -> $(cat "$WORK/rv.json")"
STATUS=$(refresh "$WORK/r.json" "$ALICE_RT")
[ "$STATUS" = 400 ] && [ "$(js "$WORK/r.json" j.error)" = invalid_grant ] || fail "alice refresh after revoke-grants: $STATUS $(cat "$WORK/r.json")"
STATUS=$(refresh "$WORK/r.json" "$BOB_RT")
[ "$STATUS" = 200 ] || fail "bob's refresh after revoking alice's grants: $STATUS $(cat "$WORK/r.json")"
ok "alice's refresh now -> invalid_grant; bob's still works"

# Signing in again after the revocation works (the IdP session is kept, the
# missing grant is granted again without a page).
authorize "$WORK/alice3.jar"
req "$WORK/alice3.jar" GET "$INTERACTION"
expect_status 303 "interaction with an existing IdP session"
finish "$WORK/alice3.jar"
[ -n "$(query "$CALLBACK" code)" ] || fail "no code on re-authorization: $CALLBACK"
ok "re-authorization with an IdP session -> code without any page"

# Revocation endpoint (RFC 7009)
STATUS=$(curl -sS -o /dev/null -w '%{http_code}' -u "$CLIENT_ID:$CLIENT_SECRET" --data-urlencode "token=$BOB_RT" "$ISSUER/token/revocation")
[ "$STATUS" = 200 ] || fail "revocation: $STATUS"
STATUS=$(refresh "$WORK/r.json" "$BOB_RT")
[ "$STATUS" = 400 ] && [ "$(js "$WORK/r.json" j.error)" = invalid_grant ] || fail "refresh after revocation: $STATUS $(cat "$WORK/r.json")"
ok "revocation endpoint: revoked refresh token -> invalid_grant"

# RP-initiated logout
req "$WORK/alice3.jar" GET "$ISSUER/session/end?id_token_hint=$ID_TOKEN&post_logout_redirect_uri=$(urlenc "$POST_LOGOUT_URI")&state=bye"
expect_status 200 "end_session"
XSRF=$(sed -n 's/.*name="xsrf" value="\([^"]*\)".*/\1/p' "$WORK/body")
[ -n "$XSRF" ] || fail "no xsrf in the logout page"
req "$WORK/alice3.jar" POST "$ISSUER/session/end/confirm" --data-urlencode "xsrf=$XSRF" -d logout=yes
expect_status 303 "logout confirm"
[ "$LOCATION" = "$POST_LOGOUT_URI?state=bye" ] || fail "logout redirected to $LOCATION"
ok "end_session page -> POST /session/end/confirm (xsrf, logout=yes) -> 303 $LOCATION"

curl -sS -o "$WORK/stats.json" "$ISSUER/test/stats"
ok "/test/stats at the end: $(cat "$WORK/stats.json")"
stop_idp rotating

########################################################################
echo "== without rotation, --access-token-ttl 5"
start_idp plain --access-token-ttl 5
sign_in "$WORK/plain.jar" alice alice-password
token "$WORK/t.json" -d grant_type=authorization_code --data-urlencode "code=$CODE" \
  --data-urlencode "redirect_uri=$REDIRECT_URI" --data-urlencode "code_verifier=$VERIFIER" >/dev/null
[ "$(js "$WORK/t.json" j.expires_in)" = 5 ] || fail "expires_in with --access-token-ttl 5: $(cat "$WORK/t.json")"
RT=$(js "$WORK/t.json" j.refresh_token)
for i in 1 2; do
  STATUS=$(refresh "$WORK/r.json" "$RT")
  [ "$STATUS" = 200 ] && [ "$(js "$WORK/r.json" j.refresh_token)" = "$RT" ] || fail "refresh #$i without rotation: $STATUS $(cat "$WORK/r.json")"
done
ok "expires_in=5; the same refresh token works twice and is returned unchanged"
curl -sS -o "$WORK/stats.json" "$ISSUER/test/stats"
[ "$(js "$WORK/stats.json" '[j.token_requests.authorization_code, j.token_requests.refresh_token, j.refresh_failures].join(",")')" = "1,2,0" ] \
  || fail "stats: $(cat "$WORK/stats.json")"
ok "/test/stats: $(cat "$WORK/stats.json")"

# Quirks of other providers (POST /test/quirks)
curl -sS -o "$WORK/in.json" -u "$CLIENT_ID:$CLIENT_SECRET" --data-urlencode "token=$RT" "$ISSUER/token/introspection"
[ "$(js "$WORK/in.json" '[j.active, j.token_type === undefined].join("|")')" = "true|true" ] || fail "refresh token introspection: $(cat "$WORK/in.json")"
ok "introspection of a refresh token: active, no token_type (oidc-provider's own way)"
quirks() { curl -sS -o "$WORK/q.json" -w '%{http_code}' -H 'Content-Type: application/json' -d "$1" "$ISSUER/test/quirks"; }
[ "$(quirks '{"no_such_quirk": 1}')" = 400 ] || fail "an unknown quirk: $(cat "$WORK/q.json")"
[ "$(quirks '{"introspection_token_type": false, "introspection_sub": false}')" = 200 ] || fail "quirks: $(cat "$WORK/q.json")"
refresh "$WORK/r.json" "$RT" >/dev/null # a fresh access token (they live 5 s here)
ACCESS=$(js "$WORK/r.json" j.access_token)
curl -sS -o "$WORK/in.json" -u "$CLIENT_ID:$CLIENT_SECRET" --data-urlencode "token=$ACCESS" "$ISSUER/token/introspection"
[ "$(js "$WORK/in.json" '[j.active, j.username, j.sub === undefined, j.token_type === undefined].join("|")')" = "true|alice|true|true" ] \
  || fail "introspection with quirks: $(cat "$WORK/in.json")"
ok "quirks: introspection answers username=alice, no sub, no token_type (Django OAuth Toolkit)"
[ "$(quirks '{"refresh_error": "invalid_request"}')" = 200 ] || fail "quirks: $(cat "$WORK/q.json")"
STATUS=$(refresh "$WORK/r.json" "$RT")
[ "$STATUS" = 400 ] && [ "$(js "$WORK/r.json" j.error)" = invalid_request ] || fail "refresh with refresh_error: $STATUS $(cat "$WORK/r.json")"
[ "$(quirks '{"refresh_status": 503}')" = 200 ] || fail "quirks: $(cat "$WORK/q.json")"
STATUS=$(refresh "$WORK/r.json" "$RT")
[ "$STATUS" = 503 ] || fail "refresh with refresh_status 503: $STATUS $(cat "$WORK/r.json")"
[ "$(quirks '{"reset": true}')" = 200 ] || fail "quirks reset: $(cat "$WORK/q.json")"
STATUS=$(refresh "$WORK/r.json" "$RT")
[ "$STATUS" = 200 ] || fail "refresh after the quirks: $STATUS $(cat "$WORK/r.json")"
ok "quirks: refresh -> 400 invalid_request, then 503; after reset the same refresh token works (never spent)"
stop_idp plain

echo "smoke: all checks passed"
