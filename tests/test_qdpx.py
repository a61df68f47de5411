from __future__ import annotations

import io
import re
import zipfile
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest
import xmlschema

from mpsoc_nlp import Codebook, InputError
from mpsoc_nlp.cli import main
from mpsoc_nlp.io.qdpx import ArchiveLimits, load_project, read_mapping, read_qdpx, read_qdpx_units
from mpsoc_nlp.io.transcripts import read_transcript

from .conftest import REPO, SAMPLES

SCHEMAS = REPO / "mpsoc_nlp" / "data" / "refi_qda"
NS = "{urn:QDA-XML:project:1.0}"
INT01 = SAMPLES / "interviews" / "INT-01.txt"

KARI = "AAAAAAAA-1111-4111-8111-111111111111"
OLA = "bbbbbbbb-2222-4222-8222-222222222222"
G = {
    "folder": "c0000000-0000-4000-8000-000000000001",
    "bygda": "c0000000-0000-4000-8000-000000000002",
    "familie": "c0000000-0000-4000-8000-000000000003",
    "relneg": "c0000000-0000-4000-8000-000000000004",
    "annet": "c0000000-0000-4000-8000-000000000005",
    "arbeid": "c0000000-0000-4000-8000-000000000006",
}
S1, T1, R1, S2 = (f"d0000000-0000-4000-8000-00000000000{i}" for i in range(1, 5))


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory, sample_segments):
    from mpsoc_nlp.models import LinearCoder

    train = sample_segments[sample_segments["document_id"].isin(["INT-01", "INT-14", "J-001", "J-002"])]
    model = LinearCoder(seed=1, tune=False, n_features=2**14, C=1.0).fit(train["text"], train["codes"])
    return model.save(tmp_path_factory.mktemp("model") / "demo-model")


@pytest.fixture(scope="module")
def turns() -> pd.DataFrame:
    return read_transcript(INT01)


def _sel(guid: str, start: int, end: int, user: str, codes: list[str], text: str | None = None) -> str:
    name = f' name="{text}"' if text is not None else ""
    codings = "".join(
        f'<Coding guid="e{guid[1:-3]}{guid[-1]}{i:02d}" creatingUser="{user}" creationDateTime="2025-02-01T10:00:00Z">'
        f'<CodeRef targetGUID="{c}"/></Coding>'
        for i, c in enumerate(codes)
    )
    return (
        f'<PlainTextSelection guid="{guid}"{name} startPosition="{start}" endPosition="{end}" '
        f'creatingUser="{user}" creationDateTime="2025-02-01T10:00:00Z">{codings}</PlainTextSelection>'
    )


