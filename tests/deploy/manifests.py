"""Readers for the deploy files (Dockerfile, .dockerignore, compose, Kubernetes) the tests share.

They understand the subset of each format the repository uses, and fail loudly on the rest.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shlex
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any
from unittest import mock

import yaml

from chrono_server.config import ServerSettings, parse_settings
from chrono_server.spec import ServiceSpec
from date_service.server import SPEC as DATE_SPEC
from date_service.store import SqliteStore, open_store
from time_service.server import SPEC as TIME_SPEC

REPO_ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO_ROOT / "Dockerfile"
DOCKERIGNORE = REPO_ROOT / ".dockerignore"
COMPOSE = REPO_ROOT / "compose.yaml"
K8S = REPO_ROOT / "deploy" / "k8s"
K8S_BASE = K8S / "base"
DEPLOY_README = REPO_ROOT / "deploy" / "README.md"
# The image's user has no home (useradd --home-dir), and runs in WORKDIR /.
IMAGE_HOME = "/nonexistent"
IMAGE_WORKDIR = PurePosixPath("/")


@dataclass(frozen=True)
class Service:
    """One service as the deploy files name it: image target, compose service, Deployment."""

    key: str
    spec: ServiceSpec
    # The servers' variables (TIME_SERVICE_PORT) and the client's (TIME_SERVICE_TARGET).
    env_prefix: str

    @property
    def name(self) -> str:
        """The command, Dockerfile target, compose service and Kubernetes object name."""
        return self.spec.entry.prog

    @property
    def port(self) -> int:
        """The port the code listens on unless told otherwise."""
        return self.spec.entry.default_port

    @property
    def full_name(self) -> str:
        """The gRPC service name its health service reports on."""
        return self.spec.descriptor.full_name


TIME = Service("time", TIME_SPEC, "TIME_SERVICE")
DATE = Service("date", DATE_SPEC, "DATE_SERVICE")
SERVICES = (TIME, DATE)


# --- Dockerfile ------------------------------------------------------------------------


@dataclass(frozen=True)
class MadeDirectory:
    """A folder an ``install -d`` in a RUN line creates, with the owner and mode it gives."""

    path: str
    # Empty when the command leaves it to the user the RUN runs as.
    owner: str
    group: str
    mode: int


@dataclass
class Stage:
    """One ``FROM ... AS name`` stage and its instructions, in order."""

    name: str
    base: str
    instructions: list[tuple[str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class Dockerfile:
    """The stages of a Dockerfile; a stage sees what the stages it is built FROM set."""

    stages: dict[str, Stage]

    def chain(self, name: str) -> list[Stage]:
        """The stage ``name`` and the stages it derives from, root first."""
        chain: list[Stage] = []
        current: str | None = name
        while current is not None and current in self.stages:
            stage = self.stages[current]
            chain.insert(0, stage)
            current = stage.base
        assert chain, f"no stage {name!r} in the Dockerfile: {sorted(self.stages)}"
        return chain

    def image(self, name: str) -> str:
        """The external image stage ``name`` is ultimately built on."""
        return self.chain(name)[0].base

    def all(self, name: str, keyword: str) -> list[str]:
        """The arguments of every ``keyword`` instruction stage ``name`` inherits or has."""
        return [
            rest
            for stage in self.chain(name)
            for word, rest in stage.instructions
            if word == keyword
        ]

    def last(self, name: str, keyword: str) -> str | None:
        """The arguments of the ``keyword`` instruction in force in stage ``name``."""
        found = self.all(name, keyword)
        return found[-1] if found else None

    def exec_form(self, name: str, keyword: str) -> list[str]:
        """The JSON array of the ``keyword`` (ENTRYPOINT, CMD) in force in stage ``name``."""
        rest = self.last(name, keyword)
        assert rest is not None, f"stage {name!r} has no {keyword}"
        return _json_array(rest, f"{keyword} of stage {name!r}")

    def entrypoint(self, name: str) -> list[str]:
        """The ENTRYPOINT of stage ``name``, the argv that container args are appended to."""
        return self.exec_form(name, "ENTRYPOINT")

    def env(self, name: str) -> dict[str, str]:
        """The ENV variables stage ``name`` sets or inherits (``$VAR`` left unexpanded)."""
        env: dict[str, str] = {}
        for rest in self.all(name, "ENV"):
            for word in shlex.split(rest):
                key, sep, value = word.partition("=")
                assert sep, f"ENV {rest!r}: use the KEY=VALUE form"
                env[key] = value
        return env

    def exposed(self, name: str) -> set[int]:
        """The ports stage ``name`` EXPOSEs."""
        return {
            int(port.split("/")[0]) for rest in self.all(name, "EXPOSE") for port in rest.split()
        }

    def healthcheck(self, name: str) -> list[str]:
        """The command of the HEALTHCHECK in force in stage ``name``, exec form."""
        rest = self.last(name, "HEALTHCHECK")
        assert rest is not None, f"stage {name!r} has no HEALTHCHECK"
        match = re.fullmatch(r"((?:--[a-z-]+=\S+\s+)*)CMD\s+(.*)", rest)
        assert match, f"HEALTHCHECK {rest!r}: expected [--option=value ...] CMD [...]"
        return _json_array(match.group(2), f"HEALTHCHECK of stage {name!r}")

    def volumes(self, name: str) -> list[str]:
        """The paths stage ``name`` declares or inherits as VOLUMEs."""
        paths: list[str] = []
        for rest in self.all(name, "VOLUME"):
            if rest.startswith("["):
                paths += _json_array(rest, f"VOLUME of stage {name!r}")
            else:
                paths += rest.split()
        return paths

    def made_directories(self, name: str) -> dict[str, MadeDirectory]:
        """The folders ``install -d`` creates in the RUN lines of stage ``name``, by path."""
        made: dict[str, MadeDirectory] = {}
        for rest in self.all(name, "RUN"):
            for command in rest.split("&&"):
                words = shlex.split(command)
                if words[:1] != ["install"] or "-d" not in words:
                    continue
                options = {"-o": "", "-g": "", "-m": "755"}
                paths = []
                pending: str | None = None
                for word in words[1:]:
                    if pending is not None:
                        options[pending], pending = word, None
                    elif word in options:
                        pending = word
                    elif word != "-d":
                        assert not word.startswith("-"), f"{command!r}: only -d -o -g -m here"
                        paths.append(word)
                for path in paths:
                    made[path] = MadeDirectory(
                        path, options["-o"], options["-g"], int(options["-m"], 8)
                    )
        return made

    def copies(self, name: str) -> list[tuple[list[str], str]]:
        """The context sources and destination of each COPY from the build context in ``name``."""
        result = []
        for word, rest in self.stages[name].instructions:
            if word != "COPY":
                continue
            words = shlex.split(rest)
            if any(option.startswith("--from") for option in words):
                continue
            assert not any(option.startswith("--") for option in words), rest
            result.append((words[:-1], words[-1]))
        return result


def _json_array(text: str, what: str) -> list[str]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        raise AssertionError(f"{what} must be a JSON array (exec form), not {text!r}") from None
    assert isinstance(value, list), f"{what} must be a JSON array, not {text!r}"
    assert all(isinstance(item, str) for item in value), what
    return [str(item) for item in value]


def _logical_lines(text: str) -> Iterator[str]:
    """Instructions with their continuation lines joined; comments and blanks left out."""
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        # A comment ends nothing: Docker drops it, even between continuation lines.
        if line.startswith("#") or (not line and not pending):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        yield (pending + line).strip()
        pending = ""
    assert not pending, f"the Dockerfile ends in a continuation line: {pending!r}"


def read_dockerfile(path: Path = DOCKERFILE) -> Dockerfile:
    """Parse ``path`` into its stages, with global ARG defaults substituted into FROM lines."""
    global_args: dict[str, str] = {}
    stages: dict[str, Stage] = {}
    current: Stage | None = None
    for line in _logical_lines(path.read_text(encoding="utf-8")):
        keyword, _, rest = line.partition(" ")
        keyword = keyword.upper()
        rest = rest.strip()
        if keyword == "ARG" and current is None:
            name, _, default = rest.partition("=")
            global_args[name] = default
        elif keyword == "FROM":
            words = [word for word in rest.split() if not word.startswith("--")]
            image = re.sub(
                r"\$\{?(\w+)\}?", lambda match: global_args.get(match.group(1), ""), words[0]
            )
            assert len(words) == 3, f"FROM {rest!r}: name the stage"
            assert words[1].upper() == "AS", f"FROM {rest!r}: name the stage"
            current = Stage(name=words[2], base=image)
            assert current.name not in stages, f"stage {current.name!r} is defined twice"
            stages[current.name] = current
        else:
            assert current is not None, f"{keyword} before the first FROM"
            current.instructions.append((keyword, rest))
    return Dockerfile(stages)


def _ignore_regex(pattern: str) -> re.Pattern[str]:
    parts = []
    for piece in re.split(r"(\*\*/?|\*|\?)", pattern.strip("/")):
        if piece.startswith("**"):
            parts.append("(?:.*/)?" if piece.endswith("/") else ".*")
        elif piece == "*":
            parts.append("[^/]*")
        elif piece == "?":
            parts.append("[^/]")
        else:
            parts.append(re.escape(piece))
    return re.compile("".join(parts))


def dockerignored(path: str, patterns: Sequence[str]) -> bool:
    """Whether ``path`` (relative to the context) is left out of the build context.

    As Docker does: the last pattern that matches the path or one of its parent folders
    wins, and a ``!`` pattern puts back what an earlier one left out.
    """
    parts = path.strip("/").split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    ignored = False
    for pattern in patterns:
        keep = pattern.startswith("!")
        regex = _ignore_regex(pattern.removeprefix("!"))
        if any(regex.fullmatch(candidate) for candidate in candidates):
            ignored = not keep
    return ignored


def read_dockerignore(path: Path = DOCKERIGNORE) -> list[str]:
    """The patterns of ``path``, without comments and blank lines."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


