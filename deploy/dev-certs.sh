#!/usr/bin/env bash
# Makes what a local setup with authentication needs, for development and
# tests only (a throwaway CA, short-lived certificates, keys unencrypted):
#
#   DIR/ca.crt, ca.key          a CA
#   DIR/tls.crt, tls.key        gridd's certificate: localhost, 127.0.0.1, ::1 and HOST...;
#                               CN=gridd, also a client certificate (a cluster node's, or etcd's)
#   DIR/client.crt, client.key  a client certificate whose common name is CLIENT
#   DIR/token                   a random bearer token for TOKEN_PRINCIPAL
#   DIR/gridd-auth.json         the gridd settings that use them (token by its SHA-256)
#
# usage: deploy/dev-certs.sh DIR [HOST...]
#   CLIENT=dept-health TOKEN_PRINCIPAL=dev-admin DAYS=30 (defaults)
# then:
#   build/gridd --config=DIR/gridd-auth.json
#   build/gridctl status --ca DIR/ca.crt --token "$(cat DIR/token)"
#   build/gridctl status --ca DIR/ca.crt --cert DIR/client.crt --key DIR/client.key
set -euo pipefail
dir=$1
shift
client=${CLIENT:-dept-health}
principal=${TOKEN_PRINCIPAL:-dev-admin}
days=${DAYS:-30}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
cd "$dir"
umask 077
key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }

key ca.key
openssl req -x509 -new -key ca.key -sha256 -days "$days" -subj "/CN=gridlog dev CA" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
  -out ca.crt 2>/dev/null

san="DNS:localhost,IP:127.0.0.1,IP:::1"
for h in "$@"; do
  if [[ $h =~ ^[0-9.]+$ || $h == *:* ]]; then san+=",IP:$h"; else san+=",DNS:$h"; fi
done
# sign NAME CN EXTENSIONS: NAME.key and NAME.crt signed by the CA.
sign() {
  key "$1.key"
  openssl req -new -key "$1.key" -subj "/CN=$2" -out "$1.csr" 2>/dev/null
  printf '%s\n' "$3" >"$1.ext"
  openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -sha256 \
    -days "$days" -extfile "$1.ext" -out "$1.crt" 2>/dev/null
  rm -f "$1.csr" "$1.ext"
}
sign tls gridd "subjectAltName=$san
extendedKeyUsage=serverAuth,clientAuth"
sign client "$client" "extendedKeyUsage=clientAuth"
rm -f ca.srl

openssl rand -hex 32 | tr -d '\n' >token
sha=$(sha256sum <token | cut -d' ' -f1)
cat >gridd-auth.json <<JSON
// Development only: made by deploy/dev-certs.sh.
{
  "tls_cert": "$dir/tls.crt",
  "tls_key": "$dir/tls.key",
  "tls_client_ca": "$dir/ca.crt",
  "tokens": [{"principal": "$principal", "sha256_hex": "$sha"}]
}
JSON
chmod 0644 ca.crt tls.crt client.crt gridd-auth.json
echo "$dir: CA, gridd certificate ($san), client certificate CN=$client, token for $principal"
