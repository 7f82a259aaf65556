"""The backup's index of object keys on disk (server/backup/keyindex.py): what a reader
pairs an archive's members with, and what the backup checks the database's keys against,
whatever their number."""

from __future__ import annotations

from pathlib import Path

import pytest

from server.backup.keyindex import DuplicateKey, KeyIndex


def test_an_entry_is_taken_once_and_the_untaken_are_listed_in_key_order(tmp_path: Path) -> None:
    with KeyIndex(tmp_path) as index:
        for key in ("b/2", "a/1", "c/3"):
            index.add(key, {"key": key, "size": len(key)})
        assert "a/1" in index and "z/9" not in index
        assert index.take("b/2") == {"key": "b/2", "size": 3}
        assert index.take("b/2") is None  # a second member of the same key pairs nothing
        assert index.take("z/9") is None
        assert [e["key"] for e in index.untaken()] == ["a/1", "c/3"]
        index.untake_all()
        assert [e["key"] for e in index.untaken()] == ["a/1", "b/2", "c/3"]


def test_keys_alone_answer_membership(tmp_path: Path) -> None:
    with KeyIndex(tmp_path) as index:
        for n in range(12_000):  # more than one batch
            index.add(f"evidence/{n:05d}/original")
        assert "evidence/11999/original" in index
        assert "evidence/12000/original" not in index


@pytest.mark.parametrize("first_batch", [True, False], ids=["within-a-batch", "across-batches"])
def test_a_key_added_twice_is_named(tmp_path: Path, first_batch: bool) -> None:
    with KeyIndex(tmp_path) as index:
        index.add("a/1", {"key": "a/1"})
        if not first_batch:
            index.flush()
        index.add("a/1", {"key": "a/1"})
        with pytest.raises(DuplicateKey) as twice:
            index.flush()
        assert str(twice.value) == "a/1"


def test_its_file_goes_when_it_is_closed(tmp_path: Path) -> None:
    index = KeyIndex(tmp_path)
    index.add("a/1")
    assert list(tmp_path.iterdir())
    index.close()
    assert not list(tmp_path.iterdir())
