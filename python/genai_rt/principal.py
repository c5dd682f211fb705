"""Who is asking: the principal every layer above the engine checks access against.

One definition, shared by retrieval (the search boundary), the pipeline (roles and policies), the
audit log (who asked), budgets (whose money) and the servers (API key -> principal).

Access rule (the only one; retrieval enforces it inside the search, never after it):
a document is visible to a principal when both hold
  1. same tenant: ``document.tenant == principal.tenant``;
  2. labels: the document has no access labels (visible to the whole tenant), or at least one of
     its labels is among the principal's ``roles`` (any-of, like a group ACL).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Principal:
    """A tenant plus the roles (access labels) it holds.

    Parameters
    ----------
    tenant:
        The tenant id; never empty.
    roles:
        Roles and access labels held (e.g. ``{"hr", "finance"}``).
    user:
        Optional user id within the tenant, for audit only; access never depends on it.
    """

    tenant: str
    roles: frozenset[str] = field(default_factory=frozenset)
    user: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.tenant, str) or not self.tenant.strip():
            raise ValueError(f"Principal.tenant must be a non-empty string, got {self.tenant!r}")
        if isinstance(self.roles, str):
            raise TypeError("Principal.roles must be a set of strings, not one string")
        roles = frozenset(self.roles)
        for role in roles:
            if not isinstance(role, str) or not role:
                raise ValueError(f"Principal.roles holds an invalid role {role!r}")
        object.__setattr__(self, "roles", roles)

    def can_see(self, tenant: str, labels: Iterable[str]) -> bool:
        """The access rule above, for one document's tenant and labels."""
        if tenant != self.tenant:
            return False
        required = frozenset(labels)
        return not required or bool(required & self.roles)

    @classmethod
    def parse(cls, text: str) -> Principal:
        """Parse ``tenant[:role1,role2][@user]`` (the CLI's ``--as`` form)."""
        user = ""
        if "@" in text:
            text, user = text.rsplit("@", 1)
        tenant, _, roles = text.partition(":")
        return cls(tenant, frozenset(r for r in roles.split(",") if r), user)