def researcher_project(path: Path, turns: pd.DataFrame, *, origin: str = "QualCoder 3.6") -> Path:
    """A project as a researcher exports it: two coders, own code names, a docx + plain text source."""
    text = INT01.read_text(encoding="utf-8")
    t = turns.set_index("turn_index")
    span = lambda k: (int(t.loc[k, "start"]), int(t.loc[k, "end"]))  # noqa: E731
    s5 = span(5)
    sub = (s5[0] + 10, s5[0] + 60)
    sels = [
        _sel("f0000000-0000-4000-8000-000000000001", *span(1), KARI.lower(), [G["bygda"], G["familie"]],
             text[slice(*span(1))]),
        _sel("f0000000-0000-4000-8000-000000000002", *span(3), "{" + OLA.upper() + "}", [G["relneg"]]),
        _sel("f0000000-0000-4000-8000-000000000003", *sub, KARI, [G["relneg"]]),
        _sel("f0000000-0000-4000-8000-000000000004", *span(7), OLA, [G["arbeid"]]),
        _sel("f0000000-0000-4000-8000-000000000005", *span(9), KARI, []),  # an annotation: no coding
        _sel("f0000000-0000-4000-8000-000000000006", *span(9), KARI, [G["annet"]]),
        _sel("f0000000-0000-4000-8000-000000000007", len(text) + 5, len(text) + 9, KARI, [G["relneg"]]),
        _sel("f0000000-0000-4000-8000-000000000008", *span(1), OLA, [G["relneg"]]),
    ]
    qde = f"""<?xml version="1.0" encoding="utf-8"?>
<Project xmlns="urn:QDA-XML:project:1.0" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
         name="Studie" origin="{origin}" creatingUserGUID="{KARI}" creationDateTime="2025-02-01T10:00:00Z">
  <!-- exported by hand for the tests -->
  <Users>
    <User guid="{{{KARI}}}" name="Kari"/>
    <User guid="{OLA}" name="Ola"/>
  </Users>
  <CodeBook>
    <Codes>
      <Code guid="{G['folder']}" name="Tilhørighet" isCodable="false">
        <Code guid="{G['bygda']}" name="Bygda" isCodable="true" color="#00FF00"><Description>steder</Description></Code>
        <Code guid="{G['familie']}" name="Familie" isCodable="true"/>
      </Code>
      <Code guid="{G['relneg']}" name="relasjonell:negativ" isCodable="true"/>
      <Code guid="{G['annet']}" name="Annet" isCodable="true"/>
      <Code guid="{G['arbeid']}" name="Arbeid" isCodable="true"/>
    </Codes>
  </CodeBook>
  <Sources>
    <TextSource guid="{S1}" name="INT-01.docx" richTextPath="internal://{R1}.docx" plainTextPath="internal://{T1}.txt"
                creatingUser="{KARI}" creationDateTime="2025-02-01T10:00:00Z">
      <Description>Intervju 1</Description>
      {"".join(sels)}
    </TextSource>
    <TextSource guid="{S2}" name="Notat om bygda">
      <PlainTextContent>Et notat uten talere.

Et avsnitt til om bygda og gutta.</PlainTextContent>
    </TextSource>
  </Sources>
  <Notes>
    <Note guid="a0000000-0000-4000-8000-000000000001" name="Memo"><PlainTextContent>husk</PlainTextContent></Note>
  </Notes>
</Project>
"""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("project.qde", qde.encode("utf-8"))
        zf.writestr(f"Sources/{T1}.txt", ("\ufeff" + text).encode("utf-8"))
        zf.writestr(f"Sources/{R1}.docx", b"PK\x03\x04 not really a docx, kept byte for byte")
    return path


MAPPING = """[codes]
"Tilhørighet/Bygda" = "geografisk:positiv"
"familie" = "Relasjonelle / positivt"
"Annet" = ""
"Finnes ikke" = "ideell:positiv"
"""


@pytest.fixture
def project(tmp_path, turns):
    return researcher_project(tmp_path / "studie.qdpx", turns)


def elements(xml: bytes) -> list[tuple]:
    """Every element of a document as (tag, attributes, text), in document order."""
    import xml.etree.ElementTree as ET

    out = []
    for el in ET.fromstring(xml).iter():
        if isinstance(el.tag, str):
            attrs = tuple(sorted((k, v) for k, v in el.attrib.items()))
            out.append((el.tag, attrs, (el.text or "").strip()))
    return out


def is_subsequence(small: list, big: list) -> bool:
    it = iter(big)
    return all(any(x == y for y in it) for x in small)


# -- the hand-made project ---------------------------------------------------------------------
def test_the_hand_made_project_is_valid(project):
    with zipfile.ZipFile(project) as zf:
        xmlschema.XMLSchema(str(SCHEMAS / "Project.xsd")).validate(zf.read("project.qde"))


def test_import_maps_codes_reports_unmapped_and_adds_uncoded_turns(project, turns, tmp_path, caplog):
    mapping = tmp_path / "mapping.toml"
    mapping.write_text(MAPPING, encoding="utf-8")
    result = read_qdpx(project, mapping=mapping)
    seg = result.segments
    assert result.coders == ["Kari", "Ola"]
    assert result.unmapped == {"Arbeid": 1}
    assert result.unused_mapping == ["finnes ikke"]
    assert any("lie outside the text" in w for w in result.warnings)
    assert any("'Arbeid' maps to no code" in w for w in caplog.messages)
    t = turns.set_index("turn_index")
    kari = seg[seg["coder"] == "Kari"].set_index("segment_id")
    ola = seg[seg["coder"] == "Ola"].set_index("segment_id")
    assert kari.loc["INT-01:1", "codes"] == ("geografisk:positiv", "relasjonell:positiv")
    assert kari.loc["INT-01:9", "codes"] == ()  # coded "Annet", mapped to no code on purpose
    sub = kari[kari.index.str.contains(r":\d+-\d+$")]
    assert len(sub) == 1 and sub["codes"].item() == ("relasjonell:negativ",) and sub["turn_index"].item() == 5
    assert sub["start"].item() == t.loc[5, "start"] + 10
    assert sub.index[0] == f"INT-01:{sub['start'].item()}-{sub['end'].item()}"
    assert "INT-01:5" not in kari.index  # the turn she coded part of is not a negative
    assert ola.loc["INT-01:3", "codes"] == ola.loc["INT-01:1", "codes"] == ("relasjonell:negativ",)
    assert "INT-01:7" not in ola.index  # coded only with an unmapped code: neither positive nor negative
    # every participant turn is there for each coder, as a code or as a negative
    participant = set(turns["segment_id"])
    assert participant - {"INT-01:5"} <= set(kari.index) and participant - {"INT-01:7"} == set(ola.index)
    whole = seg[~seg["segment_id"].str.contains(r":\d+-\d+$")]
    assert (whole["start"].tolist(), whole["end"].tolist()) == (
        [int(t.loc[int(i.split(":")[1]), "start"]) for i in whole["segment_id"]],
        [int(t.loc[int(i.split(":")[1]), "end"]) for i in whole["segment_id"]],
    )
    assert set(seg["document_id"]) == {"INT-01"}  # the note has no codings


