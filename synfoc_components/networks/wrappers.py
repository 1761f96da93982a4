"""Wrapping networks for speed (``torch.compile``) and getting the plain network back for its state dict."""

from __future__ import annotations

from typing import Any

import torch

__all__ = ["compiled", "plain_state_dict", "unwrap"]


def compiled(module: torch.nn.Module, enabled: bool = True, **kwargs: Any) -> torch.nn.Module:
    """``torch.compile(module, **kwargs)`` when ``enabled``, else ``module`` itself.

    The compiled wrapper shares ``module``'s parameters and buffers (an optimizer or EMA over ``module`` acts on it),
    but its own ``state_dict`` keys start with ``_orig_mod.``: save and load ``module`` (or :func:`unwrap` of the
    wrapper), as the bundle's savers and loaders do.

    Args:
        module: the network (or its DistributedDataParallel wrapper).
        enabled: compile; False returns ``module``.
        kwargs: ``torch.compile`` arguments, e.g. ``mode="max-autotune"`` or ``backend="eager"``.
    """
    return torch.compile(module, **kwargs) if enabled else module  # type: ignore[return-value]


def unwrap(module: Any) -> Any:
    """The plain network inside ``torch.compile`` (``_orig_mod``) and DistributedDataParallel (``module``) wrappers,
    in any nesting; anything else is returned as it is."""
    while isinstance(module, torch.nn.Module):
        inner = getattr(module, "_orig_mod", None)
        if not isinstance(inner, torch.nn.Module):
            inner = getattr(module, "module", None)
        if not isinstance(inner, torch.nn.Module):
            return module
        module = inner
    return module


def plain_state_dict(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The state dict of :func:`unwrap` (``module``): the network's own keys (no ``_orig_mod.`` or ``module.``
    prefix), every tensor contiguous, so a saved file is the same whether training ran channels-last or not."""
    state = unwrap(module).state_dict()
    plain = type(state)((k, v.contiguous()) for k, v in state.items())
    if hasattr(state, "_metadata"):
        plain._metadata = state._metadata  # type: ignore[attr-defined]  # module versions, as state_dict keeps them
    return plain
