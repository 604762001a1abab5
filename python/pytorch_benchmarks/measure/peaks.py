"""Dense peak TFLOPS of NVIDIA data-centre GPUs, per precision, from NVIDIA's datasheets.

Responsibility: the table and its lookup by device name. Figures are per GPU and dense (NVIDIA
often prints 2:4 structured-sparsity figures, twice these; they are halved here). ``fp32`` is
the CUDA-core (non-tensor) float32 peak; ``tf32`` the tensor-core figure that float32 matmuls
reach when TF32 is allowed (``torch.set_float32_matmul_precision("high")``, the benchmark's
``--cudnn_fastest``, which allows it for convolutions too); ``None`` where the GPU has no such
math (V100 and T4: no TF32, no native bfloat16). It measures nothing; :mod:`.calibration`
measures CPUs.

A MIG slice (a device name with ``MIG``, e.g. ``NVIDIA H100 80GB HBM3 MIG 1g.10gb``) has a
share of the GPU's SMs: its peak is the row's scaled by its SMs over the whole GPU's (``sms``,
from the architecture whitepapers), or none where the row does not know its SMs. A GPU NVIDIA
publishes no datasheet for (:data:`NO_DATASHEET`) has no peak, with the reason.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

V100 = ("NVIDIA Tesla V100 datasheet, https://images.nvidia.com/content/technologies/volta/"
        "pdf/volta-v100-datasheet-update-us-1165301-r5.pdf")
A100 = ("NVIDIA A100 Tensor Core GPU datasheet, https://www.nvidia.com/content/dam/en-zz/"
        "Solutions/Data-Center/a100/pdf/nvidia-a100-datasheet-us-nvidia-1758950-r4-web.pdf")
H100 = ("NVIDIA H100 Tensor Core GPU datasheet, sparse figures halved, "
        "https://resources.nvidia.com/en-us-tensor-core/nvidia-tensor-core-gpu-datasheet")
H200 = ("NVIDIA H200 Tensor Core GPU datasheet, sparse figures halved, "
        "https://www.nvidia.com/en-us/data-center/h200/")
L4 = ("NVIDIA L4 Tensor Core GPU datasheet, sparse figures halved, "
      "https://resources.nvidia.com/en-us-data-center-overview/l4-gpu-datasheet")
L40S = ("NVIDIA L40S GPU datasheet, sparse figures halved, "
        "https://resources.nvidia.com/en-us-l40s/l40s-datasheet-28413")
A10 = ("NVIDIA A10 Tensor Core GPU datasheet, "
       "https://www.nvidia.com/content/dam/en-zz/Solutions/Data-Center/a10/pdf/"
       "datasheet-new/nvidia-a10-datasheet.pdf")
T4 = ("NVIDIA T4 Tensor Core GPU datasheet, "
      "https://www.nvidia.com/content/dam/en-zz/Solutions/Data-Center/tesla-t4/"
      "t4-tensor-core-datasheet-951643.pdf")
B200 = ("NVIDIA HGX B200 specifications (per GPU, 1000 W), sparse figures halved, "
        "https://www.nvidia.com/en-us/data-center/hgx/")
# H800: the H100's export variant (NVLink and FP64 cut; FP32, TF32 and tensor rates as the
# H100 SXM / PCIe), NVIDIA H800 Tensor Core GPU datasheet, sparse figures halved.
H800 = ("NVIDIA H800 Tensor Core GPU datasheet, sparse figures halved, "
        "https://www.nvidia.cn/data-center/h800/")
# H20: NVIDIA HGX H20 product brief: FP32 44, TF32 74, BF16/FP16 148 TFLOPS (dense: the
# export rule's TPP is computed on dense figures; 78 SMs).
H20 = ("NVIDIA HGX H20 product brief (dense figures), "
       "https://www.nvidia.cn/data-center/h20/")
GH200 = ("NVIDIA GH200 Grace Hopper Superchip datasheet (its H100-class GPU), sparse figures "
         "halved, https://resources.nvidia.com/en-us-grace-cpu/grace-hopper-superchip")


@dataclass(frozen=True)
class GpuPeak:
    """One GPU model's dense peaks in TFLOPS; ``pattern`` matches its CUDA device name."""

    title: str
    pattern: str
    fp32: float
    tf32: float | None
    fp16: float
    bf16: float | None
    source: str
    #: The whole GPU's SMs (whitepapers), to scale the peak to a MIG slice's; None: unknown.
    sms: int | None = None


