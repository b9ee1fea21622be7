"""Launch files (--emit): the SkyPilot task passes SkyPilot's own schema validation, the Megatron
arguments parse with a parser that mirrors Megatron-LM's names and multiply to the GPUs, and the
MaxText mesh multiplies to the slice."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from xpuplan import __version__
from xpuplan.hardware import Catalog
from xpuplan.report import launch

ROOT = Path(__file__).resolve().parents[1]


def validate_sky_task(task: dict[str, Any]) -> None:
    """SkyPilot's own validation of a task YAML (offline: its JSON schemas, no cloud catalogs).

    skypilot is in the dev extra, so this is SkyPilot's check, never a stand-in for it."""
    from sky.utils import common_utils, schemas

    common_utils.validate_schema(task, schemas.get_task_schema(), "Invalid task YAML: ")
    common_utils.validate_schema(task["resources"], schemas.get_resources_schema(), "Invalid resources: ")
    assert isinstance(task["num_nodes"], int) and task["num_nodes"] >= 1


def megatron_parser() -> argparse.ArgumentParser:
    """The Megatron-LM arguments xpuplan writes, by their names in megatron/training/arguments.py."""
    p = argparse.ArgumentParser(exit_on_error=False)
    for name in ("tensor-model-parallel-size", "pipeline-model-parallel-size", "context-parallel-size",
                 "expert-model-parallel-size", "num-layers-per-virtual-pipeline-stage", "micro-batch-size",
                 "global-batch-size", "seq-length", "num-layers", "hidden-size", "num-attention-heads",
                 "num-query-groups", "ffn-hidden-size", "recompute-num-layers"):  # fmt: skip
        p.add_argument(f"--{name}", type=int, default=1 if "parallel" in name else None)
    for name in ("sequence-parallel", "use-distributed-optimizer", "recompute-activations", "bf16", "fp16",
                 "group-query-attention", "use-custom-fsdp"):  # fmt: skip
        p.add_argument(f"--{name}", action="store_true")
    p.add_argument("--recompute-granularity", choices=["full", "selective"])
    p.add_argument("--recompute-method", choices=["uniform", "block"])
    p.add_argument("--fp8-format", choices=["e4m3", "hybrid"])
    p.add_argument(
        "--data-parallel-sharding-strategy",
        choices=["no_shard", "optim", "optim_grads", "optim_grads_params"],
    )
    return p


def _args(path: Path) -> list[str]:
    return [w for line in path.read_text().splitlines() if not line.startswith("#") for w in line.split()]


def _gpus(sky: dict[str, Any]) -> int:
    """Chips the task's resources hold: 'H100:8' per node, or a TPU slice 'tpu-v6e-128' (v4/v5p
    slice names count TensorCores, two per chip)."""
    acc = str(sky["resources"]["accelerators"])
    if acc.startswith("tpu-"):
        gen, n = acc.rsplit("-", 1)
        per_node = int(n) // (2 if gen in ("tpu-v4", "tpu-v5p") else 1)
    else:
        per_node = int(acc.split(":")[1])
    return int(sky["num_nodes"]) * per_node


