#!/usr/bin/env bash
# Regenerates the test PKI in this directory with the openssl CLI (OpenSSL 3). Fixed validity dates, so tests can
# pass a fixed "now" (2027-01-01) and need no clock. Keys are test-only and committed on purpose.
# usage: control/tests/data/pki/gen.sh   (rewrites every *.pem / *.key / *.der here)
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
START=20260101000000Z
END=20360101000000Z

cat >"$work/ca.cnf" <<CNF
[ ca ]
default_ca = dflt
[ dflt ]
dir = $work
database = $work/index.txt
new_certs_dir = $work
serial = $work/serial
default_md = sha256
policy = anything
unique_subject = no
copy_extensions = none
[ anything ]
commonName = supplied
organizationName = optional
countryName = optional
[ req ]
distinguished_name = dn
[ dn ]
CNF
: >"$work/index.txt"
echo 1000 >"$work/serial"

rsa_key() { openssl genrsa -traditional -out "$1" 2048 2>/dev/null; }            # PKCS#1 PEM
ec_key() { openssl ecparam -name "$2" -genkey -noout -out "$1"; }                 # SEC1 PEM
pkcs8() { openssl pkcs8 -topk8 -nocrypt -in "$1" -out "$2"; }

# issue NAME KEY SUBJECT EXTENSIONS ISSUER_NAME|self [MD] [START END]
issue() {
  local name=$1 key=$2 subj=$3 ext=$4 issuer=$5 md=${6:-sha256} start=${7:-$START} end=${8:-$END}
  printf '[ x ]\n%b\n' "$ext" >"$work/$name.ext"
  openssl req -new -key "$key" -subj "$subj" -config "$work/ca.cnf" -out "$work/$name.csr"
  if [[ $issuer == self ]]; then
    openssl ca -batch -notext -config "$work/ca.cnf" -selfsign -keyfile "$key" -md "$md" -preserveDN \
      -startdate "$start" -enddate "$end" -extfile "$work/$name.ext" -extensions x -in "$work/$name.csr" \
      -out "$name.pem" 2>/dev/null
  else
    openssl ca -batch -notext -config "$work/ca.cnf" -cert "$issuer.pem" -keyfile "$issuer.key" -md "$md" \
      -preserveDN -startdate "$start" -enddate "$end" -extfile "$work/$name.ext" -extensions x \
      -in "$work/$name.csr" -out "$name.pem" 2>/dev/null
  fi
}

CA='basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash'
SUB='basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign'
EE='basicConstraints=CA:FALSE\nkeyUsage=digitalSignature'

# Trust anchors: an RSA CA, an ECDSA P-384 CA, and a CA nobody trusts.
rsa_key ca-rsa.key
issue ca-rsa ca-rsa.key "/C=XX/O=espgate test/CN=espgate test RSA CA" "$CA" self
ec_key ca-ecdsa.key secp384r1
issue ca-ecdsa ca-ecdsa.key "/C=XX/O=espgate test/CN=espgate test ECDSA CA" "$CA" self sha384
rsa_key other-ca.key
issue other-ca other-ca.key "/C=XX/O=elsewhere/CN=untrusted CA" "$CA" self

# Gateways of the in-memory tests: initiator 192.0.2.1, responder 198.51.100.1.
rsa_key gw-rsa.key
issue gw-rsa gw-rsa.key "/C=XX/O=espgate test/CN=gw1.example.net" \
  "$EE\nsubjectAltName=DNS:gw1.example.net,IP:192.0.2.1,email:ike@gw1.example.net" ca-rsa
rsa_key peer-rsa.key
issue peer-rsa peer-rsa.key "/C=XX/O=espgate test/CN=peer1.example.net" \
  "$EE\nsubjectAltName=DNS:peer1.example.net,IP:198.51.100.1" ca-rsa
ec_key gw-p256.key prime256v1
issue gw-p256 gw-p256.key "/C=XX/O=espgate test/CN=gw1.example.net" \
  "$EE\nsubjectAltName=DNS:gw1.example.net,IP:192.0.2.1" ca-ecdsa sha384
ec_key peer-p256.key prime256v1
issue peer-p256 peer-p256.key "/C=XX/O=espgate test/CN=peer1.example.net" \
  "$EE\nsubjectAltName=DNS:peer1.example.net,IP:198.51.100.1" ca-ecdsa sha384
ec_key "$work/gw-p384.sec1" secp384r1
pkcs8 "$work/gw-p384.sec1" gw-p384.key
issue gw-p384 gw-p384.key "/C=XX/O=espgate test/CN=gw1.example.net" \
  "$EE\nsubjectAltName=DNS:gw1.example.net,IP:192.0.2.1" ca-ecdsa sha384
ec_key "$work/peer-p384.sec1" secp384r1
pkcs8 "$work/peer-p384.sec1" peer-p384.key
issue peer-p384 peer-p384.key "/C=XX/O=espgate test/CN=peer1.example.net" \
  "$EE\nsubjectAltName=DNS:peer1.example.net,IP:198.51.100.1" ca-ecdsa sha384

# Chain validation cases.
rsa_key leaf.key
issue expired leaf.key "/C=XX/O=espgate test/CN=expired.example.net" "$EE\nsubjectAltName=DNS:expired.example.net" \
  ca-rsa sha256 20200101000000Z 20210101000000Z
issue wrong-ca leaf.key "/C=XX/O=elsewhere/CN=wrongca.example.net" "$EE\nsubjectAltName=DNS:wrongca.example.net" other-ca
issue not-ca leaf.key "/C=XX/O=espgate test/CN=notca.example.net" "$EE\nsubjectAltName=DNS:notca.example.net" gw-rsa
issue no-sign leaf.key "/C=XX/O=espgate test/CN=nosign.example.net" \
  "basicConstraints=CA:FALSE\nkeyUsage=keyEncipherment\nsubjectAltName=DNS:nosign.example.net" ca-rsa
rsa_key sub-ca.key
issue sub-ca sub-ca.key "/C=XX/O=espgate test/CN=espgate test sub CA" "$SUB" ca-rsa
issue via-sub leaf.key "/C=XX/O=espgate test/CN=viasub.example.net" "$EE\nsubjectAltName=DNS:viasub.example.net" sub-ca
# A CA under sub-ca, whose pathlen:0 forbids it, and a leaf under it.
rsa_key too-deep.key
issue too-deep too-deep.key "/C=XX/O=espgate test/CN=espgate test too-deep CA" "$SUB" sub-ca
issue below-deep leaf.key "/C=XX/O=espgate test/CN=belowdeep.example.net" "$EE" too-deep
# DER forms of one certificate and one key, for the DER loaders.
openssl x509 -in gw-rsa.pem -outform DER -out gw-rsa.der
openssl pkcs8 -topk8 -nocrypt -in gw-p256.key -outform DER -out gw-p256.pk8.der
echo "generated in $(pwd)"