#: Most specific first: the first row whose pattern matches the device name wins.
GPU_PEAKS: tuple[GpuPeak, ...] = (
    GpuPeak("V100S PCIe", r"V100S", 16.4, None, 130.0, None, V100),
    GpuPeak("V100 PCIe", r"V100.*PCIE", 14.0, None, 112.0, None, V100),
    GpuPeak("V100 SXM2", r"V100", 15.7, None, 125.0, None, V100),
    GpuPeak("A100 80GB PCIe", r"A100.*80GB.*PCIE|A100.*PCIE.*80GB", 19.5, 156.0, 312.0, 312.0,
            A100, 108),
    GpuPeak("A100 40GB PCIe", r"A100.*PCIE", 19.5, 156.0, 312.0, 312.0, A100, 108),
    GpuPeak("A100 80GB SXM", r"A100.*SXM.*80GB", 19.5, 156.0, 312.0, 312.0, A100, 108),
    GpuPeak("A100 40GB SXM", r"A100", 19.5, 156.0, 312.0, 312.0, A100, 108),
    GpuPeak("H100 NVL", r"H100.*NVL", 60.0, 417.5, 835.5, 835.5, H100, 132),
    GpuPeak("H100 PCIe", r"H100.*PCIE", 51.0, 378.0, 756.5, 756.5, H100, 114),
    GpuPeak("H100 SXM", r"H100", 67.0, 494.5, 989.5, 989.5, H100, 132),
    GpuPeak("H800 PCIe", r"H800.*PCIE", 51.0, 378.0, 756.5, 756.5, H800, 114),
    GpuPeak("H800 SXM", r"H800", 67.0, 494.5, 989.5, 989.5, H800, 132),
    GpuPeak("GH200", r"GH200", 67.0, 494.5, 989.5, 989.5, GH200, 132),
    GpuPeak("H200 NVL", r"H200.*NVL", 60.0, 417.5, 835.5, 835.5, H200, 132),
    GpuPeak("H200 SXM", r"H200", 67.0, 494.5, 989.5, 989.5, H200, 132),
    GpuPeak("H20", r"\bH20\b", 44.0, 74.0, 148.0, 148.0, H20),
    GpuPeak("L40S", r"\bL40S\b", 91.6, 183.0, 362.05, 362.05, L40S),
    GpuPeak("L4", r"\bL4\b", 30.3, 60.0, 121.0, 121.0, L4),
    GpuPeak("A10", r"\bA10\b", 31.2, 62.5, 125.0, 125.0, A10),
    GpuPeak("T4", r"\bT4\b", 8.1, None, 65.0, None, T4),
    # TF32: HGX B200's 18 PFLOPS sparse / 8 GPUs / 2 = 1125, half the BF16 rate as on every
    # tensor-core generation (the per-GPU line prints 2.2 PFLOPS sparse, rounded down).
    GpuPeak("B200", r"\bB200\b", 75.0, 1125.0, 2250.0, 2250.0, B200),
)

#: GPUs with no vendor datasheet to take a peak from, by device-name pattern: why not.
NO_DATASHEET: dict[str, str] = {
    r"\bA10G\b": ("the A10G (AWS's variant of the A10, other clocks and tensor rates) has no "
                   "NVIDIA datasheet; the A10's figures would be wrong for it"),
}
#: A MIG slice's device name (``... MIG 1g.10gb``).
MIG = re.compile(r"\bMIG\b", re.IGNORECASE)


def find_gpu(device_name: str) -> GpuPeak | None:
    """The table's row for a CUDA device name (``torch.cuda.get_device_name``), or ``None``."""
    for row in GPU_PEAKS:
        if re.search(row.pattern, device_name, re.IGNORECASE):
            return row
    return None


def precision_column(dtype: str, tf32: bool) -> str:
    """The column a run's math uses: ``fp16``/``bf16`` for autocast, else ``tf32`` when TF32
    matmuls are allowed, else ``fp32``."""
    if dtype == "float16":
        return "fp16"
    if dtype == "bfloat16":
        return "bf16"
    return "tf32" if tf32 else "fp32"


def gpu_peak(device_name: str, dtype: str, tf32: bool,
             sms: int | None = None) -> tuple[float, str] | str:
    """``(dense peak TFLOPS, source)`` of one GPU for ``dtype``, or why there is none.
    ``sms``: the device's SMs (``multi_processor_count``), to scale a MIG slice's peak."""
    for pattern, why in NO_DATASHEET.items():
        if re.search(pattern, device_name, re.IGNORECASE):
            return f"no peak TFLOPS known for GPU '{device_name}': {why}"
    row = find_gpu(device_name)
    if row is None:
        return f"no peak TFLOPS known for GPU '{device_name}'"
    column = precision_column(dtype, tf32)
    value = getattr(row, column)
    if value is None and column == "tf32":
        column, value = "fp32", row.fp32  # no TF32 on this GPU: float32 runs on CUDA cores
    if value is None:
        return f"no {dtype} peak known for {row.title} (no native {dtype} math)"
    source = f"table: {device_name} {dtype} ({column}) dense ({row.source})"
    if MIG.search(device_name):
        return _mig_share(row, value, source, device_name, sms)
    return value, source


def _mig_share(row: GpuPeak, value: float, source: str, device_name: str,
               sms: int | None) -> tuple[float, str] | str:
    """A MIG slice's share of the whole GPU's peak (by its SMs), or why it is unknown."""
    if row.sms is None or sms is None or not 0 < sms <= row.sms:
        return (f"no peak TFLOPS known for MIG slice '{device_name}': its share of the "
                f"{row.title}'s peak is unknown ({sms} SMs of "
                f"{row.sms if row.sms is not None else 'an unknown number'})")
    return value * sms / row.sms, (f"{source}, scaled to the MIG slice's {sms} of "
                                   f"{row.sms} SMs")
