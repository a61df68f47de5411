from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mpsoc_nlp import Codebook, CodebookError

TYPES = ["geografisk", "relasjonell", "ideell", "rusrelatert", "bedringsideell"]
VALENCES = ["positiv", "negativ"]


def test_default_codes_are_type_major_in_codebook_order(codebook):
    assert codebook.codes == tuple(f"{t}:{v}" for t in TYPES for v in VALENCES)
    assert codebook.type_names == tuple(TYPES)
    assert len(codebook) == 10
    assert all(t.label_no and t.description for t in codebook.types)


@pytest.mark.parametrize(
    ("label", "code"),
    [
        ("relasjonell:positiv", "relasjonell:positiv"),
        ("Relasjonelle / Negative", "relasjonell:negativ"),
        ("rusrelaterte fellesskap: positivt", "rusrelatert:positiv"),
        ("bedringsideelt-negativt", "bedringsideell:negativ"),
        ("GEOGRAFISKE_POSITIVE", "geografisk:positiv"),
        ("  ideell   negativ ", "ideell:negativ"),
        ("positiv relasjonell", "relasjonell:positiv"),
        ("rus-relatert:neg", "rusrelatert:negativ"),
        ("Recovery: positive", "bedringsideell:positiv"),
        ("bedringsideelle fellesskap:negativ", "bedringsideell:negativ"),
    ],
)
def test_parse_normalises_case_inflection_and_separators(codebook, label, code):
    assert codebook.parse(label) == code


def test_unknown_label_names_the_nearest_code(codebook):
    with pytest.raises(
        CodebookError, match=re.escape("unknown code 'geografisk:positv'. Did you mean 'geografisk:positiv'?")
    ):
        codebook.parse("geografisk:positv")


def test_type_without_valence_says_how_to_write_it(codebook):
    with pytest.raises(CodebookError, match=re.escape("write 'ideell:positiv' or 'ideell:negativ'")):
        codebook.parse("Ideelle")


def test_far_label_lists_valid_codes(codebook):
    with pytest.raises(CodebookError, match=re.escape("Valid codes are geografisk:positiv, ")):
        codebook.parse("familie:positiv")


def test_parse_codes_sorts_dedupes_and_reads_empty_forms(codebook):
    assert codebook.parse_codes("ideell:negativ; relasjonell:positiv;ideell:negativ") == (
        "relasjonell:positiv",
        "ideell:negativ",
    )
    for empty in ("", "  ", "-", "ingen", None, float("nan"), [], "[]"):
        assert codebook.parse_codes(empty) == ()
    assert codebook.parse_codes(["rusrelatert:negativ", "Geografisk:Positiv"]) == (
        "geografisk:positiv",
        "rusrelatert:negativ",
    )
    assert codebook.parse_codes('["ideell:positiv"]') == ("ideell:positiv",)


def test_encode_decode_round_trip(codebook):
    sets = [(), ("geografisk:positiv", "bedringsideell:negativ"), ("ideell:positiv",)]
    m = codebook.encode(sets)
    assert m.shape == (3, 10) and m.dtype == np.uint8
    assert m[1, 0] == 1 and m[1, 9] == 1 and m.sum() == 3
    assert codebook.decode(m) == [tuple(s) for s in sets]
    probs = np.full((1, 10), 0.3)
    thresholds = np.full(10, 0.5)
    thresholds[4] = 0.2
    assert codebook.decode(probs, thresholds) == [("ideell:positiv",)]
    with pytest.raises(CodebookError, match="10 columns"):
        codebook.decode(np.zeros((2, 3)))


def test_collapse_to_type_and_valence(codebook):
    sets = [("relasjonell:positiv", "relasjonell:negativ", "geografisk:negativ"), ()]
    assert codebook.collapse(sets, "type") == [("geografisk", "relasjonell"), ()]
    assert codebook.collapse(sets, "valence") == [("positiv", "negativ"), ()]


def test_dict_round_trip_and_fingerprint(codebook):
    again = Codebook.from_dict(codebook.to_dict())
    assert again == codebook
    assert again.fingerprint() == codebook.fingerprint()


def test_custom_toml_and_yaml_codebooks(tmp_path):
    toml = tmp_path / "cb.toml"
    toml.write_text(
        'name = "valens"\n[[types]]\nname = "setning"\n[[valences]]\nname = "positiv"\n'
        'aliases = ["pos"]\n[[valences]]\nname = "negativ"\n',
        encoding="utf-8",
    )
    cb = Codebook.load(toml)
    assert cb.codes == ("setning:positiv", "setning:negativ")
    assert cb.parse("Setning / pos") == "setning:positiv"
    yaml = tmp_path / "cb.yaml"
    yaml.write_text("name: flat\ntypes: [familie, skole]\n", encoding="utf-8")
    flat = Codebook.load(yaml)
    assert flat.codes == ("familie", "skole")
    assert flat.parse("Familie") == "familie"


def test_codebook_file_errors_name_the_problem(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[[types]]\nname = "a"\ncolour = "red"\n', encoding="utf-8")
    with pytest.raises(CodebookError, match=re.escape("has unknown key(s) ['colour']")):
        Codebook.load(bad)
    clash = tmp_path / "clash.toml"
    clash.write_text('[[types]]\nname = "a:b"\n', encoding="utf-8")
    with pytest.raises(CodebookError, match="without ':'"):
        Codebook.load(clash)
    with pytest.raises(CodebookError, match="no such codebook file"):
        Codebook.load(tmp_path / "missing.toml")


_INFLECT = {
    "positiv": ["positiv", "positive", "positivt", "pos"],
    "negativ": ["negativ", "negative", "negativt", "neg"],
}
_TYPE_FORMS = {
    "geografisk": ["geografisk", "geografiske"],
    "relasjonell": ["relasjonell", "relasjonelle", "relasjonelt"],
    "ideell": ["ideell", "ideelle", "ideelt"],
    "rusrelatert": ["rusrelatert", "rusrelaterte"],
    "bedringsideell": ["bedringsideell", "bedringsideelle", "bedringsideelt"],
}


@settings(max_examples=200, deadline=None)
@given(
    t=st.sampled_from(TYPES),
    v=st.sampled_from(VALENCES),
    data=st.data(),
)
def test_property_any_spelling_variant_parses_to_its_code(t, v, data):
    cb = Codebook.default()
    tform = data.draw(st.sampled_from(_TYPE_FORMS[t]))
    vform = data.draw(st.sampled_from(_INFLECT[v]))
    sep = data.draw(st.sampled_from([":", "/", "-", "_", " ", " : ", " / "]))
    fill = data.draw(st.sampled_from(["", " fellesskap", " fellesskapet"]))
    case = data.draw(st.sampled_from([str.lower, str.upper, str.title]))
    label = case(f"{tform}{fill}{sep}{vform}")
    assert cb.parse(label) == f"{t}:{v}"
