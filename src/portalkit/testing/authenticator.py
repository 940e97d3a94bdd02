"""A software WebAuthn authenticator, for testing passkey log-ins without a browser: real
EC P-256 keys, real authenticatorData, clientDataJSON and signatures, "none" or "packed"
(self) attestation.

It answers the JSON options portalkit makes the way a browser and an authenticator together
would (``credential.toJSON()``), with nothing of portalkit's own code on its side.

Example::

    device = SoftAuthenticator(origin="https://portal.vendor.example")
    options = portal.passkeys.registration_options(member, password=password)
    portal.passkeys.register(member, device.create(options), name="Test key")
    login = portal.auth.passkey_login(vendor, device.get(portal.passkeys.login_options(vendor)))
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import struct
from dataclasses import dataclass, field
from typing import Any

import cbor2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

__all__ = ["Credential", "SoftAuthenticator", "b64", "unb64"]

UP, UV, AT = 0x01, 0x04, 0x40


def b64(data: bytes) -> str:
    """base64url without padding, as WebAuthn's JSON forms use it."""
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def unb64(text: str) -> bytes:
    """The bytes of base64url text with or without padding."""
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class Credential:
    """One credential the authenticator holds (discoverable: it keeps the user handle)."""

    id: bytes
    key: ec.EllipticCurvePrivateKey
    rp_id: str
    user_handle: bytes
    counter: int = 0


@dataclass
class SoftAuthenticator:
    """A platform authenticator in software. ``counter_step`` 0 makes one that keeps its
    counter at zero (as synced passkeys do); ``uv`` whether it verifies its user."""

    origin: str = "https://portal.vendor.example"
    attestation: str = "none"
    counter_step: int = 1
    uv: bool = True
    credentials: list[Credential] = field(default_factory=list)

    def create(
        self, options: dict[str, Any], *, origin: str = "", rp_id: str = ""
    ) -> dict[str, Any]:
        """Answer ``navigator.credentials.create(options)``; ``origin`` and ``rp_id`` stand
        in for a page on another site (or a lying authenticator)."""
        assert options["authenticatorSelection"]["residentKey"] == "required"
        excluded = {unb64(c["id"]) for c in options.get("excludeCredentials", [])}
        assert not excluded & {c.id for c in self.credentials}, "InvalidStateError"
        algs = [p["alg"] for p in options["pubKeyCredParams"]]
        assert -7 in algs
        key = ec.generate_private_key(ec.SECP256R1())
        credential = Credential(
            id=os.urandom(32),
            key=key,
            rp_id=rp_id or options["rp"]["id"],
            user_handle=unb64(options["user"]["id"]),
        )
        credential.counter = self.counter_step
        numbers = key.public_key().public_numbers()
        cose = cbor2.dumps(
            {
                1: 2,
                3: -7,
                -1: 1,
                -2: numbers.x.to_bytes(32, "big"),
                -3: numbers.y.to_bytes(32, "big"),
            }
        )
        attested = bytes(16) + struct.pack(">H", len(credential.id)) + credential.id + cose
        auth_data = self._auth_data(credential, AT) + attested
        client_data = self._client_data("webauthn.create", options["challenge"], origin)
        statement: dict[str, Any] = {}
        if self.attestation == "packed":
            signed = auth_data + hashlib.sha256(client_data).digest()
            statement = {"alg": -7, "sig": key.sign(signed, ec.ECDSA(hashes.SHA256()))}
        attestation = cbor2.dumps(
            {"fmt": self.attestation, "attStmt": statement, "authData": auth_data}
        )
        self.credentials.append(credential)
        return {
            "id": b64(credential.id),
            "rawId": b64(credential.id),
            "type": "public-key",
            "response": {
                "clientDataJSON": b64(client_data),
                "attestationObject": b64(attestation),
                "transports": ["internal", "hybrid"],
            },
            "clientExtensionResults": {},
            "authenticatorAttachment": "platform",
        }

    def get(
        self,
        options: dict[str, Any],
        *,
        origin: str = "",
        rp_id: str = "",
        credential: Credential | None = None,
        counter: int | None = None,
        uv: bool | None = None,
    ) -> dict[str, Any]:
        """Answer ``navigator.credentials.get(options)`` with ``credential`` (else the
        first one allowed, or the first one of the relying party when none is listed)."""
        allowed = {unb64(c["id"]) for c in options.get("allowCredentials", [])}
        if credential is None:
            fits = [
                c
                for c in self.credentials
                if c.rp_id == options["rpId"] and (not allowed or c.id in allowed)
            ]
            credential = fits[0]
        if counter is None:
            credential.counter += self.counter_step
        else:
            credential.counter = counter
        verified = self.uv if uv is None else uv
        auth_data = self._auth_data(credential, 0, rp_id=rp_id, uv=verified)
        client_data = self._client_data("webauthn.get", options["challenge"], origin)
        signature = credential.key.sign(
            auth_data + hashlib.sha256(client_data).digest(), ec.ECDSA(hashes.SHA256())
        )
        return {
            "id": b64(credential.id),
            "rawId": b64(credential.id),
            "type": "public-key",
            "response": {
                "clientDataJSON": b64(client_data),
                "authenticatorData": b64(auth_data),
                "signature": b64(signature),
                "userHandle": b64(credential.user_handle),
            },
            "clientExtensionResults": {},
            "authenticatorAttachment": "platform",
        }

    def _auth_data(
        self, credential: Credential, extra: int, *, rp_id: str = "", uv: bool | None = None
    ) -> bytes:
        flags = UP | (UV if (self.uv if uv is None else uv) else 0) | extra
        rp_hash = hashlib.sha256((rp_id or credential.rp_id).encode()).digest()
        return rp_hash + bytes([flags]) + struct.pack(">I", credential.counter)

    def _client_data(self, kind: str, challenge: str, origin: str) -> bytes:
        data = {"type": kind, "challenge": challenge, "origin": origin or self.origin}
        return json.dumps({**data, "crossOrigin": False}).encode()
