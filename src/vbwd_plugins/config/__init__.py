"""Plugin configuration: schemas, environment variables, masking and encrypted secrets."""

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
