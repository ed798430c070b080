"""Forms generated from pydantic models: specs (no UI) and their NiceGUI widgets."""

from __future__ import annotations

from .spec import FieldSpec, field_spec, model_spec

__all__ = ["FieldSpec", "field_spec", "model_spec"]
