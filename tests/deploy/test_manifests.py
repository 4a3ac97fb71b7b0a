"""The Dockerfile, compose.yaml and deploy/k8s agree with the code they deploy.

No Docker engine or cluster runs in CI, so these read the files and hold them against
the servers' own defaults, contracts and flag parser.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path, PurePosixPath
from typing import Any

import pytest

from chrono_server.config import ServerSettings
from date_service.options import DateOptions
from tests.deploy.manifests import (
    DATE,
    K8S,
    K8S_BASE,
    REPO_ROOT,
    SERVICES,
    TIME,
    Service,
    calendar_file,
    dockerignored,
    documented_secrets,
    documented_yaml,
    duration_seconds,
    environment_variables,
    flag_value,
    k8s_objects,
    k8s_yaml_files,
    load_yaml,
    read_compose,
    read_dockerfile,
    read_dockerignore,
    server_settings,
)

PARAMS = [pytest.param(service, id=service.key) for service in SERVICES]
# The uid the image runs as, and so what Kubernetes must run it as.
UID = 10001
# The image every runtime stage must be built on.
RUNTIME_IMAGE = "python:3.11-slim"
CLIENT = "client"


def console_scripts() -> dict[str, str]:
    """The commands the chrono distribution installs."""
    with (REPO_ROOT / "pyproject.toml").open("rb") as stream:
        scripts: dict[str, str] = tomllib.load(stream)["project"]["scripts"]
    return scripts


def date_options(settings: ServerSettings) -> DateOptions:
    """The date service's own part of ``settings``."""
    assert isinstance(settings.service, DateOptions)
    return settings.service


def under(path: PurePosixPath, folders: list[str]) -> list[str]:
    """The folders among ``folders`` that hold ``path``."""
    return [folder for folder in folders if path.is_relative_to(folder)]


def health_command(service: Service) -> list[str]:
    """``chrono health`` for ``service`` at its default port, as run inside its container."""
    flag = f"--{service.key}-target"
    return ["chrono", "health", service.key, flag, f"127.0.0.1:{service.port}"]


# --- Dockerfile ------------------------------------------------------------------------


def test_dockerfile_has_a_target_per_program() -> None:
    """The Dockerfile builds a wheel and has a target for each service and the client."""
    dockerfile = read_dockerfile()
    for name in (*(service.name for service in SERVICES), CLIENT):
        assert dockerfile.image(name) == RUNTIME_IMAGE, name
    builds = [rest for stage in dockerfile.stages.values() for _, rest in stage.instructions]
    assert any("pip wheel" in rest for rest in builds), "no stage builds a wheel"


@pytest.mark.parametrize("service", PARAMS)
def test_dockerfile_entrypoint_is_the_server_on_all_interfaces(service: Service) -> None:
    """Each service image runs its console script on 0.0.0.0 and its default port."""
    entrypoint = read_dockerfile().entrypoint(service.name)
    assert entrypoint[0] == service.name
    assert entrypoint[0] in console_scripts()
    settings = server_settings(service, entrypoint[1:])
    assert settings.host == "0.0.0.0"
    assert settings.port == service.port


def test_dockerfile_client_entrypoint_is_the_cli() -> None:
    """The client image runs the chrono command."""
    entrypoint = read_dockerfile().entrypoint(CLIENT)
    assert entrypoint == ["chrono"]
    assert "chrono" in console_scripts()


@pytest.mark.parametrize("name", [*(service.name for service in SERVICES), CLIENT])
def test_dockerfile_runtime_is_unprivileged_and_read_only_ready(name: str) -> None:
    """Every runtime image runs as the fixed non-root uid, caches no bytecode, stops on SIGTERM."""
    dockerfile = read_dockerfile()
    user = dockerfile.last(name, "USER")
    assert user is not None, f"{name} runs as root"
    uid, _, gid = user.partition(":")
    # Numeric, or Kubernetes' runAsNonRoot cannot check it.
    assert uid == str(UID), user
    assert gid in ("", str(UID)), user
    assert dockerfile.last(name, "STOPSIGNAL") == "SIGTERM"
    env = dockerfile.env(name)
    assert env.get("PYTHONDONTWRITEBYTECODE") == "1"
    assert env.get("PYTHONUNBUFFERED") == "1"


