"""Parameter counts (1000 classes unless stated) against the published architectures.

Models are built on the ``meta`` device: no memory, no initialisation, milliseconds each.

References:
- torchvision: https://pytorch.org/vision/stable/models.html (the "Params" column) for
  alexnet (= our alexnet_owt), resnet18-152, vgg11-19 (without BN), inception_v3 (27,161,264 with
  its auxiliary head of 3,326,696, i.e. 23,834,568 without it, as here and in DLBS).
- timm ``inception_v4`` (Szegedy et al., 2016): 42,679,816.
- AlexNet (Krizhevsky et al., 2012) in one tower, without conv groups: 62,378,344.
- GoogLeNet (Szegedy et al., 2014; Caffe bvlc_googlenet without auxiliary classifiers): 6,998,552.
- OverFeat "fast" (Sermanet et al., 2013): 145.9 M; ResNet-200/269 (He et al., 2016; DLBS unit
  counts 3-24-36-3 and 3-30-48-8, torchvision bottleneck): 64.7 M / 102.1 M.
- The fully connected DLBS models: sums of their layer sizes.
- Transformers (Hugging Face ``num_parameters()`` / timm): ViT-Base/16 86,567,656
  (``vit_base_patch16_224``); GPT-2 small 124,439,808 (``gpt2``, LM head tied); Llama 3.2 1B
  1,235,814,400 (tied); Llama 3.2 3B 3,212,749,824 (tied), Llama 3.1 8B 8,030,261,248 and 70B
  70,553,706,496 (LM heads of their own); BERT-base ``BertModel`` 109,482,240 and ``BertForMaskedLM`` 109,514,298:
  no pooler (-590,592), MLM transform dense and LayerNorm (+590,592 + 1,536), decoder tied to
  the word embeddings with its own bias (+30,522).
"""

from __future__ import annotations

import pytest
import torch
from pytorch_benchmarks.models import create_model, list_models

EXPECTED = {
    "alexnet": 62_378_344,
    "alexnet_owt": 61_100_840,
    "googlenet": 6_998_552,
    "inception3": 23_834_568,
    "inception4": 42_679_816,
    "overfeat": 145_920_872,
    "resnet18": 11_689_512,
    "resnet34": 21_797_672,
    "resnet50": 25_557_032,
    "resnet101": 44_549_160,
    "resnet152": 60_192_808,
    "resnet200": 64_673_832,
    "resnet269": 102_073_384,
    "vgg11": 132_863_336,
    "vgg13": 133_047_848,
    "vgg16": 138_357_544,
    "vgg19": 143_667_240,
    # 540*2048+2048 + 4*(2048*2048+2048) + 2048*8192+8192
    "acoustic_model": 34_678_784,
    # 784-2500-2000-1500-1000-500-10
    "deep_mnist": 11_972_510,
    # 784-1024-1024-1024-16
    "sensor_net": 2_919_440,
    # 16*16*3*768+768 patches, 768 class token, 197*768 positions, 12 x 7,087,872 blocks,
    # 1,536 final LayerNorm, 768*1000+1000 head
    "vit_b16": 86_567_656,
    # encoder 109,482,240 - pooler 590,592 + MLM transform 592,128 + decoder bias 30,522
    "bert_base": 109_514_298,
    # 50257*768 tokens + 1024*768 positions + 12 x 7,087,872 blocks + 1,536 final LayerNorm
    "gpt2": 124_439_808,
    # 128256*2048 tokens + 16 x (attention 10,485,760 + SwiGLU 50,331,648 + norms 4,096) + 2,048
    "llama3_1b": 1_235_814_400,
    # 128256*3072 tokens (tied) + 28 x (attention 25,165,824 + SwiGLU 75,497,472 + norms 6,144)
    # + 3,072: Llama 3.2 3B
    "llama3_3b": 3_212_749_824,
    # 2 x 128256*4096 (tokens, LM head) + 32 x (41,943,040 + 176,160,768 + 8,192) + 4,096
    "llama3_8b": 8_030_261_248,
    # 2 x 128256*8192 + 80 x (150,994,944 + 704,643,072 + 16,384) + 8,192
    "llama3_70b": 70_553_706_496,
}


def count_parameters(name: str, **kwargs: int) -> int:
    """Number of parameters of a model, built on the meta device."""
    with torch.device("meta"):
        model = create_model(name, **kwargs)
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("name,expected", sorted(EXPECTED.items()))
def test_parameter_count_matches_published(name: str, expected: int) -> None:
    assert count_parameters(name) == expected


def test_dlbs_zoo_is_registered() -> None:
    assert set(EXPECTED) <= set(list_models())


def test_classifier_follows_num_classes() -> None:
    # ResNet-50's classifier is 2048 x classes + classes.
    assert count_parameters("resnet50", num_classes=10) == 25_557_032 - 2049 * 990


def test_bert_encoder_with_pooler_matches_bert_model() -> None:
    from pytorch_benchmarks.models.bert import bert_encoder

    with torch.device("meta"):
        encoder = bert_encoder(pooler=True)
    assert sum(p.numel() for p in encoder.parameters()) == 109_482_240


@pytest.mark.parametrize("name,vocab,per_token", [
    pytest.param("gpt2", 50257, 768, id="gpt2"),
    pytest.param("llama3_1b", 128256, 2048, id="llama"),
])
def test_lm_head_is_tied_to_the_embeddings(name: str, vocab: int, per_token: int) -> None:
    # A smaller vocabulary removes one embedding row per token, not two (no separate head).
    assert count_parameters(name, num_classes=vocab - 10) == \
        EXPECTED[name] - 10 * per_token
