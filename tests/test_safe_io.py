"""Issue 19: bad input never hurts and never lies. Every case the issue lists, run through the
real command line in-process (``xpuplan.cli.main``): outputs that never destroy what they point
at, inputs read strictly (size, nesting, duplicates, unknown keys, ranges), names that cannot
drive the terminal or a spreadsheet, calibrations that cannot shadow the catalog or trust noise,
layouts that break a rule refused with the rule, devices with no network kept to one node.
"""

from __future__ import annotations

import contextlib
import io
import os
import stat
import sys
from pathlib import Path

import pytest

from xpuplan.calibrate import QUICK, calibrate
from xpuplan.calibrate.fake import FakeBackend
from xpuplan.datafiles import MAX_DEPTH, check_schema, read_json, read_toml, read_yaml, write_text
from xpuplan.errors import DataError, InputError, MeasurementError

JOB = '[[jobs]]\nkind = "pretrain"\nmodel = "llama-3-8b"\ntokens = 1e12\n'


def cli(*args: str, cwd: Path | None = None) -> tuple[int, str, str]:
    """Run ``xpuplan ARGS`` in-process: (exit code, stdout, stderr)."""
    from xpuplan.cli import main

    out, err = io.StringIO(), io.StringIO()
    old_argv, old_cwd = sys.argv, os.getcwd()
    sys.argv = ["xpuplan", *args]
    code = 0
    try:
        if cwd is not None:
            os.chdir(cwd)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                main()
            except SystemExit as e:
                code = e.code if isinstance(e.code, int) else 1
    finally:
        sys.argv = old_argv
        os.chdir(old_cwd)
    return code, out.getvalue(), err.getvalue()


def refused(args: tuple[str, ...], match: str, cwd: Path | None = None) -> str:
    code, out, err = cli(*args, cwd=cwd)
    assert code == 2, (code, out[-500:], err)
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert match.lower() in err.lower(), err
    return err


def scenario(tmp_path: Path, text: str, name: str = "s.toml") -> str:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return str(p)