@pytest.mark.parametrize("service", PARAMS)
def test_dockerfile_health_check_and_port(service: Service) -> None:
    """Each service image exposes its default port and checks its health with chrono health."""
    dockerfile = read_dockerfile()
    assert service.port in dockerfile.exposed(service.name)
    assert dockerfile.healthcheck(service.name) == health_command(service)


def test_dockerfile_date_image_keeps_calendars_in_a_volume_its_uid_owns() -> None:
    """The date image's default SQLite file lies in a VOLUME created owned by uid 10001."""
    dockerfile = read_dockerfile()
    settings = server_settings(DATE, dockerfile.entrypoint(DATE.name)[1:])
    path = calendar_file(date_options(settings).database, dockerfile.env(DATE.name))
    assert path is not None, "the image's entrypoint names a PostgreSQL database"
    volumes = under(path, dockerfile.volumes(DATE.name))
    assert volumes, f"{path} is on the read-only root, in no VOLUME"
    made = dockerfile.made_directories(DATE.name)
    for volume in volumes:
        assert volume in made, f"the VOLUME {volume} is not created with its owner"
        assert (made[volume].owner, made[volume].group) == (str(UID), str(UID)), made[volume]
        assert made[volume].mode & 0o700 == 0o700, f"uid {UID} cannot write {volume}"
        assert made[volume].mode & 0o002 == 0, f"{volume} is writable by anyone"


def test_dockerfile_only_the_date_image_has_a_volume() -> None:
    """The time and client images declare no VOLUME: they write nothing."""
    dockerfile = read_dockerfile()
    assert dockerfile.volumes(DATE.name)
    for name in (TIME.name, CLIENT):
        assert dockerfile.volumes(name) == [], name


def test_dockerignore_keeps_the_build_sources_and_nothing_else() -> None:
    """The build context holds what the builder copies, and no venv, history or tests."""
    patterns = read_dockerignore()
    dockerfile = read_dockerfile()
    sources = [source for sources, _ in dockerfile.copies("builder") for source in sources]
    assert "pyproject.toml" in sources
    for source in sources:
        path = REPO_ROOT / source
        assert path.exists(), f"the Dockerfile copies {source}, which does not exist"
        files = [path] if path.is_file() else [p for p in path.rglob("*.py") if p.is_file()]
        for file in files:
            relative = file.relative_to(REPO_ROOT).as_posix()
            if "__pycache__" not in relative:
                assert not dockerignored(relative, patterns), f"{relative} is left out"
    for left_out in (".venv", ".git", "node_modules", "tests", "client/__pycache__/x.pyc"):
        assert dockerignored(left_out, patterns), f"{left_out} is sent to the build"


# --- compose ---------------------------------------------------------------------------


def compose_argv(name: str, compose_service: dict[str, Any]) -> list[str]:
    """The argv a compose service runs: its entrypoint (or the image's) and its command."""
    entrypoint = compose_service.get("entrypoint", read_dockerfile().entrypoint(name))
    command = compose_service.get("command", [])
    assert isinstance(entrypoint, list), "entrypoint: use the list form"
    assert isinstance(command, list), "command: use the list form"
    return [str(word) for word in (*entrypoint, *command)]


def compose_environment(compose_service: dict[str, Any]) -> dict[str, str]:
    """A compose service's environment, from either the map or the list form."""
    environment = compose_service.get("environment", {})
    if isinstance(environment, list):
        return dict(str(item).partition("=")[::2] for item in environment)
    return {str(key): str(value) for key, value in environment.items()}


def published_container_ports(compose_service: dict[str, Any]) -> set[int]:
    """The container ports a compose service publishes (short syntax)."""
    return {int(str(port).split(":")[-1].split("/")[0]) for port in compose_service["ports"]}


@pytest.mark.parametrize("service", PARAMS)
def test_compose_service_runs_the_image_target(service: Service) -> None:
    """Each compose service builds its Dockerfile target and runs flags the server accepts."""
    compose_service = read_compose()["services"][service.name]
    assert compose_service["build"]["target"] == service.name
    assert service.name in read_dockerfile().stages
    argv = compose_argv(service.name, compose_service)
    assert argv[0] == service.name
    settings = server_settings(service, argv[1:])
    assert settings.host == "0.0.0.0"
    assert settings.port == service.port
    assert service.port in published_container_ports(compose_service)
    metrics = flag_value(argv, "--metrics-port")
    assert metrics is not None, f"{service.name} serves no metrics"
    assert int(metrics) in published_container_ports(compose_service)