@pytest.fixture(scope="module", autouse=True)
def _sky_home(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """SkyPilot writes ~/.sky when imported: point HOME into a temporary folder, so the tests touch
    nothing outside the repository and its temporary files."""
    mp = pytest.MonkeyPatch()
    mp.setenv("HOME", str(tmp_path_factory.mktemp("home")))
    yield
    mp.undo()


@pytest.fixture(scope="module")
def emitted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("emit")
    r = subprocess.run(
        [sys.executable, "-m", "xpuplan.cli", "plan", str(ROOT / "examples" / "multi_vendor_fleet.toml"),
         "--emit", str(out)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    return out


def test_every_chosen_option_has_a_valid_sky_task_and_says_where_it_came_from(emitted: Path) -> None:
    folders = sorted(p for p in emitted.iterdir() if p.is_dir())
    assert len(folders) >= 2  # the fine-tune and at least one serving pool
    for f in folders:
        for file in f.iterdir():
            head = file.read_text().splitlines()[0]
            assert f"xpuplan {__version__}" in head and "Fine-tune and serve" in head, file
        task = yaml.safe_load((f / "sky.yaml").read_text())
        validate_sky_task(task)
        assert _gpus(task) >= int(task["envs"]["XPUPLAN_CHIPS"])  # whole instances hold the chips


@pytest.fixture(scope="module")
def gpu_trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A training layout emitted for GPUs (the example fleet may choose TPUs for its fine-tune)."""
    out = tmp_path_factory.mktemp("emit_gpu")
    r = subprocess.run(
        [sys.executable, "-m", "xpuplan.cli", "train", "--model", "llama-3-8b", "--chip", "h100",
         "--chips", "16", "--global-batch", "256", "--seq-len", "4096", "--search", "--emit", str(out)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    return out


def test_megatron_arguments_parse_and_multiply_to_the_gpus(emitted: Path, gpu_trained: Path) -> None:
    trained = [f for d in (emitted, gpu_trained) for f in d.iterdir() if (f / "megatron.args").exists()]
    assert trained
    for f in trained:
        a = megatron_parser().parse_args(_args(f / "megatron.args"))
        task = yaml.safe_load((f / "sky.yaml").read_text())
        gpus = _gpus(task)
        tp, pp, cp = a.tensor_model_parallel_size, a.pipeline_model_parallel_size, a.context_parallel_size
        assert gpus % (tp * pp * cp) == 0
        dp = gpus // (tp * pp * cp)
        assert tp * pp * cp * dp == gpus
        assert a.global_batch_size % (a.micro_batch_size * dp) == 0
        titan = (f / "torchtitan.toml").read_text()
        assert f"tensor_parallel_degree = {tp}" in titan


def test_serving_arguments_name_the_layout(emitted: Path) -> None:
    served = [f for f in emitted.iterdir() if (f / "vllm.args").exists()]
    assert served
    for f in served:
        words = _args(f / "vllm.args")
        assert "--tensor-parallel-size" in words and "--max-num-seqs" in words and "--kv-cache-dtype" in words


@pytest.mark.parametrize(
    "system, chips, layout",
    [
        ("gcp-tpu-v5p-pod", 8192, {"tp": 4, "pp": 1, "dp": 1024, "cp": 2, "ep": 1, "vpp": 1, "zero": 3}),
        ("gcp-tpu-v6e-pod", 64, {"tp": 2, "pp": 1, "dp": 32, "cp": 1, "ep": 1, "vpp": 1, "zero": 0}),
        ("gcp-tpu-v6e-pod", 1024, {"tp": 1, "pp": 4, "dp": 256, "cp": 1, "ep": 1, "vpp": 1, "zero": 1}),
    ],
)
def test_maxtext_mesh_multiplies_to_the_slices(
    catalog: Catalog, system: str, chips: int, layout: dict[str, int]
) -> None:
    lay = {**layout, "sp": False, "microbatch": 1, "recompute": "full"}
    ln = launch.train_launch(catalog, "llama-3-70b", system, lay, chips, 8192, 2048, "bf16", "test")
    files = launch.launch_files(catalog, ln, __version__)
    mt = yaml.safe_load(files["maxtext.yml"])
    task = yaml.safe_load(files["sky.yaml"])
    validate_sky_task(task)
    ici = 1
    for k in ("data", "fsdp", "tensor", "pipeline", "context", "expert"):
        ici *= mt[f"ici_{k}_parallelism"]
    dcn = mt["dcn_data_parallelism"] * mt["dcn_pipeline_parallelism"]
    slice_chips = chips // mt["num_slices"]
    assert ici == slice_chips and dcn == mt["num_slices"] == task["num_nodes"]
    assert mt["remat_policy"] == "full"
    assert mt["per_device_batch_size"] * chips == 2048
    cores = slice_chips * (2 if "v5p" in system else 1)  # v5p slice names count TensorCores
    assert task["resources"]["accelerators"].endswith(f"-{cores}")


def test_the_task_check_rejects_a_misspelled_field() -> None:
    good = {"name": "x", "num_nodes": 1, "resources": {"accelerators": "H100:8"}, "run": "true"}
    bad = {**good, "resources": {"acceleratorz": "H100:8"}}
    from sky import exceptions

    validate_sky_task(good)
    with pytest.raises(exceptions.InvalidSkyPilotConfigError, match="acceleratorz"):
        validate_sky_task(bad)
