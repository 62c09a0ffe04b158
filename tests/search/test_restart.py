"""An index in a directory: what survives a restart, who may open it, and
what it keeps of people's words."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import tantivy

from chinwag.server.search import IndexedMessage, IndexLocked, SearchIndex, parse_query
from chinwag.server.search.index import FORMAT

HEAP = 15_000_000


def message(mid: str, text: str, conv: str = "#ops") -> IndexedMessage:
    return IndexedMessage(conv, mid, "alice", int(mid.partition("-")[0]), text)


def mids(index: SearchIndex, query: str) -> list[str]:
    return [hit.mid for hit in index.search(parse_query(query), {"#ops", "#dev"}).hits]


def test_documents_and_progress_survive_a_restart(tmp_path: Path) -> None:
    with SearchIndex(tmp_path, heap_bytes=HEAP) as index:
        index.upsert([message("1-0", "deploy one"), message("2-0", "deploy two", conv="#dev")])
        index.commit({"#ops": "1-0", "#dev": "2-0"})
        index.upsert([message("3-0", "deploy three")])
        index.commit({"#ops": "3-0"})
        index.upsert([message("4-0", "deploy never committed")])
        index.delete("#ops", "1-0")
    with SearchIndex(tmp_path, heap_bytes=HEAP) as index:
        assert index.progress() == {"#ops": "3-0", "#dev": "2-0"}
        assert mids(index, "deploy") == ["3-0", "2-0", "1-0"]
        assert index.num_messages == 3


def test_the_conversations_of_a_reopened_index_are_known(tmp_path: Path) -> None:
    """A caller in most conversations is filtered by the ones outside
    their scope: after a restart those must include every conversation
    the directory holds, marked or not."""
    with SearchIndex(tmp_path, heap_bytes=HEAP) as index:
        index.upsert([message(f"{n}-0", f"deploy {n}") for n in range(1, 6)])
        index.upsert([message("9-0", "deploy secret", conv="#secret")])
        index.commit({"#ops": "5-0"})  # no mark for #secret
    with SearchIndex(tmp_path, heap_bytes=HEAP) as index:
        assert index._scope_filter({"#ops"})[0][0] == tantivy.Occur.MustNot  # names #secret
        found = index.search(parse_query("deploy"), {"#ops"}).hits
        assert [h.mid for h in found] == [f"{n}-0" for n in range(5, 0, -1)]
        assert index.search(parse_query("deploy"), {"#ops", "#secret"}).hits[0] == ("#secret", "9-0")


def test_a_second_index_on_the_directory_is_refused(tmp_path: Path) -> None:
    with SearchIndex(tmp_path, heap_bytes=HEAP) as index:
        index.upsert([message("1-0", "deploy")])
        index.commit()
        with pytest.raises(IndexLocked):
            SearchIndex(tmp_path, heap_bytes=HEAP)
    with SearchIndex(tmp_path, heap_bytes=HEAP) as again:  # closing freed it
        assert mids(again, "deploy") == ["1-0"]


def test_another_process_is_refused(tmp_path: Path) -> None:
    script = (
        "import sys; from pathlib import Path; from chinwag.server.search import SearchIndex, IndexLocked\n"
        "try: SearchIndex(Path(sys.argv[1]), heap_bytes=15_000_000)\n"
        "except IndexLocked: sys.exit(3)\n"
    )
    command = [sys.executable, "-c", script, str(tmp_path)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}  # this checkout's chinwag
    with SearchIndex(tmp_path, heap_bytes=HEAP):
        held = subprocess.run(command, env=env, check=False, timeout=30)
    free = subprocess.run(command, env=env, check=False, timeout=30)
    assert (held.returncode, free.returncode) == (3, 0)


def test_an_index_of_another_format_is_replaced(tmp_path: Path) -> None:
    old = tmp_path / f"v{FORMAT - 1}"
    old.mkdir()
    (old / "meta.json").write_text("{}")
    unrelated = tmp_path / "v-notes"
    unrelated.mkdir()
    with SearchIndex(tmp_path, heap_bytes=HEAP) as index:
        assert index.progress() == {}
    assert not old.exists()
    assert unrelated.exists()


def test_the_text_is_indexed_but_not_stored(tmp_path: Path) -> None:
    """Everything tantivy can give back of a message is its conversation and id."""
    with SearchIndex(tmp_path, heap_bytes=HEAP) as index:
        index.upsert([message("1-0", "the launch codes are swordfish 部署失败")])
        index.commit({"#ops": "1-0"})
        assert mids(index, "swordfish") == ["1-0"]
        reader = tantivy.Index.open(str(tmp_path / f"v{FORMAT}"))
        searcher = reader.searcher()
        stored = [searcher.doc(address).to_dict() for _, address in searcher.search(tantivy.Query.all_query(), 10).hits]
    assert sorted(stored, key=str) == [{"key": ["1-0 #ops"]}, {"key": ["progress #ops"], "mark": ["1-0"]}]
