"""Plugin configuration: schemas, environment variables, masking and encrypted secrets."""

from vbwd_plugins.config._schema import public_config as public_config
from vbwd_plugins.config._secrets import FernetSecretBox as FernetSecretBox
from vbwd_plugins.config._secrets import SecretBox as SecretBox

__all__ = [
    "FernetSecretBox",
    "SecretBox",
    "public_config",
]
