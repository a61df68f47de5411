"""REFI-QDA projects that other tools accept, checked with readers that are not ours.

Two independent readers: ``pyrefiqda`` (a REFI-QDA parser generated from the published schema)
and a plain ElementTree reader that resolves a coding's ``targetGUID`` to a code by exact string
comparison, as QualCoder's importer does (``guid == targetGUID``). A coding whose target is not
spelled exactly as a code's GUID is lost to such readers, so the tests count lost codings.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyrefiqda
import pytest
import xmlschema

from mpsoc_nlp.cli import main
from mpsoc_nlp.models import load_model

from .test_qdpx import KARI, MAPPING, OLA, SCHEMAS, G, researcher_project

NS = "{urn:QDA-XML:project:1.0}"


@dataclass(frozen=True)
class Coding:
    user: str
    source: str
    start: int
    end: int
    code: str


def exact_codings(qdpx: Path) -> tuple[list[Coding], int]:
    """Every coding of a project as an exact-matching reader sees it, and how many it loses."""
    with zipfile.ZipFile(qdpx) as zf:
        root = ET.fromstring(zf.read("project.qde"))
    codes = {el.get("guid"): el.get("name") for el in root.iter(NS + "Code")}
    users = {el.get("guid"): el.get("name") for el in root.iter(NS + "User")}
    found, lost = [], 0
    for src in root.iter(NS + "TextSource"):
        for sel in src.iter(NS + "PlainTextSelection"):
            for cod in sel.iter(NS + "Coding"):
                target = cod.find(NS + "CodeRef").get("targetGUID")
                if target not in codes or cod.get("creatingUser") not in users:
                    lost += 1
                    continue
                found.append(
                    Coding(users[cod.get("creatingUser")], src.get("name"), int(sel.get("startPosition")),
                           int(sel.get("endPosition")), codes[target])
                )
    return found, lost


def pyrefiqda_codings(qdpx: Path, tmp: Path) -> tuple[list[Coding], int]:
    """The same through ``pyrefiqda``'s typed model (also exact string matching)."""
    project = pyrefiqda.RefiProject.load(qdpx, extract_dir=str(tmp))
    codes: dict[str, str] = {}

    def walk(items: list) -> None:
        for c in items:
            codes[c.guid] = c.name
            walk(c.code)

    walk(project.code_book.codes.code)
    users = {u.guid: u.name for u in project.users.user}
    found, lost = [], 0
    for src in project.sources.text_source:
        for sel in src.plain_text_selection:
            for cod in sel.coding:
                target = cod.code_ref.target_guid
                if target not in codes or cod.creating_user not in users:
                    lost += 1
                    continue
                found.append(Coding(users[cod.creating_user], src.name, sel.start_position, sel.end_position,
                                    codes[target]))
    return found, lost


@pytest.fixture(scope="module")
def named_model(tmp_path_factory, sample_segments) -> Path:
    """A model trained into a folder called ``model`` under its own name."""
    from mpsoc_nlp import train

    train_rows = sample_segments[sample_segments["document_id"].isin(["INT-01", "INT-14", "J-001", "J-002"])]
    out = tmp_path_factory.mktemp("named") / "model"
    train(train_rows, out=out, cv_folds=0, seed=1, name="studie-2026", tune=False, n_features=2**14)
    return out


def nvivo_project(path: Path, turns: pd.DataFrame) -> tuple[Path, set[str]]:
    """The researcher's project with every GUID in upper case and without braces, as NVivo writes them."""
    researcher_project(path, turns, origin="NVivo 14")
    with zipfile.ZipFile(path) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    qde = members["project.qde"].decode("utf-8")
    for g in [*G.values(), KARI, OLA]:
        qde = qde.replace("{" + g.upper() + "}", g.upper()).replace(g.lower(), g.upper())
    members["project.qde"] = qde.encode("utf-8")
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path, {g.upper() for g in G.values()}


def test_into_an_nvivo_project_keeps_upper_case_guids_and_loses_no_coding(named_model, tmp_path):
    from mpsoc_nlp.io.transcripts import read_transcript

    from .test_qdpx import INT01

    project, upper = nvivo_project(tmp_path / "nvivo.qdpx", read_transcript(INT01))
    mapping = tmp_path / "mapping.toml"
    mapping.write_text(MAPPING, encoding="utf-8")
    out = tmp_path / "kodet.qdpx"
    argv = ["classify", str(named_model), "--into", str(project), "--mapping", str(mapping), "--out", str(out)]
    assert main(argv) == 0
    with zipfile.ZipFile(out) as zf:
        qde = zf.read("project.qde")
    xmlschema.XMLSchema(str(SCHEMAS / "Project.xsd")).validate(qde)
    root = ET.fromstring(qde)
    # every code GUID of the project is still spelled as the project spelled it
    assert upper <= {el.get("guid") for el in root.iter(NS + "Code")}
    model_user = "mpsoc_nlp (model studie-2026)"
    model_refs = [
        cod.find(NS + "CodeRef").get("targetGUID")
        for cod in root.iter(NS + "Coding")
        if cod.get("creatingUser") in {u.get("guid") for u in root.iter(NS + "User") if u.get("name") == model_user}
    ]
    assert len(model_refs) > 3
    # the model coded with the project's own codes (the mapping names them): in the project's spelling
    assert {r for r in model_refs if r.upper() in upper} and all(r in upper for r in model_refs if r.upper() in upper)

    exact, lost = exact_codings(out)
    typed, lost_typed = pyrefiqda_codings(out, tmp_path / "extract")
    assert lost == 0 and lost_typed == 0
    assert sorted(exact, key=repr) == sorted(typed, key=repr)
    assert sum(1 for c in exact if c.user == model_user) == len(model_refs)
    # what the independent readers see is what our own importer reads, coding for coding
    from mpsoc_nlp.io.qdpx import read_qdpx

    ours = read_qdpx(out, mapping=mapping).segments
    assert int(ours.loc[ours["coder"] == model_user, "codes"].map(len).sum()) == len(
        {(c.start, c.end, c.code) for c in exact if c.user == model_user}
    )


def test_the_models_name_survives_loading_into_projects_and_workbooks(named_model, tmp_path):
    assert load_model(named_model).metadata_["name"] == "studie-2026"
    from .test_qdpx import INT01

    out = tmp_path / "forslag.qdpx"
    assert main(["classify", str(named_model), str(INT01), "--out", str(out)]) == 0
    users = {c.user for c in exact_codings(out)[0]}
    assert users == {"mpsoc_nlp (model studie-2026)"}
    typed, lost = pyrefiqda_codings(out, tmp_path / "extract")
    assert lost == 0 and {c.user for c in typed} == users
    xlsx = tmp_path / "forslag.xlsx"
    assert main(["classify", str(named_model), str(INT01), "--out", str(xlsx)]) == 0
    about = pd.read_excel(xlsx, sheet_name="About")
    meta = dict(zip(about["item"], about["value"], strict=True))
    assert meta["model_name"] == "studie-2026"


def test_train_names_the_model(tmp_path, sample_segments, capsys):
    data = tmp_path / "koding.csv"
    rows = sample_segments[sample_segments["document_id"].isin(["INT-01", "J-001"])]
    rows.drop(columns=["source_file", "source_row"]).assign(codes=["; ".join(c) for c in rows["codes"]]).to_csv(
        data, index=False
    )
    out = tmp_path / "model"
    assert main(["train", str(data), "--out", str(out), "--folds", "0", "--name", "pilot A"]) == 0
    assert load_model(out).metadata_["name"] == "pilot A"