@pytest.mark.parametrize("service", PARAMS)
def test_compose_service_is_read_only_and_drains(service: Service) -> None:
    """Each compose service is read-only, has its health check, and outwaits its drain."""
    compose_service = read_compose()["services"][service.name]
    assert compose_service["read_only"] is True
    assert compose_service.get("cap_drop") == ["ALL"]
    assert compose_service["healthcheck"]["test"] == ["CMD", *health_command(service)]
    settings = server_settings(service, compose_argv(service.name, compose_service)[1:])
    stop_grace = duration_seconds(compose_service["stop_grace_period"])
    assert stop_grace > settings.grace


def named_volume_mounts(compose_service: dict[str, Any]) -> dict[str, str]:
    """The named volumes a compose service mounts writable (short syntax), by target."""
    mounts = {}
    for entry in compose_service.get("volumes", []):
        assert isinstance(entry, str), "volumes: use the short syntax, NAME:TARGET"
        source, target, *mode = entry.split(":")
        if not source.startswith((".", "/", "~")) and "ro" not in mode:
            mounts[target] = source
    return mounts


def test_compose_date_service_is_one_replica_with_calendars_on_a_named_volume() -> None:
    """Compose runs one date-service whose SQLite file lies on a named volume of its image's."""
    compose = read_compose()
    compose_service = compose["services"][DATE.name]
    assert compose_service.get("deploy", {}).get("replicas", 1) == 1
    assert compose_service.get("scale", 1) == 1
    environment = compose_environment(compose_service)
    argv = compose_argv(DATE.name, compose_service)
    settings = server_settings(DATE, argv[1:], environment)
    dockerfile = read_dockerfile()
    path = calendar_file(
        date_options(settings).database, {**dockerfile.env(DATE.name), **environment}
    )
    assert path is not None, "one replica needs no PostgreSQL: it keeps SQLite on a volume"
    mounts = named_volume_mounts(compose_service)
    targets = under(path, list(mounts))
    assert targets, f"{path} is on the read-only root, on no named volume: {mounts}"
    for target in targets:
        assert mounts[target] in compose.get("volumes", {}), f"{mounts[target]} is not declared"
        # Docker seeds a new named volume from the image's folder, owner included.
        assert target in dockerfile.volumes(DATE.name), f"{target} is no VOLUME of the image"


def test_readme_compose_override_allows_writes_with_flags_the_server_accepts(
    tmp_path: Path,
) -> None:
    """The README's compose.override.yaml adds a token file secret to compose.yaml's flags."""
    override = documented_yaml("compose.override.yaml")
    service = override["services"][DATE.name]
    (secret,) = service["secrets"]
    assert "file" in override["secrets"][secret]
    command = [str(word) for word in service["command"]]
    # Compose replaces the command: the override must repeat what compose.yaml passes.
    base = [str(word) for word in read_compose()["services"][DATE.name]["command"]]
    assert command[: len(base)] == base
    # Compose mounts a file secret at /run/secrets/NAME.
    mounted = f"/run/secrets/{secret}"
    assert flag_value(command, "--write-token-file") == mounted
    stand_in = tmp_path / secret
    stand_in.write_text("stand-in\n", encoding="utf-8")
    argv = [*read_dockerfile().entrypoint(DATE.name)[1:], *command]
    settings = server_settings(DATE, [str(stand_in) if w == mounted else w for w in argv])
    assert date_options(settings).write_token_file == stand_in


def test_compose_client_is_a_one_shot_after_healthy_services() -> None:
    """The compose client runs once, after both services report healthy, against their names."""
    services = read_compose()["services"]
    client = services[CLIENT]
    assert client["build"]["target"] == CLIENT
    assert CLIENT in read_dockerfile().stages
    assert client.get("profiles") or client.get("restart") == "no"
    assert client.get("restart", "no") == "no"
    environment = compose_environment(client)
    for service in SERVICES:
        assert service.name in services
        assert client["depends_on"][service.name]["condition"] == "service_healthy"
        target = environment[f"{service.env_prefix}_TARGET"]
        assert target == f"{service.name}:{service.port}"


