"""The documentation holds together: every relative link in the README, CONTRIBUTING and docs/ names a file that
exists (and a heading that exists, when it names one), every page under docs/ is listed in docs/index.md, every
``docs/<page>.md`` that code or docs mention exists, and the README fits a first screen with the two commands."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def pages() -> list[Path]:
    return [ROOT / "README.md", ROOT / "CONTRIBUTING.md", ROOT / "benchmarks" / "README.md",
            *sorted((ROOT / "docs").glob("*.md"))]


def slug(heading: str) -> str:
    """A heading's anchor as GitHub makes it: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    inside_code = False
    found = set()
    for line in path.read_text().splitlines():
        if line.startswith("```"):
            inside_code = not inside_code
        elif not inside_code and line.startswith("#"):
            found.add(slug(line.lstrip("#")))
    return found


def test_every_relative_link_names_a_file_and_a_heading_that_exist():
    broken = []
    for page in pages():
        for target in LINK.findall(page.read_text()):
            if re.match(r"^(https?:|mailto:)", target):
                continue
            file, _, anchor = target.partition("#")
            path = (page.parent / file).resolve() if file else page
            if not path.exists():
                broken.append(f"{page.relative_to(ROOT)}: {target} (no such file)")
            elif anchor and path.suffix == ".md" and anchor not in anchors(path):
                broken.append(f"{page.relative_to(ROOT)}: {target} (no such heading)")
    assert broken == []


def test_every_docs_page_is_listed_in_the_index_and_every_mentioned_page_exists():
    index = (ROOT / "docs" / "index.md").read_text()
    unlisted = [p.name for p in (ROOT / "docs").glob("*.md") if p.name != "index.md" and f"]({p.name})" not in index]
    assert unlisted == []
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    mentioned = {(name, match) for name in tracked if name.endswith((".py", ".md", ".yaml", ".html"))
                 and (ROOT / name).exists()
                 for match in re.findall(r"docs/([a-z0-9-]+\.md)", (ROOT / name).read_text(errors="replace"))}
    missing = sorted(f"{name} mentions docs/{page}" for name, page in mentioned if not (ROOT / "docs" / page).exists())
    assert missing == []


def test_the_readme_fits_a_first_screen_and_says_how_to_start():
    lines = (ROOT / "README.md").read_text().splitlines()
    assert len(lines) <= 80, f"the README has {len(lines)} lines: move the detail to docs/"
    text = "\n".join(lines)
    assert "make run" in text and "make test" in text and "docs/index.md" in text
