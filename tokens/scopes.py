"""Which scopes StreamCore asks for, and the set arithmetic on scope lists."""

from __future__ import annotations

from collections.abc import Iterable

#: Scopes StreamCore itself needs whatever workers run: none (the workers' union is enough;
#: reading the token's own user through /helix/users needs no scope).
CORE_SCOPES: tuple[str, ...] = ()


def union_scopes(*groups: Iterable[str]) -> list[str]:
    """Every scope named in any group, once, sorted (so links and logs are stable)."""
    return sorted({scope for group in groups for scope in group if scope})


def missing_scopes(required: Iterable[str], granted: Iterable[str] | None) -> list[str]:
    return sorted(set(required) - set(granted or ()))