def test_without_a_mapping_only_codebook_labels_map(project):
    result = read_qdpx(project)
    assert result.unmapped == {"Tilhørighet/Bygda": 1, "Tilhørighet/Familie": 1, "Annet": 1, "Arbeid": 1}
    codes = Counter(c for cs in result.segments["codes"] for c in cs)
    assert codes == Counter({"relasjonell:negativ": 3})


def test_mapping_files_toml_and_csv(tmp_path):
    cb = Codebook.default()
    csv_path = tmp_path / "map.csv"
    csv_path.write_text("prosjektkode;mpsoc\nBygda;geografisk:positiv\nRus;rusrelatert:positiv; rusrelatert:negativ\n"
                        "Annet;-\n", encoding="utf-8")
    assert read_mapping(csv_path, cb) == {
        "bygda": ("geografisk:positiv",), "rus": ("rusrelatert:positiv", "rusrelatert:negativ"), "annet": ()}
    bad = tmp_path / "bad.csv"
    bad.write_text("kode,mpsoc\nBygda,geografisk:positv\n", encoding="utf-8")
    with pytest.raises(InputError, match=re.escape("row 2: the mapping of 'Bygda': unknown code 'geografisk:positv'")):
        read_mapping(bad, cb)


def test_cli_import_qdpx(project, tmp_path, capsys):
    mapping = tmp_path / "mapping.toml"
    mapping.write_text(MAPPING, encoding="utf-8")
    out = tmp_path / "segments.csv"
    assert main(["import-qdpx", str(project), "--out", str(out), "--mapping", str(mapping)]) == 0
    captured = capsys.readouterr()
    assert "2 coder(s) (Kari, Ola)" in captured.out and "'Arbeid': 1 coding(s)" in captured.err
    back = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert back.loc[(back["coder"] == "Kari") & (back["segment_id"] == "INT-01:1"), "codes"].item() == (
        "geografisk:positiv; relasjonell:positiv")
    # the table reads back as training data
    assert main(["validate", str(out)]) == 0
    assert main(["import-qdpx", str(project), "--out", str(out)]) == 2
    assert "exists already" in capsys.readouterr().err


def test_import_qdpx_writes_human_codings_to_a_koding_sheet(project, tmp_path):
    from mpsoc_nlp import import_qdpx

    mapping = tmp_path / "mapping.toml"
    mapping.write_text(MAPPING, encoding="utf-8")
    out = tmp_path / "segments.xlsx"
    res = import_qdpx(project, out, mapping=mapping)
    sheets = pd.read_excel(out, sheet_name=None, dtype=str, keep_default_na=False)
    assert list(sheets) == ["Codings", "About"]
    assert len(sheets["Codings"]) == res["segments"] and res["coders"] == ["Kari", "Ola"]
    assert res["unmapped"] == {"Arbeid": 1}
    with pytest.raises(InputError, match="segment table to write"):
        import_qdpx(project, tmp_path / "x.qdpx")
    assert not (tmp_path / "x.qdpx").exists()


def test_units_to_classify_cover_every_text_source(project, turns):
    units = read_qdpx_units(project)
    inter = units[units["document_id"] == "INT-01"]
    assert inter[["segment_id", "start", "end", "text"]].values.tolist() == turns[
        ["segment_id", "start", "end", "text"]].values.tolist()
    note = units[units["document_id"] == "Notat om bygda"]
    assert note["text"].tolist() == ["Et notat uten talere.", "Et avsnitt til om bygda og gutta."]


