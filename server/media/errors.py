"""The one exception media intake (photos and audio) raises on bad input."""

from __future__ import annotations

NOT_AN_IMAGE = "media.not_an_image"
UNSUPPORTED_FORMAT = "media.unsupported_format"
DECOMPRESSION_BOMB = "media.decompression_bomb"
UNDECODABLE = "media.undecodable"  # damaged or truncated, photo or audio
# Audio (an interview recording).
NOT_AUDIO = "media.not_audio"
UNSUPPORTED_AUDIO = "media.unsupported_audio"
NO_AUDIO_TRACK = "media.no_audio_track"
EMPTY_AUDIO = "media.empty_audio"
TOO_LONG = "media.too_long"

CODES = frozenset({NOT_AN_IMAGE, UNSUPPORTED_FORMAT, DECOMPRESSION_BOMB, UNDECODABLE,
                   NOT_AUDIO, UNSUPPORTED_AUDIO, NO_AUDIO_TRACK, EMPTY_AUDIO, TOO_LONG})


class MediaError(Exception):
    """Bad upload: `code` is stable for API clients, `message` is safe to show a user."""

    code: str
    message: str

    def __init__(self, code: str, message: str):
        # A typo in a code would silently break client-side handling, so refuse it here.
        if code not in CODES:
            raise ValueError(f"unknown media error code {code!r}")
        super().__init__(message)
        self.code = code
        self.message = message

    def __repr__(self) -> str:
        return f"MediaError({self.code!r}, {self.message!r})"
