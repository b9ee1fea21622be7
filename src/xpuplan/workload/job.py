"""Jobs run on a model: a training job (pre-train or full fine-tune)."""

from __future__ import annotations

from dataclasses import dataclass

from xpuplan.errors import InputError
from xpuplan.workload.model import BYTES_PER_VALUE, STATE_BYTES, Model

TRAIN_PRECISIONS = tuple(STATE_BYTES)
# The linear layers of a transformer block a LoRA adapter can target: the fused Q/K/V projection,
# the attention output projection, the MLP's input (gate and up) and output projections.
LORA_MODULES = ("qkv", "proj", "fc1", "fc2")


def _int_in(v: object, high: int) -> bool:
    """Whether ``v`` is an integer (not a bool) in 1..``high``."""
    return isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= high


@dataclass(frozen=True, slots=True)
class TrainJob:
    """Train ``model`` with ``global_batch`` sequences of ``seq_len`` tokens per step.

    ``tokens`` is the total to train on (for time-to-train); ``precision`` names the matmul
    number format (bf16, fp16, fp8, fp32, int8) or a low-precision recipe by its Transformer
    Engine name (fp8cs, mxfp8, nvfp4: perf/precision.py) with mixed-precision Adam state.
    """

    model: Model
    global_batch: int
    seq_len: int
    precision: str = "bf16"
    tokens: float | None = None
    lora_rank: int | None = None  # fine-tune LoRA adapters of this rank; None: full training
    # the linears the adapters target (LORA_MODULES); None: every one of them
    lora_targets: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if self.lora_rank is not None and not _int_in(self.lora_rank, 4096):
            raise InputError(
                f"LoRA rank must be an integer in 1..4096, got {self.lora_rank!r}", "e.g. lora_rank = 16"
            )
        if self.lora_targets is not None and (
            not self.lora_targets or any(m not in LORA_MODULES for m in self.lora_targets)
        ):
            raise InputError(
                f"LoRA targets must be some of {', '.join(LORA_MODULES)}, got {self.lora_targets!r}",
                'e.g. lora_targets = ["qkv", "proj"]',
            )

        if not _int_in(self.global_batch, 1_000_000_000):
            raise InputError(
                f"global batch must be a positive integer up to 10^9, got {self.global_batch!r}",
                "Give --global-batch as a number of sequences, e.g. 1024",
            )
        if not _int_in(self.seq_len, 10_000_000):
            raise InputError(
                f"sequence length must be a positive integer up to 10^7, got {self.seq_len!r}",
                "Give --seq-len in tokens, e.g. 4096",
            )
        if self.precision not in TRAIN_PRECISIONS:
            raise InputError(
                f"unknown training precision '{self.precision}'",
                "Use one of " + ", ".join(TRAIN_PRECISIONS),
            )
        if self.tokens is not None and not (self.tokens > 0 and self.tokens < 1e18):
            raise InputError(
                f"tokens must be a positive finite number, got {self.tokens!r}",
                "Give --tokens (tokens=) as the number of training tokens, e.g. 15e12",
            )

    @property
    def frozen_linears(self) -> frozenset[str]:
        """The linears a LoRA fine-tune leaves without an adapter (none in full training): their
        weights get no gradient, so their inputs need not be kept for one."""
        if self.lora_rank is None or self.lora_targets is None:
            return frozenset()
        return frozenset(LORA_MODULES) - frozenset(self.lora_targets)

    @property
    def tokens_per_step(self) -> int:
        return self.global_batch * self.seq_len

    @property
    def steps(self) -> float | None:
        return None if self.tokens is None else self.tokens / self.tokens_per_step


WEIGHT_FORMATS = ("bf16", "fp16", "fp8", "int8", "int4", "fp4")
KV_FORMATS = ("bf16", "fp16", "fp8", "int8")


@dataclass(frozen=True, slots=True)
class ServeJob:
    """Serve ``model`` to requests of ``input_len`` prompt and ``output_len`` generated tokens.

    ``weights`` / ``kv`` name the storage formats; ``weight_bits`` overrides the bits per weight for
    mixed schemes (Apple's 2/4-bit palettisation averages 3.5 bits).
    """

    model: Model
    input_len: int
    output_len: int
    weights: str = "bf16"
    kv: str = "bf16"
    weight_bits: float | None = None

    def __post_init__(self) -> None:
        for name in ("input_len", "output_len"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1 or v > 10_000_000:
                raise InputError(
                    f"{name.replace('_', ' ')} must be a positive integer, got {v!r}",
                    f"Give --{name.replace('_', '-')} in tokens, e.g. 1000",
                )
        if self.weights not in WEIGHT_FORMATS:
            raise InputError(
                f"unknown weight format '{self.weights}'", "Use one of " + ", ".join(WEIGHT_FORMATS)
            )
        if self.kv not in KV_FORMATS:
            raise InputError(f"unknown KV-cache format '{self.kv}'", "Use one of " + ", ".join(KV_FORMATS))
        if self.weight_bits is not None and not (1.0 <= self.weight_bits <= 32.0):
            raise InputError(
                f"weight bits must be in [1, 32], got {self.weight_bits}", "e.g. --weight-bits 3.5"
            )

    @property
    def weight_bytes_per_param(self) -> float:
        if self.weight_bits is not None:
            return self.weight_bits / 8.0
        return BYTES_PER_VALUE[self.weights]

    @property
    def kv_bytes_per_value(self) -> float:
        return BYTES_PER_VALUE[self.kv]


ENCODER_FORMATS = ("bf16", "fp16", "fp8", "int8")


@dataclass(frozen=True, slots=True)
class EncoderJob:
    """Run an encoder (``model.kind == "encoder"``) over sequences of ``seq_len`` tokens.

    ``weights`` names the matmul format: ``int8`` is W8A8 (int8 GEMMs with int8 activations, as in
    MLPerf's BERT submissions) where the chip has an int8 path; 16-bit otherwise.

    ``mean_len``: the mean real tokens per sequence where the engine drops the padding (TensorRT's
    variable-length BERT plugins and Intel's MLPerf SUT concatenate the unpadded sequences of a
    batch); ``None``: every sequence runs padded to ``seq_len`` (static shapes).
    """

    model: Model
    seq_len: int
    weights: str = "bf16"
    mean_len: float | None = None

    def __post_init__(self) -> None:
        if self.model.kind != "encoder":
            raise InputError(
                f"{self.model.id} is a {self.model.kind} model, not an encoder",
                "Price decoders with a serve job (input and output lengths)",
            )
        s = self.seq_len
        if isinstance(s, bool) or not isinstance(s, int) or not 1 <= s <= self.model.max_seq_len:
            raise InputError(
                f"sequence length must be an integer in 1..{self.model.max_seq_len} for {self.model.id}, "
                f"got {s!r}",
                "Give --input-len in tokens, e.g. 384 (MLPerf's BERT) or 128 (a query-document pair)",
            )
        if self.weights not in ENCODER_FORMATS:
            raise InputError(
                f"unknown encoder number format '{self.weights}'", "Use one of " + ", ".join(ENCODER_FORMATS)
            )
        n = self.mean_len
        if n is not None and (isinstance(n, bool) or not isinstance(n, int | float) or not 1 <= n <= s):
            raise InputError(
                f"mean sequence length must be in 1..{s} (the padded length), got {n!r}",
                "Give the mean real tokens per sequence, or none for padded sequences",
            )

    @property
    def tokens_per_sequence(self) -> float:
        """Tokens the engine runs per sequence: the real mean where padding is dropped, else all."""
        return float(self.mean_len if self.mean_len is not None else self.seq_len)
