"""Arena as `pip install` delivers it: wheels built from the repository (Arena's, and each
game package's under examples/), installed in a fresh virtual environment, serving every page
and every module those pages import.

The editable installs the other tests run on read the repository itself, so a web file a wheel
leaves out goes unnoticed there. Here the wheels are built offline (setuptools from the test
dependencies, no build isolation), installed without their dependencies into a new venv, and
given those dependencies by a `.pth` entry naming a directory of links to exactly the
distributions the wheels require (and theirs), taken from the test venv: no network, and
nothing else of the test venv (not its editable installs) is importable.
"""

from __future__ import annotations

import asyncio
import configparser
import contextlib
import email.parser
import os
import re
import shutil
import signal
import subprocess
import sys
import tomllib
import venv
import zipfile
from dataclasses import dataclass
from html.parser import HTMLParser
from importlib.metadata import Distribution, distribution
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import orjson
import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.conftest import REPO, Browserless

# Arena's run-time files live in these packages (bench's results are records, not read by a
# server); client/web/tests holds Node's unit tests of the browser modules, which no page loads.
ARENA_PACKAGES = ("game_server", "client", "protocol")
NOT_SHIPPED = ("client/web/tests/",)
# Left out of the copy the wheels are built from: what a fresh clone does not have.
SKIPPED_AT_TOP = {".git", ".venv", "build", "dist", "data"}
SKIPPED_ANYWHERE = {"__pycache__", ".pytest_cache", ".ruff_cache", ".hypothesis", "node_modules"}


@dataclass(frozen=True)
class Built:
    """One project's wheel and the packages whose every non-Python file it must carry."""

    project: Path
    wheel: Path
    packages: tuple[str, ...]

    def names(self) -> set[str]:
        with zipfile.ZipFile(self.wheel) as archive:
            return set(archive.namelist())


def projects() -> list[Path]:
    """Arena and every game package among the examples."""
    return [REPO, *sorted(p.parent for p in REPO.glob("examples/*/pyproject.toml"))]


def source_copy(into: Path) -> Path:
    """The work tree without virtual environments, caches and build output, so the build's
    own output (build/, *.egg-info) lands in the copy and never in the repository."""

    def ignore(directory: str, names: list[str]) -> set[str]:
        top = Path(directory).resolve() == REPO
        return {n for n in names if n in SKIPPED_ANYWHERE or n.endswith((".egg-info", ".pyc"))
                or (top and n in SKIPPED_AT_TOP)}

    shutil.copytree(REPO, into, ignore=ignore, symlinks=True)
    return into


def run(*command: str | Path, cwd: Path) -> str:
    """Run a command to completion; its output, or a failure that shows it."""
    done = subprocess.run([str(c) for c in command], cwd=cwd, capture_output=True, text=True,
                          timeout=240, env=clean_env())
    assert done.returncode == 0, f"{command} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without what would point Python or Arena elsewhere."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PYTHON", "ARENA_", "PIP_")) and k != "VIRTUAL_ENV"}
    return {**env, **extra}


def top_packages(names: set[str]) -> set[str]:
    """The import packages at the top of a wheel."""
    return {n.split("/")[0] for n in names if n.count("/") == 1 and n.endswith("/__init__.py")}


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> list[Built]:
    """The wheels `pip wheel` builds from a copy of the repository, offline; Arena's first."""
    work = tmp_path_factory.mktemp("wheels")
    source = source_copy(work / "src")
    sources = [source / p.relative_to(REPO) for p in projects()]
    run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
        "--disable-pip-version-check", "--quiet", "--wheel-dir", work / "out", *sources, cwd=work)
    found = []
    for project in projects():
        name = tomllib.loads((project / "pyproject.toml").read_text())["project"]["name"]
        (wheel,) = (work / "out").glob(canonicalize_name(name).replace("-", "_") + "-*.whl")
        packages = ARENA_PACKAGES if project == REPO else tuple(sorted(
            top_packages(Built(project, wheel, ()).names())))
        found.append(Built(project, wheel, packages))
    return found


