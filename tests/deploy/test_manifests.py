"""deploy/k8s and deploy/kserve, checked offline (no cluster here): each against its schema,
strictly (an unknown or misspelt field fails), and against what they run: the image the
Makefile builds, the port and user the Containerfile sets, the app's probe paths, and a
grace period the server's own shutdown fits in."""
import re
import subprocess
import sys

import jsonschema
import pytest
import yaml
from referencing import Registry, Resource

import config
from helpers import container
from mnist_digits.serving.access import OPEN_PATHS

DEPLOY = container.ROOT / "deploy"
K8S_FILES = sorted((DEPLOY / "k8s").glob("*.yaml"))
ISVC_FILE = DEPLOY / "kserve" / "inferenceservice.yaml"
KSERVE_SCHEMA = container.ROOT / "tests" / "data" / "kserve_inferenceservice.schema.json"
CONTAINERFILE = (container.ROOT / "Containerfile").read_text()


def load(path):
    return yaml.safe_load(path.read_text())


@pytest.fixture(scope="module")
def manifests():
    """{kind: document} of deploy/k8s/*.yaml and the InferenceService."""
    documents = [load(path) for path in [*K8S_FILES, ISVC_FILE]]
    return {doc["kind"]: doc for doc in documents}


def pod_specs(manifests):
    """(pod spec, its one container) of the Deployment and of the InferenceService's predictor."""
    specs = [manifests["Deployment"]["spec"]["template"]["spec"], manifests["InferenceService"]["spec"]["predictor"]]
    return [(spec, spec["containers"][0]) for spec in specs]


def kubernetes_validate(*paths):
    return subprocess.run([sys.executable, "-m", "kubernetes_validate", "--strict", *map(str, paths)],
                          capture_output=True, text=True, timeout=120)


@pytest.mark.process
def test_core_kinds_pass_kubernetes_validate_strict():
    done = kubernetes_validate(*K8S_FILES)
    print(done.stdout)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count(" passed ") == len(K8S_FILES) == 4


@pytest.mark.process
def test_kubernetes_validate_refuses_a_misspelt_field(tmp_path):
    bad = tmp_path / "deployment.yaml"
    bad.write_text((DEPLOY / "k8s" / "deployment.yaml").read_text().replace("livenessProbe:", "livenesProbe:"))
    done = kubernetes_validate(bad)
    assert done.returncode == 1 and "livenesProbe" in done.stdout


def kserve_validator():
    """KServe's InferenceService schema, its Kubernetes types resolved by kubernetes-validate's own."""
    import kubernetes_validate.utils as kv
    version = kv.latest_version()
    k8s = kv.schema_contents(f"kubernetes-json-schema/v{version}-local-strict/_definitions.json", version)
    return jsonschema.Draft202012Validator(yaml.safe_load(KSERVE_SCHEMA.read_text()),
                                           registry=Resource.from_contents(k8s) @ Registry())


def test_inference_service_matches_kserve_models():
    assert list(kserve_validator().iter_errors(load(ISVC_FILE))) == []


# Mistakes the schema must catch -> a word its message names.
MISTAKES = {
    "an unknown predictor field": (lambda doc: doc["spec"]["predictor"].update(protocol="v2"), "protocol"),
    "a misspelt container field": (lambda doc: doc["spec"]["predictor"]["containers"][0].update(livenesProbe={}),
                                   "livenesProbe"),
    "a port as a string": (lambda doc: doc["spec"]["predictor"]["containers"][0]["ports"][0].update(
        containerPort="5000"), "'5000' is not of type"),
    "no predictor": (lambda doc: doc["spec"].pop("predictor"), "'predictor' is a required property"),
}


@pytest.mark.parametrize("mistake", MISTAKES)
def test_kserve_schema_refuses_mistakes(mistake):
    doc = load(ISVC_FILE)
    make, word = MISTAKES[mistake]
    make(doc)
    messages = [error.message for error in kserve_validator().iter_errors(doc)]
    assert any(word in message for message in messages), messages


def test_the_image_is_the_one_the_makefile_builds(manifests):
    makefile_image = re.search(r"^IMAGE := (\S+)$", (container.ROOT / "Makefile").read_text(), re.M).group(1)
    assert makefile_image == container.IMAGE
    assert [c["image"] for _, c in pod_specs(manifests)] == [makefile_image] * 2


def test_the_port_is_the_containerfiles(manifests):
    port = int(re.search(r"^EXPOSE (\d+)$", CONTAINERFILE, re.M).group(1))
    assert re.search(rf"^ENV .*\bPORT={port}\b", CONTAINERFILE, re.M) and port == container.CONTAINER_PORT
    for _, c in pod_specs(manifests):
        env = {var["name"]: var.get("value") for var in c["env"]}
        assert [p["containerPort"] for p in c["ports"]] == [port] and env["PORT"] == str(port)
    annotations = [manifests["Deployment"]["spec"]["template"]["metadata"]["annotations"],
                   manifests["InferenceService"]["metadata"]["annotations"]]
    assert {a["prometheus.io/port"] for a in annotations} == {str(port)}
    assert manifests["Service"]["spec"]["ports"][0]["targetPort"] == "http"


def test_probes_and_metrics_are_open_routes_of_the_app(manifests, litert_predictor):
    from flask_deploy import create_app
    client = create_app(litert_predictor).test_client()
    paths = [c[probe]["httpGet"]["path"] for _, c in pod_specs(manifests)
             for probe in ("livenessProbe", "readinessProbe")]
    assert paths[:2] == ["/health/live", "/health/ready"]
    for path in [*paths, manifests["Deployment"]["spec"]["template"]["metadata"]["annotations"]["prometheus.io/path"]]:
        assert path in OPEN_PATHS, f"{path} would need an API key"   # the kubelet and Prometheus send none
        assert client.get(path).status_code == 200, path


def test_grace_period_outlasts_the_servers_shutdown(manifests):
    for spec, c in pod_specs(manifests):
        env = {var["name"]: var.get("value") for var in c["env"]}
        shutdown = float(env.get("SHUTDOWN_DELAY_S", 0)) + int(env.get("SHUTDOWN_GRACE_S", config.SHUTDOWN_GRACE_S))
        assert spec["terminationGracePeriodSeconds"] > shutdown


def test_runs_as_the_images_user_with_the_api_key_from_a_secret(manifests):
    uid = int(re.search(r"^USER (\d+)", CONTAINERFILE, re.M).group(1))
    for spec, c in pod_specs(manifests):
        assert spec["securityContext"]["runAsNonRoot"] and spec["securityContext"]["runAsUser"] == uid
        keys = next(var for var in c["env"] if var["name"] == "API_KEYS")
        assert set(keys) == {"name", "valueFrom"} and "secretKeyRef" in keys["valueFrom"]


def test_service_hpa_and_pdb_point_at_the_deployment(manifests):
    deployment = manifests["Deployment"]
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert manifests["Service"]["spec"]["selector"].items() <= labels.items()
    assert manifests["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"].items() <= labels.items()
    target = manifests["HorizontalPodAutoscaler"]["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", deployment["metadata"]["name"])
