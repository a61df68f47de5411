"""Nothing lost, ever (issue 11): outputs, publishing, verification, interruption, usage errors.

Each test reproduces one reported failure through the CLI (``mpsoc_nlp.cli.main`` in-process, or
``python -m mpsoc_nlp`` in a subprocess) and asserts the contract of the issue: exit 2 with a
plain message, inputs byte-identical afterwards, no temporary files left.

Map of the tests to the issue's points (the other points: test_safety_readers.py,
test_safety_models.py):

* point 1, --force on a folder output deletes what it holds:
  test_force_never_empties_a_folder_of_inputs, test_force_never_empties_the_working_folder,
  test_out_dot_force_is_refused_and_leaves_nothing
* point 2, inputs other than tables are overwritten:
  test_classify_refuses_to_write_into_the_model, test_export_qdc_refuses_to_overwrite_its_codebook
* point 3, concurrent runs to one --out: test_racing_publishers_second_gets_exit_2
* point 4, merge and --resume trust what they find: test_merge_refuses_a_truncated_shard,
  test_merge_refuses_shards_of_a_changed_model, test_resume_refuses_a_retrained_model
* point 5, SIGTERM and the .xlsx row limit: test_sigterm_leaves_no_temp_file,
  test_xlsx_row_limit_is_refused_without_temp_files
* point 9, usage errors: test_usage_errors_exit_2, test_train_negative_folds_is_refused,
  test_folder_as_classify_input_says_so
* property (hypothesis): test_no_out_force_sequence_changes_an_input
"""

from __future__ import annotations

import shutil
import signal
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from .safety_support import (
    CRASH,
    assert_refused,
    mpsoc,
    plain_rows,
    snapshot,
    start,
    temp_files,
    wait_for,
    write_rows,
)


def _codebook_file(folder: Path) -> Path:
    """A copy of the packaged MPSOC codebook (TOML) in ``folder``."""
    import mpsoc_nlp

    src = Path(mpsoc_nlp.__file__).parent / "data" / "mpsoc_codebook.toml"
    dst = folder / "cb.toml"
    shutil.copyfile(src, dst)
    return dst


@pytest.fixture
def scratch(tmp_path, safety_model, coded_csv) -> Path:
    """A scratch folder as in the issue: a model m/, data/koding.csv beside other files and a subfolder."""
    shutil.copytree(safety_model, tmp_path / "m")
    data = tmp_path / "data"
    (data / "sub").mkdir(parents=True)
    shutil.copyfile(coded_csv, data / "koding.csv")
    (data / "notater.txt").write_text("mine notater\n", encoding="utf-8")
    (data / "sub" / "intervju.txt").write_text("I: Hei\nD: Hei\n", encoding="utf-8")
    return tmp_path


FOLDER_COMMANDS = {
    "evaluate": lambda data: ["evaluate", "m", data, "--resamples", "5"],
    "train": lambda data: ["train", data, "--folds", "0"],
    "crossval": lambda data: ["crossval", data, "--folds", "2"],
}


# point 1 ------------------------------------------------------------------------------------
@pytest.mark.parametrize("command", sorted(FOLDER_COMMANDS))
def test_force_never_empties_a_folder_of_inputs(scratch, command):
    before = snapshot(scratch)
    run = mpsoc(*FOLDER_COMMANDS[command]("data/koding.csv"), "--out", "data", "--force", cwd=scratch)
    assert_refused(run)
    assert snapshot(scratch) == before
    assert temp_files(scratch) == []


@pytest.mark.parametrize("command", sorted(FOLDER_COMMANDS))
def test_force_never_empties_the_working_folder(scratch, command):
    before = snapshot(scratch)
    run = mpsoc(*FOLDER_COMMANDS[command]("data/koding.csv"), "--out", str(scratch), "--force", cwd=scratch)
    assert_refused(run)
    assert snapshot(scratch) == before