# --- Kubernetes ------------------------------------------------------------------------


def base_objects(kind: str) -> dict[str, dict[str, Any]]:
    """The base's objects of ``kind``, by name."""
    found = {}
    for obj in k8s_objects():
        if obj["kind"] == kind:
            name = obj["metadata"]["name"]
            assert name not in found, f"two {kind}s named {name}"
            found[name] = obj
    return found


def deployment(service: Service) -> dict[str, Any]:
    """The base's Deployment of ``service``."""
    deployments = base_objects("Deployment")
    assert service.name in deployments, f"no Deployment {service.name}: {sorted(deployments)}"
    return deployments[service.name]


def container(service: Service) -> dict[str, Any]:
    """The server container of ``service``'s Deployment."""
    containers = deployment(service)["spec"]["template"]["spec"]["containers"]
    named = [c for c in containers if c["name"] == service.name]
    assert len(named) == 1, f"no container named {service.name}"
    found: dict[str, Any] = named[0]
    return found


def k8s_argv(service: Service) -> list[str]:
    """The argv the container runs: its command (or the image's ENTRYPOINT) and its args."""
    spec = container(service)
    command = spec.get("command", read_dockerfile().entrypoint(service.name))
    return [str(word) for word in (*command, *spec.get("args", []))]


def pod_spec(service: Service) -> dict[str, Any]:
    """The pod template spec of ``service``'s Deployment."""
    spec: dict[str, Any] = deployment(service)["spec"]["template"]["spec"]
    return spec


def pod_volumes(service: Service) -> dict[str, dict[str, Any]]:
    """The volumes of ``service``'s pods, by name."""
    return {volume["name"]: volume for volume in pod_spec(service).get("volumes", [])}


def mounted_files(service: Service) -> dict[str, tuple[dict[str, Any], dict[str, Any]]]:
    """The files the container's Secret mounts hold: path -> (the mount, the key's item)."""
    volumes = pod_volumes(service)
    files = {}
    for mount in container(service).get("volumeMounts", []):
        assert mount["name"] in volumes, f"{service.name} mounts a missing volume {mount['name']}"
        secret = volumes[mount["name"]].get("secret")
        if secret is None:
            continue
        # A subPath mount is a copy the kubelet never updates: a rotated Secret would not show.
        assert "subPath" not in mount, f"{mount['name']}: mount the whole Secret, no subPath"
        assert secret.get("items"), f"{mount['name']}: list the Secret's keys in items"
        for item in secret["items"]:
            files[f"{mount['mountPath'].rstrip('/')}/{item['path']}"] = (mount, item)
    return files


def k8s_settings(
    service: Service, scratch: Path, environ: dict[str, str] | None = None
) -> ServerSettings:
    """The settings ``service``'s container runs with, its mounted files stood in for.

    Flags naming files must name readable ones, so each file a Secret mount holds is
    written under ``scratch`` and the argv points there instead.
    """
    stand_ins = {}
    for path in mounted_files(service):
        stand_in = scratch / path.lstrip("/")
        stand_in.parent.mkdir(parents=True, exist_ok=True)
        stand_in.write_text("stand-in\n", encoding="utf-8")
        stand_ins[path] = str(stand_in)
    argv = [stand_ins.get(word, word) for word in k8s_argv(service)[1:]]
    return server_settings(service, argv, environ)


def secret_env(service: Service, name: str) -> dict[str, Any]:
    """The secretKeyRef the container's variable ``name`` takes its value from."""
    env = {item["name"]: item for item in container(service).get("env", [])}
    assert name in env, f"{service.name} does not set {name}"
    assert "value" not in env[name], f"{name} is written out, not taken from a Secret"
    ref: dict[str, Any] = env[name]["valueFrom"]["secretKeyRef"]
    return ref


def container_port(service: Service, name: str) -> int:
    """The number of ``service``'s container port called ``name``."""
    ports = {port["name"]: int(port["containerPort"]) for port in container(service)["ports"]}
    assert name in ports, f"{service.name} has no port named {name}: {ports}"
    return ports[name]


