"""Documents cited by the ssd package exist in the repository (a user has no ../shared/)."""
import re
from pathlib import Path

import ssd

PACKAGE = Path(ssd.__file__).parent


def test_every_cited_document_is_in_the_repository():
    cited = {}
    for f in PACKAGE.rglob("*.py"):
        for name in re.findall(r"[\w./-]+\.md\b", f.read_text()):
            cited.setdefault(name, []).append(f.relative_to(PACKAGE.parent))
    assert cited, "the package cites its reference document"
    for name, files in cited.items():
        assert not name.startswith(".."), f"{files} cite {name}, outside the repository"
        assert (PACKAGE.parent / name).is_file() or (PACKAGE / name).is_file(), f"{files} cite missing {name}"