# -- writing a new project ----------------------------------------------------------------------
def test_classify_to_qdpx_validates_and_reads_back_with_the_same_codes_coders_offsets(model_dir, tmp_path, capsys):
    docx_path = SAMPLES / "interviews" / "INT-14.docx"
    gold = tmp_path / "gold.csv"
    codings = pd.read_csv(SAMPLES / "codings.csv", dtype=str, keep_default_na=False)
    codings[(codings["document_id"] == "J-001") & (codings["coder"] == "A")].to_csv(gold, index=False)
    inputs = [str(gold), str(INT01), str(docx_path)]
    out = tmp_path / "forslag.qdpx"
    assert main(["classify", str(model_dir), *inputs, "--out", str(out)]) == 0
    assert "coded selections" in capsys.readouterr().out
    table = tmp_path / "pred.csv"
    assert main(["classify", str(model_dir), *inputs, "--out", str(table)]) == 0
    pred = pd.read_csv(table, dtype=str, keep_default_na=False)
    assert pred["codes"].ne("").sum() > 5

    with zipfile.ZipFile(out) as zf:
        names = zf.namelist()
        qde = zf.read("project.qde")
        texts = {n: zf.read(n) for n in names if n.endswith(".txt")}
    xmlschema.XMLSchema(str(SCHEMAS / "Project.xsd")).validate(qde)
    assert names[0] == "project.qde" and all(re.fullmatch(r"sources/[0-9a-f-]{36}\.txt", n) for n in names[1:])
    assert b"richTextPath" not in qde and not qde.startswith(b"\xef\xbb\xbf")
    assert b'xmlns="urn:QDA-XML:project:1.0"' in qde
    assert all(b"\r" not in t and not t.startswith(b"\xef\xbb\xbf") for t in texts.values())
    assert b'name="A"' in qde and qde.index(b'name="A"') < qde.index(b'name="mpsoc_nlp (model demo-model)"')
    assert re.search(rb"<Description>p=0\.\d\d; model ", qde)

    back_csv = tmp_path / "back.csv"
    assert main(["import-qdpx", str(out), "--out", str(back_csv)]) == 0
    back = pd.read_csv(back_csv, dtype=str, keep_default_na=False)
    assert set(back["coder"]) == {"A", "mpsoc_nlp (model demo-model)"}
    model_rows = back[back["coder"] == "mpsoc_nlp (model demo-model)"]
    cols = ["segment_id", "start", "end", "text", "codes"]
    for doc in ("INT-01", "INT-14"):  # transcripts: the same ids, offsets and codes as the table
        got = model_rows[model_rows["document_id"] == doc][cols].reset_index(drop=True)
        want = pred[pred["document_id"] == doc][cols].reset_index(drop=True)
        pd.testing.assert_frame_equal(got, want)
    # a table without source text is rebuilt one paragraph per segment: same texts and codes
    got = model_rows[model_rows["document_id"] == "J-001"]
    want = pred[pred["document_id"] == "J-001"]
    assert sorted(zip(got["text"], got["codes"], strict=True)) == sorted(zip(want["text"], want["codes"], strict=True))
    human = back[back["coder"] == "A"]
    gold_rows = pd.read_csv(gold, dtype=str, keep_default_na=False)
    pairs = zip(gold_rows["text"], gold_rows["codes"], strict=True)
    assert sorted(zip(human["text"], human["codes"], strict=True)) == sorted(pairs)

    # deterministic: the same suggestions give the same GUIDs
    again = tmp_path / "again.qdpx"
    assert main(["classify", str(model_dir), *inputs, "--out", str(again)]) == 0
    with zipfile.ZipFile(again) as zf:
        qde2 = zf.read("project.qde")
    strip = lambda b: re.sub(rb'(creationDateTime="[^"]+")|(name="again")|(name="forslag")', b"", b)  # noqa: E731
    assert strip(qde) == strip(qde2)


def test_export_qdc_validates_and_shares_the_project_guids(tmp_path, capsys):
    out = tmp_path / "mpsoc.qdc"
    assert main(["export-qdc", str(out)]) == 0
    xml = out.read_bytes()
    xmlschema.XMLSchema(str(SCHEMAS / "Codebook.xsd")).validate(xml)
    assert b"<Sets" not in xml and xml.count(b'isCodable="true"') == len(Codebook.default().codes)
    from mpsoc_nlp.io.qdpx import code_guid

    assert code_guid(Codebook.default(), "ideell:negativ").encode() in xml
    assert main(["export-qdc", str(out)]) == 2


