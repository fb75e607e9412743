#!/usr/bin/env bash
# Authentication end to end with the real gridd and gridctl, certificates made
# at test time (deploy/dev-certs.sh, openssl): bearer tokens over TLS, mutual
# TLS with the certificate's common name as the principal, and every way in
# that must fail — no, wrong or unknown credentials, plaintext, a wrong CA,
# self-signed, expired and foreign client certificates.
# usage: auth_e2e.sh GRIDD GRIDCTL SOURCE_DIR
set -euo pipefail
GRIDD=$1
GRIDCTL=$2
SRC=$3
source "$(dirname "$0")/gridd_lib.sh"

A="$tmp/auth"
CLIENT=dept-health TOKEN_PRINCIPAL=dev-admin bash "$SRC/deploy/dev-certs.sh" "$A" >/dev/null
bash "$SRC/deploy/dev-certs.sh" "$tmp/other" >/dev/null  # another CA
token=$(cat "$A/token")
# A self-signed client certificate, and an expired one from the right CA.
(cd "$A" &&
  openssl req -x509 -new -key client.key -subj "/CN=mallory" -days 1 -out self.crt 2>/dev/null &&
  openssl req -new -key client.key -subj "/CN=old" -out old.csr 2>/dev/null &&
  openssl x509 -req -in old.csr -CA ca.crt -CAkey ca.key -days -1 -out old.crt 2>/dev/null)
grid='{"event_id":"g-1","type":"GridDefined","org_path":"350599/101/203/g05","grid_defined":{"org_path":"350599/101/203/g05","name":"g5"}}'

# expect_fail NAME CODE_REGEX GRIDCTL_ARGS...: gridctl status exits 1 with that code.
expect_fail() {
  local name=$1 code=$2
  shift 2
  set +e
  "$GRIDCTL" status "$S" "$@" >/dev/null 2>"$tmp/err"
  local rc=$?
  set -e
  check "$name: exits 1" test "$rc" -eq 1
  check "$name: $code" grep -qE "^gridctl: ($code):" "$tmp/err"
}

# ---- tokens over TLS (no client certificates)
grep -v tls_client_ca "$A/gridd-auth.json" >"$tmp/tokens.json"
start_gridd --config="$tmp/tokens.json"
S="--server=localhost:$port"
check "token: append" "$GRIDCTL" append "$S" --ca "$A/ca.crt" --token "$token" --stream org/350599 "$grid" >/dev/null
check "token: the event's actor is the token's principal" \
  grep -q '"actor":{"principal":"dev-admin"}' <("$GRIDCTL" read --all "$S" --ca "$A/ca.crt" --token "$token")
check "token from the environment" env GRIDCTL_TOKEN="$token" "$GRIDCTL" status "$S" --ca "$A/ca.crt" >/dev/null
check "token: 127.0.0.1 is in the certificate too" \
  "$GRIDCTL" status --server="127.0.0.1:$port" --ca "$A/ca.crt" --token "$token" >/dev/null
expect_fail "no token" UNAUTHENTICATED --ca "$A/ca.crt"
check "no token: says what to send" grep -q 'send `authorization: Bearer <token>`' "$tmp/err"
check "no token: hint" grep -q '^hint: gridd at .* wants credentials' "$tmp/err"
expect_fail "unknown token" UNAUTHENTICATED --ca "$A/ca.crt" --token "x$token"
check "unknown token: named" grep -q 'unknown bearer token' "$tmp/err"
expect_fail "plaintext" UNAVAILABLE
check "plaintext: hint about TLS" grep -q '^hint: .*give --ca' "$tmp/err"
expect_fail "wrong CA" UNAVAILABLE --ca "$tmp/other/ca.crt" --token "$token"
check "wrong CA: hint about TLS" grep -q '^hint: TLS with ' "$tmp/err"
set +e
"$GRIDCTL" status "$S" --token "$token" 2>"$tmp/err"; rc=$?
set -e
check "a token without TLS is refused by gridctl (exit 2)" test "$rc" -eq 2
check "nothing unauthenticated was written" test "$("$GRIDCTL" read --all "$S" --ca "$A/ca.crt" --token "$token" | wc -l)" -eq 1
kill -TERM "$pid"; wait "$pid" || true

# ---- mutual TLS (and tokens)
data="$tmp/data2" name=mtls start_gridd --config="$A/gridd-auth.json"
S="--server=localhost:$port"
C=(--ca "$A/ca.crt" --cert "$A/client.crt" --key "$A/client.key")
check "client certificate: append" "$GRIDCTL" append "$S" "${C[@]}" --stream org/350599 "$grid" >/dev/null
check "client certificate: the actor is its common name" \
  grep -q '"actor":{"principal":"dept-health"}' <("$GRIDCTL" read --all "$S" "${C[@]}")
check "certificate and token: the token names the caller" \
  "$GRIDCTL" status "$S" "${C[@]}" --token "$token" >/dev/null
expect_fail "certificate with an unknown token" UNAUTHENTICATED "${C[@]}" --token nope
# Regression: with client certificates configured a token alone was refused
# at the handshake, although gridd (and the README's example) take either.
check "a token without a client certificate is served" "$GRIDCTL" status "$S" --ca "$A/ca.crt" --token "$token"
expect_fail "neither a certificate nor a token" UNAUTHENTICATED --ca "$A/ca.crt"
expect_fail "self-signed client certificate" UNAVAILABLE --ca "$A/ca.crt" --cert "$A/self.crt" --key "$A/client.key"
expect_fail "expired client certificate" UNAVAILABLE --ca "$A/ca.crt" --cert "$A/old.crt" --key "$A/client.key"
expect_fail "client certificate from another CA" UNAVAILABLE \
  --ca "$A/ca.crt" --cert "$tmp/other/client.crt" --key "$tmp/other/client.key"
kill -TERM "$pid"; wait "$pid" || true

# ---- settings that make no sense are refused at start
set +e
"$GRIDD" --tls_cert="$A/tls.crt" --metrics_listen "" --data_dir="$tmp/x" --print-config >/dev/null 2>"$tmp/err"; rc=$?
check "tls_cert without tls_key exits 2" test "$rc" -eq 2
check "and says why" grep -q 'tls_cert and tls_key: give both or neither' "$tmp/err"
"$GRIDD" --listen=0.0.0.0:0 --tls_cert="$A/tls.crt" --tls_key="$A/tls.key" --metrics_listen "" \
  --data_dir="$tmp/x" 2>"$tmp/err"; rc=$?
check "non-loopback with TLS but no client authentication refuses to start" test "$rc" -eq 1
check "and says what is missing" grep -q 'needs authentication configured' "$tmp/err"
set -e
finish "auth e2e"
