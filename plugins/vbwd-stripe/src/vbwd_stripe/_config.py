"""The Stripe plugin's configuration schema.

Validated by the core when the plugin is initialized; secrets are ``SecretStr`` so the
core encrypts them at rest and masks them wherever configuration is displayed. Messages
name the expected prefix, never the value.
"""

from __future__ import annotations

from typing import Annotated, Final

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from vbwd_plugins.config import BaseURL, Trusted

__all__ = ["DEFAULT_API_BASE", "StripeConfig"]

DEFAULT_API_BASE: Final = "https://api.stripe.com"

_KEY_PREFIXES: Final = ("sk_test_", "sk_live_", "rk_test_", "rk_live_")


def _check_webhook_secret(secret: SecretStr) -> SecretStr:
    value = secret.get_secret_value()
    if not value.startswith("whsec_") or len(value) <= len("whsec_"):
        raise ValueError("must be a Stripe webhook signing secret starting with 'whsec_'")
    return secret


class StripeConfig(BaseModel):
    """Configuration of the ``stripe`` plugin.

    ``max_network_retries`` defaults to 2 because a ``StripeClient`` retries 0 times unless
    told otherwise; ``timeout`` bounds each HTTP attempt (connect and read), in seconds.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    api_key: SecretStr = Field(description="Secret (sk_) or restricted (rk_) API key.")
    webhook_secret: SecretStr = Field(description="Signing secret of the webhook endpoint.")
    previous_webhook_secrets: list[SecretStr] = Field(
        default_factory=list,
        description="Secrets still accepted while a rotated endpoint secret rolls over.",
    )
    #: Where the API key is sent: https (http only to loopback), changed by an operator
    #: only with the API key given again (docs/secrets.md).
    api_base: Annotated[BaseURL, Trusted("api_key")] = Field(
        default=DEFAULT_API_BASE, description="Base URL of Stripe's API."
    )
    max_network_retries: int = Field(default=2, ge=0, le=10)
    timeout: float = Field(default=30.0, gt=0, le=600)
    webhook_tolerance: int = Field(
        default=300, gt=0, le=3600, description="Accepted clock difference, both directions."
    )

    @field_validator("api_key")
    @classmethod
    def _api_key_prefix(cls, key: SecretStr) -> SecretStr:
        if not key.get_secret_value().startswith(_KEY_PREFIXES):
            raise ValueError(
                "must be a Stripe secret key (sk_test_..., sk_live_...) or restricted key "
                "(rk_test_..., rk_live_...)"
            )
        return key

    @field_validator("webhook_secret")
    @classmethod
    def _webhook_secret_prefix(cls, secret: SecretStr) -> SecretStr:
        return _check_webhook_secret(secret)

    @field_validator("previous_webhook_secrets")
    @classmethod
    def _previous_prefix(cls, secrets: list[SecretStr]) -> list[SecretStr]:
        return [_check_webhook_secret(secret) for secret in secrets]

    @property
    def livemode(self) -> bool:
        """Whether the API key is a live-mode key (events must then be live too)."""
        return self.api_key.get_secret_value().startswith(("sk_live_", "rk_live_"))
