"""SendFile input checks (console/files/validation.py): each case and the original's error code."""

import base64

import pytest

from console.errors import ServiceError
from console.files import validation as v

NAMES = [
    ("app.conf", None),
    (".hidden", None),
    ("名前.txt", None),
    ("x" * 255, None),
    ("x" * 256, "FileName.ExceedLimit"),
    ("", "FileNameInvalid"),
    (".", "FileNameInvalid"),
    ("..", "FileNameInvalid"),
    ("a/b", "FileNameInvalid"),
    ("/etc/passwd", "FileNameInvalid"),
    ("a\\b", "FileNameInvalid"),
    ("a\0b", "FileNameInvalid"),
    (" padded ", "FileNameInvalid"),
]


@pytest.mark.parametrize(("name", "code"), NAMES)
def test_file_name(name, code):
    if code is None:
        assert v.check_name(name) == name
    else:
        with pytest.raises(ServiceError) as caught:
            v.check_name(name)
        assert caught.value.code == code


TARGET_DIRS = [
    ("/tmp", "/tmp"),
    ("/etc/app/", "/etc/app"),
    ("//srv//data/./x", "/srv/data/x"),
    ("/", "/"),
    ("/" + "d" * 254, "/" + "d" * 254),
    ("/" + "d" * 255, "FileTargetDir.Invalid"),
    ("", "FileTargetDir.Invalid"),
    ("relative/dir", "FileTargetDir.Invalid"),
    ("~/x", "FileTargetDir.Invalid"),
    ("/tmp/../etc", "FileTargetDir.Invalid"),
    ("/tmp/..", "FileTargetDir.Invalid"),
    ("/tmp/a\0b", "FileTargetDir.Invalid"),
    ("/tmp/..x", "/tmp/..x"),
]


@pytest.mark.parametrize(("target_dir", "expected"), TARGET_DIRS)
def test_target_dir(target_dir, expected):
    if expected.startswith("/"):
        assert v.check_target_dir(target_dir) == expected
    else:
        with pytest.raises(ServiceError) as caught:
            v.check_target_dir(target_dir)
        assert caught.value.code == expected


MODES = [
    ("", "0644"),
    ("644", "0644"),
    ("0644", "0644"),
    ("0755", "0755"),
    ("4755", "4755"),
    ("0000", "0000"),
    ("8644", None),
    ("0899", None),
    ("64", None),
    ("07555", None),
    ("rw-r--r--", None),
    ("+644", None),
    (" 644", None),
]


@pytest.mark.parametrize(("mode", "expected"), MODES)
def test_mode(mode, expected):
    if expected is not None:
        assert v.check_mode(mode) == expected
    else:
        with pytest.raises(ServiceError) as caught:
            v.check_mode(mode)
        assert caught.value.code == "FileMode.Invalid"


OWNERS = [
    ("", "root"),
    ("nobody", "nobody"),
    ("www-data", "www-data"),
    ("u" * 64, "u" * 64),
    ("u" * 65, None),
    ("bad name", None),
    ("a:b", None),
    ("-x", None),
    ("../x", None),
]


@pytest.mark.parametrize(("owner", "expected"), OWNERS)
def test_owner_and_group(owner, expected):
    for field in ("FileOwner", "FileGroup"):
        if expected is not None:
            assert v.check_owner(owner, field) == expected
        else:
            with pytest.raises(ServiceError) as caught:
                v.check_owner(owner, field)
            assert caught.value.code == f"InvalidParameter.{field}"


@pytest.mark.parametrize(("length", "ok"), [(0, True), (512, True), (513, False)])
def test_description(length, ok):
    if ok:
        assert v.check_description("d" * length) == "d" * length
    else:
        with pytest.raises(ServiceError) as caught:
            v.check_description("d" * length)
        assert caught.value.code == "FileDesc.ExceedLimit"


CONTENT_TYPES = [
    ("", "PlainText"),
    ("PlainText", "PlainText"),
    ("plaintext", "PlainText"),
    ("BASE64", "Base64"),
    ("Binary", None),
    ("Base-64", None),
]


@pytest.mark.parametrize(("given", "expected"), CONTENT_TYPES)
def test_content_type(given, expected):
    if expected is not None:
        assert v.check_content_type(given) == expected
    else:
        with pytest.raises(ServiceError) as caught:
            v.check_content_type(given)
        assert caught.value.code == "FileContentType.Invalid"


MAX_RAW = 24 * 1024
CONTENTS = [
    ("", "PlainText", b""),
    ("héllo\n", "PlainText", "héllo\n".encode()),
    (base64.b64encode(b"\x00\xff").decode(), "Base64", b"\x00\xff"),
    ("", "Base64", b""),
    (base64.b64encode(b"x" * MAX_RAW).decode(), "Base64", b"x" * MAX_RAW),
    ("x" * MAX_RAW, "PlainText", b"x" * MAX_RAW),
    (base64.b64encode(b"x" * (MAX_RAW + 1)).decode(), "Base64", "FileSize.ExceedLimit"),
    ("x" * (MAX_RAW + 1), "PlainText", "FileSize.ExceedLimit"),
    ("é" * (MAX_RAW // 2 + 1), "PlainText", "FileSize.ExceedLimit"),  # the limit counts bytes, not characters
    ("not base64!", "Base64", "FileContent.DecodeError"),
    ("aGVsbG8", "Base64", "FileContent.DecodeError"),  # missing padding
]


@pytest.mark.parametrize(("content", "content_type", "expected"), CONTENTS)
def test_api_content(content, content_type, expected):
    if isinstance(expected, bytes):
        assert v.api_content_bytes(content, content_type) == expected
    else:
        with pytest.raises(ServiceError) as caught:
            v.api_content_bytes(content, content_type)
        assert caught.value.code == expected


@pytest.mark.parametrize(("size", "ok"), [(0, True), (100, True), (101, False)])
def test_upload_size(size, ok):
    if ok:
        assert v.check_upload_size(size, 100) == size
    else:
        with pytest.raises(ServiceError) as caught:
            v.check_upload_size(size, 100)
        assert caught.value.code == "FileSize.ExceedLimit"


INSTANCE_COUNTS = [
    (["mi-1"], ["mi-1"]),
    (["mi-1", "mi-1", "mi-2"], ["mi-1", "mi-2"]),
    ([f"mi-{n}" for n in range(50)], 50),
    ([f"mi-{n}" for n in range(51)], "InstanceIds.ExceedLimit"),
    ([], "MissingParameter.InstanceId"),
]


@pytest.mark.parametrize(("ids", "expected"), INSTANCE_COUNTS)
def test_instance_count(ids, expected):
    if isinstance(expected, str):
        with pytest.raises(ServiceError) as caught:
            v.check_instance_count(ids)
        assert caught.value.code == expected
    else:
        got = v.check_instance_count(ids)
        assert got == expected if isinstance(expected, list) else len(got) == expected


TIMEOUTS = [
    (None, 60),
    ("", 60),
    (60, 60),
    ("120", 120),
    (10, 10),
    (9, 10),
    (0, 10),
    (-5, 10),
    ("86400", 86400),
    ("86401", None),
    ("1.5", None),
    ("abc", None),
    (True, None),
]


@pytest.mark.parametrize(("given", "expected"), TIMEOUTS)
def test_timeout(given, expected):
    if expected is not None:
        assert v.check_timeout(given) == expected
    else:
        with pytest.raises(ServiceError) as caught:
            v.check_timeout(given)
        assert caught.value.code == "InvalidParameter.Timeout"