# -- adding codings to a researcher's project -----------------------------------------------------
def test_into_keeps_every_original_element_and_adds_the_models_codings(project, model_dir, tmp_path, capsys):
    mapping = tmp_path / "mapping.toml"
    mapping.write_text(MAPPING, encoding="utf-8")
    out = tmp_path / "studie-kodet.qdpx"
    assert main(["classify", str(model_dir), "--into", str(project), "--mapping", str(mapping), "--out", str(out)]) == 0
    with zipfile.ZipFile(project) as a, zipfile.ZipFile(out) as b:
        assert a.namelist() == b.namelist()
        for name in a.namelist():
            if name != "project.qde":
                assert a.read(name) == b.read(name), name
        old, new = a.read("project.qde"), b.read("project.qde")
    xmlschema.XMLSchema(str(SCHEMAS / "Project.xsd")).validate(new)
    before, after = elements(old), elements(new)
    assert is_subsequence(before, after)
    assert not Counter(before) - Counter(after)
    added = Counter(after) - Counter(before)
    assert sum(1 for e in added.elements() if e[0] == NS + "User") == 1
    n_sel = sum(1 for e in added.elements() if e[0] == NS + "PlainTextSelection")
    assert n_sel > 3
    # the project's own codes are used where the mapping names them; no second copy of them
    assert sum(1 for e in added.elements() if e[0] == NS + "Code") == len(Codebook.default().codes) - 3 + 4
    users = [e for e in after if e[0] == NS + "User"]
    assert dict(users[0][1])["name"] == "Kari" and dict(users[-1][1])["name"] == "mpsoc_nlp (model demo-model)"

    result = read_qdpx(out, mapping=mapping)
    original = read_qdpx(project, mapping=mapping).segments
    seg = result.segments
    for coder in ("Kari", "Ola"):
        cols = ["segment_id", "start", "end", "text", "codes"]
        pd.testing.assert_frame_equal(
            seg[seg["coder"] == coder][cols].reset_index(drop=True),
            original[original["coder"] == coder][cols].reset_index(drop=True),
        )
    model_rows = seg[seg["coder"] == "mpsoc_nlp (model demo-model)"]
    units = read_qdpx_units(project)
    assert set(model_rows["segment_id"]) <= set(units["segment_id"])

    # adding the same suggestions again adds nothing
    twice = tmp_path / "twice.qdpx"
    assert main(["classify", str(model_dir), "--into", str(out), "--mapping", str(mapping), "--out", str(twice)]) == 0
    with zipfile.ZipFile(twice) as zf:
        assert Counter(elements(zf.read("project.qde"))) == Counter(after)


def test_into_without_mapping_adds_the_mpsoc_codebook(project, model_dir, tmp_path):
    out = tmp_path / "kodet.qdpx"
    assert main(["classify", str(model_dir), str(INT01), "--into", str(project), "--out", str(out)]) == 0
    with zipfile.ZipFile(out) as zf:
        qde = zf.read("project.qde")
    xmlschema.XMLSchema(str(SCHEMAS / "Project.xsd")).validate(qde)
    proj = load_project(out)
    names = {c.name for c in proj.codes.values()}
    assert {"Bygda", "geografisk", "geografisk:positiv", "relasjonell:negativ"} <= names
    assert sum(1 for c in proj.codes.values() if c.name == "relasjonell:negativ") == 1  # the project's own
    model = read_qdpx(out).segments.query("coder == 'mpsoc_nlp (model demo-model)'")
    assert model["codes"].map(len).sum() > 3 and set(model["document_id"]) == {"INT-01"}


def test_into_refuses_other_formats(project, model_dir, tmp_path, capsys):
    assert main(["classify", str(model_dir), "--into", str(project), "--out", str(tmp_path / "x.csv"),
                 "--format", "csv"]) == 2
    assert "--into writes a .qdpx project" in capsys.readouterr().err


