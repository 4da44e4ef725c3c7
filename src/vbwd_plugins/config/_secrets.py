"""Encryption at rest for secret configuration fields.

Before configuration reaches a store, every ``SecretStr`` (and ``SecretBytes``) value in
it, at any depth, is *sealed*: replaced by ``{"__vbwd_secret__": "<token>"}`` where the
token comes from a :class:`SecretBox`. The marker lets rotation and display find sealed
values without the plugin's schema (a plugin may be recorded but not installed).

:class:`FernetSecretBox` is the default box: ``cryptography``'s MultiFernet, keys read
from the environment, never from the store::

    VBWD_PLUGINS_SECRET_KEYS=<newest key>,<older key>,...    # comma-separated
    VBWD_PLUGINS_SECRET_KEYS_FILE=/run/secrets/vbwd-keys      # or: a file, one key a line

The first key encrypts; every key decrypts. A missing or wrong key raises
:class:`SecretsError` naming the plugin: there is no plaintext fallback.

``cryptography`` and pydantic load on first use (a key, a secret value), not on import.
"""

from __future__ import annotations

import functools
import logging
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final, Protocol, final, runtime_checkable

from vbwd_plugins.errors import ConfigValidationError, SecretsError, StoreConflictError

if TYPE_CHECKING:
    from cryptography.fernet import Fernet, MultiFernet
    from pydantic import SecretBytes, SecretStr

__all__ = [
    "ENV_SECRET_KEYS",
    "ENV_SECRET_KEYS_FILE",
    "SEALED_KEY",
    "FernetSecretBox",
    "SecretBox",
    "has_sealed",
    "is_sealed",
    "load_secret_keys",
    "reseal_secrets",
    "rotate_store",
    "seal_secrets",
    "unseal_secrets",
]

logger = logging.getLogger(__name__)

ENV_SECRET_KEYS: Final = "VBWD_PLUGINS_SECRET_KEYS"
ENV_SECRET_KEYS_FILE: Final = "VBWD_PLUGINS_SECRET_KEYS_FILE"

#: Marker key of a sealed value in stored configuration.
SEALED_KEY: Final = "__vbwd_secret__"
_BYTES_KIND: Final = "bytes"

_HOW_TO_SET: Final = f"set {ENV_SECRET_KEYS} or {ENV_SECRET_KEYS_FILE}"
_KEY_SPLIT: Final = re.compile(r"[\s,]+")


@runtime_checkable
class SecretBox(Protocol):
    """Encrypts and decrypts secret values; implement it to use a KMS or HSM instead.

    Every method raises :class:`SecretsError` naming ``plugin_name`` when it cannot do its
    job; none may return plaintext in place of a token or a token in place of plaintext.
    """

    def encrypt(self, plaintext: str, *, plugin_name: str) -> str:
        """Return a token for ``plaintext``."""
        ...

    def decrypt(self, token: str, *, plugin_name: str) -> str:
        """Return the plaintext of ``token``."""
        ...

    def rotate(self, token: str, *, plugin_name: str) -> str:
        """Return ``token`` re-encrypted with the current key (unchanged if it already is)."""
        ...


def load_secret_keys(environ: Mapping[str, str] | None = None) -> list[str]:
    """The keys named by the environment, newest first (empty when none is configured).

    ``VBWD_PLUGINS_SECRET_KEYS`` holds comma-separated keys; ``VBWD_PLUGINS_SECRET_KEYS_FILE``
    names a file with one key a line (blank lines and ``#`` comments ignored). Setting both
    is an error, so there is never doubt about which keys are in use.
    """
    environ = os.environ if environ is None else environ
    inline = environ.get(ENV_SECRET_KEYS, "").strip()
    file_name = environ.get(ENV_SECRET_KEYS_FILE, "").strip()
    if inline and file_name:
        raise SecretsError(
            f"Both {ENV_SECRET_KEYS} and {ENV_SECRET_KEYS_FILE} are set; set only one"
        )
    if inline:
        return [key for key in _KEY_SPLIT.split(inline) if key]
    if not file_name:
        return []
    from pathlib import Path

    try:
        text = Path(file_name).read_text(encoding="utf-8")
    except OSError as exc:
        raise SecretsError(
            f"{ENV_SECRET_KEYS_FILE} names {file_name!r}, which cannot be read: "
            f"{exc.strerror or type(exc).__name__}"
        ) from None
    keys = [
        key
        for line in text.splitlines()
        if not line.lstrip().startswith("#")
        for key in _KEY_SPLIT.split(line)
        if key
    ]
    if not keys:
        raise SecretsError(f"{ENV_SECRET_KEYS_FILE} names {file_name!r}, which holds no key")
    return keys


