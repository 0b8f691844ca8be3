"""Bearer tokens: created with a role (read or write), stored only as salted SHA-256 hashes under the state folder."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import tempfile
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

ROLES = ("read", "write")
TOKENS_FILE = "tokens.json"
_PREFIX = "ndt_"


@dataclass(frozen=True)
class TokenRecord:
    """One stored token: its id (the first characters, for listing and revoking), role, salt and hash."""

    id: str
    role: str
    salt: str
    sha256: str
    created: str


def _digest(salt: str, token: str) -> str:
    return hashlib.sha256(bytes.fromhex(salt) + token.encode()).hexdigest()


class TokenStore:
    """The tokens of one state folder (``tokens.json``, written atomically, readable by the owner only)."""

    def __init__(self, state: Path) -> None:
        self.path = Path(state) / TOKENS_FILE

    def records(self) -> list[TokenRecord]:
        """Every stored token."""
        if not self.path.is_file():
            return []
        return [TokenRecord(**item) for item in json.loads(self.path.read_text())["tokens"]]

    def create(self, role: str) -> str:
        """A new token with ``role``; only its hash is kept, so this is the one time it is seen."""
        if role not in ROLES:
            raise ValueError(f"role: expected one of {list(ROLES)}, got {role!r}")
        token = _PREFIX + secrets.token_urlsafe(32)
        salt = secrets.token_hex(16)
        record = TokenRecord(
            id=token[: len(_PREFIX) + 6],
            role=role,
            salt=salt,
            sha256=_digest(salt, token),
            created=datetime.now(UTC).isoformat(timespec="seconds"),
        )
        self._write([*self.records(), record])
        return token

    def role_of(self, token: str) -> str | None:
        """The role of ``token``, or None when it is not a stored token (compared in constant time)."""
        found = None
        for record in self.records():
            if hmac.compare_digest(record.sha256, _digest(record.salt, token)):
                found = record.role
        return found

    def _write(self, records: list[TokenRecord]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle, staging = tempfile.mkstemp(dir=self.path.parent, prefix=".tokens-")
        with os.fdopen(handle, "w") as file:
            json.dump({"tokens": [asdict(record) for record in records]}, file, indent=1)
            file.flush()
            os.fsync(file.fileno())
        os.chmod(staging, 0o600)
        os.replace(staging, self.path)
