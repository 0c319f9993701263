"""Writes the benchmark's RSA key (as test-service JSON) and tokens.

    tokens.py <dir> <base-domain> <fresh-count>

<dir>/service.json   tenants + the public key, for lintel-test-service
<dir>/token          one token, reused by every request of case (c)
<dir>/tokens         <fresh-count> distinct tokens for case (d)
"""

import base64
import json
import sys
import time
import uuid

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

TENANT_ID = "7d1c3a52-0b1e-4e8a-9a40-bench0000001"


def b64u(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def main():
    out, base, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.public_key().public_bytes(
        serialization.Encoding.PEM,
        serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    with open(out + "/service.json", "w") as f:
        json.dump({"tenants": [{"slug": "acme", "id": TENANT_ID,
                                "status": "active"}],
                   "keys": [{"kid": "bench", "pem": pem}]}, f)
    header = b64u(json.dumps({"alg": "RS256", "typ": "JWT",
                              "kid": "bench"}).encode())
    now = int(time.time())

    def token():
        claims = {"iss": "https://" + base, "aud": "lintel-api",
                  "sub": str(uuid.uuid4()), "tid": TENANT_ID, "role": "member",
                  "sid": str(uuid.uuid4()), "jti": str(uuid.uuid4()),
                  "iat": now, "exp": now + 3600, "typ": "access"}
        si = header + "." + b64u(json.dumps(claims).encode())
        sig = key.sign(si.encode(), padding.PKCS1v15(), hashes.SHA256())
        return si + "." + b64u(sig)

    with open(out + "/token", "w") as f:
        f.write(token())
    with open(out + "/tokens", "w") as f:
        for _ in range(count):
            f.write(token() + "\n")


main()
