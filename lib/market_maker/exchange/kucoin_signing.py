"""Request signing as KuCoin documents it for API keys of versions 1 to 3."""

from __future__ import annotations

import base64
import hashlib
import hmac


def sign(secret: str, payload: str) -> str:
    """base64(HMAC-SHA256(secret, payload))."""
    digest = hmac.new(secret.encode(), payload.encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def auth_headers(
    *,
    api_key: str,
    api_secret: str,
    api_passphrase: str,
    key_version: int,
    timestamp_ms: int,
    method: str,
    path_with_query: str,
    body: str = "",
) -> dict[str, str]:
    """Headers for a private call: the signature covers timestamp + METHOD + path?query + body."""
    prehash = f"{timestamp_ms}{method.upper()}{path_with_query}{body}"
    # Key version 1 sent the passphrase in clear; versions 2 and 3 sign it.
    passphrase = api_passphrase if key_version == 1 else sign(api_secret, api_passphrase)
    return {
        "KC-API-KEY": api_key,
        "KC-API-SIGN": sign(api_secret, prehash),
        "KC-API-TIMESTAMP": str(timestamp_ms),
        "KC-API-PASSPHRASE": passphrase,
        "KC-API-KEY-VERSION": str(key_version),
    }
