"""A masked value sent back (a form round-trip) keeps the stored secret, at any depth."""

from __future__ import annotations

import pytest

from vbwd_plugins.config._schema import MASK, merge_config
from vbwd_plugins.errors import ConfigValidationError


def test_a_mask_inside_a_list_keeps_the_stored_secret_at_that_place() -> None:
    """``["**********", "new"]`` keeps the first stored secret and replaces the second."""
    merged, _ = merge_config(
        "pay",
        None,
        stored={"webhook_secrets": ["whsec_old1", "whsec_old2"]},
        given={"webhook_secrets": [MASK, "whsec_new"]},
    )
    assert merged == {"webhook_secrets": ["whsec_old1", "whsec_new"]}


def test_a_mask_inside_an_object_keeps_the_stored_secret() -> None:
    """Nested objects are unmasked key by key."""
    merged, _ = merge_config(
        "pay",
        None,
        stored={"oauth": {"client_id": "abc", "client_secret": "s3cr3t"}},
        given={"oauth": {"client_id": "xyz", "client_secret": MASK}},
    )
    assert merged == {"oauth": {"client_id": "xyz", "client_secret": "s3cr3t"}}


@pytest.mark.parametrize(
    ("stored", "given", "path"),
    [
        ({}, {"api_key": MASK}, "api_key"),
        ({"webhook_secrets": ["one"]}, {"webhook_secrets": ["one", MASK]}, "webhook_secrets[1]"),
        ({"oauth": {}}, {"oauth": {"client_secret": MASK}}, "oauth.client_secret"),
    ],
)
def test_a_mask_with_nothing_stored_at_its_place_is_refused(
    stored: dict[str, object], given: dict[str, object], path: str
) -> None:
    """Asterisks are never stored as a secret: the error names the place and says what to do."""
    with pytest.raises(ConfigValidationError, match="give the secret itself") as caught:
        merge_config("pay", None, stored=stored, given=given)
    assert set(caught.value.errors) == {path}
