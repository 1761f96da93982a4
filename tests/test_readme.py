"""The top README's commands are the ones users follow: the quick start is two commands and CI installs as it does, every
command names modules, configs, runner ids and folders that exist, and the commands for each task a user comes for are
still there (a rewrite of one section once deleted three others and no test noticed)."""

from __future__ import annotations

import importlib.util
import re
import shlex
from pathlib import Path

import pytest
from monai.bundle import ConfigParser

from synfoc_components.zoo.package import archive_name

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"

#: What a user comes for, and a piece of the command line that does it.
USER_TASKS = {
    "train on prepared data": "run training --config_file $B/train.json --bundle_root bundles/prostate --dataset_dir",
    "train with MedSAM ViT-B": "$B/medsam_vit_b.json']\" --foundation_checkpoint",
    "train the supervised-only baseline": "$B/supervised_only.json']\"",
    "evaluate saved models": "$B/evaluate.json']\" --bundle_root bundles/prostate",
    "segment new images": "--config_file $B/inference.json --bundle_root bundles/prostate --input_dir",
    "segment with the U-Net": "$B/inference_unet.json']\"",
    "prepare an authors' release": "python -m synfoc_components.data prepare prostate --source",
    "prepare your own folders": "python -m synfoc_components.data prepare folder --source",
    "write the demo release": "python -m synfoc_components.data demo prostate",
    "train another bundle's demo": "bundles/mnms/configs/demo.json",
    "train on several GPUs": "torchrun --standalone --nnodes=1 --nproc_per_node=4 -m monai.bundle run training",
    "train on several nodes": "torchrun --nnodes=2",
    "serve in MONAI Label": "python -m synfoc_components.label start",
    "run a shared archive": "unzip prostate_v",
}


def bash_lines(text: str) -> list[tuple[int, str]]:
    """``(block number, line)`` for every command line of the markdown's bash blocks, comments and blanks left out."""
    lines, block = [], None
    for line in text.splitlines():
        if line.startswith("```"):
            block = (0 if block is None else block + 1) if line.strip() == "```bash" else None
            continue
        if block is not None and line.strip() and not line.lstrip().startswith("#"):
            lines.append((block, line.strip()))
    return lines


def commands(text: str) -> list[tuple[int, list[str]]]:
    """``(block number, words)`` for each command of the bash blocks, ``&&`` chains split, ``NAME=value`` lines
    substituted in the lines after them."""
    found, names = [], {}
    for block, line in bash_lines(text):
        if re.fullmatch(r"\w+=\S+", line):
            name, value = line.split("=", 1)
            names[name] = value
            continue
        for name, value in names.items():
            line = line.replace(f"${name}", value)
        found += [(block, shlex.split(part)) for part in line.split(" && ")]
    return found


def quick_start(text: str) -> list[str]:
    section = text.split("## Quick start\n", 1)[1].split("\n## ", 1)[0]
    return [line for _, line in bash_lines(section)]


def config_files(value: str) -> list[str]:
    """``--config_file``'s value: one path, or a Python list of paths as MONAI reads it."""
    return [p.strip(" '\"") for p in value.strip("[]").split(",")] if value.startswith("[") else [value]


def command_problems(words: list[str], cwd: Path) -> tuple[list[str], Path]:
    """What a command names that does not exist, and the folder the next command runs in.

    ``unzip <bundle>_v<version>.zip`` must name the archive ``zoo package`` writes for that bundle today; the unzipped
    folder stands for the bundle folder, so ``cd <bundle>`` goes there.
    """
    problems, line = [], " ".join(words)
    if words[0] == "unzip":
        bundle = REPO / "bundles" / words[1].split("_v")[0]
        if not bundle.is_dir() or words[1] != archive_name(bundle):
            problems.append(f"{line}: zoo package names the archive "
                            f"{archive_name(bundle) if bundle.is_dir() else 'of no such bundle'}")  # fmt: skip
        return problems, cwd
    if words[0] == "cd":
        return problems, REPO / "bundles" / words[1]
    module = words[words.index("-m") + 1] if "-m" in words else None
    if module and importlib.util.find_spec(module) is None:
        problems.append(f"{line}: no module {module}")
    options = dict(zip(words, words[1:]))
    configs = [cwd / f for f in config_files(options["--config_file"])] if "--config_file" in options else []
    problems += [f"{line}: no file {f.relative_to(REPO)}" for f in configs if not f.is_file()]
    root = options.get("--bundle_root", "")
    if root.startswith("bundles/") and not (REPO / root).is_dir():
        problems.append(f"{line}: no folder {root}")
    rest = words[words.index("-m") + 2 :] if module == "monai.bundle" else []
    if rest[:1] == ["run"] and configs and not problems:
        runner = "run" if rest[1].startswith("--") else rest[1]  # MONAI's default runner id is "run"
        parser = ConfigParser()
        parser.read_config([str(f) for f in configs])
        if runner not in parser:
            problems.append(f"{line}: the configs have no {runner!r}")
    return problems, cwd


def readme_problems(text: str) -> list[str]:
    problems, cwd, current = [], REPO, None
    for block, words in commands(text):
        cwd, current = (cwd, block) if block == current else (REPO, block)  # each block starts at the root
        found, cwd = command_problems(words, cwd)
        problems += found
    return problems


def test_quick_start_is_two_commands_and_ci_installs_as_the_second_does():
    text = README.read_text(encoding="utf-8")
    train, test = quick_start(text)
    assert train.endswith("--bundle_root bundles/prostate") and "bundles/prostate/configs/demo.json" in train
    assert test.endswith("python -m pytest tests")
    ci_lines = (REPO / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    ci = [[w for w in shlex.split(line, comments=True) if w != "-q"] for line in ci_lines]
    for step in test.split(" && "):
        words = shlex.split(step)
        assert any(line[: len(words)] == words for line in ci), f".ci/run does not run the README's {step!r}"


def test_readme_commands_name_modules_configs_and_folders_that_exist():
    assert len(commands(README.read_text(encoding="utf-8"))) >= 30, "few commands found: is the parsing broken?"
    assert readme_problems(README.read_text(encoding="utf-8")) == []


@pytest.mark.parametrize("task", USER_TASKS)
def test_readme_keeps_the_command_for(task):
    shown = "\n".join(line for _, line in bash_lines(README.read_text(encoding="utf-8")))
    assert USER_TASKS[task] in shown, f"README: no command to {task} (looked for {USER_TASKS[task]!r})"


def test_the_checks_find_missing_files_runner_ids_modules_and_stale_archives():
    text = "\n".join([
        "```bash", "B=bundles/prostate/configs",
        "python -m monai.bundle run training --config_file $B/train.json --bundle_root bundles/prostate",
        "python -m monai.bundle run nothing --config_file \"['$B/train.json','$B/demo.json']\"",
        "python -m monai.bundle run --config_file $B/missing.json --bundle_root bundles/nowhere",
        "python -m synfoc_components.nothing go",
        "unzip prostate_v0.0.1.zip && cd prostate",
        "python -m monai.bundle run --config_file configs/inference.json --bundle_root .",
        "```",
    ])  # fmt: skip
    assert [p.split(": ", 1)[1] for p in readme_problems(text)] == [
        "the configs have no 'nothing'",
        "no file bundles/prostate/configs/missing.json",
        "no folder bundles/nowhere",
        "no module synfoc_components.nothing",
        f"zoo package names the archive {archive_name(REPO / 'bundles' / 'prostate')}",
    ]
