"""Verifies a Facegate face-login token the way another service would: PyJWT and the JWKS only.

Reads JWKS (the JSON of /.well-known/jwks.json) and TOKEN from the environment; prints the `sub` claim and
exits 0 when the token verifies, exits 1 with the reason otherwise.
"""

import json
import os
import sys

import jwt

jwks = jwt.PyJWKSet.from_dict(json.loads(os.environ["JWKS"]))
token = os.environ["TOKEN"]
try:
    kid = jwt.get_unverified_header(token).get("kid")
    key = next(k for k in jwks.keys if k.key_id == kid)
    claims = jwt.decode(token, key.key, algorithms=["EdDSA"], audience="facegate", issuer="facegate",
                        options={"require": ["exp", "iat", "sub", "jti"]})
except Exception as e:  # every failure is a refusal
    print(f"refused: {type(e).__name__}: {e}", file=sys.stderr)
    sys.exit(1)
print(claims["sub"])