# -- line endings ----------------------------------------------------------------------------------
@pytest.mark.parametrize("origin, counts_crlf_as", [("ATLAS.ti 23", 1), ("NVivo 14", 2), ("NVivo 14", 1)])
def test_crlf_offsets_are_read_as_the_exporting_tool_counts_them(tmp_path, origin, counts_crlf_as):
    text = "Tittel\r\n\r\nI: Hvor bor du?\r\n\r\nIP: På Røros.\r\n"
    counted = text if counts_crlf_as == 2 else text.replace("\r\n", "\n")
    start = counted.index("På")
    qde = f"""<?xml version="1.0" encoding="utf-8"?>
<Project xmlns="urn:QDA-XML:project:1.0" name="p" origin="{origin}">
  <Users><User guid="{OLA}" name="Ola"/></Users>
  <CodeBook><Codes><Code guid="{G['relneg']}" name="geografisk:positiv" isCodable="true"/></Codes></CodeBook>
  <Sources><TextSource guid="{S1}" name="INT-50.txt" plainTextPath="internal://{T1}.txt">
    {_sel("f0000000-0000-4000-8000-000000000001", start, start + len("På Røros."), OLA, [G['relneg']], "På Røros.")}
  </TextSource></Sources>
</Project>"""
    path = tmp_path / "crlf.qdpx"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("project.qde", qde)
        zf.writestr(f"sources/{T1}.txt", text.encode("utf-8"))
    seg = read_qdpx(path).segments
    row = seg[seg["codes"].map(len) > 0].iloc[0]
    assert row["text"] == "På Røros." and row["segment_id"] == "INT-50:1" and row["start"] == start


# -- hostile archives -----------------------------------------------------------------------------
BOMB = """<?xml version="1.0"?>
<!DOCTYPE Project [
 <!ENTITY a "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa">
 <!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">
 <!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">
 <!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">
]>
<Project xmlns="urn:QDA-XML:project:1.0" name="&d;"/>"""
XXE = """<?xml version="1.0"?>
<!DOCTYPE Project [<!ENTITY x SYSTEM "file:///etc/passwd">]>
<Project xmlns="urn:QDA-XML:project:1.0" name="&x;"/>"""


def hostile(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(zipfile.ZipInfo(name), data, compress_type=zipfile.ZIP_DEFLATED)
    return path


@pytest.mark.parametrize(
    "members, message",
    [
        ({"project.qde": b"<Project/>", "../evil.txt": b"x"}, "'../evil.txt' points outside the archive"),
        ({"project.qde": b"<Project/>", "sources/../../evil.txt": b"x"}, "points outside the archive"),
        ({"project.qde": b"<Project/>", "/etc/evil.txt": b"x"}, "is an absolute path"),
        ({"project.qde": b"<Project/>", "C:\\evil.txt": b"x"}, "is an absolute path"),
        ({"project.qde": BOMB.encode()}, "refused: the XML declares entities"),
        ({"project.qde": XXE.encode()}, "refused: the XML declares entities"),
        ({"project.qde": b"<Project/>", "sources/big.txt": bytes(8 * 2**20)}, "looks like a zip bomb"),
        ({"project.qde": b"<Project"}, "not well-formed"),
        ({"readme.txt": b"hei"}, "holds no project.qde"),
    ],
    ids=["dotdot", "nested-dotdot", "absolute", "drive", "entity-bomb", "external-entity", "zip-bomb", "broken",
         "no-qde"],
)
def test_hostile_or_broken_archives_exit_2(tmp_path, capsys, members, message, model_dir):
    path = hostile(tmp_path / "hostile.qdpx", members)
    assert main(["import-qdpx", str(path), "--out", str(tmp_path / "x.csv")]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "x.csv").exists()
    assert main(["classify", str(model_dir), "--into", str(path), "--out", str(tmp_path / "y.qdpx")]) == 2
    assert message in capsys.readouterr().err


def test_limits_are_checked_on_the_bytes_read_too(tmp_path, project):
    tight = ArchiveLimits(max_member_bytes=2000)
    with pytest.raises(InputError, match="unpacks to"):
        load_project(project, limits=tight)
    (tmp_path / "a.qdpx").write_bytes(b"no zip")
    with pytest.raises(InputError, match="not a zip archive"):
        load_project(tmp_path / "a.qdpx")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for i in range(30):
            zf.writestr(f"sources/{i}.txt", b"x")
        zf.writestr("project.qde", b"<Project/>")
    (tmp_path / "many.qdpx").write_bytes(buf.getvalue())
    with pytest.raises(InputError, match=r"holds 31 files \(limit 10\)"):
        load_project(tmp_path / "many.qdpx", limits=ArchiveLimits(max_members=10))
