"""Talk to the Docker engine through the docker SDK: is it there, which images exist.

Used by ``run`` before a sweep (validation), for the image id recorded in each log, and to
remove a container whose experiment timed out or was interrupted (the ``docker run`` client
dying does not stop its container). The SDK is imported only when a docker experiment exists.
"""
from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

from dlbs.errors import ValidationError
from dlbs.experiment import Experiment

log = logging.getLogger(__name__)

START_HINT = ("start it (e.g. 'systemctl start docker', or for a private engine "
              "'eval \"$(bash .ci/docker-engine.sh start)\"') or point DOCKER_HOST at it")


@lru_cache(maxsize=1)
def client() -> Any:
    """A connected docker client; ValidationError saying what to do when the engine is absent."""
    where = os.environ.get("DOCKER_HOST", "the default socket (/var/run/docker.sock)")
    try:
        import docker
    except ImportError:
        raise ValidationError("the docker Python SDK is not installed: "
                              "pip install docker") from None
    try:
        engine = docker.from_env(timeout=30)  # type: ignore[attr-defined]
        engine.ping()
    except Exception as err:  # noqa: BLE001 - any failure means 'no engine here'
        reason = str(err).splitlines()[0][:200] if str(err) else type(err).__name__
        raise ValidationError(f"the Docker engine at {where} does not answer ({reason}); "
                              f"{START_HINT}") from None
    return engine


def image_id(image: str) -> str:
    """The id of a local image; ValidationError (with the build command) when it is missing."""
    import docker.errors
    try:
        return str(client().images.get(image).id)
    except docker.errors.ImageNotFound:
        raise ValidationError(
            f"docker image '{image}' is not in the engine (dlbs never pulls): build it with "
            f"'docker build -t {image} -f docker/Dockerfile python' or set exp.docker_image"
        ) from None


def docker_images(experiments: Iterable[Experiment]) -> list[str]:
    """Images of the experiments that would run in a container (``exp.status`` ok)."""
    return sorted({e.image for e in experiments
                   if e.status == "ok" and e.in_container and e.container_runtime == "docker"})


def check_plan(experiments: Iterable[Experiment]) -> dict[str, str]:
    """For ``validate``/``run``: engine and images of a plan's docker experiments (no-op
    without any); return image -> id. Raises ValidationError saying what to do."""
    images = docker_images(experiments)
    return check_images(images) if images else {}


def check_images(images: Iterable[str]) -> dict[str, str]:
    """Check the engine answers and every image exists; return image -> id."""
    return {image: image_id(image) for image in sorted(set(images))}


def remove_container(name: str) -> None:
    """Remove (force) the container ``name`` if it exists; errors are logged, not raised."""
    try:
        import docker.errors
        client().containers.get(name).remove(force=True)
    except docker.errors.NotFound:
        return
    except Exception as err:  # noqa: BLE001 - cleanup is best effort
        log.warning("could not remove container %s: %s", name, err)


def container_pid(name: str) -> int | None:
    """The host pid of the container's first process, or None when it is not running."""
    try:
        pid = int(client().containers.get(name).attrs["State"]["Pid"])
    except Exception:  # noqa: BLE001 - not started yet, or gone
        return None
    return pid or None