def test_out_dot_force_is_refused_and_leaves_nothing(scratch):
    before = snapshot(scratch)
    run = mpsoc("evaluate", "m", "data/koding.csv", "--resamples", "5", "--out", ".", "--force", cwd=scratch)
    assert_refused(run)
    assert snapshot(scratch) == before  # no hidden report folder either


def test_force_replaces_only_our_own_kind_of_folder(scratch):
    """A folder of the user's (no marker of ours) is never replaced, even empty of inputs."""
    mine = scratch / "rapport"
    mine.mkdir()
    (mine / "utkast.docx").write_bytes(b"my draft")
    before = snapshot(scratch)
    run = mpsoc("evaluate", "m", "data/koding.csv", "--resamples", "5", "--out", "rapport", "--force", cwd=scratch)
    assert_refused(run)
    assert snapshot(scratch) == before


# point 2 ------------------------------------------------------------------------------------
@pytest.mark.parametrize("target", ["m/model.json", "m/weights.npz", "m/README.md"])
def test_classify_refuses_to_write_into_the_model(scratch, target):
    write_rows(scratch / "in.csv", *plain_rows(20))
    before = snapshot(scratch)
    run = mpsoc("classify", "m", "in.csv", "--out", target, "--format", "csv", "--force", cwd=scratch)
    assert_refused(run)
    assert snapshot(scratch) == before


def test_export_qdc_refuses_to_overwrite_its_codebook(tmp_path):
    cb = _codebook_file(tmp_path)
    before = snapshot(tmp_path)
    run = mpsoc("export-qdc", cb, "--codebook", cb, "--force", cwd=tmp_path)
    assert_refused(run)
    assert snapshot(tmp_path) == before


# point 3 ------------------------------------------------------------------------------------
def test_racing_publishers_second_gets_exit_2(tmp_path, safety_model):
    """Three classify runs to one --out, no --force, started together: one wins, the others exit 2."""
    shutil.copytree(safety_model, tmp_path / "m")
    for k in range(3):
        write_rows(tmp_path / f"in{k}.csv", *plain_rows(4000, prefix=f"R{k}-"))
    procs = [start("classify", "m", f"in{k}.csv", "--out", "out.csv", cwd=tmp_path) for k in range(3)]
    results = [(p.wait(timeout=600), *p.communicate()) for p in procs]
    codes = sorted(r[0] for r in results)
    assert codes == [0, 2, 2], results
    for code, out, err in results:
        assert not any(marker in err for marker in CRASH)
        if code == 2:
            assert "Wrote" not in out
    winner = [k for k, r in enumerate(results) if r[0] == 0][0]
    ids = {line.split(",", 1)[0] for line in (tmp_path / "out.csv").read_text(encoding="utf-8").splitlines()[1:]}
    assert ids == {f"R{winner}-{i}" for i in range(4000)}
    assert temp_files(tmp_path) == []


# point 4 ------------------------------------------------------------------------------------
def _shards(folder: Path, n: int = 2) -> list[Path]:
    write_rows(folder / "in.csv", *plain_rows(1700))
    outs = []
    for k in range(1, n + 1):
        run = mpsoc("classify", "m", "in.csv", "--shard", f"{k}/{n}", "--out", f"p{k}.csv", cwd=folder)
        assert run.code == 0, run.text
        outs.append(folder / f"p{k}.csv")
    return outs


