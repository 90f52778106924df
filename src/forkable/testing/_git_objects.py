"""Git objects as a Git host stores them: blobs, trees and commits with their real git ids."""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field

BLOB_MODES = frozenset({"100644", "100755", "120000"})
TREE_MODE = "040000"


def git_id(kind: str, payload: bytes) -> str:
    """The id git gives an object: SHA-1 of ``"{kind} {size}\\0"`` and the payload."""
    header = f"{kind} {len(payload)}\0".encode()
    return hashlib.sha1(header + payload, usedforsecurity=False).hexdigest()


@dataclass(frozen=True)
class Blob:
    data: bytes = field(repr=False)


@dataclass(frozen=True)
class Entry:
    mode: str
    kind: str  # "blob" or "tree"
    sha: str


@dataclass(frozen=True)
class Tree:
    entries: dict[str, Entry]  # by name


@dataclass(frozen=True)
class Commit:
    tree: str
    parents: tuple[str, ...]
    message: str
    author: str
    when: int


GitObject = Blob | Tree | Commit


class GitError(ValueError):
    """A request named an object that does not exist or has the wrong kind."""


class GitStore:
    """A repository's object database."""

    def __init__(self) -> None:
        self.objects: dict[str, GitObject] = {}

    def add_blob(self, data: bytes) -> str:
        sha = git_id("blob", data)
        self.objects[sha] = Blob(data)
        return sha

    def blob(self, sha: str) -> Blob:
        found = self.objects.get(sha)
        if not isinstance(found, Blob):
            raise GitError(f"{sha} is not a blob")
        return found

    def tree(self, sha: str) -> Tree:
        found = self.objects.get(sha)
        if not isinstance(found, Tree):
            raise GitError(f"{sha} is not a tree")
        return found

    def commit(self, sha: str) -> Commit:
        found = self.objects.get(sha)
        if not isinstance(found, Commit):
            raise GitError(f"{sha} is not a commit")
        return found

    def add_tree(self, files: dict[str, tuple[str, str]]) -> str:
        """Store nested trees for ``{path: (mode, blob sha)}``; return the root tree's id."""
        children: dict[str, dict[str, tuple[str, str]]] = {}
        entries: dict[str, Entry] = {}
        for path, (mode, sha) in files.items():
            head, _, rest = path.partition("/")
            if rest:
                children.setdefault(head, {})[rest] = (mode, sha)
            else:
                if mode not in BLOB_MODES:
                    raise GitError(f"mode {mode} is not a blob mode")
                self.blob(sha)
                entries[head] = Entry(mode, "blob", sha)
        for name, subtree in children.items():
            entries[name] = Entry(TREE_MODE, "tree", self.add_tree(subtree))
        # Git sorts entries by name, a tree's name compared as if it ended in "/".
        ordered = sorted(entries.items(), key=lambda i: i[0] + ("/" if i[1].kind == "tree" else ""))
        payload = b"".join(
            f"{e.mode.lstrip('0')} {name}\0".encode() + bytes.fromhex(e.sha) for name, e in ordered
        )
        sha = git_id("tree", payload)
        self.objects[sha] = Tree(dict(ordered))
        return sha

    def flatten(self, tree_sha: str, prefix: str = "") -> dict[str, tuple[str, str]]:
        """``{path: (mode, blob sha)}`` of every file under a tree."""
        files: dict[str, tuple[str, str]] = {}
        for name, entry in self.tree(tree_sha).entries.items():
            path = f"{prefix}{name}"
            if entry.kind == "tree":
                files.update(self.flatten(entry.sha, f"{path}/"))
            else:
                files[path] = (entry.mode, entry.sha)
        return files

    def listing(
        self, tree_sha: str, *, recursive: bool, prefix: str = ""
    ) -> list[dict[str, object]]:
        """Entries as GitHub's trees API lists them (subtrees too when recursive)."""
        items: list[dict[str, object]] = []
        for name, entry in self.tree(tree_sha).entries.items():
            item: dict[str, object] = {
                "path": f"{prefix}{name}",
                "mode": entry.mode,
                "type": entry.kind,
                "sha": entry.sha,
            }
            if entry.kind == "blob":
                item["size"] = len(self.blob(entry.sha).data)
            items.append(item)
            if recursive and entry.kind == "tree":
                items += self.listing(entry.sha, recursive=True, prefix=f"{prefix}{name}/")
        return items

    def add_commit(self, tree: str, parents: list[str], message: str, author: str) -> str:
        self.tree(tree)
        for parent in parents:
            self.commit(parent)
        when = int(time.time())
        lines = [f"tree {tree}", *(f"parent {p}" for p in parents)]
        lines += [f"author {author} {when} +0000", f"committer {author} {when} +0000", ""]
        # Equal commits made within one second would share an id; a trailing newline parts them.
        payload = ("\n".join(lines) + f"\n{message}\n").encode()
        sha = git_id("commit", payload)
        while sha in self.objects:
            payload += b"\n"
            sha = git_id("commit", payload)
        self.objects[sha] = Commit(tree, tuple(parents), message, author, when)
        return sha

    def is_ancestor(self, ancestor: str, sha: str) -> bool:
        """Whether ``ancestor`` is ``sha`` or reachable through its parents."""
        seen: set[str] = set()
        todo = [sha]
        while todo:
            current = todo.pop()
            if current == ancestor:
                return True
            if current in seen:
                continue
            seen.add(current)
            todo.extend(self.commit(current).parents)
        return False

    def files_at(self, commit: str) -> dict[str, bytes]:
        """Every file of a commit with its bytes."""
        tree = self.commit(commit).tree
        return {path: self.blob(sha).data for path, (_m, sha) in self.flatten(tree).items()}
