"""Keys and tokens for the JWT and introspection tests (and bench/features/jwt.py),
made with python3-cryptography and the standard library: every JWS algorithm,
JWKs of the public keys, and the raw pieces to build broken tokens with."""
import base64
import hashlib
import hmac
import json

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

HASHES = {"256": hashes.SHA256, "384": hashes.SHA384, "512": hashes.SHA512}
CURVES = {"ES256": (ec.SECP256R1, 32), "ES384": (ec.SECP384R1, 48), "ES512": (ec.SECP521R1, 66)}


def b64(data):
    if isinstance(data, str):
        data = data.encode()
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def seg(obj):
    return b64(json.dumps(obj, separators=(",", ":")))


class Key:
    """One signing key; kind is "rsa", "ec256"/"ec384"/"ec521", "ed25519" or "hmac"."""

    def __init__(self, kind, kid=None, bits=2048, secret=None):
        self.kind, self.kid = kind, kid
        if kind == "rsa":
            self.priv = rsa.generate_private_key(public_exponent=65537, key_size=bits)
        elif kind.startswith("ec"):
            curve = {"ec256": ec.SECP256R1, "ec384": ec.SECP384R1, "ec521": ec.SECP521R1}[kind]
            self.priv = ec.generate_private_key(curve())
        elif kind == "ed25519":
            self.priv = ed25519.Ed25519PrivateKey.generate()
        else:
            self.priv = None
            self.secret = secret or b"s" * 64

    def pem(self):
        return self.priv.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)

    def jwk(self, **extra):
        if self.kind == "hmac":
            d = {"kty": "oct", "k": b64(self.secret)}
        elif self.kind == "rsa":
            n = self.priv.public_key().public_numbers()
            d = {"kty": "RSA", "n": b64(n.n.to_bytes((n.n.bit_length() + 7) // 8, "big")),
                 "e": b64(n.e.to_bytes(3, "big"))}
        elif self.kind.startswith("ec"):
            n = self.priv.public_key().public_numbers()
            size = (self.priv.curve.key_size + 7) // 8
            d = {"kty": "EC", "crv": {"ec256": "P-256", "ec384": "P-384",
                                      "ec521": "P-521"}[self.kind],
                 "x": b64(n.x.to_bytes(size, "big")), "y": b64(n.y.to_bytes(size, "big"))}
        else:
            raw = self.priv.public_key().public_bytes(serialization.Encoding.Raw,
                                                      serialization.PublicFormat.Raw)
            d = {"kty": "OKP", "crv": "Ed25519", "x": b64(raw)}
        if self.kid:
            d["kid"] = self.kid
        d.update(extra)
        return d

    def sign(self, alg, data, der=False):
        if isinstance(data, str):
            data = data.encode()
        if alg.startswith("HS"):
            return hmac.new(self.secret, data, getattr(hashlib, "sha" + alg[2:])).digest()
        if alg.startswith("RS"):
            return self.priv.sign(data, padding.PKCS1v15(), HASHES[alg[2:]]())
        if alg.startswith("PS"):
            h = HASHES[alg[2:]]
            return self.priv.sign(data, padding.PSS(padding.MGF1(h()), h.digest_size), h())
        if alg.startswith("ES"):
            sig = self.priv.sign(data, ec.ECDSA(HASHES[alg[2:]]()))
            if der:
                return sig
            r, s = decode_dss_signature(sig)
            size = CURVES[alg][1]
            return r.to_bytes(size, "big") + s.to_bytes(size, "big")
        if alg == "EdDSA":
            return self.priv.sign(data)
        raise ValueError(alg)


def token(key, alg, claims, header=None, der=False, kid=True):
    h = {"alg": alg, "typ": "JWT"}
    if kid and key.kid:
        h["kid"] = key.kid
    if header:
        h.update(header)
    signing = seg(h) + "." + seg(claims)
    return signing + "." + b64(key.sign(alg, signing, der=der))


def raw_token(key, alg, header_text, payload_text):
    """A token from header and payload JSON text as given (duplicates kept)."""
    signing = b64(header_text) + "." + b64(payload_text)
    return signing + "." + b64(key.sign(alg, signing))