def runtime_files(built: Built) -> set[str]:
    """Every file of the project's packages that is not Python: templates, stylesheets, the
    browser client's modules and whatever else they hold, as paths in its wheel."""
    found = set()
    for package in built.packages:
        for path in (built.project / package).rglob("*"):
            name = path.relative_to(built.project).as_posix()
            if (path.is_file() and path.suffix not in (".py", ".pyc")
                    and "__pycache__" not in path.parts and not name.startswith(NOT_SHIPPED)):
                found.add(name)
    return found


def test_each_wheel_carries_every_file_its_packages_hold(built: list[Built]) -> None:
    arena = built[0]
    assert {"client/web/sdk/arena.js", "client/web/games/dice.js",
            "game_server/templates/game.html", "game_server/static/style.css"
            } <= runtime_files(arena)
    missing = {b.wheel.name: sorted(runtime_files(b) - b.names()) for b in built}
    assert not any(missing.values()), f"files the wheels leave out: {missing}"
    extra = sorted(n for b in built for n in b.names()
                   if n.startswith(NOT_SHIPPED) or n.endswith(".pyc"))
    assert extra == []


# -- the installed wheels, serving ---------------------------------------------------------


def dependency_closure(built: list[Built]) -> list[Distribution]:
    """The installed distributions the wheels require, and the ones those require (with the
    extras asked for), the wheels' own projects left out."""
    ours = set()
    todo: list[tuple[str, frozenset[str]]] = []  # (requirement, extras its owner was asked for)
    for b in built:
        with zipfile.ZipFile(b.wheel) as archive:
            (metadata,) = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
            fields = email.parser.Parser().parsestr(archive.read(metadata).decode())
        ours.add(canonicalize_name(fields["Name"]))
        todo += [(r, frozenset()) for r in fields.get_all("Requires-Dist") or []]
    found: dict[str, Distribution] = {}
    seen: set[tuple[str, frozenset[str]]] = set()
    while todo:
        spec, extras = todo.pop()
        requirement = Requirement(spec)
        marker = requirement.marker
        if marker and not any(marker.evaluate({"extra": e}) for e in extras | {""}):
            continue
        name = canonicalize_name(requirement.name)
        key = (name, frozenset(requirement.extras))
        if name in ours or key in seen:
            continue
        seen.add(key)
        dist = found.setdefault(name, distribution(name))
        todo += [(r, key[1]) for r in dist.requires or []]
    return list(found.values())


def link_dependencies(built: list[Built], into: Path) -> Path:
    """A directory of links to the top-level entries (packages, modules, metadata) of the
    wheels' dependencies, as installed in the test venv."""
    into.mkdir()
    for dist in dependency_closure(built):
        assert dist.files is not None, f"{dist.metadata['Name']} lists no files"
        for top in {f.parts[0] for f in dist.files}:
            if top in ("..", "__pycache__") or top.endswith(".pth") or (into / top).exists():
                continue
            (into / top).symlink_to(Path(str(dist.locate_file(top))))
    return into