def pod_labels(obj: dict[str, Any]) -> dict[str, str]:
    """The labels of a Deployment's pods."""
    labels: dict[str, str] = obj["spec"]["template"]["metadata"]["labels"]
    return labels


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    """Whether a matchLabels ``selector`` picks pods labelled ``labels``."""
    return bool(selector) and all(labels.get(key) == value for key, value in selector.items())


def test_every_k8s_file_is_valid_yaml_of_kubernetes_objects() -> None:
    """Every YAML file under deploy/k8s parses, and each document names its apiVersion and kind."""
    files = k8s_yaml_files()
    assert files, f"no YAML under {K8S}"
    for path in files:
        for document in load_yaml(path):
            assert isinstance(document, dict), path
            assert document.get("apiVersion"), path
            assert document.get("kind"), path


def test_every_kustomization_lists_every_manifest_in_its_folder() -> None:
    """Each kustomization names every other YAML file beside it, and each file it names exists."""
    kustomizations = [path for path in k8s_yaml_files() if path.stem == "kustomization"]
    assert K8S_BASE / "kustomization.yaml" in kustomizations
    for path in kustomizations:
        (kustomization,) = load_yaml(path)
        named: list[str] = list(kustomization.get("resources", []))
        named += [patch["path"] for patch in kustomization.get("patches", []) if "path" in patch]
        beside = {
            sibling.name
            for sibling in path.parent.iterdir()
            if sibling.suffix in (".yaml", ".yml") and sibling.stem != "kustomization"
        }
        assert beside <= set(named), f"{path} leaves out {sorted(beside - set(named))}"
        for entry in named:
            target = (path.parent / entry).resolve()
            assert target.exists(), f"{path} names {entry}, which does not exist"


@pytest.mark.parametrize("service", PARAMS)
def test_k8s_container_runs_the_image_with_flags_the_server_accepts(
    service: Service, tmp_path: Path
) -> None:
    """Each Deployment runs its image's server on all interfaces, with flags the parser accepts."""
    argv = k8s_argv(service)
    assert argv[0] == service.name
    settings = k8s_settings(service, tmp_path)
    assert settings.host == "0.0.0.0"
    assert settings.port == service.port
    image = container(service)["image"]
    assert image == read_compose()["services"][service.name]["image"]


@pytest.mark.parametrize("service", PARAMS)
def test_k8s_probes_use_the_grpc_port_and_service_name(service: Service) -> None:
    """Probes, container port and Service port are the default port; readiness names the service."""
    spec = container(service)
    assert container_port(service, "grpc") == service.port
    readiness = spec["readinessProbe"]["grpc"]
    assert readiness == {"port": service.port, "service": service.full_name}
    liveness = spec["livenessProbe"]["grpc"]
    assert liveness["port"] == service.port
    assert liveness.get("service", "") in ("", service.full_name)


def prestop_seconds(spec: dict[str, Any]) -> float:
    """How long a container's preStop hook holds SIGTERM back (0 without one)."""
    hook = spec.get("lifecycle", {}).get("preStop")
    if hook is None:
        return 0.0
    if "sleep" in hook:
        return float(hook["sleep"]["seconds"])
    command = hook["exec"]["command"]
    match = re.fullmatch(r"sleep (\d+(?:\.\d+)?)", " ".join(command))
    assert match, f"preStop {command}: only a plain sleep is understood here"
    return float(match.group(1))


@pytest.mark.parametrize("service", PARAMS)
def test_k8s_termination_grace_outlasts_the_drain(service: Service, tmp_path: Path) -> None:
    """The pod's termination grace period is longer than its preStop sleep plus --grace."""
    argv = k8s_argv(service)
    # Passed explicitly so the drain time is visible beside the grace period.
    assert flag_value(argv, "--grace") is not None
    settings = k8s_settings(service, tmp_path)
    pod = deployment(service)["spec"]["template"]["spec"]
    drain = prestop_seconds(container(service)) + settings.grace
    assert pod["terminationGracePeriodSeconds"] > drain


@pytest.mark.parametrize("service", PARAMS)
def test_k8s_pod_is_locked_down(service: Service) -> None:
    """Each pod runs as uid 10001 on a read-only root, unprivileged, with the default seccomp."""
    pod = deployment(service)["spec"]["template"]["spec"]
    spec = container(service)
    effective = {**pod.get("securityContext", {}), **spec["securityContext"]}
    assert effective["runAsNonRoot"] is True
    assert effective["runAsUser"] == UID
    assert effective["seccompProfile"] == {"type": "RuntimeDefault"}
    context = spec["securityContext"]
    assert context["readOnlyRootFilesystem"] is True
    assert context["allowPrivilegeEscalation"] is False
    assert context["capabilities"]["drop"] == ["ALL"]
    assert pod.get("automountServiceAccountToken") is False


