"""The `arkit` command line."""

from __future__ import annotations

import json
from pathlib import Path
import subprocess
import sys

import pytest

import arkit
from arkit.cli import main
from arkit.plugins import registered_plugin
from tests.helpers import tiny_pipeline


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_version_through_the_installed_entry_point() -> None:
    result = subprocess.run([sys.executable, "-m", "arkit", "--version"], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == f"arkit {arkit.__version__}"


def test_plugins_json_lists_the_core_plugin(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "plugins", "--json")
    plugins = json.loads(out)
    core = next(p for p in plugins if p["name"] == "core")
    assert code == 0 and core["builtin"] and core["error"] is None
    assert set(core) == {"name", "distribution", "version", "builtin", "components", "presets", "error"}
    assert "tokenizer:core/byte" in core["components"] and "core/tiny-byte" in core["presets"]


def test_plugins_table(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "plugins")
    assert code == 0 and out.splitlines()[0].split()[:2] == ["plugin", "distribution"] and "core" in out


def test_components_filtered_by_kind(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "components", "--kind", "cache", "--json")
    assert code == 0 and {c["kind"] for c in json.loads(out)} == {"cache"}
    assert {"core/dynamic", "core/static"} <= {c["name"] for c in json.loads(out)}


def test_unknown_kind_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["components", "--kind", "tokeniser"])
    assert info.value.code == 2 and "invalid choice" in capsys.readouterr().err


def test_presets(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "presets", "--json")
    preset = next(p for p in json.loads(out) if p["name"] == "core/tiny-byte")
    assert preset["components"]["backbone"]["name"] == "core/transformer"


