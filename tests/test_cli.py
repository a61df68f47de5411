from __future__ import annotations

import json
import subprocess
import sys

import pytest
import typer

from mpsoc_nlp.cli import app, main

from .conftest import write_csv

CONTRACT = ["validate", "train", "classify", "evaluate", "crossval", "agreement", "import-qdpx", "demo"]


def test_help_lists_every_contract_command(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for name in CONTRACT:
        assert name in out


@pytest.mark.parametrize("name", sorted(typer.main.get_command(app).commands))
def test_every_command_has_help(capsys, name):
    assert set(CONTRACT) <= set(typer.main.get_command(app).commands)
    assert main([name, "--help"]) == 0
    assert "Usage: mpsoc " + name in capsys.readouterr().out


def test_validate_prints_a_summary(tmp_path, good_rows, capsys):
    path = write_csv(tmp_path / "ok.csv", good_rows)
    assert main(["validate", str(path)]) == 0
    out = capsys.readouterr().out
    assert "documents  2" in out and "segments   4" in out
    assert "rusrelatert:positiv" in out and "no code    25.0 %" in out


def test_validate_json(tmp_path, good_rows, capsys):
    path = write_csv(tmp_path / "ok.csv", good_rows)
    assert main(["validate", "--json", str(path)]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["segments"] == 4 and summary["codes"]["rusrelatert:negativ"] == 1
    assert summary["share_two_or_more"] == pytest.approx(0.25)


def test_bad_data_exits_2_with_every_problem_and_no_traceback(tmp_path, good_rows, capsys):
    good_rows[2][5] = "relsajonell:positiv"
    good_rows[3][5] = "familie:positiv"
    path = write_csv(tmp_path / "bad.csv", good_rows)
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert "row 3, column 'codes': unknown code 'relsajonell:positiv'. Did you mean 'relasjonell:positiv'?" in err
    assert "row 4, column 'codes'" in err
    assert "Traceback" not in err


def test_usage_error_exits_2(capsys):
    assert main(["validate"]) == 2
    assert main(["no-such-command"]) == 2


def test_evaluate_without_a_model_folder_exits_2_and_writes_nothing(tmp_path, capsys):
    assert main(["evaluate", str(tmp_path / "m"), "g.csv", "--out", str(tmp_path / "r")]) == 2
    assert "no such model folder" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_module_entry_point_and_version():
    res = subprocess.run([sys.executable, "-m", "mpsoc_nlp", "--version"], capture_output=True, text=True, check=False)
    assert res.returncode == 0 and res.stdout.startswith("mpsoc-nlp ")


def test_import_does_not_import_torch():
    code = "import sys, mpsoc_nlp, mpsoc_nlp.cli; print('torch' in sys.modules, 'transformers' in sys.modules)"
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert res.stdout.split() == ["False", "False"]


#: What ``import mpsoc_nlp`` and ``mpsoc --help`` must not load: the backends, plotting, Arrow, and
#: the data stack itself (pandas, numpy, scipy, scikit-learn), which every command loads when it runs.
HEAVY = (
    "torch",
    "transformers",
    "datasets",
    "matplotlib",
    "pyarrow",
    "pandas",
    "numpy",
    "scipy",
    "sklearn",
    "openpyxl",
    "xmlschema",
)


def _probe(code: str) -> list[str]:
    """The lines a fresh interpreter prints running ``code`` (so sys.modules starts empty)."""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return done.stdout.splitlines()


@pytest.mark.parametrize(
    "code",
    [
        "import mpsoc_nlp",
        "from mpsoc_nlp.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass",
        "from mpsoc_nlp.cli import main\nmain(['classify', '--help'])",
    ],
)
def test_import_and_help_stay_light(code):
    probe = code + f"\nimport sys\nprint(sorted(m for m in {HEAVY!r} if m in sys.modules))"
    assert _probe(probe)[-1] == "[]"


def test_package_face_exports_the_verbs_lazily():
    probe = (
        "import sys, mpsoc_nlp\n"
        "assert 'mpsoc_nlp.classification' not in sys.modules\n"
        "from mpsoc_nlp import classify, merge, import_qdpx, load_model, train, Codebook, InputError\n"
        "from mpsoc_nlp.classification import classify as c, merge_predictions as m\n"
        "from mpsoc_nlp.io.qdpx import import_qdpx as q\n"
        "assert (classify, merge, import_qdpx) == (c, m, q)\n"
        "assert set(mpsoc_nlp.__all__) <= set(dir(mpsoc_nlp))\n"
        "missing = [n for n in mpsoc_nlp.__all__ if n != 'TransformerCoder' and getattr(mpsoc_nlp, n) is None]\n"
        "print(missing, 'mpsoc_nlp.models.transformer' in sys.modules)"
    )
    assert _probe(probe) == ["[] False"]


def test_the_estimator_contract_imports_no_backend():
    probe = (
        "import sys, mpsoc_nlp.models.base, mpsoc_nlp.models.folder, mpsoc_nlp.training\n"
        "print(sorted(m for m in ('mpsoc_nlp.models.linear', 'mpsoc_nlp.models.transformer') if m in sys.modules))\n"
        "from mpsoc_nlp.models.folder import backend_class\n"
        "from mpsoc_nlp.training import make_coder\n"
        "print(type(make_coder('linear')) is backend_class('linear'), 'mpsoc_nlp.models.transformer' in sys.modules)"
    )
    assert _probe(probe) == ["[]", "True False"]


def test_face_names_do_not_depend_on_what_was_imported_before():
    probe = (
        "import types, mpsoc_nlp.agreement.views, mpsoc_nlp.crossvalidation, mpsoc_nlp.report_folders\n"
        "import mpsoc_nlp\n"
        "from mpsoc_nlp.crossvalidation import run_crossval\n"
        "from mpsoc_nlp.agreement.report import agreement_report\n"
        "print(mpsoc_nlp.crossval is run_crossval, isinstance(mpsoc_nlp.agreement, types.ModuleType),\n"
        "      mpsoc_nlp.agreement_report is agreement_report is mpsoc_nlp.agreement.agreement_report)"
    )
    assert _probe(probe) == ["True True True"]