@pytest.fixture(scope="module")
def installed(built: list[Built], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with the wheels installed and their dependencies importable; its bin/."""
    work = tmp_path_factory.mktemp("installed")
    env = work / "venv"
    venv.EnvBuilder(with_pip=False, symlinks=True).create(env)
    python = env / "bin" / "python"
    run(sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--no-index",
        "--disable-pip-version-check", "--quiet", *(b.wheel for b in built), cwd=work)
    site = Path(run(python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))",
                    cwd=work).strip())
    deps = link_dependencies(built, work / "deps")
    (site / "arena-test-dependencies.pth").write_text(f"{deps}\n")
    # Each package imports from the venv's own site-packages, never from the repository.
    packages = sorted(set().union(*(top_packages(b.names()) for b in built)))
    where = run(python, "-c", f"import importlib; [print(importlib.import_module(p).__file__) "
                f"for p in {packages!r}]", cwd=work)
    assert len(where.split()) == len(packages) >= len(ARENA_PACKAGES)
    for module_file in where.split():
        assert Path(module_file).is_relative_to(site), f"{module_file} is not the wheel's"
    return env / "bin"


class References(HTMLParser):
    """What a page makes the browser fetch: scripts, stylesheets and preloads, and the
    modules inline module scripts import."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, str]] = []  # (kind, URL as written)
        self._inline_module = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "script":
            module = a.get("type") == "module"
            if a.get("src"):
                self.found.append(("module" if module else "script", a["src"]))
            self._inline_module = module and not a.get("src")
        elif tag == "link" and a.get("href"):
            rel = a.get("rel", "").split()
            if "stylesheet" in rel:
                self.found.append(("stylesheet", a["href"]))
            elif "modulepreload" in rel:
                self.found.append(("module", a["href"]))

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._inline_module = False

    def handle_data(self, data: str) -> None:
        if self._inline_module:
            self.found += [("module", s) for s in module_imports(data)]


_IMPORTS = [
    # import x from "m", import {a, b} from "m" (over several lines), export ... from "m"
    re.compile(r"""^\s*(?:import|export)\b[^'"`;]*?\bfrom\s*(['"])([^'"\n]+)\1""", re.M),
    re.compile(r"""^\s*import\s*(['"])([^'"\n]+)\1""", re.M),  # import "m"
    re.compile(r"""\bimport\(\s*(['"])([^'"\n]+)\1\s*\)"""),  # import("m")
]
_ASSET = re.compile(r"""\bnew\s+URL\(\s*(['"])([^'"\n]+)\1\s*,\s*import\.meta\.url\s*\)""")


def module_imports(source: str) -> list[str]:
    """The specifiers an ES module imports, statically or dynamically with a literal."""
    return [m.group(2) for pattern in _IMPORTS for m in pattern.finditer(source)]


CONTENT_TYPES = {"page": ("text/html",), "module": ("text/javascript", "application/javascript"),
                 "script": ("text/javascript", "application/javascript"),
                 "stylesheet": ("text/css",), "asset": ()}


async def crawl(client: Browserless, pages: list[str]) -> dict[str, str]:
    """Fetch every page and, recursively, everything it references on this server: each URL
    with what went wrong with it ("" when it came back 200 with the right content type)."""
    origin = urlsplit(client.base)
    results: dict[str, str] = {}
    todo = [("page", client.base + page, "the test") for page in pages]
    while todo:
        kind, url, referrer = todo.pop()
        parts = urlsplit(url)
        if url in results or parts.scheme == "data":
            continue
        if (parts.scheme, parts.netloc) != (origin.scheme, origin.netloc):
            results[url] = f"referenced by {referrer}: not on this server"
            continue
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        response = await client.request("GET", target)
        body = response.body or b""
        content_type = response.headers.get("Content-Type", "").split(";")[0].strip()
        problem = ""
        if response.code != 200:
            problem = f"HTTP {response.code}"
        elif CONTENT_TYPES[kind] and content_type not in CONTENT_TYPES[kind]:
            problem = f"served as {content_type!r}, a browser refuses that for a {kind}"
        results[url] = problem and f"{problem} (a {kind} referenced by {referrer})"
        if problem:
            continue
        if kind == "page":
            parser = References()
            parser.feed(body.decode())
            todo += [(k, urljoin(url, ref), url) for k, ref in parser.found]
        elif kind == "module":
            text = body.decode()
            for spec in module_imports(text):
                if not spec.startswith(("/", "./", "../", "http:", "https:")):
                    results[f"{url} -> {spec}"] = "a bare specifier: no browser resolves it"
                    continue
                todo.append(("module", urljoin(url, spec), url))
            todo += [("asset", urljoin(url, m.group(2)), url) for m in _ASSET.finditer(text)]
    return results


def test_the_crawler_finds_what_a_browser_would_fetch() -> None:
    module = """
import { a, b } from './one.js';
import {
  c,
} from "../two.js";
import './side-effect.js';
export { d } from '/client/three.js';
export * from './four.js';
const later = () => import('./five.js');
const icon = new URL('./icon.png', import.meta.url);
// import { gone } from './commented-out.js';
const text = 'import x from "./in-a-string.js"';
"""
    assert sorted(module_imports(module)) == [
        "../two.js", "./five.js", "./four.js", "./one.js", "./side-effect.js",
        "/client/three.js"]
    page = References()
    page.feed("""<link rel="stylesheet" href="/static/a.css?v=1"><link rel="icon" href="data:,">
<link rel="modulepreload" href="/client/pre.js"><script src="/classic.js"></script>
<script type="module" src="/client/main.js"></script>
<script type="module">import { go } from '/client/inline.js'; go();</script>""")
    assert page.found == [("stylesheet", "/static/a.css?v=1"), ("module", "/client/pre.js"),
                          ("script", "/classic.js"), ("module", "/client/main.js"),
                          ("module", "/client/inline.js")]


def declared_games(built: list[Built]) -> set[str]:
    """The modes the wheels declare as `arena.games` entry points."""
    names = set()
    for b in built:
        parser = configparser.ConfigParser(delimiters=("=",))
        parser.optionxform = str  # type: ignore[assignment,method-assign]
        with zipfile.ZipFile(b.wheel) as archive:
            for name in archive.namelist():
                if name.endswith(".dist-info/entry_points.txt"):
                    parser.read_string(archive.read(name).decode())
        if parser.has_section("arena.games"):
            names |= set(parser["arena.games"])
    return names


async def drain(stream: asyncio.StreamReader, into: list[str]) -> None:
    while line := await stream.readline():
        into.append(line.decode())


@pytest.mark.timeout(300)
async def test_the_installed_wheels_serve_every_page_and_module(
        built: list[Built], installed: Path, tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere"  # not the repository: nothing resolves against it
    outside.mkdir()
    proc = await asyncio.create_subprocess_exec(
        installed / "game-server", "--host", "127.0.0.1", "--port", "0",
        "--data-dir", str(tmp_path / "data"), cwd=outside,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
        env=clean_env(ARENA_COOKIE_SECRET="wheel-test-" + "w" * 40))
    assert proc.stderr is not None
    log: list[str] = []
    client: Browserless | None = None
    drained: asyncio.Future[None] | None = None
    try:
        async with asyncio.timeout(60):
            while not (found := re.search(r"Arena listening on (http://\S+)", "".join(log))):
                line = (await proc.stderr.readline()).decode()
                assert line, "the installed server exited before it was ready:\n" + "".join(log)
                log.append(line)
        drained = asyncio.ensure_future(drain(proc.stderr, log))  # the server never blocks
        client = Browserless(found.group(1))
        login = await crawl(client, ["/login"])
        await client.guest("wheel")
        modes = orjson.loads((await client.request("GET", "/api/modes")).body)["modes"]
        names = [mode["name"] for mode in modes]
        assert {"arena", "dice", *declared_games(built)} <= set(names)
        results = {**login, **await crawl(client, ["/", *(f"/play?mode={n}" for n in names)])}
        fetched = sorted(results)
        assert any("/client/sdk/arena.js" in url for url in fetched), fetched
        failures = {url: problem for url, problem in results.items() if problem}
        assert failures == {}, "".join(log)
        proc.send_signal(signal.SIGTERM)
        async with asyncio.timeout(30):
            assert await proc.wait() == 0, "".join(log)
            await drained
        assert "arena: stopped" in "".join(log)
    finally:
        if client is not None:
            await client.aclose()
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
        if drained is not None:
            await drained  # ends at the pipe's end, with the process
