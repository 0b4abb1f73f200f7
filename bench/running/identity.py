"""What makes two results the same experiment, and which code produced a result.

A record's **identity** holds everything that decides its numbers: the dataset and its
content digest, the split hash, the protocol's fields (not its prose description), the
method, the parameters that change results (``Recommender.result_params``: every
constructor parameter but the declared ``non_result_params`` such as ``device``), the
split seed, the ks (ranking protocols only: RMSE does not depend on them), the tuning study
and trial of a ``--tuned`` run, the installed versions of the numerical libraries
(:data:`NUMERIC_PACKAGES`), and the **code hash**. Its hash is the record's
``config_hash``; a stored record is reused only when that hash is the one the current code
computes.

The code hash covers the files on the path from the split to the metrics: the method's
module and every module it imports from ``methods/`` (parsed with ``ast``, transitively),
and the harness code of :data:`HARNESS_ROOTS` with what they import from the data,
protocol and evaluation stages and the foundation modules. The running stage's
orchestration (grid, store, tuning, progress), the report and the CLI are not on that path,
so editing them recomputes nothing; nor do :data:`DECLARATIONS` (the registry and search
spaces say what exists and what a tuner may try, not what a fit computes). Each file is
hashed over its syntax tree without docstrings (``ast.unparse``), so comments, docstrings
and formatting do not count as a change of code; nor do a method's declared search
ranges, for the same reason as :data:`DECLARATIONS`: a class's ``search_space =``
assignment and a module's ``*_SPACE =`` constants are dropped before hashing
(:func:`_strip_search_spaces`), so widening a range keeps the stored records, and a tuned
record still names its study and trial.
"""

from __future__ import annotations

import ast
import hashlib
import json
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # the project: bench/ and methods/ live here
# the harness modules a result's numbers flow through; the closure adds what they import
HARNESS_ROOTS = ("bench.running.compute", "bench.running.records", "bench.running.factory")
# stages whose imports the closure follows (the running stage only through HARNESS_ROOTS)
FOLLOWED = ("bench.data", "bench.protocol", "bench.evaluation", "methods")
FOUNDATION = ("bench", "bench.errors", "bench.memory", "bench.files")
DECLARATIONS = ("methods.registry", "methods.search_space")
HASH_CHARS = 16


def imported_names(module: str, path: Path, is_module: Callable[[str], bool]) -> list[str]:
    """Every dotted name ``module`` (the file ``path``) imports, anywhere in the file (inside
    functions too), relative imports resolved; ``from pkg import name`` gives ``pkg.name``
    when ``is_module`` says that is a module, else ``pkg``."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            names += [
                f"{base}.{a.name}" if is_module(f"{base}.{a.name}") else base for a in node.names
            ]
    return names


def _digest(payload) -> str:
    text = payload if isinstance(payload, str) else json.dumps(payload, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:HASH_CHARS]


def config_hash(identity: dict) -> str:
    """The hash of an identity (or of any JSON-ready configuration)."""
    return _digest(identity)


def protocol_fields(protocol) -> dict:
    """A protocol's fields without its description (a ``Protocol`` or its stored dict)."""
    fields = protocol if isinstance(protocol, dict) else asdict(protocol)
    return {k: v for k, v in sorted(fields.items()) if k != "description"}


def _strip_docstrings(tree: ast.AST) -> ast.AST:
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (
            isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
            and body
            and isinstance(body[0], ast.Expr)
            and isinstance(body[0].value, ast.Constant)
            and isinstance(body[0].value.value, str)
        ):
            node.body = body[1:] or [ast.Pass()]
    return tree


def _assigned_names(node: ast.stmt) -> list[str]:
    if isinstance(node, ast.Assign):
        return [t.id for t in node.targets if isinstance(t, ast.Name)]
    if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
        return [node.target.id]
    return []


def _strip_search_spaces(tree: ast.Module) -> ast.Module:
    """``tree`` without the statements that declare search ranges: ``search_space = ...``
    in a class body, ``NAME_SPACE = ...`` at module level."""

    def keep(node: ast.stmt, declared) -> bool:
        names = _assigned_names(node)
        return not names or not all(declared(n) for n in names)

    tree.body = [n for n in tree.body if keep(n, lambda name: name.endswith("_SPACE"))]
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef):
            node.body = [n for n in node.body if keep(n, lambda name: name == "search_space")]
            node.body = node.body or [ast.Pass()]
    return tree


def _outside(module: str) -> Path | None:
    """The source file of an importable module that is not under the project's root."""
    import importlib.util

    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    origin = spec and spec.origin
    return Path(origin).resolve() if origin and origin.endswith(".py") else None