@pytest.mark.parametrize("service", PARAMS)
def test_k8s_container_sets_only_variables_the_server_reads(service: Service) -> None:
    """Each variable a container sets for its server is one the server's parser reads."""
    variables = environment_variables(service)
    assert f"{service.env_prefix}_PORT" in variables
    for item in container(service).get("env", []):
        if item["name"].startswith(tuple(f"{other.env_prefix}_" for other in SERVICES)):
            assert item["name"] in variables, f"{service.name} reads no {item['name']}"


def test_k8s_date_replicas_share_one_postgresql_named_by_a_secret(tmp_path: Path) -> None:
    """The scaled date Deployment takes its PostgreSQL URL from a required Secret, no pod file."""
    variable = f"{DATE.env_prefix}_DATABASE"
    assert variable in environment_variables(DATE)
    ref = secret_env(DATE, variable)
    assert (ref["name"], ref["key"]) == ("date-service-database", "url")
    # Optional, a missing Secret would start pods with calendars of their own.
    assert ref.get("optional", False) is False
    # A flag would win over the variable.
    assert flag_value(k8s_argv(DATE), "--database") is None
    url = documented_secrets()[ref["name"]][ref["key"]]
    settings = k8s_settings(DATE, tmp_path, {variable: url})
    assert date_options(settings).database == url
    assert calendar_file(url, {}) is None, f"the documented {url!r} is not PostgreSQL"
    # Nothing writable where the image keeps its SQLite file: a pod that lost the URL
    # fails to start instead of keeping calendars the other replicas cannot see.
    fallback = calendar_file(None, read_dockerfile().env(DATE.name))
    assert fallback is not None
    mounts = [mount["mountPath"] for mount in container(DATE).get("volumeMounts", [])]
    assert under(fallback, mounts) == []


def test_k8s_date_write_tokens_are_a_mounted_secret_only_the_uid_reads(tmp_path: Path) -> None:
    """--write-token-file names a file of a required Secret mount, readable by group 10001 only."""
    path = flag_value(k8s_argv(DATE), "--write-token-file")
    assert path is not None, "the date Deployment accepts no writes"
    files = mounted_files(DATE)
    assert path in files, f"{path} is in no Secret mount: {sorted(files)}"
    mount, item = files[path]
    assert mount.get("readOnly") is True
    secret = pod_volumes(DATE)[mount["name"]]["secret"]
    assert secret["secretName"] == "date-service-writers"
    # The server refuses to start on a missing token file: the Secret cannot be optional.
    assert secret.get("optional", False) is False
    mode = item.get("mode", secret.get("defaultMode", 0o644))
    assert pod_spec(DATE)["securityContext"]["fsGroup"] == UID
    assert mode & 0o040, f"mode {mode:o}: group {UID} cannot read the tokens"
    assert mode & 0o007 == 0, f"mode {mode:o}: anyone may read the tokens"
    settings = k8s_settings(DATE, tmp_path)
    assert date_options(settings).write_token_file == tmp_path / path.lstrip("/")
    assert item["key"] in documented_secrets()[secret["secretName"]]


def test_deploy_readme_creates_every_secret_the_base_uses() -> None:
    """deploy/README.md has a kubectl create secret for each Secret and key the base reads."""
    documented = documented_secrets()
    used = set()
    for service in SERVICES:
        for item in container(service).get("env", []):
            ref = item.get("valueFrom", {}).get("secretKeyRef")
            if ref is not None:
                used.add((ref["name"], ref["key"]))
        for volume in pod_volumes(service).values():
            if "secret" in volume:
                for item in volume["secret"]["items"]:
                    used.add((volume["secret"]["secretName"], item["key"]))
    assert used, "the base uses no Secret"
    for name, key in sorted(used):
        assert key in documented.get(name, {}), f"the README does not create {name} with {key}"