# ---- outputs ---------------------------------------------------------------------------------


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="mknod needs root")
@pytest.mark.parametrize(
    "args",
    [
        ("plan", "--csv", "{dev}"),
        ("catalog", "chips", "--csv", "{dev}"),
        ("report", "-o", "{dev}.html"),
        ("calibrate", "--backend", "fake", "--quick", "-o", "{dev}"),
    ],
)
def test_a_device_node_stays_a_device(tmp_path: Path, args: tuple[str, ...]) -> None:
    """`--csv /dev/null` as root must leave /dev/null a character device: a node made here."""
    dev = tmp_path / "null"
    target = Path(args[-1].format(dev=dev))
    os.mknod(target, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    refused(tuple(a.format(dev=dev) for a in args), "not a regular file")
    assert stat.S_ISCHR(os.lstat(target).st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == [target.name]  # no temporary file


def test_a_fifo_is_never_written_through(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)
    refused(("catalog", "chips", "--csv", str(fifo)), "a pipe")
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)


def test_a_symlink_to_a_regular_file_is_followed(tmp_path: Path) -> None:
    real = tmp_path / "real.csv"
    real.write_text("old\n")
    link = tmp_path / "link.csv"
    link.symlink_to(real)
    code, _, err = cli("catalog", "chips", "--csv", str(link))
    assert code == 0, err
    assert link.is_symlink() and "peak_tflops_dense.bf16" in real.read_text()


@pytest.mark.parametrize("to", ["missing.csv", "folder"])
def test_a_symlink_to_anything_else_is_refused(tmp_path: Path, to: str) -> None:
    (tmp_path / "folder").mkdir()
    link = tmp_path / "link.csv"
    link.symlink_to(tmp_path / to)
    refused(("catalog", "chips", "--csv", str(link)), "symbolic link")
    assert link.is_symlink()


def test_calibrate_into_a_folder_is_refused(tmp_path: Path) -> None:
    refused(("calibrate", "--backend", "fake", "--quick", "-o", str(tmp_path)), "is a folder")
    assert list(tmp_path.iterdir()) == []


def test_dash_writes_to_standard_output(tmp_path: Path) -> None:
    code, out, err = cli("catalog", "chips", "--csv", "-", cwd=tmp_path)
    assert code == 0, err
    assert out.startswith("id,") and "┃" not in out  # the CSV instead of the table
    assert list(tmp_path.iterdir()) == []


def test_a_replaced_file_keeps_its_mode(tmp_path: Path) -> None:
    p = tmp_path / "out.csv"
    p.write_text("x")
    p.chmod(0o640)
    write_text(p, "y")
    assert p.read_text() == "y" and stat.S_IMODE(p.stat().st_mode) == 0o640


def test_markup_in_a_name_prints_as_itself_after_nothing_was_written(tmp_path: Path) -> None:
    """A scenario name with Rich markup crashed `plan` after the CSV was already written."""
    for name in ("[/bold]", "[/]", "[link=http://evil]x[/link]"):
        sc = scenario(tmp_path, f"name = {name!r}\n".replace("'", '"') + JOB)
        code, out, err = cli("plan", sc, "--csv", str(tmp_path / "o.csv"))
        assert code == 0, err
        assert name in out and (tmp_path / "o.csv").exists()


def test_escape_sequences_never_reach_the_terminal(tmp_path: Path) -> None:
    sc = scenario(tmp_path, 'name = "a\\u001b]8;;http://evil\\u0007b\\u001b[31mred\\u009b2J"\n' + JOB)
    code, out, err = cli("plan", sc)
    assert code == 0, err
    assert "\x1b]" not in out and "\x07" not in out and "\x9b" not in out and "\x1b[31mred" not in out
    assert "a]8;;http://evilb[31mred" in out
    err = refused(
        ("train", "--model", "llama-3-8b", "--chip", "h100\x1b]0;owned\x07", "--chips", "8"), "unknown"
    )
    assert "\x1b" not in err and "\x07" not in err


def test_csv_cells_cannot_be_formulas(tmp_path: Path) -> None:
    sc = scenario(tmp_path, JOB + 'name = "=HYPERLINK(\\"http://evil\\")"\n')
    code, _, err = cli("plan", sc, "--csv", str(tmp_path / "o.csv"))
    assert code == 0, err
    import csv

    rows = list(csv.DictReader((tmp_path / "o.csv").open()))
    assert rows and all(r["job"].startswith("'=HYPERLINK") for r in rows)


def test_a_100000_character_name_is_shown_cut(tmp_path: Path) -> None:
    sc = scenario(tmp_path, f'name = "{"x" * 100_000}"\n' + JOB)
    code, out, err = cli("plan", sc)
    assert code == 0, err
    assert "…" in out and out.count("x") < 250  # cut to 200 characters


# ---- inputs ----------------------------------------------------------------------------------


def deep(kind: str, n: int = 5000) -> str:
    if kind == "toml":
        return "a = " + "[" * n + "]" * n + "\n"
    if kind == "json":
        return '{"a": ' + "[" * n + "]" * n + "}"
    return "a: " + "[" * n + "]" * n + "\n"


@pytest.mark.parametrize(
    "args, kind",
    [
        (("plan", "{f}"), "toml"),
        (("report", "{f}", "-o", "{d}/r.html"), "toml"),
        (("claims", "check", "{f}"), "toml"),
        (("validate", "{f}"), "yaml"),
        (
            ("train", "--model", "llama-3-8b", "--chip", "local", "--chips", "1", "--calibration", "{f}"),
            "toml",
        ),
        (("model", "show", "--hf-config", "{f}"), "json"),
    ],
)
def test_deep_nesting_is_refused_before_parsing(tmp_path: Path, args: tuple[str, ...], kind: str) -> None:
    f = tmp_path / f"deep.{kind}"
    f.write_text(deep(kind))
    refused(tuple(a.format(f=f, d=tmp_path) for a in args), "nested")
    assert sorted(p.name for p in tmp_path.iterdir()) == [f.name]


def test_yaml_nested_by_indentation_is_refused(tmp_path: Path) -> None:
    f = tmp_path / "deep.yaml"
    f.write_text("".join(" " * i + f"k{i}:\n" for i in range(MAX_DEPTH + 5)) + " " * 40 + "x: 1\n")
    with pytest.raises(DataError, match="nested"):
        read_yaml(f)


def test_a_5000_digit_integer_is_refused(tmp_path: Path) -> None:
    f = tmp_path / "config.json"
    f.write_text('{"model_type": "llama", "hidden_size": ' + "9" * 5000 + "}")
    refused(("model", "show", "--hf-config", str(f)), "5,000 digits")
    (tmp_path / "big.toml").write_text(JOB.replace("1e12", "9" * 5000))
    refused(("plan", str(tmp_path / "big.toml")), "broken toml")


@pytest.mark.parametrize("dev", ["/dev/zero", "/dev/urandom"])
def test_a_device_is_never_read(dev: str) -> None:
    if not Path(dev).exists():
        pytest.skip(f"no {dev}")
    refused(("plan", dev), "not a regular file")


def test_a_file_beyond_the_size_limit_is_refused(tmp_path: Path) -> None:
    f = tmp_path / "big.toml"
    f.write_text(JOB + "# " + "x" * (9 * 2**20) + "\n")
    refused(("plan", str(f)), "more than")


def test_a_byte_order_mark_is_tolerated(tmp_path: Path) -> None:
    f = tmp_path / "bom.toml"
    f.write_bytes(b"\xef\xbb\xbf" + JOB.encode())
    code, _, err = cli("plan", str(f), "--json")
    assert code == 0, err
    f = tmp_path / "bom.json"
    f.write_bytes(b'\xef\xbb\xbf{"a": 1}')
    assert read_json(f) == {"a": 1}


@pytest.mark.parametrize(
    "text, hint",
    [
        (JOB + "[constraints]\ndeadline_day = 1\n", "Did you mean 'deadline_days'"),
        ('objectve = "cost"\n' + JOB, "Did you mean 'objective'"),
        (JOB.replace("tokens", "tokns"), "Did you mean 'tokens'"),
        (JOB + "[constraint]\nbudget_usd = 1e6\n", "Did you mean 'constraints'"),
        (JOB + '[constraints]\ndeadline_days = 30\ndeadline = "2099-01-01"\n', "both 'deadline' and"),
    ],
)
def test_scenario_keys_are_checked(tmp_path: Path, text: str, hint: str) -> None:
    refused(("plan", scenario(tmp_path, text)), hint)


def test_duplicate_keys_are_refused_in_every_format(tmp_path: Path) -> None:
    (tmp_path / "d.json").write_text('{"hidden_size": 1, "hidden_size": 2}')
    (tmp_path / "d.yaml").write_text("- id: a\n  id: b\n")
    (tmp_path / "d.toml").write_text("a = 1\na = 2\n")
    for name in ("d.json", "d.yaml"):
        with pytest.raises(DataError, match="appears twice"):
            (read_json if name.endswith("json") else read_yaml)(tmp_path / name)
    with pytest.raises(DataError, match="broken TOML"):
        read_toml(tmp_path / "d.toml")
    refused(("validate", str(tmp_path / "d.yaml")), "appears twice")


def test_nan_and_infinity_are_refused_in_json(tmp_path: Path) -> None:
    for v in ("NaN", "Infinity", "1e400"):
        (tmp_path / "c.json").write_text('{"model_type": "llama", "hidden_size": ' + v + "}")
        with pytest.raises(DataError):
            read_json(tmp_path / "c.json")


@pytest.mark.parametrize(
    "change, hint",
    [
        ({"num_hidden_layers": 1_000_000_000_000}, "num_hidden_layers"),
        ({"head_dim": 0}, "head_dim"),
        ({"num_hiden_layers": 32}, "Did you mean 'num_hidden_layers'"),
    ],
)
def test_hf_config_numbers_are_in_range(tmp_path: Path, change: dict[str, int], hint: str) -> None:
    import json

    cfg = {
        "model_type": "llama",
        "hidden_size": 4096,
        "intermediate_size": 14336,
        "num_hidden_layers": 32,
        "num_attention_heads": 32,
        "vocab_size": 128256,
        **change,
    }
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    refused(("model", "show", "--hf-config", str(tmp_path / "config.json")), hint)


# ---- calibration files ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cal_text(tmp_path_factory: pytest.TempPathFactory) -> str:
    d = tmp_path_factory.mktemp("cal")
    code, _, err = cli("calibrate", "--backend", "fake", "--quick", "-o", str(d / "local.toml"), "--json")
    assert code == 0, err
    return (d / "local.toml").read_text()


TRAIN_LOCAL = ("train", "--model", "llama-3-8b", "--chip", "local", "--chips", "1", "--global-batch", "8")


@pytest.mark.parametrize(
    "old, new, hint",
    [
        ("capacity_gib = 64.0", "capacity_gib = 1e308", "capacity_gib"),
        ("bandwidth_tbyte_s = 1.0", "bandwidth_tbyte_s = inf", "not a finite number"),
        ("bf16 = 80.0", "bf16 = 1e308", "peak_tflops.bf16"),
        ("matmul = 1.0", "matmull = 1.0", "Did you mean 'matmul'"),
        ('id = "local"', 'id = "nvidia-h100-sxm"', "already the catalog's"),
        ('id = "local"', 'id = "h100"', "already the catalog's"),
    ],
)
def test_calibration_files_are_checked(tmp_path: Path, cal_text: str, old: str, new: str, hint: str) -> None:
    assert old in cal_text
    f = tmp_path / "local.toml"
    f.write_text(cal_text.replace(old, new, 1))
    chip = "h100" if "h100" in new else "local"
    args = [*TRAIN_LOCAL, "--calibration", str(f)]
    args[args.index("local")] = chip
    refused(tuple(args), hint)


@pytest.mark.parametrize("chip_id", ["nvidia-h100-sxm", "h100", "aws-p5.48xlarge"])
def test_calibrate_refuses_a_catalog_id(tmp_path: Path, chip_id: str) -> None:
    refused(
        ("calibrate", "--backend", "fake", "--quick", "--id", chip_id), "already the catalog's", cwd=tmp_path
    )
    assert list(tmp_path.iterdir()) == []


class Noisy(FakeBackend):
    """A busy machine: every other GEMM runs at a quarter of its speed."""

    def matmul(self, m: int, n: int, k: int, dtype: str, repeats: int) -> float:
        slow = 4.0 if self.calls % 2 else 1.0
        return super().matmul(m, n, k, dtype, repeats) * slow


class Wandering(FakeBackend):
    """The suite's figures are fine, every re-measurement 3x slower (a neighbour woke up)."""

    def matmul(self, m: int, n: int, k: int, dtype: str, repeats: int) -> float:
        return super().matmul(m, n, k, dtype, repeats) * (3.0 if self.calls > 20 else 1.0)


def test_calibration_never_writes_a_fit_beyond_its_bound() -> None:
    with pytest.raises(MeasurementError, match="rms"):
        calibrate(Noisy(), QUICK)


def test_calibration_says_when_the_machine_is_too_busy() -> None:
    with pytest.raises(MeasurementError, match="too busy"):
        calibrate(Wandering(), QUICK)


# ---- claims and validation cases ----------------------------------------------------------------


def test_a_claim_as_of_must_be_a_date(tmp_path: Path) -> None:
    from xpuplan.claims.spec import builtin_claim_paths

    text = builtin_claim_paths()[0].read_text()
    line = next(ln for ln in text.splitlines() if ln.startswith("as_of"))
    f = tmp_path / "claim.toml"
    f.write_text(text.replace(line, 'as_of = "yesterday"'))
    refused(("claims", "check", str(f)), "not a date")


CASE = """- id: c1
  task: train
  hardware: {chip_key: nvidia-h100-sxm, count: 8}
  model: {layers: 2}
  measured: {step_time_s: %s, tokens_per_s_stat: P50}
"""


@pytest.mark.parametrize("value", ["-1.0", "1e308", "0"])
def test_case_files_refuse_impossible_measurements(tmp_path: Path, value: str) -> None:
    from xpuplan.validation.case_schema import read_cases

    f = tmp_path / "cases.yaml"
    f.write_text(CASE % value)
    with pytest.raises(DataError, match="step_time_s"):
        read_cases(f)


def test_case_files_warn_once_on_annotations_and_refuse_misspellings(tmp_path: Path) -> None:
    from xpuplan.validation.case_schema import read_cases

    f = tmp_path / "cases.yaml"
    f.write_text(CASE % "1.5" + (CASE % "2.0").replace("c1", "c2"))
    cases, warnings = read_cases(f)
    assert len(cases) == 2 and warnings == ["unknown key 'measured.tokens_per_s_stat'"]
    f.write_text((CASE % "1.5").replace("step_time_s", "step_tme_s"))
    with pytest.raises(DataError, match="Did you mean 'step_time_s'"):
        read_cases(f)


def test_schema_ranges_and_kinds() -> None:
    from xpuplan.datafiles import Field, positive

    schema = {"n": positive(10, kind="int"), "t": {"x": Field("str")}}
    check_schema({"n": 3, "t": {"x": "a"}}, schema, Path("f"))
    for bad, match in (
        ({"n": 0}, "out of range"),
        ({"n": 2.5}, "whole number"),
        ({"n": True}, "must be a number"),
        ({"t": 5}, "must be a table"),
        ({"t": {"y": "a"}}, "unknown key 't.y'"),
    ):
        with pytest.raises(DataError, match=match):
            check_schema(bad, schema, Path("f"))


# ---- layouts and clusters ----------------------------------------------------------------------

TRAIN = ("train", "--model", "llama-3-8b", "--chip", "h100", "--chips", "8")


@pytest.mark.parametrize(
    "extra, rule",
    [
        (("--dp", "3"), "must equal the chip count"),
        (("--vpp", "1000"), "virtual stages"),
        (("--tp", "16", "--chips", "16"), "scale-up domain"),
        (("--global-batch", "4"), "divisible by DP"),
        (("--dp", "3", "--search"), "does not divide"),
    ],
)
def test_a_layout_that_breaks_a_rule_is_exit_2(extra: tuple[str, ...], rule: str) -> None:
    args = list(TRAIN)
    if "--chips" in extra:
        args = args[:-2]
    refused((*args, *extra), rule)


def test_no_scale_out_network_means_one_node(tmp_path: Path, cal_text: str) -> None:
    refused(
        ("serve", "--model", "llama-3-8b", "--chip", "apple-a17-pro", "--chips", "16"), "no scale-out network"
    )
    f = tmp_path / "local.toml"
    f.write_text(cal_text)
    refused(
        ("train", "--model", "llama-3-8b", "--chip", "local", "--chips", "8", "--calibration", str(f)),
        "no scale-out network",
    )


def test_output_checks_are_input_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="does not exist"):
        write_text(tmp_path / "no" / "x.csv", "x")
