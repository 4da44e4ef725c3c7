"""Metadata validation at registration."""

from __future__ import annotations

import pytest

from vbwd_plugins import (
    BasePlugin,
    PluginManager,
    PluginMetadata,
)
from vbwd_plugins.errors import InvalidMetadataError


class MetaPlugin(BasePlugin):
    """Returns whatever metadata it was given."""

    def __init__(self, metadata: PluginMetadata) -> None:
        super().__init__()
        self._metadata = metadata

    @property
    def metadata(self) -> PluginMetadata:
        return self._metadata


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"name": "Stripe"}, "name"),
        ({"name": "1stripe"}, "name"),
        ({"name": "str ipe"}, "name"),
        ({"name": ""}, "name"),
        ({"version": "one"}, "version"),
        ({"version": "1.0-beta-gamma"}, "version"),
        ({"dependencies": ["base>>1"]}, "dependencies"),
        ({"dependencies": ["Base"]}, "dependencies"),
        ({"dependencies": ["ok"]}, None),
        ({"dependencies": ["stripe>=1.0,<2"]}, None),
        ({"dependencies": ["good-name_2"]}, None),
        ({"dependencies": ["good"], "name": "good"}, "dependencies"),
    ],
)
def test_metadata_fields_are_validated_at_registration(
    kwargs: dict[str, object], field: str | None
) -> None:
    """Bad metadata fails at registration naming the plugin and the field; good passes."""
    values: dict[str, object] = {
        "name": "good",
        "version": "1.0.0",
        "author": "a",
        "description": "d",
    }
    values.update(kwargs)
    plugin = MetaPlugin(PluginMetadata(**values))  # type: ignore[arg-type]
    manager = PluginManager()
    if field is None:
        manager.register_plugin(plugin)
        return
    with pytest.raises(InvalidMetadataError) as info:
        manager.register_plugin(plugin)
    assert info.value.field == field
    assert field in str(info.value) and repr(values["name"]) in str(info.value)
    assert manager.get_all_plugins() == []


def test_metadata_defaults_and_requirements() -> None:
    """Dependencies default to an empty list (None too) and parse as PEP 508 requirements."""
    assert PluginMetadata("a", "1", "x", "y").dependencies == []
    assert PluginMetadata("a", "1", "x", "y", None).dependencies == []  # type: ignore[arg-type]
    meta = PluginMetadata("a", "1", "x", "y", ["b>=1.0,<2", "c"])
    assert [str(r.specifier) for r in meta.requirements()] == ["<2,>=1.0", ""]


def test_metadata_property_that_raises_is_reported() -> None:
    """A metadata property that raises becomes InvalidMetadataError naming the class."""

    class Broken(BasePlugin):
        @property
        def metadata(self) -> PluginMetadata:
            raise KeyError("boom")

    with pytest.raises(InvalidMetadataError, match="Broken"):
        PluginManager().register_plugin(Broken())


def test_metadata_as_class_attribute() -> None:
    """``metadata`` may be a plain class attribute instead of a property."""

    class Attr(BasePlugin):
        metadata = PluginMetadata("attr", "2.0", "a", "d")

    manager = PluginManager()
    manager.register_plugin(Attr())
    assert manager.get_metadata("attr").version == "2.0"
