"""The engine's JSON-lines build output, however the bytes are chunked."""

from __future__ import annotations

import json

import pytest

from deploykit import Error
from deploykit_docker.build_stream import BuildStream

MESSAGES = [
    {"stream": "Step 1/2 : FROM base\n"},
    {"stream": " ---> 3b124a2381b8\n"},
    {"stream": "Step 2/2 : RUN make\n"},
    {"stream": " ---> Running in 0123456789ab\n"},
    {"stream": "compiling caf\u00e9 \u2713\npartial "},
    {"stream": "line\n"},
    {"stream": "\x1b[91mwarning: colour\n\x1b[0m"},
    {"error": "The command '/bin/sh -c make' returned a non-zero code: 2",
     "errorDetail": {"code": 2, "message": "The command '/bin/sh -c make' returned a non-zero code: 2"}},
]  # fmt: skip
WIRE = b"".join(json.dumps(m, ensure_ascii=False).encode() + b"\r\n" for m in MESSAGES)


@pytest.mark.parametrize("size", [1, 2, 3, 7, 64, len(WIRE)])
def test_lines_and_the_failing_steps_output_survive_any_chunking(size: int) -> None:
    lines: list[str] = []
    stream = BuildStream(lines.append, error_lines=20)
    for i in range(0, len(WIRE), size):
        stream.feed(WIRE[i : i + size])
    with pytest.raises(Error) as info:
        stream.end()
    error = "The command '/bin/sh -c make' returned a non-zero code: 2"
    assert lines == [
        "Step 1/2 : FROM base",
        " ---> 3b124a2381b8",
        "Step 2/2 : RUN make",
        " ---> Running in 0123456789ab",
        "compiling caf\u00e9 \u2713",
        "partial line",
        "warning: colour",
        error,
    ]
    assert (info.value.code, info.value.message) == (
        "invalid",
        f"docker build failed: Step 2/2 : RUN make\ncompiling caf\u00e9 \u2713\npartial line\nwarning: colour\n{error}",
    )


def test_a_stream_that_ends_without_an_image_is_a_failure() -> None:
    stream = BuildStream(lambda _: None, error_lines=20)
    stream.feed(b'{"stream":"Step 1/1 : FROM base\\n"}\r\n')
    with pytest.raises(Error) as info:
        stream.end()
    assert info.value.message == "docker build failed: the engine ended the build without an image."


def test_a_successful_stream_records_the_image() -> None:
    stream = BuildStream(lambda _: None, error_lines=20)
    stream.feed(b'{"aux":{"ID":"sha256:abc"}}\r\n{"stream":"Successfully built abc\\n"}\r\n')
    stream.end()
    assert stream.image_id == "sha256:abc"


def test_the_tags_the_engine_reports_are_recorded() -> None:
    """A build that reports its tag needs no inspect to know the image is there."""
    stream = BuildStream(lambda _: None, error_lines=20)
    stream.feed(b'{"aux":{"ID":"sha256:abc"}}\r\n{"stream":"Successfully built abc\\n"}\r\n')
    stream.feed(b'{"stream":"Successfully tagged deploykit/p_web:0123456789ab\\n"}\r\n')
    stream.end()
    assert stream.tagged == {"deploykit/p_web:0123456789ab"}