@pytest.mark.parametrize("service", PARAMS)
def test_k8s_container_has_requests_and_limits(service: Service) -> None:
    """Each container requests and is limited in CPU and memory (the HPA needs the CPU request)."""
    resources = container(service)["resources"]
    for kind in ("requests", "limits"):
        assert {"cpu", "memory"} <= set(resources[kind]), kind


@pytest.mark.parametrize("service", PARAMS)
def test_k8s_metrics_port_is_served_and_annotated(service: Service) -> None:
    """The server's --metrics-port is a container port, the scrape port and compose's too."""
    metrics = flag_value(k8s_argv(service), "--metrics-port")
    assert metrics is not None, f"{service.name} serves no metrics"
    assert container_port(service, "metrics") == int(metrics)
    compose_argv_ = compose_argv(service.name, read_compose()["services"][service.name])
    assert flag_value(compose_argv_, "--metrics-port") == metrics
    annotations = deployment(service)["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/port"] == metrics
    assert annotations["prometheus.io/path"] == "/metrics"


@pytest.mark.parametrize("service", PARAMS)
def test_k8s_deployment_selects_its_own_pods(service: Service) -> None:
    """Each Deployment's selector matches its pod template's labels."""
    obj = deployment(service)
    assert selects(obj["spec"]["selector"]["matchLabels"], pod_labels(obj))


@pytest.mark.parametrize("service", PARAMS)
def test_k8s_headless_service_routes_grpc_to_the_pods(service: Service) -> None:
    """Each headless Service selects its Deployment's pods on a named gRPC port."""
    services = base_objects("Service")
    assert service.name in services
    svc = services[service.name]["spec"]
    assert svc["clusterIP"] == "None"
    assert selects(svc["selector"], pod_labels(deployment(service)))
    grpc_ports = [port for port in svc["ports"] if port["name"] == "grpc"]
    assert len(grpc_ports) == 1
    (port,) = grpc_ports
    assert port["appProtocol"] == "grpc"
    assert port["port"] == service.port
    assert port["targetPort"] in ("grpc", service.port)


def test_k8s_every_service_selects_a_deployment() -> None:
    """No Service in the base selects pods that no Deployment makes."""
    labels = [pod_labels(obj) for obj in base_objects("Deployment").values()]
    for name, svc in base_objects("Service").items():
        assert any(selects(svc["spec"]["selector"], pods) for pods in labels), name


def test_k8s_every_pdb_protects_a_deployment() -> None:
    """Every Deployment has a PodDisruptionBudget selecting its pods, and every PDB selects one."""
    budgets = base_objects("PodDisruptionBudget")
    deployments = base_objects("Deployment")
    for name, budget in budgets.items():
        selector = budget["spec"]["selector"]["matchLabels"]
        assert any(selects(selector, pod_labels(obj)) for obj in deployments.values()), name
        assert ("minAvailable" in budget["spec"]) != ("maxUnavailable" in budget["spec"]), name
    for name, obj in deployments.items():
        assert any(
            selects(budget["spec"]["selector"]["matchLabels"], pod_labels(obj))
            for budget in budgets.values()
        ), f"no PodDisruptionBudget for {name}"


def test_k8s_every_hpa_scales_an_existing_deployment_on_cpu() -> None:
    """Every Deployment has an autoscaling/v2 CPU HPA of 2+ replicas, and every HPA a Deployment."""
    deployments = base_objects("Deployment")
    scaled = set()
    for obj in k8s_objects():
        if obj["kind"] != "HorizontalPodAutoscaler":
            continue
        name = obj["metadata"]["name"]
        assert obj["apiVersion"] == "autoscaling/v2", name
        spec = obj["spec"]
        target = spec["scaleTargetRef"]
        assert (target["apiVersion"], target["kind"]) == ("apps/v1", "Deployment"), name
        assert target["name"] in deployments, f"{name} scales a missing {target['name']}"
        scaled.add(target["name"])
        assert spec["minReplicas"] >= 2, name
        assert spec["maxReplicas"] >= spec["minReplicas"], name
        resources = [m["resource"]["name"] for m in spec["metrics"] if m["type"] == "Resource"]
        assert "cpu" in resources, name
    assert scaled == set(deployments)
    for name, obj in deployments.items():
        # The HPA owns the count; a replicas field would reset it on every apply.
        assert "replicas" not in obj["spec"], name