@final
class FernetSecretBox:
    """A :class:`SecretBox` over ``cryptography``'s MultiFernet (AES-128-CBC + HMAC-SHA256).

    ``keys`` are Fernet keys (:meth:`generate_key`), newest first: the first encrypts,
    all decrypt. With no keys every operation raises :class:`SecretsError`, so plugins
    without secrets still work on a host that configured none.
    """

    __slots__ = ("_count", "_fernet", "_primary")

    def __init__(self, keys: Iterable[str | bytes] = ()) -> None:
        keys = list(keys)
        fernets: list[Fernet] = []
        if keys:  # a box without keys (the common case) never imports cryptography
            from cryptography.fernet import Fernet, MultiFernet
        for index, key in enumerate(keys, start=1):
            try:
                fernets.append(Fernet(key))
            except (ValueError, TypeError):
                # Never echo the key: it is the secret protecting all others.
                raise SecretsError(
                    f"Secret key #{index} is not a valid Fernet key "
                    "(32 url-safe base64-encoded bytes; create one with "
                    "FernetSecretBox.generate_key())"
                ) from None
        self._count = len(fernets)
        self._primary = fernets[0] if fernets else None
        self._fernet = MultiFernet(fernets) if fernets else None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> FernetSecretBox:
        """A box with the keys of ``VBWD_PLUGINS_SECRET_KEYS`` (or ``..._FILE``)."""
        return cls(load_secret_keys(environ))

    @staticmethod
    def generate_key() -> str:
        """A new random key, ready to put first in ``VBWD_PLUGINS_SECRET_KEYS``."""
        from cryptography.fernet import Fernet

        return Fernet.generate_key().decode("ascii")

    @property
    def key_count(self) -> int:
        """How many keys the box holds."""
        return self._count

    def _require(self, plugin_name: str, action: str) -> MultiFernet:
        if self._fernet is None:
            raise SecretsError(
                f"Plugin {plugin_name!r}: cannot {action} secret configuration: "
                f"no encryption key is configured ({_HOW_TO_SET})",
                plugin_name=plugin_name,
            )
        return self._fernet

    def encrypt(self, plaintext: str, *, plugin_name: str) -> str:
        """Encrypt with the first key."""
        fernet = self._require(plugin_name, "encrypt")
        return fernet.encrypt(plaintext.encode("utf-8")).decode("ascii")

    def decrypt(self, token: str, *, plugin_name: str) -> str:
        """Decrypt with whichever configured key matches."""
        fernet = self._require(plugin_name, "decrypt")
        from cryptography.fernet import InvalidToken

        try:
            return fernet.decrypt(token.encode("ascii")).decode("utf-8")
        except (InvalidToken, UnicodeError):
            raise self._wrong_key(plugin_name) from None

    def rotate(self, token: str, *, plugin_name: str) -> str:
        """Re-encrypt with the first key; a token already under it is returned as is."""
        fernet = self._require(plugin_name, "rotate")
        from cryptography.fernet import InvalidToken

        raw = token.encode("ascii", errors="replace")
        if self._primary is not None:
            try:
                self._primary.decrypt(raw)
            except InvalidToken:
                pass
            else:
                return token
        try:
            return fernet.rotate(raw).decode("ascii")
        except InvalidToken:
            raise self._wrong_key(plugin_name) from None

    def _wrong_key(self, plugin_name: str) -> SecretsError:
        return SecretsError(
            f"Plugin {plugin_name!r}: stored secrets cannot be decrypted with the "
            f"{self._count} configured key(s): wrong key, or the key that encrypted them was "
            f"removed (keep old keys after the new one in {ENV_SECRET_KEYS} until "
            "rotate_keys() has run)",
            plugin_name=plugin_name,
        )

    def __repr__(self) -> str:
        return f"<FernetSecretBox keys={self._count}>"

    def __reduce__(self) -> Any:
        raise TypeError("FernetSecretBox cannot be pickled (it holds key material)")


