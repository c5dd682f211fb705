"""Stop strings: matched across token boundaries, and never half-emitted while streaming."""

from __future__ import annotations

from collections.abc import Sequence


class StopChecker:
    """Finds the first stop string in a growing output text.

    Call ``check(text, delta_len)`` after every detokenizer step with the full output text and the
    length of the newest delta; only the tail window ``delta_len + max(len(stop)) - 1`` is
    searched, because a match that ends before the delta was found on an earlier call. While the
    request runs, stream only ``text[:safe_emit_len(text)]`` so that a stop string which is still
    being completed never reaches the client.

    Parameters
    ----------
    stop : str | Sequence[str] | None
        Stop strings (non-empty); None or empty disables.
    include_stop_str_in_output : bool
        Keep the matched stop string at the end of the truncated text.

    Examples
    --------
    >>> checker = StopChecker(["\\n\\n", "END"], include_stop_str_in_output=False)
    >>> checker.check("hello E", 2)
    (False, 'hello E')
    >>> checker.safe_emit_len("hello E")
    6
    >>> checker.check("hello END and more", 12)
    (True, 'hello ')
    """

    def __init__(
        self, stop: str | Sequence[str] | None, include_stop_str_in_output: bool = False
    ) -> None:
        stops = [stop] if isinstance(stop, str) else list(stop or [])
        if not all(isinstance(s, str) and s for s in stops):
            raise ValueError(f"stop strings must be non-empty strings, got {stops!r}")
        self.stop = stops
        self.include_stop_str_in_output = include_stop_str_in_output
        self.max_stop_len = max((len(s) for s in stops), default=0)
        # Every proper prefix of a stop string: a text ending in one may still grow into a match.
        self._partial = {s[:k] for s in stops for k in range(1, len(s))}

    def check(self, text: str, delta_len: int) -> tuple[bool, str]:
        """Look for a stop string ending in the last ``delta_len`` characters of ``text``.

        When several match, the one that ends first wins (it is the one a character-by-character
        stream would have hit first), and among those the longest.

        Returns
        -------
        tuple[bool, str]
            ``(stopped, text)`` with the text cut before the match (after it with
            ``include_stop_str_in_output``), or ``(False, text)`` unchanged.
        """
        if not self.stop or delta_len <= 0:
            return False, text
        window_start = max(0, len(text) - delta_len - self.max_stop_len + 1)
        best: tuple[int, int] | None = None  # (end, start) of the winning match
        for s in self.stop:
            start = text.find(s, window_start)
            if start < 0:
                continue
            candidate = (start + len(s), start)
            if best is None or candidate < best:
                best = candidate
        if best is None:
            return False, text
        end, start = best
        return True, text[:end] if self.include_stop_str_in_output else text[:start]

    def safe_emit_len(self, text: str) -> int:
        """How much of ``text`` can be streamed now without risking part of a stop string.

        Holds back the longest suffix of ``text`` that is a proper prefix of some stop string,
        which is never more than ``max(len(stop)) - 1`` characters and usually nothing.
        """
        for hold in range(min(self.max_stop_len - 1, len(text)), 0, -1):
            if text[len(text) - hold:] in self._partial:
                return len(text) - hold
        return len(text)
