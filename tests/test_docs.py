"""The documentation holds together in a clone: every relative link of README.md and docs/**/*.md reaches a
file of the repository (not an ignored one, not one outside it) and every #anchor a heading of its target
(GitHub's slugs); the README stays a front door; every `bridge <command>` the docs name is a command that
`bridge --help` lists."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PAGES = sorted([REPO / "README.md", *(REPO / "docs").rglob("*.md")])
README_MAX_LINES = 200


FENCE = re.compile(r"^(`{3,}|~{3,})\s*([\w+-]*)", re.MULTILINE)
LINK = re.compile(r"!?\[(?:[^\]\[]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
CODE_SPAN = re.compile(r"(`+)(.+?)\1", re.DOTALL)
COMMAND = re.compile(r"(?:^|[\s;&|(`$])(?:bridge|python -m embridge)((?:\s+--?[a-z][\w-]*)*)\s+([a-z][\w-]*)")
SHELL = {"bash", "sh", "shell", "console", "zsh"}


def split_code(text: str) -> tuple[str, list[tuple[str, str]]]:
    """``(prose, [(language, code)])``: the page without its fenced blocks, and the blocks."""
    prose, blocks, lines = [], [], iter(text.splitlines())
    for line in lines:
        opened = FENCE.match(line)
        if not opened:
            prose.append(line)
            continue
        fence, language, body = opened.group(1), opened.group(2).lower(), []
        for inner in lines:
            if inner.strip().startswith(fence[0] * len(fence)) and not inner.strip().strip(fence[0]):
                break
            body.append(inner)
        blocks.append((language, "\n".join(body)))
        prose.append("")
    return "\n".join(prose), blocks


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: its rendered text lowercased, punctuation dropped, spaces as hyphens."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link shows its text
    text = re.sub(r"<[^>]+>", "", text).replace("`", "").replace("*", "")
    return re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")


@cache
def anchors(page: Path) -> frozenset[str]:
    prose, _ = split_code(page.read_text())
    seen: dict[str, int] = {}
    out = set()
    for heading in re.findall(r"^#{1,6}\s+(.+?)\s*#*\s*$", prose, re.MULTILINE):
        base = slug(heading)
        count = seen.get(base, 0)
        out.add(base if count == 0 else f"{base}-{count}")
        seen[base] = count + 1
    return frozenset(out)


def links(page: Path) -> list[str]:
    prose, _ = split_code(page.read_text())
    return LINK.findall(CODE_SPAN.sub("", prose))


def relative(path: Path) -> str:
    return path.relative_to(REPO).as_posix()


@cache
def ignored(path: Path) -> bool:
    """Whether git ignores ``path`` (an artifact a clone does not have); False outside a git work tree."""
    done = subprocess.run(["git", "check-ignore", "-q", str(path)], cwd=REPO, capture_output=True, check=False)
    return done.returncode == 0


def broken(page: Path, target: str) -> str | None:
    """Why ``target`` (as written in ``page``) does not resolve inside the clone, or None."""
    if re.match(r"^[a-z][\w+.-]*:", target, re.IGNORECASE):  # https:, mailto:: not a file of the repository
        return None
    path_part, _, fragment = target.partition("#")
    if path_part.startswith("/"):
        return "an absolute path: it names this machine's file system, not the repository"
    resolved = (page.parent / path_part).resolve() if path_part else page
    if resolved != REPO and REPO not in resolved.parents:
        return "leaves the repository"
    if not resolved.exists():
        return "no such file"
    if ignored(resolved):
        return "git ignores it: a clone does not have it"
    if fragment and resolved.suffix == ".md" and fragment not in anchors(resolved):
        return f"no heading #{fragment} in {relative(resolved)}"
    return None


@pytest.mark.parametrize("page", PAGES, ids=relative)
def test_every_link_resolves_inside_the_clone(page: Path) -> None:
    bad = {target: why for target in links(page) if (why := broken(page, target))}
    assert bad == {}


def test_the_link_checker_catches_what_a_clone_breaks(tmp_path: Path) -> None:
    """The checker itself, on known cases: GitHub's slugs and each way a link can break."""
    assert slug("Perfect alignment and Gaussian transfer (Kamboj & Do)") == \
        "perfect-alignment-and-gaussian-transfer-kamboj--do"
    assert slug('If `bridge` says `Object "extract" is unknown`') == "if-bridge-says-object-extract-is-unknown"
    assert slug("[Methods](methods.md) at a *glance*") == "methods-at-a-glance"
    readme = REPO / "README.md"
    assert broken(readme, "../shared/METHODS.md") == "leaves the repository"
    assert broken(readme, "docs/no-such-page.md") == "no such file"
    assert broken(readme, "/work/main/docs/methods.md").startswith("an absolute path")
    assert broken(readme, "docs/methods.md#no-such-heading") == "no heading #no-such-heading in docs/methods.md"
    assert broken(readme, "docs/methods.md#how-to-cite") is None
    assert broken(readme, "https://example.org/x") is None
    page = tmp_path / "page.md"
    page.write_text("# Top\n\n## Top\n\n```bash\n# not a heading\n```\n[a](x.md) `[b](y.md)`\n")
    assert anchors(page) == {"top", "top-1"} and links(page) == ["x.md"]
    page.write_text("Run `bridge --debug fit x` or `bridge.json`.\n```bash\nbridge extract && bridge nosuch  # bridge in\n"
                    "python -m embridge eval\n```\n```\nbridge results (an output block)\n```\n")
    assert named_commands(page) == {"fit", "extract", "nosuch", "eval"}


def test_readme_is_a_front_door() -> None:
    lines = (REPO / "README.md").read_text().splitlines()
    assert len(lines) <= README_MAX_LINES, f"README.md has {len(lines)} lines; move detail into docs/"


@cache
def cli_commands() -> frozenset[str]:
    """The commands `bridge --help` lists, from one run of the CLI as a user runs it."""
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1", "TERM": "dumb"}
    done = subprocess.run([sys.executable, "-m", "embridge", "--help"], cwd=REPO, env=env, capture_output=True,
                          text=True, check=True, timeout=120)
    commands = re.findall(r"^[│|]\s+([a-z][\w-]*)\s{2,}\S", done.stdout, re.MULTILINE)
    assert {"extract", "fit", "eval"} <= set(commands), done.stdout
    return frozenset(commands)


def named_commands(page: Path) -> set[str]:
    """``<command>`` of every ``bridge <command>`` in the page's shell blocks and code spans."""
    prose, blocks = split_code(page.read_text())
    code = [re.sub(r"(^|\s)#.*$", "", body, flags=re.MULTILINE) for language, body in blocks if language in SHELL]
    code += [span for _, span in CODE_SPAN.findall(prose) if re.match(r"\s*(bridge|python -m embridge)\s", span)]
    return {m.group(2) for text in code for m in COMMAND.finditer(" " + text)}


@pytest.mark.parametrize("page", PAGES, ids=relative)
def test_every_bridge_command_named_exists(page: Path) -> None:
    unknown = named_commands(page) - cli_commands()
    assert unknown == set(), f"{relative(page)} names commands `bridge --help` does not list"