# -- sealing ----------------------------------------------------------------------------


def is_sealed(value: object) -> bool:
    """Whether ``value`` is a sealed secret as stored: ``{"__vbwd_secret__": token, ...}``."""
    return isinstance(value, Mapping) and isinstance(value.get(SEALED_KEY), str)


def has_sealed(value: object) -> bool:
    """Whether ``value`` holds a sealed secret anywhere."""
    if is_sealed(value):
        return True
    if isinstance(value, Mapping):
        return any(has_sealed(item) for item in value.values())
    if isinstance(value, list | tuple):
        return any(has_sealed(item) for item in value)
    return False


def seal_secrets(value: Any, box: SecretBox, *, plugin_name: str) -> Any:
    """JSON-safe copy of ``value`` with every ``SecretStr``/``SecretBytes`` sealed.

    ``value`` is a plain dict, e.g. ``model.model_dump()`` (python mode keeps secrets as
    ``SecretStr`` objects). Raises :class:`ConfigValidationError` for a value that is not
    JSON-serializable and :class:`SecretsError` when the box cannot encrypt.
    """
    return _seal(value, box, plugin_name, "")


@functools.cache
def _secret_types() -> tuple[type[SecretStr], type[SecretBytes]]:
    """pydantic's secret types, imported the first time a value is sealed or unsealed."""
    from pydantic import SecretBytes, SecretStr

    return SecretStr, SecretBytes