def test_generate_with_a_saved_pipeline(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tiny_pipeline().save_pretrained(tmp_path / "p")
    code, out, _ = run(capsys, "generate", str(path), "--prompt", "ab", "--prompt", "cde", "--max-new-tokens", "5", "--json")
    data = json.loads(out)
    expected = arkit.Pipeline.from_pretrained(path).generate(["ab", "cde"], max_new_tokens=5, seed=0)
    assert code == 0 and data["sequences"] == [list(s) for s in expected.sequences]


def test_errors_are_one_line_without_traceback(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "empty").mkdir()
    code, out, err = run(capsys, "generate", str(tmp_path / "empty"), "--prompt", "x")
    assert code == 1 and err.startswith("arkit: error:") and "pipeline.json" in err and "Traceback" not in err


def test_plugins_can_add_commands(capsys: pytest.CaptureFixture[str]) -> None:
    class Plugin:
        @arkit.hookimpl
        def arkit_register_commands(self, register):  # type: ignore[no-untyped-def]
            def run_hello(args):  # type: ignore[no-untyped-def]
                print(f"hello {args.name}")
                return 3

            register("hello", run_hello, help="say hello", arguments=lambda p: p.add_argument("name"))

    with registered_plugin(Plugin(), "greeter"):
        code, out, _ = run(capsys, "hello", "arkit")
        assert code == 3 and out.strip() == "hello arkit"
        with pytest.raises(SystemExit):
            main(["--help"])
        assert "say hello (plugin greeter)" in capsys.readouterr().out  # --help lists plugin commands


def test_plugin_commands_by_import_path_import_their_module_only_when_run(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "greeter_cli_mod.py").write_text(
        "def add_arguments(parser):\n    parser.add_argument('name')\n\n"
        "def run(args):\n    print('hi ' + args.name)\n    return 4\n")
    monkeypatch.syspath_prepend(str(tmp_path))

    class Plugin:
        @arkit.hookimpl
        def arkit_register_commands(self, register):  # type: ignore[no-untyped-def]
            register("hi", "greeter_cli_mod:run", help="say hi", arguments="greeter_cli_mod:add_arguments")
            register("gone", "greeter_cli_nowhere:run")

    with registered_plugin(Plugin(), "lazy-greeter"):
        with pytest.warns(arkit.ArkitPluginWarning, match="there is no module 'greeter_cli_nowhere'"):
            with pytest.raises(SystemExit):
                main(["--help"])
        assert "say hi (plugin lazy-greeter)" in capsys.readouterr().out
        assert "greeter_cli_mod" not in sys.modules  # --help did not import the command's module
        with pytest.warns(arkit.ArkitPluginWarning):
            code, out, _ = run(capsys, "hi", "arkit")
        assert code == 4 and out.strip() == "hi arkit"
    sys.modules.pop("greeter_cli_mod", None)


def test_a_plugin_command_clashing_with_a_builtin_is_reported_not_fatal(capsys: pytest.CaptureFixture[str]) -> None:
    class Plugin:
        @arkit.hookimpl
        def arkit_register_commands(self, register):  # type: ignore[no-untyped-def]
            register("plugins", lambda args: 0)

    with registered_plugin(Plugin(), "clash"):
        with pytest.warns(arkit.ArkitPluginWarning, match="already exists"):
            code, out, _ = run(capsys, "plugins", "--json")
    assert code == 0 and json.loads(out)


def test_strict_mode_turns_command_failures_into_errors(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    class Plugin:
        @arkit.hookimpl
        def arkit_register_commands(self, register):  # type: ignore[no-untyped-def]
            raise RuntimeError("broken")

    monkeypatch.setenv("ARKIT_STRICT_PLUGINS", "1")
    with registered_plugin(Plugin(), "broken-cmd"):
        code, _, err = run(capsys, "plugins")
    assert code == 1 and "broken-cmd" in err and "broken" in err


# -- generate: sampling flags, seeds, finish reasons, the --onnx hint ----------------------------------


def test_generate_help_shows_defaults_and_sampling_flags(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["generate", "--help"])
    text = capsys.readouterr().out
    for flag in ("--temperature", "--top-k", "--top-p", "--greedy", "default 64", "a fresh one, printed"):
        assert flag in text, flag


def test_sampling_flags_replace_the_saved_sampler(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tiny_pipeline().save_pretrained(tmp_path / "p")  # saved with core/greedy
    base = ["generate", str(path), "--prompt", "ab", "--max-new-tokens", "8", "--json"]
    _, greedy, _ = run(capsys, *base)
    code, hot, err = run(capsys, *base, "--temperature", "5", "--seed", "3")
    assert code == 0 and "seed" not in err  # a given seed is not announced
    hot_sampler = arkit.create("sampler", "core/multinomial", temperature=5.0)
    pipe = arkit.Pipeline.from_pretrained(path).replace(sampler=hot_sampler)
    assert json.loads(hot)["sequences"][0] == list(pipe.generate(["ab"], max_new_tokens=8, seed=3).sequences[0])
    assert json.loads(hot)["sequences"] != json.loads(greedy)["sequences"]
    code, _, err = run(capsys, *base, "--greedy", "--top-k", "3")
    assert code == 1 and "--greedy" in err and "--top-k" in err
    code, _, err = run(capsys, *base, "--top-p", "1.5")
    assert code == 1 and "top_p must lie in (0, 1]" in err


def test_without_a_seed_sampling_draws_one_and_says_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tiny_pipeline("core/multinomial").save_pretrained(tmp_path / "p")
    code, out, err = run(capsys, "generate", str(path), "--prompt", "ab", "--max-new-tokens", "6", "--json")
    seed = json.loads(out)["seed"]
    assert code == 0 and isinstance(seed, int) and f"pass --seed {seed} to repeat it" in err
    _, again, _ = run(capsys, "generate", str(path), "--prompt", "ab", "--max-new-tokens", "6", "--json",
                      "--seed", str(seed))
    assert json.loads(again)["sequences"] == json.loads(out)["sequences"]


def test_a_row_cut_by_the_context_length_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tiny_pipeline().save_pretrained(tmp_path / "p")  # max_seq_len 128
    code, out, err = run(capsys, "generate", str(path), "--prompt", "ab", "--max-new-tokens", "5000")
    assert code == 0 and out.startswith("ab")
    assert "row 0:" in err and "the model's context length" in err
    assert "fill the backbone's 128 positions; --max-new-tokens 5000 was not reached" in err


def test_an_onnx_folder_without_onnx_suggests_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "exported"
    folder.mkdir()
    (folder / "onnx.json").write_text("{}")
    code, _, err = run(capsys, "generate", str(folder), "--prompt", "x")
    assert code == 1 and "add --onnx" in err and "Traceback" not in err


def test_listings_fit_the_terminal_without_cutting_words(capsys: pytest.CaptureFixture[str],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "72")
    code, out, _ = run(capsys, "components", "--kind", "constraint")
    full = {c.name: c.description for c in arkit.list_components("constraint")}
    assert code == 0 and "``" not in out
    for line in out.splitlines()[1:]:
        assert len(line) <= 72, line
        name, description = line.split()[1], line.split(None, 3)[3]
        plain = full[name].replace("``", "")
        assert description == plain or (description.endswith("...") and plain.startswith(description[:-3])
                                        and plain[len(description) - 3] == " "), (description, plain)
    code, out, _ = run(capsys, "components", "--kind", "constraint", "--wide")
    assert "Allow exactly the continuations of sequences (lists of token ids)." in out


@pytest.mark.parametrize(
    ("resumed_from", "tokens_per_s", "expected"),
    [(0, 7512.0, "trained 60 steps: loss 2.000 -> 1.000, 7,512 tokens/s"),
     (40, 7481.0, "trained 20 steps (steps 41-60, resumed from the checkpoint of step 40): loss 2.000 -> 1.000, "
                  "7,481 tokens/s")],
)
def test_train_reports_the_steps_this_run_trained(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
                                                  resumed_from: int, tokens_per_s: float, expected: str) -> None:
    import arkit.training.config_file as config_file

    summary = {"rank": 0, "steps": 60, "resumed_from": resumed_from, "loss_first": 2.0, "loss_last": 1.0,
               "tokens_per_s": tokens_per_s, "eval_losses": [], "pipeline": "out/pipeline"}
    monkeypatch.setattr(config_file, "run_config", lambda *args, **kwargs: summary)
    code, out, _ = run(capsys, "train", "config.toml", "--resume")
    assert code == 0 and out.splitlines()[0] == expected
    assert "0 tokens/s" not in out


def test_plugins_check_fails_on_a_tokenizer_that_rejects_its_own_examples(capsys: pytest.CaptureFixture[str]) -> None:
    from arkit.tokenizers.byte import ByteTokenizer

    class Plugin:
        @arkit.hookimpl
        def arkit_register_tokenizers(self, register):  # type: ignore[no-untyped-def]
            register("badex/bytes", ByteTokenizer, examples=("fine", 42))

    with registered_plugin(Plugin(), "badex"):
        code, out, _ = run(capsys, "plugins")  # listing alone builds no component
        assert code == 0 and "ERROR" not in out.split("badex", 1)[1].splitlines()[0]
        code, out, err = run(capsys, "plugins", "--check", "--json")
    assert code == 1 and "1 plugin(s) failed: badex" in err
    error = {p["name"]: p["error"] for p in json.loads(out)}["badex"]
    assert "'badex/bytes' rejects its registered example 42" in error