# --- server flags ----------------------------------------------------------------------


def server_settings(
    service: Service, argv: Sequence[str], environ: Mapping[str, str] | None = None
) -> ServerSettings:
    """The settings ``service`` would run with given ``argv`` (without the program name).

    The test's environment is left out, so only the flags and ``environ`` count; a flag
    or variable the server does not accept fails the test with argparse's own message.
    """
    stderr = io.StringIO()
    try:
        with contextlib.redirect_stderr(stderr):
            return parse_settings(service.spec.entry, list(argv), environ=dict(environ or {}))
    except SystemExit:
        raise AssertionError(
            f"{service.name} refuses {list(argv)}: {stderr.getvalue().strip()}"
        ) from None


def environment_variables(service: Service) -> set[str]:
    """The variables ``service``'s parser reads, as its own --help lists them."""
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.suppress(SystemExit):
        parse_settings(service.spec.entry, ["--help"], environ={})
    text = " ".join(stdout.getvalue().split())
    return set(re.findall(r"\(env ([A-Z0-9_]+);", text))


def calendar_file(database: str | None, environ: Mapping[str, str]) -> PurePosixPath | None:
    """The SQLite file a date service keeps its calendars in; None for PostgreSQL.

    ``database`` is its --database setting, ``environ`` the environment it runs with (the
    image's ENV), which the default file's folder comes from; the store's own code says
    where that is.
    """
    url = database or ""
    if url.startswith(("postgresql://", "postgres://")):
        return None
    with mock.patch.dict(os.environ, {"HOME": IMAGE_HOME, **environ}, clear=True):
        store = open_store(url)
    assert isinstance(store, SqliteStore), f"{url!r} is neither SQLite nor PostgreSQL"
    return IMAGE_WORKDIR / store.path


