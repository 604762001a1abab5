"""A tiny, randomly initialised Llama and a tokenizer trained here, saved as a local model
folder that ``transformers serve`` loads (``.ci/llm-server.sh``): no download anywhere.

    python -m serving.tinymodel DIR [--shape vllm]

The model is 2 blocks of width 64 (4 heads, 2 key/value heads), the tokenizer a byte-level BPE
of 512 tokens trained in about a second on made-up text, with a chat template so
``/v1/chat/completions`` works too. Its outputs are noise: it exists to load a real server.
``--shape vllm`` makes the blocks 128 wide with 2 heads of 64 (1 key/value head, 0.43 M
parameters): vLLM's CPU attention refuses a head of 16 ("Unsupported CPU attention
configuration: head_dim=16"; ``.ci/vllm-server.sh``).
"""
from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

VOCAB = 512
CHAT_TEMPLATE = ("{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}\n{% endfor %}"
                 "{% if add_generation_prompt %}<|assistant|>{% endif %}")
WORDS = ["the", "a", "model", "token", "server", "request", "rate", "latency", "time", "first", "output", "batch", "queue", "stream", "answer", "question", "benchmark", "load", "goodput", "capacity", "seconds", "fast", "slow"]


def made_up_text(lines: int = 2000, seed: int = 0) -> list[str]:
    """Sentences of the words above, for the tokenizer to learn merges from."""
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(4, 16)))
            for _ in range(lines)]


def save_tokenizer(folder: Path) -> None:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=VOCAB, special_tokens=["<s>", "</s>", "<unk>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tokenizer.train_from_iterator(made_up_text(), trainer=trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tokenizer, bos_token="<s>",
                                   eos_token="</s>", unk_token="<unk>")
    fast.chat_template = CHAT_TEMPLATE
    fast.save_pretrained(folder)


#: The model's shapes: ``small`` for ``transformers serve``, ``vllm`` with heads of 64.
SHAPES = {"small": {"hidden_size": 64, "intermediate_size": 128, "num_attention_heads": 4,
                    "num_key_value_heads": 2},
          "vllm": {"hidden_size": 128, "intermediate_size": 256, "num_attention_heads": 2,
                   "num_key_value_heads": 1}}


def save_model(folder: Path, seed: int = 0, shape: str = "small") -> None:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=VOCAB, num_hidden_layers=2, max_position_embeddings=2048,
                         bos_token_id=0, eos_token_id=1, **SHAPES[shape])
    LlamaForCausalLM(config).save_pretrained(folder)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", help="where to save the model and tokenizer (made)")
    parser.add_argument("--shape", choices=sorted(SHAPES), default="small",
                        help="small (transformers serve; the default) or vllm (heads of 64)")
    args = parser.parse_args(argv)
    folder = Path(args.folder)
    folder.mkdir(parents=True, exist_ok=True)
    save_tokenizer(folder)
    save_model(folder, shape=args.shape)
    print(folder.resolve())
    return 0


if __name__ == "__main__":
    sys.exit(main())