class CodeIndex:
    """Hashes of the project's code files and the import closure of modules, read once per
    index (a runner holds one for its run, so a file edited mid-run counts at the next)."""

    def __init__(self, root: Path = ROOT):
        self.root = Path(root)
        self._files: dict[str, str | None] = {}
        self._imported: dict[str, set[str]] = {}
        self._closures: dict[str, dict[str, str | None]] = {}

    def path_of(self, module: str) -> Path | None:
        """The file of a dotted module name under the root (a package's ``__init__``)."""
        base = self.root.joinpath(*module.split("."))
        for path in (base.with_suffix(".py"), base / "__init__.py"):
            if path.is_file():
                return path
        return None

    def file_hash(self, rel: str) -> str | None:
        """The hash of one file's code (``None`` when it is missing or does not parse)."""
        if rel not in self._files:
            path = self.root / rel
            try:
                tree = _strip_search_spaces(
                    _strip_docstrings(ast.parse(path.read_text(), str(path)))
                )
                self._files[rel] = _digest(ast.unparse(tree))
            except (OSError, SyntaxError, UnicodeDecodeError):
                self._files[rel] = None
        return self._files[rel]

    def _imports(self, module: str, path: Path) -> set[str]:
        """The project modules ``module`` imports anywhere in its file, with the packages
        above each (importing ``a.b.c`` runs ``a`` and ``a.b`` too)."""
        if module not in self._imported:
            self._imported[module] = self._parse_imports(module, path)
        return self._imported[module]

    def _parse_imports(self, module: str, path: Path) -> set[str]:
        found = set()
        for name in imported_names(module, path, lambda m: self.path_of(m) is not None):
            parts = name.split(".")
            found.update(".".join(parts[:i]) for i in range(1, len(parts) + 1))
        return {m for m in found if m != module and self.path_of(m) is not None}

    @staticmethod
    def _followed(module: str) -> bool:
        if module in DECLARATIONS:
            return False
        if module in FOUNDATION or module in HARNESS_ROOTS:
            return True
        return any(module == s or module.startswith(s + ".") for s in FOLLOWED)

    def closure(self, module: str) -> dict[str, str | None]:
        """``{file: hash}`` of ``module`` and every followed module it imports, transitively.
        A ``module`` outside the project (a method registered from elsewhere) counts by its
        absolute path."""
        if module not in self._closures:
            seen, todo, files = set(), [module], {}
            while todo:
                name = todo.pop()
                path = self.path_of(name) or (_outside(name) if name == module else None)
                if name in seen or path is None:
                    continue
                seen.add(name)
                inside = path.is_relative_to(self.root)
                rel = path.relative_to(self.root).as_posix() if inside else path.as_posix()
                files[rel] = self.file_hash(rel)
                try:
                    todo += [m for m in self._imports(name, path) if self._followed(m)]
                except (OSError, SyntaxError, UnicodeDecodeError):
                    continue
            self._closures[module] = dict(sorted(files.items()))
        return self._closures[module]

    def code_of(self, method_module: str) -> dict[str, str | None]:
        """``{file: hash}`` of the code a method's results depend on: its module's closure
        and the harness's."""
        files = dict(self.closure(method_module))
        for root in HARNESS_ROOTS:
            files.update(self.closure(root))
        return dict(sorted(files.items()))


def code_hash(files: dict[str, str | None]) -> str:
    """One hash for a ``{file: hash}`` map (what a record stores as ``code_hash``)."""
    return _digest(files)


def changed_files(record: dict, index: CodeIndex | None = None) -> list[str] | None:
    """The files of ``record["code"]`` whose code differs now (or is gone), sorted; ``None``
    when the record names no code (it was produced by older code than this harness)."""
    files = record.get("code")
    if not isinstance(files, dict) or "code_hash" not in record:
        return None
    index = index or CodeIndex()
    return sorted(rel for rel, h in files.items() if index.file_hash(rel) != h)


def older_code(records: list[dict], index: CodeIndex | None = None) -> list[dict]:
    """The records produced by other code than the current tree's: no code hash at all, or a
    file of their code changed since."""
    index = index or CodeIndex()
    return [r for r in records if changed_files(r, index) != []]


# the numerical libraries a fit's numbers depend on: another version is another experiment
NUMERIC_PACKAGES = (
    "numpy",
    "scipy",
    "torch",
    "implicit",
    "scikit-learn",
    "scikit-surprise",
    "gensim",
)


def package_versions() -> dict[str, str | None]:
    """``{package: version}`` of :data:`NUMERIC_PACKAGES` as installed (``None``: absent),
    read from the package metadata without importing them."""
    from importlib.metadata import PackageNotFoundError, version

    out: dict[str, str | None] = {}
    for name in NUMERIC_PACKAGES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = None
    return out


def stale_reason(stored: dict, identity: dict, code: dict[str, str | None]) -> str:
    """Why a stored record is not the experiment ``identity`` describes, in a few words."""
    old = stored.get("identity")
    if not isinstance(old, dict) or "code_hash" not in stored:
        return "produced by older code"
    if old.get("code_hash") != identity.get("code_hash"):
        before = stored.get("code") or {}
        files = sorted(f for f in set(before) | set(code) if before.get(f) != code.get(f))
        shown = ", ".join(files[:2]) + (f" and {len(files) - 2} more" if len(files) > 2 else "")
        return f"code of {shown or 'the harness'} changed"
    words = {
        "dataset_digest": "dataset changed",
        "split_hash": "split changed",
        "protocol": "protocol changed",
        "params": "parameters changed",
        "tuning": "tuned trial changed",
        "ks": "ks changed",
        "packages": "library versions changed",
    }
    for key in sorted(set(old) | set(identity)):
        if old.get(key) != identity.get(key):
            return words.get(key, f"{key} changed")
    return "configuration changed"
