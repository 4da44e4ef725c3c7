"""Plugin configuration: schemas, environment variables, masking and encrypted secrets."""

from __future__ import annotations

from typing import TYPE_CHECKING

from vbwd_plugins._lazy import lazy_names as _lazy_names

if TYPE_CHECKING:
    from vbwd_plugins.config._schema import public_config as public_config
    from vbwd_plugins.config._secrets import FernetSecretBox as FernetSecretBox
    from vbwd_plugins.config._secrets import SecretBox as SecretBox
    from vbwd_plugins.config._trust import BaseURL as BaseURL
    from vbwd_plugins.config._trust import Trusted as Trusted
    from vbwd_plugins.config._trust import check_base_url as check_base_url

__all__ = [
    "BaseURL",
    "FernetSecretBox",
    "SecretBox",
    "Trusted",
    "check_base_url",
    "public_config",
]

#: Names loaded on first use: the plugin model imports ``config._schema`` at start-up, and this
#: package's other modules (trusted fields, secrets) are not needed until configuration is.
_LAZY: dict[str, str] = {
    "BaseURL": "vbwd_plugins.config._trust",
    "FernetSecretBox": "vbwd_plugins.config._secrets",
    "SecretBox": "vbwd_plugins.config._secrets",
    "Trusted": "vbwd_plugins.config._trust",
    "check_base_url": "vbwd_plugins.config._trust",
    "public_config": "vbwd_plugins.config._schema",
}


__getattr__ = _lazy_names(__name__, globals(), _LAZY)