def flag_value(argv: Sequence[str], flag: str) -> str | None:
    """The value the last ``flag VALUE`` or ``flag=VALUE`` in ``argv`` gives, or None."""
    value = None
    for i, word in enumerate(argv):
        if word == flag and i + 1 < len(argv):
            value = argv[i + 1]
        elif word.startswith(flag + "="):
            value = word.split("=", 1)[1]
    return value


# --- YAML ------------------------------------------------------------------------------


def load_yaml(path: Path) -> list[Any]:
    """Every document in ``path``, empty ones left out."""
    with path.open(encoding="utf-8") as stream:
        return [document for document in yaml.safe_load_all(stream) if document is not None]


def read_compose(path: Path = COMPOSE) -> dict[str, Any]:
    """The compose file, which holds one document."""
    documents = load_yaml(path)
    assert len(documents) == 1, f"{path} holds {len(documents)} documents"
    compose = documents[0]
    assert isinstance(compose, dict)
    return compose


def k8s_yaml_files(root: Path = K8S) -> list[Path]:
    """Every YAML file under ``root``."""
    return sorted([*root.rglob("*.yaml"), *root.rglob("*.yml")])


def k8s_objects(folder: Path = K8S_BASE) -> list[dict[str, Any]]:
    """The Kubernetes objects of the files directly in ``folder``, kustomization left out."""
    objects = []
    for path in k8s_yaml_files(folder):
        if path.parent != folder or path.name.startswith("kustomization."):
            continue
        for document in load_yaml(path):
            assert isinstance(document, dict), f"{path}: not a mapping"
            objects.append(document)
    return objects


