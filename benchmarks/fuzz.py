"""Fuzz every file-reading command (issue 19): zero tracebacks, zero leftover files.

Hypothesis strategies build scenario, claim, validation-case, calibration and HF config files
from their schemas (values in range, out of range, of the wrong kind, hostile strings), then
byte-level mutations break them further. Each input runs through the real command line
in-process (``xpuplan.cli.main``) in its own folder. A misbehaviour is:

* a traceback (an exception other than the CLI's own exit), or an exit code other than 0, 1, 2;
* a file left behind that should not be there (any ``*.tmp``; the output after a refusal);
* an output written although the command failed, or missing although it succeeded.

    python benchmarks/fuzz.py --inputs 100000 [--seed 1] [--jobs 2]

prints inputs tried, misbehaviours and the first examples of each.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import io
import json
import math
import os
import sys
import tempfile
import time
import traceback
from multiprocessing import Pool
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

from xpuplan.datafiles import Field
from xpuplan.hardware.catalog import CHIP_SCHEMA
from xpuplan.planner.scenario import SCHEMA as SCENARIO_SCHEMA
from xpuplan.validation.case_schema import CASE

HOSTILE = [
    "[/bold]",
    "[/]",
    "[link=http://evil]x",
    "\x1b]8;;http://evil\x07x",
    "\x1b[2J",
    "\u202e",
    "=HYPERLINK(1)",
    "@SUM(1)",
    "x" * 5000,
    "",
    " ",
    "é☃",
    "../../etc/passwd",
]
NAMES = ["llama-3-8b", "llama-3-70b", "mixtral-8x7b", "aws-p5.48xlarge", "aws-trn2.48xlarge", "h100", "local"]
NUMBERS = [0, -1, 1, 2, 8, 0.5, 1e12, 1e308, -1e308, math.inf, math.nan, 10**30, 2**63, 1e-300]


# ---- values and files from the schemas -----------------------------------------------------------


def value_for(f: Field) -> st.SearchStrategy[Any]:
    wrong = st.one_of(st.sampled_from(NUMBERS), st.sampled_from(HOSTILE), st.booleans(), st.just([1]))
    if f.kind in ("num", "int", "nums", "num|text", "int|text"):
        lo = 0.0 if not math.isfinite(f.lo) else f.lo
        hi = 1e6 if not math.isfinite(f.hi) else min(f.hi, 1e9)
        good = st.integers(math.ceil(lo), int(hi)) if "int" in f.kind else st.floats(lo, hi)
        return st.one_of(good, good, wrong)
    if f.kind in ("str", "strs"):
        good = st.sampled_from(
            [*NAMES, "pretrain", "serve", "finetune", "cost", "time", "bf16", "fp8", "train"]
        )
        return st.one_of(good, good, st.sampled_from(HOSTILE), wrong, st.lists(good, max_size=3))
    if f.kind == "bool":
        return st.one_of(st.booleans(), wrong)
    if f.kind == "date":
        return st.one_of(st.sampled_from(["2099-01-01", "2001-01-01", "yesterday", "2099-13-45"]), wrong)
    if f.kind == "table":
        return st.dictionaries(st.sampled_from(NAMES + HOSTILE[:3]), st.sampled_from(NUMBERS), max_size=3)
    return st.one_of(wrong, st.sampled_from(NAMES))


def from_schema(schema: Any, depth: int = 0) -> st.SearchStrategy[Any]:
    """A mapping (or list of mappings) shaped like ``schema``: some keys dropped, a few misspelt."""
    if isinstance(schema, list):
        return st.lists(from_schema(schema[0], depth + 1), min_size=0, max_size=3)
    if isinstance(schema, Field):
        return value_for(schema)
    items = {k: from_schema(v, depth + 1) for k, v in schema.items()}

    @st.composite
    def table(draw: st.DrawFn) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for k, s in items.items():
            if draw(st.integers(0, 9)) < 6:
                key = k if draw(st.integers(0, 30)) else k[:-1] + "x"
                out[key] = draw(s)
        return out

    return table()


def toml_text(d: Any) -> str:
    """A small TOML writer (tables and arrays of tables; anything unusual as JSON-ish text)."""

    def val(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, float):
            return (
                "nan"
                if math.isnan(v)
                else ("inf" if v == math.inf else "-inf" if v == -math.inf else repr(v))
            )
        if isinstance(v, int):
            return str(v)
        if isinstance(v, str):
            return json.dumps(v)
        if isinstance(v, list):
            return "[" + ", ".join(val(x) for x in v) + "]"
        if isinstance(v, dict):
            return "{" + ", ".join(f"{json.dumps(k)} = {val(x)}" for k, x in v.items()) + "}"
        return json.dumps(str(v))

    lines, tables = [], []
    for k, v in (d if isinstance(d, dict) else {"value": d}).items():
        if isinstance(v, dict):
            tables.append(
                f"[{json.dumps(k)}]\n" + "".join(f"{json.dumps(a)} = {val(b)}\n" for a, b in v.items())
            )
        elif isinstance(v, list) and v and all(isinstance(x, dict) for x in v):
            for x in v:
                tables.append(
                    f"[[{json.dumps(k)}]]\n" + "".join(f"{json.dumps(a)} = {val(b)}\n" for a, b in x.items())
                )
        else:
            lines.append(f"{json.dumps(k)} = {val(v)}")
    return "\n".join(lines) + "\n" + "\n".join(tables)


def yaml_text(d: Any) -> str:
    import yaml

    return yaml.safe_dump(d, allow_unicode=True, sort_keys=False)


HF_KEYS = {
    "model_type": Field("str"),
    **{
        k: Field("int", 0, 200_000)
        for k in (
            "hidden_size",
            "intermediate_size",
            "num_hidden_layers",
            "num_attention_heads",
            "num_key_value_heads",
            "vocab_size",
            "head_dim",
        )
    },
}
GOOD_HF = {
    "model_type": "llama",
    "hidden_size": 4096,
    "intermediate_size": 14336,
    "num_hidden_layers": 32,
    "num_attention_heads": 32,
    "num_key_value_heads": 8,
    "vocab_size": 128256,
}
GOOD_SCENARIO = (
    '[[jobs]]\nkind = "pretrain"\nmodel = "llama-3-8b"\ntokens = 1e12\n'
    '[candidates]\nsystems = ["aws-p5.48xlarge"]\n'
)


def _seed_texts() -> dict[str, str]:
    from xpuplan.calibrate import QUICK, calibrate
    from xpuplan.calibrate.fake import FakeBackend
    from xpuplan.claims.spec import builtin_claim_paths

    claims = [p.read_text() for p in builtin_claim_paths()]
    return {
        "calibration": calibrate(FakeBackend(), QUICK, as_of="2026-01-01").to_toml(),
        "claim": min(claims, key=len),
        "case": "- id: c1\n  task: train\n  hardware: {chip_key: nvidia-h100-sxm, count: 8}\n"
        "  model: {layers: 2, hidden: 256, heads: 4, ffn: 1024, vocab: 1000, seq_len: 512}\n"
        "  parallel: {tp: 1, pp: 1, dp: 8, global_batch_seqs: 64}\n  measured: {step_time_s: 1.0}\n",
        "scenario": GOOD_SCENARIO,
        "hf": json.dumps(GOOD_HF),
    }


SEEDS: dict[str, str] = {}


def files(kind: str) -> st.SearchStrategy[str]:
    if kind == "scenario":
        gen = from_schema(SCENARIO_SCHEMA).map(toml_text)
    elif kind == "calibration":
        gen = from_schema(CHIP_SCHEMA).map(toml_text)
    elif kind == "case":
        gen = from_schema([CASE]).map(yaml_text)
    elif kind == "hf":
        gen = from_schema(HF_KEYS).map(lambda d: json.dumps({**GOOD_HF, **d}, allow_nan=True))
    else:
        gen = st.just(SEEDS[kind])
    return st.one_of(gen, st.just(SEEDS[kind]))


TOKENS = [
    b"[[[[[[[[",
    b"{" * 40,
    b"\x00",
    b"\xef\xbb\xbf",
    b"\x1b]8;;x\x07",
    b"nan",
    b"1e308",
    b"=",
    b'"',
    b"\n",
    b"::",
    b"- ",
]


@st.composite
def mutated(draw: st.DrawFn, text: str) -> bytes:
    data = bytearray(text.encode("utf-8", "surrogatepass"))
    for _ in range(draw(st.integers(0, 4))):
        op = draw(st.integers(0, 5))
        at = draw(st.integers(0, max(len(data), 1)))
        if op == 0 and data:
            data[min(at, len(data) - 1)] ^= 1 << draw(st.integers(0, 7))
        elif op == 1:
            data[at:at] = draw(st.sampled_from(TOKENS))
        elif op == 2:
            del data[at : at + draw(st.integers(1, 20))]
        elif op == 3:  # a line twice: duplicate keys
            lines = bytes(data).split(b"\n")
            i = draw(st.integers(0, len(lines) - 1))
            lines.insert(i, lines[i])
            data = bytearray(b"\n".join(lines))
        elif op == 4:
            data[at:at] = draw(st.sampled_from(TOKENS)) * draw(st.integers(1, 300))
        else:
            data = data[:at]
    return bytes(data)


def commands(kind: str) -> list[list[str]]:
    cal = ["--model", "llama-3-8b", "--chip", "local", "--chips", "1", "--calibration", "{f}"]
    return {
        "scenario": [["plan", "{f}", "--csv", "{d}/out.csv", "--json"]],
        "claim": [["claims", "check", "{f}", "--json"]],
        "case": [["validate", "{f}", "--csv", "{d}/out.csv", "--json"]],
        "calibration": [["train", *cal, "--global-batch", "8", "--json"], ["serve", *cal, "--json"]],
        "hf": [["model", "show", "--hf-config", "{f}", "--json"]],
    }[kind]


EXT = {"scenario": "toml", "claim": "toml", "case": "yaml", "calibration": "toml", "hf": "json"}


def run_cli(args: list[str]) -> tuple[int | None, str]:
    """(exit code, traceback text or '') of ``xpuplan ARGS`` in-process."""
    from xpuplan.cli import main

    sys.argv = ["xpuplan", *args]
    out, err = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            main()
        return 0, ""
    except SystemExit as e:
        return (e.code if isinstance(e.code, int) else 1), ""
    except BaseException:
        return None, traceback.format_exc(limit=6)


def check_one(kind: str, data: bytes, args: list[str]) -> list[str]:
    """Misbehaviours of one input."""
    with tempfile.TemporaryDirectory() as d:
        f = Path(d) / f"input.{EXT[kind]}"
        f.write_bytes(data)
        argv = [a.format(f=f, d=d) for a in args]
        code, tb = run_cli(argv)
        left = sorted(p.name for p in Path(d).iterdir() if p.name != f.name)
    bad = []
    if tb:
        bad.append("traceback: " + tb.strip().splitlines()[-1][:200])
    elif code not in (0, 1, 2):
        bad.append(f"exit code {code}")
    if any(n.endswith(".tmp") for n in left):
        bad.append(f"temporary file left: {left}")
    wants = "out.csv" in " ".join(args)
    if code == 0 and wants and "out.csv" not in left:
        bad.append("succeeded without writing its output")
    if code != 0 and left:
        bad.append(f"failed but left {left}")
    return bad


def worker(job: tuple[int, int]) -> tuple[int, collections.Counter[str], dict[str, str]]:
    seed_, n = job
    SEEDS.update(_seed_texts())
    os.chdir(tempfile.mkdtemp())
    tried = 0
    found: collections.Counter[str] = collections.Counter()
    examples: dict[str, str] = {}

    @settings(
        max_examples=n,
        deadline=None,
        database=None,
        derandomize=False,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @seed(seed_)
    @given(st.data())
    def one(data: st.DataObject) -> None:
        nonlocal tried
        kind = data.draw(st.sampled_from(sorted(EXT)))
        text = data.draw(files(kind))
        raw = data.draw(mutated(text)) if data.draw(st.booleans()) else text.encode()
        args = data.draw(st.sampled_from(commands(kind)))
        tried += 1
        for b in check_one(kind, raw, args):
            found[b] += 1
            examples.setdefault(b, f"{args[0]} {kind}: {raw[:300]!r}")

    one()
    return tried, found, examples


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--inputs", type=int, default=2000)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--chunk", type=int, default=500)
    a = ap.parse_args()
    t0 = time.perf_counter()
    chunks = [
        (a.seed + i, min(a.chunk, a.inputs - i * a.chunk)) for i in range(math.ceil(a.inputs / a.chunk))
    ]
    total, found, examples = 0, collections.Counter(), {}
    with Pool(a.jobs) as pool:
        for tried, f, ex in pool.imap_unordered(worker, chunks):
            total += tried
            found.update(f)
            for k, v in ex.items():
                examples.setdefault(k, v)
            print(
                f"{total:,} inputs, {sum(found.values())} misbehaviours, {time.perf_counter() - t0:.0f} s",
                flush=True,
            )
    print(f"inputs tried: {total:,}; misbehaviours: {sum(found.values())}; {time.perf_counter() - t0:.0f} s")
    for k, c in found.most_common():
        print(f"  {c:6d}  {k}\n          e.g. {examples[k]}")
    sys.exit(1 if found else 0)


if __name__ == "__main__":
    main()
