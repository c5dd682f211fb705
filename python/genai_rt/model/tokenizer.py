"""A checkpoint's tokenizer: tokenizer.json through ``tokenizers``, the chat template via jinja2.

The chat template is rendered the way transformers renders it (sandboxed jinja2 with
``trim_blocks``/``lstrip_blocks``, ``raise_exception``, ``strftime_now``, and the special tokens
of tokenizer_config.json as variables), so prompts are byte-identical to
``AutoTokenizer.apply_chat_template``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment
from tokenizers import Tokenizer as HFTokenizer


class TokenizerError(ValueError):
    """tokenizer.json / tokenizer_config.json are missing or unusable."""


def _token_text(value: Any) -> str | None:
    # tokenizer_config.json spells special tokens as "text" or {"content": "text", ...}.
    if isinstance(value, dict):
        return value.get("content")
    return value if isinstance(value, str) else None


def _raise_exception(message: str) -> None:
    raise TokenizerError(f"chat template error: {message}")


def _strftime_now(fmt: str) -> str:
    return datetime.now().strftime(fmt)


class Tokenizer:
    """Encode/decode and chat-template rendering for one checkpoint directory.

    Parameters
    ----------
    model_dir : path
        Holds tokenizer.json; tokenizer_config.json (optional) gives the chat template, the
        bos/eos tokens and ``add_bos_token``; chat_template.jinja overrides the template.

    Attributes
    ----------
    bos_token, eos_token : str | None
    bos_token_id, eos_token_id : int | None
    chat_template : str | None
    """

    def __init__(self, model_dir: str | Path) -> None:
        root = Path(model_dir)
        path = root / "tokenizer.json"
        if not path.is_file():
            raise TokenizerError(f"missing file {path} (only fast tokenizers are supported)")
        config_path = root / "tokenizer_config.json"
        config: dict[str, Any] = {}
        if config_path.is_file():
            config = json.loads(config_path.read_text(encoding="utf-8"))
        self._setup(HFTokenizer.from_file(str(path)), config, self._load_template(root, config))

    @classmethod
    def from_parts(
        cls, backend: HFTokenizer, config: dict[str, Any], chat_template: str | None = None
    ) -> Tokenizer:
        """A tokenizer from a built ``tokenizers.Tokenizer`` and tokenizer_config-style fields
        (``bos_token``, ``eos_token``, ``add_bos_token``, ...), as a GGUF file provides them."""
        tokenizer = cls.__new__(cls)
        tokenizer._setup(backend, config, chat_template)
        return tokenizer

    def _setup(self, backend: HFTokenizer, config: dict[str, Any], template: str | None) -> None:
        self._tok = backend
        self.config = config
        self.bos_token = _token_text(config.get("bos_token"))
        self.eos_token = _token_text(config.get("eos_token"))
        self.bos_token_id = self._id_of(self.bos_token)
        self.eos_token_id = self._id_of(self.eos_token)
        # Llama-2-style configs ask for a BOS the tokenizer.json post-processor may not add.
        self.add_bos_token = bool(config.get("add_bos_token", False))
        self.chat_template = template
        self._compiled: jinja2.Template | None = None

    def _id_of(self, token: str | None) -> int | None:
        return None if token is None else self._tok.token_to_id(token)

    @staticmethod
    def _load_template(root: Path, config: dict[str, Any]) -> str | None:
        jinja_file = root / "chat_template.jinja"
        if jinja_file.is_file():
            return jinja_file.read_text(encoding="utf-8")
        template = config.get("chat_template")
        if isinstance(template, list):  # [{"name": "default", "template": ...}, ...]
            named = {t.get("name"): t.get("template") for t in template}
            template = named.get("default") or next(iter(named.values()), None)
        return template if isinstance(template, str) else None

    @property
    def vocab_size(self) -> int:
        """Number of ids, added special tokens included."""
        return int(self._tok.get_vocab_size(with_added_tokens=True))

    @property
    def backend(self) -> HFTokenizer:
        """The underlying ``tokenizers.Tokenizer`` (for grammar vocabularies)."""
        return self._tok

    def encode(self, text: str, add_special_tokens: bool = True) -> list[int]:
        """Token ids of ``text``; ``add_special_tokens`` applies the post-processor (e.g. BOS)."""
        ids: list[int] = self._tok.encode(text, add_special_tokens=add_special_tokens).ids
        if (
            add_special_tokens and self.add_bos_token and self.bos_token_id is not None
            and (not ids or ids[0] != self.bos_token_id)
        ):
            ids = [self.bos_token_id, *ids]
        return ids

    def decode(self, ids: Sequence[int], skip_special_tokens: bool = True) -> str:
        """Text of ``ids`` (special tokens dropped unless ``skip_special_tokens=False``)."""
        return str(self._tok.decode(list(ids), skip_special_tokens=skip_special_tokens))

    def id_to_token(self, token_id: int) -> str | None:
        return self._tok.id_to_token(token_id)

    def apply_chat_template(
        self,
        messages: Sequence[dict[str, Any]],
        add_generation_prompt: bool = True,
        tokenize: bool = False,
        **template_kwargs: Any,
    ) -> str | list[int]:
        """Render ``messages`` (``[{"role": ..., "content": ...}, ...]``) with the chat template.

        Parameters
        ----------
        messages : sequence of dict
        add_generation_prompt : bool
            Append the assistant turn's opening so the model continues as the assistant.
        tokenize : bool
            Return token ids (special tokens already in the text, none added) instead of text.
        **template_kwargs
            Extra template variables (``tools``, ``documents``, ...).

        Raises
        ------
        TokenizerError
            If the checkpoint has no chat template, or the template raises.
        """
        if self.chat_template is None:
            raise TokenizerError("this tokenizer has no chat_template in tokenizer_config.json")
        if self._compiled is None:
            env = ImmutableSandboxedEnvironment(
                trim_blocks=True, lstrip_blocks=True, extensions=["jinja2.ext.loopcontrols"]
            )
            env.filters["tojson"] = _tojson
            env.globals["raise_exception"] = _raise_exception
            env.globals["strftime_now"] = _strftime_now
            self._compiled = env.from_string(self.chat_template)
        special = {
            key: _token_text(value)
            for key, value in self.config.items()
            if key.endswith("_token") and _token_text(value) is not None
        }
        # tools/documents default to None as in transformers: templates test `is not none`,
        # which an undefined variable would pass.
        variables: dict[str, Any] = {"tools": None, "documents": None, **special}
        variables.update(template_kwargs)
        text = self._compiled.render(
            messages=list(messages), add_generation_prompt=add_generation_prompt, **variables
        )
        return self.encode(text, add_special_tokens=False) if tokenize else text


def _tojson(value: Any, ensure_ascii: bool = False, indent: int | None = None,
            separators: tuple[str, str] | None = None, sort_keys: bool = False) -> str:
    # transformers' tojson: keeps non-ASCII text as is (jinja's default escapes it).
    return json.dumps(
        value, ensure_ascii=ensure_ascii, indent=indent, separators=separators,
        sort_keys=sort_keys,
    )
