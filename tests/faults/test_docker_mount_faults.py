"""Paths that become Docker volumes: ``:`` would break a ``-v SRC:DST:ro`` spec, ``,`` ``=``
``"`` an unquoted ``--mount`` one. A path holding ``:`` is mounted with ``--mount``, every
field quoted as the CSV record Docker reads; a safe path keeps ``-v`` (the golden launch
scripts stay); a relative path or one with a line break is refused naming the parameter.
The real engine reads such mounts in ``tests/runner/test_docker.py``
(``test_a_data_dir_with_colon_and_comma_is_mounted_and_read``).
"""
from __future__ import annotations

import csv
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dlbs.cli.main import main
from dlbs.errors import ValidationError
from dlbs.experiment import Experiment
from dlbs.launchers.docker import bind_mount, mount_options

DOCKER = ['-Pexp.gpus=""', "-Pexp.model=resnet50", "-Pexp.docker=true",
          "-Pexp.docker_image=dlbs/absent:1"]


def spec_fields(spec: str) -> dict[str, str]:
    """A ``--mount`` spec read as Docker reads it: one CSV record (Go's encoding/csv has the
    quoting of Python's csv), each field split at its first ``=``."""
    (record,) = list(csv.reader([spec], strict=True))
    return dict(field.partition("=")[::2] for field in record)


@pytest.mark.parametrize("path,expected", [
    pytest.param("/data/imagenet", ["-v", "/data/imagenet:/data/imagenet:ro"], id="plain"),
    pytest.param("/data/a,b=c", ["-v", "/data/a,b=c:/data/a,b=c:ro"], id="comma-kept-in-v"),
    pytest.param("/a:b", ["--mount", 'type=bind,"source=/a:b","target=/a:b",readonly'],
                 id="colon"),
    pytest.param('/a:b,c="d"', ["--mount", ('type=bind,"source=/a:b,c=""d""",'
                                 '"target=/a:b,c=""d""",readonly')], id="colon-comma-quote"),
])
def test_a_data_dir_is_mounted_with_a_spec_docker_reads_back(path: str,
                                                            expected: list[str]) -> None:
    options = mount_options(Experiment.of({"exp.data_dir": path}))
    assert options == expected
    if options[0] == "--mount":
        fields = spec_fields(options[1])
        assert (fields["source"], fields["target"], fields["type"]) == (path, path, "bind")


@given(st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\n\r\0"),
               min_size=1, max_size=40))
def test_any_folder_name_reads_back_from_the_mount_spec(name: str) -> None:
    path = "/data/" + name + ":x"
    (option, spec) = bind_mount(("exp.data_dir", path), ("pytorch.bench_path", path))
    fields = spec_fields(spec)
    assert option == "--mount" and (fields["source"], fields["target"]) == (path, path)


@pytest.mark.parametrize("exp,message", [
    pytest.param({"exp.data_dir": "data"}, "exp.data_dir 'data' is not an absolute path",
                 id="relative-data"),
    pytest.param({"exp.data_dir": "/a\nb"}, "exp.data_dir '/a\\nb' holds a line break",
                 id="newline-data"),
    pytest.param({"runtime.code_dir": "/co\rde", "pytorch.bench_path": "/workspace"},
                 "runtime.code_dir '/co\\rde' holds a line break", id="cr-code"),
    pytest.param({"runtime.code_dir": "/code", "pytorch.bench_path": "ws"},
                 "pytorch.bench_path 'ws' is not an absolute path", id="relative-target"),
])
def test_a_path_that_cannot_be_mounted_is_refused_naming_it(exp: dict[str, Any],
                                                           message: str) -> None:
    with pytest.raises(ValidationError, match="^" + message.replace("\\", "\\\\")):
        mount_options(Experiment.of(exp))


@pytest.mark.parametrize("data_dir,message", [
    pytest.param("data", "exp.data_dir 'data' is not an absolute path", id="relative"),
    pytest.param("/a\nb", "holds a line break", id="newline"),
])
def test_validate_refuses_it_before_asking_the_engine(
        capsys: pytest.CaptureFixture[str], data_dir: str, message: str) -> None:
    # exp.data given: its default pastes the path into an expression (issue 17's values-as-data)
    assert main(["validate", *DOCKER, f"-Pexp.data_dir={data_dir}", "-Pexp.data=real"]) == 1
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert message in line


def test_the_launch_script_mounts_a_colon_path_with_mount(capsys: pytest.CaptureFixture[str],
                                                          tmp_path: Any) -> None:
    assert main(["run", "--no-validation", *DOCKER, "-Pexp.data_dir=/data/a:b",
                 "-Pexp.status=simulate", f"-Pexp.log_dir={tmp_path}"]) == 0
    script = capsys.readouterr().out
    assert "--mount 'type=bind,\"source=/data/a:b\",\"target=/data/a:b\",readonly'" in script
    assert "-v /data/a:b" not in script


@pytest.mark.parametrize("image", ["-v/:/host", "--privileged", "-", "  --rm"])
def test_an_image_name_docker_would_read_as_an_option_is_refused(
        capsys: pytest.CaptureFixture[str], image: str) -> None:
    """The image is the one word docker reads positionally before the command: a value
    starting with ``-`` would be an option (``-v/:/host`` mounts the host's root)."""
    assert main(["validate", *DOCKER, f"-Pexp.docker_image={image}"]) == 1
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert f"exp.docker_image '{image.strip()}' starts with '-'" in line