def _seal(value: Any, box: SecretBox, plugin_name: str, path: str) -> Any:
    SecretStr, SecretBytes = _secret_types()
    if isinstance(value, SecretStr):
        return {SEALED_KEY: _call(box.encrypt, value.get_secret_value(), plugin_name, path)}
    if isinstance(value, SecretBytes):
        import base64

        encoded = base64.b64encode(value.get_secret_value()).decode("ascii")
        return {SEALED_KEY: _call(box.encrypt, encoded, plugin_name, path), "kind": _BYTES_KIND}
    if is_sealed(value):
        return dict(value)
    if isinstance(value, Mapping):
        for key in value:
            if isinstance(key, str) and ("\x00" in key or not _encodable(key)):
                raise _unstorable(plugin_name, path, "a key contains a NUL character")
        return {str(k): _seal(v, box, plugin_name, _join(path, k)) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_seal(v, box, plugin_name, f"{path}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, str) and ("\x00" in value or not _encodable(value)):
        # PostgreSQL's jsonb refuses both; a secret field may hold them (it is encrypted).
        raise _unstorable(plugin_name, path, "contains a NUL character or unpaired surrogate")
    from pydantic_core import PydanticSerializationError, to_jsonable_python

    try:
        return to_jsonable_python(value)
    except PydanticSerializationError:
        raise _unstorable(
            plugin_name, path, f"{type(value).__name__} cannot be stored as JSON"
        ) from None


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _unstorable(plugin_name: str, path: str, why: str) -> ConfigValidationError:
    where = path or "(configuration)"
    return ConfigValidationError(
        f"Plugin {plugin_name!r}: invalid configuration (1 field): {where}: {why}",
        plugin_name=plugin_name,
        errors={where: why},
    )


def unseal_secrets(value: Any, box: SecretBox, *, plugin_name: str) -> Any:
    """Copy of stored ``value`` with every sealed value decrypted into a ``SecretStr``."""
    return _walk_unseal(value, box, plugin_name, "")


def _walk_unseal(value: Any, box: SecretBox, plugin_name: str, path: str) -> Any:
    if is_sealed(value):
        plaintext = _call(box.decrypt, value[SEALED_KEY], plugin_name, path)
        SecretStr, SecretBytes = _secret_types()
        if value.get("kind") == _BYTES_KIND:
            import base64

            return SecretBytes(base64.b64decode(plaintext))
        return SecretStr(plaintext)
    if isinstance(value, Mapping):
        return {k: _walk_unseal(v, box, plugin_name, _join(path, k)) for k, v in value.items()}
    if isinstance(value, list):
        return [_walk_unseal(v, box, plugin_name, f"{path}[{i}]") for i, v in enumerate(value)]
    return value


def reseal_secrets(value: Any, box: SecretBox, *, plugin_name: str) -> Any:
    """Copy of stored ``value`` with every sealed token rotated to the box's current key."""
    return _reseal(value, box, plugin_name, "")


def _reseal(value: Any, box: SecretBox, plugin_name: str, path: str) -> Any:
    if is_sealed(value):
        return {**value, SEALED_KEY: _call(box.rotate, value[SEALED_KEY], plugin_name, path)}
    if isinstance(value, Mapping):
        return {k: _reseal(v, box, plugin_name, _join(path, k)) for k, v in value.items()}
    if isinstance(value, list):
        return [_reseal(v, box, plugin_name, f"{path}[{i}]") for i, v in enumerate(value)]
    return value


def _join(path: str, key: object) -> str:
    return f"{path}.{key}" if path else str(key)


def _call(method: Callable[..., object], text: str, plugin_name: str, path: str) -> str:
    """Run a box method; errors name the plugin and the field, never the value."""
    try:
        result = method(text, plugin_name=plugin_name)
    except SecretsError as exc:
        if path:
            exc.add_note(f"secret field: {path}")
        raise
    except Exception as exc:
        raise SecretsError(
            f"Plugin {plugin_name!r}: secret box failed on field {path or '(value)'!r}: "
            f"{type(exc).__name__}",
            plugin_name=plugin_name,
        ) from exc
    if not isinstance(result, str):
        raise SecretsError(
            f"Plugin {plugin_name!r}: secret box returned {type(result).__name__}, not str",
            plugin_name=plugin_name,
        )
    return result


# -- rotation ---------------------------------------------------------------------------


class _Record(Protocol):
    @property
    def plugin_name(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def config(self) -> dict[str, Any]: ...
    @property
    def version(self) -> int: ...


class _Records(Protocol):
    """The part of :class:`~vbwd_plugins.stores.StateStore` rotation uses, named here so this
    module never imports the stores (they import the plugin model, which imports config)."""

    def list(self) -> Sequence[_Record]: ...
    def get(self, plugin_name: str) -> _Record | None: ...
    def save(
        self,
        plugin_name: str,
        *,
        status: str,
        config: dict[str, Any],
        expected_version: int | None,
    ) -> object: ...


def rotate_store(store: _Records, box: SecretBox, *, attempts: int = 5) -> list[str]:
    """Re-encrypt every sealed secret in ``store`` with ``box``'s current key.

    Covers every recorded plugin, installed or not. Rows whose secrets are already under
    the current key are left alone, so running it twice is harmless. A row changed by
    another process meanwhile is re-read and retried. Returns the plugins rewritten.
    """
    rewritten: list[str] = []
    for record in store.list():
        current: Any = record
        for attempt in range(attempts):
            if current is None or not has_sealed(current.config):
                break
            config = reseal_secrets(current.config, box, plugin_name=current.plugin_name)
            if config == current.config:
                break
            try:
                store.save(
                    current.plugin_name,
                    status=current.status,
                    config=config,
                    expected_version=current.version,
                )
            except StoreConflictError:
                if attempt == attempts - 1:
                    raise
                current = store.get(record.plugin_name)
                continue
            rewritten.append(record.plugin_name)
            logger.info("Re-encrypted the secrets of plugin %r", record.plugin_name)
            break
    return rewritten
