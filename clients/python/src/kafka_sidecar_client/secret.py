"""Secret: a string wrapper that never shows its value."""

from __future__ import annotations

from pathlib import Path


class Secret:
    """A password or key whose ``repr()`` and ``str()`` show ``***``.

    Pass it instead of a plain string to keep a secret out of anything that
    prints the parameters of a mod, such as a framework's debug log.
    ``reveal()`` returns the value for the one place that must send it.

    Example:
        params = {"sasl_password": Secret.from_file("/var/run/secrets/kafka/password")}
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        """Wrap ``value``.

        Raises:
            TypeError: When ``value`` is not a string.
        """
        if isinstance(value, Secret):
            value = value.reveal()
        if not isinstance(value, str):
            raise TypeError(f"Secret wraps a str, got {type(value).__name__}")
        self._value = value

    @classmethod
    def from_file(cls, path: str | Path) -> Secret:
        """Read a secret from a file, such as a mounted Kubernetes Secret.

        One trailing newline is removed, as editors and ``echo`` add one.

        Raises:
            OSError: When the file cannot be read. The message names the path only.
        """
        text = Path(path).read_text(encoding="utf-8")
        return cls(text.removesuffix("\n").removesuffix("\r"))

    def reveal(self) -> str:
        """Return the secret value."""
        return self._value

    def __bool__(self) -> bool:
        """Return whether the secret is non-empty."""
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        """Compare with another Secret by value."""
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        """Hash by value, consistent with ``__eq__``."""
        return hash(self._value)

    def __repr__(self) -> str:
        """Return ``Secret('***')``."""
        return "Secret('***')"

    def __str__(self) -> str:
        """Return ``***``."""
        return "***"

    def __copy__(self) -> Secret:
        """Return the object itself, since it is immutable."""
        return self

    def __deepcopy__(self, memo: dict[int, object]) -> Secret:
        """Return the object itself, since it is immutable."""
        return self

    def __reduce__(self) -> tuple[object, ...]:
        """Refuse pickling, which would write the value out.

        Raises:
            TypeError: Always.
        """
        raise TypeError("Secret cannot be pickled")


def reveal(value: str | Secret | None) -> str:
    """Return the plain value of a str or Secret; None becomes ""."""
    if value is None:
        return ""
    if isinstance(value, Secret):
        return value.reveal()
    return str(value)