def test_merge_refuses_a_truncated_shard(scratch):
    p1, p2 = _shards(scratch)
    data = p1.read_bytes()
    p1.write_bytes(data[: len(data) // 2])
    before = snapshot(scratch)
    run = mpsoc("merge", p1.name, p2.name, "--out", "all.csv", cwd=scratch)
    assert_refused(run)
    assert snapshot(scratch) == before
    assert not (scratch / "all.csv").exists()


def _change_weights(model: Path) -> None:
    """Change the weights of a model folder in place, keeping its path, codes and thresholds."""
    path = model / "weights.npz"
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    arrays["intercept"] = arrays["intercept"] + 1.5
    np.savez_compressed(path, **arrays)


def test_merge_refuses_shards_of_a_changed_model(scratch):
    write_rows(scratch / "in.csv", *plain_rows(600))
    assert mpsoc("classify", "m", "in.csv", "--shard", "1/2", "--out", "p1.csv", cwd=scratch).code == 0
    _change_weights(scratch / "m")
    assert mpsoc("classify", "m", "in.csv", "--shard", "2/2", "--out", "p2.csv", cwd=scratch).code == 0
    run = mpsoc("merge", "p1.csv", "p2.csv", "--out", "all.csv", cwd=scratch)
    assert_refused(run)
    assert not (scratch / "all.csv").exists()


def test_resume_refuses_a_retrained_model(scratch):
    """Kill a --resume run, change the model folder in place, resume: refused, not a mixed file."""
    write_rows(scratch / "big.csv", *plain_rows(30_000))
    args = ("classify", "m", "big.csv", "--out", "pred.csv", "--resume", "--chunk-size", "500")
    proc = start(*args, cwd=scratch)
    parts = scratch / "pred.csv.parts"
    assert wait_for(lambda: len(list(parts.glob("part-*.jsonl"))) >= 3, proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    assert not (scratch / "pred.csv").exists()
    _change_weights(scratch / "m")
    run = mpsoc(*args, cwd=scratch)
    assert_refused(run)
    assert not (scratch / "pred.csv").exists()


# point 5 ------------------------------------------------------------------------------------
def test_sigterm_leaves_no_temp_file(tmp_path, safety_model):
    shutil.copytree(safety_model, tmp_path / "m")
    write_rows(tmp_path / "big.csv", *plain_rows(80_000))
    proc = start("classify", "m", "big.csv", "--out", "pred.csv", "--chunk-size", "1000", cwd=tmp_path)
    assert wait_for(lambda: bool(list(tmp_path.glob(".pred.csv.*.tmp"))), proc)
    assert proc.poll() is None, "the run ended before the signal could be sent: make the input larger"
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=120)
    assert proc.returncode != 0
    assert temp_files(tmp_path) == []
    assert not (tmp_path / "pred.csv").exists()


def test_xlsx_row_limit_is_refused_without_temp_files(tmp_path, safety_model):
    """1,048,576 segments do not fit one worksheet: exit 2 and nothing written (the check comes first)."""
    shutil.copytree(safety_model, tmp_path / "m")
    with open(tmp_path / "many.csv", "w", encoding="utf-8") as fh:
        fh.write("segment_id,text\n")
        fh.writelines(f"s{i},x\n" for i in range(1_048_576))
    before = snapshot(tmp_path)
    run = mpsoc("classify", "m", "many.csv", "--out", "many.xlsx", "--chunk-size", "1048576", cwd=tmp_path)
    assert_refused(run)
    digits = "".join(c for c in run.err if c.isdigit() or c.isspace())
    assert "1048575" in digits or "1048576" in digits, run.err
    assert snapshot(tmp_path) == before


# point 9 ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "args",
    [
        ["classify", "m", "in.csv", "--out", "p.csv", "--chunk-size", "0"],
        ["classify", "m", "in.csv", "--out", "p.csv", "--chunk-size", "-5"],
        ["crossval", "data/koding.csv", "--out", "cv", "--folds", "0"],
        ["crossval", "data/koding.csv", "--out", "cv", "--folds", "1"],
        ["export-qdc", "no/such/folder/cb.qdc"],
    ],
    ids=["chunk-size-0", "chunk-size-negative", "crossval-folds-0", "crossval-folds-1", "export-qdc-missing-folder"],
)
def test_usage_errors_exit_2(scratch, args):
    write_rows(scratch / "in.csv", *plain_rows(10))
    before = snapshot(scratch)
    run = mpsoc(*args, cwd=scratch)
    assert_refused(run)
    assert snapshot(scratch) == before


def test_train_negative_folds_is_refused(scratch):
    before = snapshot(scratch)
    run = mpsoc("train", "data/koding.csv", "--out", "m2", "--folds", "-3", cwd=scratch)
    assert_refused(run)
    assert snapshot(scratch) == before


def test_folder_as_classify_input_says_so(scratch):
    run = mpsoc("classify", "m", "data", "--out", "p.csv", cwd=scratch)
    assert_refused(run)
    assert "without suffix" not in run.err
    assert "folder" in run.err


# property -----------------------------------------------------------------------------------
OUT_CHOICES = [
    "data/koding.csv",  # an input
    "data",  # the folder of the inputs
    "data/sub",  # a child of it
    "m",  # the model folder
    "m/model.json",  # a file of the model
    ".",  # the working folder
    "..",  # its parent
    "work2/out",  # a new folder
    "prev.csv",  # an earlier output (file)
    "prevdir",  # an earlier output (a model folder)
    "data/new.csv",  # new, beside the inputs
]
STEP = st.tuples(st.sampled_from(["classify", "train", "export-qdc"]), st.sampled_from(OUT_CHOICES), st.booleans())


def _step_args(command: str, out: str, force: bool) -> list[str]:
    if command == "classify":
        args = ["classify", "m", "data/koding.csv", "--out", out, "--format", "csv"]
    elif command == "train":
        args = ["train", "data/koding.csv", "--out", out, "--folds", "0"]
    else:
        args = ["export-qdc", out, "--codebook", "data/cb.toml"]
    return args + (["--force"] if force else [])


def _inputs_of(command: str) -> list[str]:
    """The paths (relative to the work folder) a step reads."""
    return {"classify": ["m", "data/koding.csv"], "train": ["data/koding.csv"], "export-qdc": ["data/cb.toml"]}[
        command
    ]


@settings(
    max_examples=8,
    deadline=None,
    derandomize=True,
    database=None,
    phases=[Phase.explicit, Phase.generate],  # no shrinking: each example runs the CLI several times
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(steps=st.lists(STEP, min_size=1, max_size=3))
def test_no_out_force_sequence_changes_an_input(safety_model, coded_csv, steps):
    """No sequence of --out/--force choices deletes or changes a file that was an input, or a user's file."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "root"
        work = root / "work"
        (work / "data" / "sub").mkdir(parents=True)
        shutil.copyfile(coded_csv, work / "data" / "koding.csv")
        _codebook_file(work / "data")
        (work / "data" / "sub" / "x.txt").write_text("x", encoding="utf-8")
        (root / "annet.txt").write_text("the user's file above the work folder", encoding="utf-8")
        shutil.copytree(safety_model, work / "m")
        assert mpsoc("classify", "m", "data/koding.csv", "--out", "prev.csv", cwd=work).code == 0
        shutil.copytree(safety_model, work / "prevdir")
        ours = ("work/m", "work/prev")
        user_files = {k: v for k, v in snapshot(root).items() if not k.startswith(ours)}
        for command, out, force in steps:
            inputs = {
                k: v
                for k, v in snapshot(root).items()
                if any(k == f"work/{i}" or k.startswith(f"work/{i}/") for i in _inputs_of(command))
            }
            run = mpsoc(*_step_args(command, out, force), cwd=work)  # exit codes: test_usage_errors_exit_2
            now = snapshot(root)
            assert {k: now.get(k) for k in inputs} == inputs, (command, out, force, run.code)
            if force and command != "train" and user_files.get(f"work/{out}", "<dir>") != "<dir>":
                user_files.pop(f"work/{out}")  # --force may replace a file the user names, if no step reads it
            assert {k: now.get(k) for k in user_files} == user_files, (command, out, force)
            assert temp_files(root) == []