def duration_seconds(text: str | int | float) -> float:
    """A compose duration (``20s``, ``1m30s``, ``500ms``) in seconds."""
    if isinstance(text, int | float):
        return float(text)
    units = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001, "us": 0.000001}
    pieces = re.findall(r"(\d+(?:\.\d+)?)(ms|us|h|m|s)", text)
    assert pieces, f"bad duration {text!r}"
    assert "".join(n + u for n, u in pieces) == text, f"bad duration {text!r}"
    return sum(float(number) * units[unit] for number, unit in pieces)


# --- deploy/README.md ------------------------------------------------------------------


def documented_secrets(path: Path = DEPLOY_README) -> dict[str, dict[str, str]]:
    """The keys and values of each ``kubectl create secret generic`` in ``path``, by name.

    A ``--from-literal=KEY=VALUE`` gives VALUE, a ``--from-file=KEY=FILE`` gives FILE.
    """
    text = path.read_text(encoding="utf-8").replace("\\\n", " ")
    secrets: dict[str, dict[str, str]] = {}
    for line in text.splitlines():
        words = shlex.split(line.strip(), comments=True) if "kubectl create secret" in line else []
        if words[:4] != ["kubectl", "create", "secret", "generic"]:
            continue
        keys = secrets.setdefault(words[4], {})
        for word in words[5:]:
            option, _, given = word.partition("=")
            if option in ("--from-literal", "--from-file"):
                key, sep, value = given.partition("=")
                assert sep, f"{line!r}: name the key, {option}=KEY=..."
                keys[key] = value
    return secrets


def documented_yaml(title: str, path: Path = DEPLOY_README) -> dict[str, Any]:
    """The one YAML block in ``path`` whose first line is the comment ``# {title}``."""
    blocks = re.findall(r"^```yaml\n(.*?)^```", path.read_text(encoding="utf-8"), re.M | re.S)
    found = [block for block in blocks if block.startswith(f"# {title}\n")]
    assert len(found) == 1, f"{path} has {len(found)} yaml blocks titled {title!r}"
    document = yaml.safe_load(found[0])
    assert isinstance(document, dict), title
    return document
