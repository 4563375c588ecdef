#!/usr/bin/env bash
# tests/lab_pki.sh: the lab CA (deploy/lab/strongswan-peer make-cert) makes certificates that another IKE
# implementation (espgate) can load: PEM, chained to the lab CA, the identity in the subjectAltName, the key
# matching the certificate, RSA 2048 and ECDSA P-256, PKCS#8 copies of the keys, one CA per type and run
# directory. Checked with openssl, independently of strongSwan. Prints "N passed, N failed".
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
peer="$root/deploy/lab/strongswan-peer"
command -v openssl >/dev/null || { echo "tests/lab_pki.sh: openssl missing" >&2; exit 1; }
export LAB_PREFIX=ltp- LAB_RUN_DIR=/tmp/espgate-lab/tests-pki-$$
out=$LAB_RUN_DIR/out
trap 'rm -rf "$LAB_RUN_DIR"' EXIT

pass=0 fail=0 n=0
check() {
  local what=$1
  shift
  n=$((n + 1))
  if "$@" >/dev/null 2>&1; then pass=$((pass + 1)); echo "ok $n - $what"
  else fail=$((fail + 1)); echo "not ok $n - $what"; fi
}
pubkey_of_cert() { openssl x509 -in "$1" -noout -pubkey; }
pubkey_of_key() { openssl pkey -in "$1" -pubout; }

for type in rsa ecdsa; do
  id=gw-$type.lab.example
  d=$out/$type
  check "$type: make-cert writes ca.pem, $id.pem, $id.key, $id.pkcs8.key" \
    eval "'$peer' make-cert '$id' $type '$d' && test -s '$d/ca.pem' -a -s '$d/$id.pem' -a -s '$d/$id.key' -a -s '$d/$id.pkcs8.key'"
  check "$type: the certificate is PEM and chains to the lab CA" openssl verify -CAfile "$d/ca.pem" "$d/$id.pem"
  check "$type: subjectAltName is DNS:$id" \
    eval "openssl x509 -in '$d/$id.pem' -noout -ext subjectAltName | grep -x ' *DNS:$id' >/dev/null"
  check "$type: the key belongs to the certificate" \
    eval "test \"\$(pubkey_of_cert '$d/$id.pem')\" = \"\$(pubkey_of_key '$d/$id.key')\""
  check "$type: the PKCS#8 key is the same key" \
    eval "test \"\$(pubkey_of_key '$d/$id.pkcs8.key')\" = \"\$(pubkey_of_key '$d/$id.key')\" && grep -x -- '-----BEGIN PRIVATE KEY-----' '$d/$id.pkcs8.key' >/dev/null"
  check "$type: signed with SHA-256" \
    eval "openssl x509 -in '$d/$id.pem' -noout -text | grep -E 'Signature Algorithm: (sha256WithRSAEncryption|ecdsa-with-SHA256)' >/dev/null"
done
check "rsa: a 2048-bit RSA key" \
  eval "openssl pkey -in '$out/rsa/gw-rsa.lab.example.key' -noout -text | grep 'Private-Key: (2048 bit' >/dev/null"
check "ecdsa: a P-256 key" \
  eval "openssl pkey -in '$out/ecdsa/gw-ecdsa.lab.example.key' -noout -text | grep -E 'NIST CURVE: P-256|prime256v1' >/dev/null"
"$peer" make-cert second.lab.example rsa "$out/second" 2>/dev/null
check "rsa: a second certificate comes from the same CA" cmp "$out/rsa/ca.pem" "$out/second/ca.pem"
check "the RSA and ECDSA CAs differ" eval "! cmp -s '$out/rsa/ca.pem' '$out/ecdsa/ca.pem'"
check "make-cert refuses an identity that is not a DNS name" eval "! '$peer' make-cert 'bad id' rsa '$out/bad'"

echo "$pass passed, $fail failed"
((fail == 0))
