"""The Python examples of docs/python.md and README.md run as written (each ```python block, in its own
namespace; a block that imports torch or flwr is skipped where that is not installed; blocks
guarded by `if __name__ == "__main__":` run with another __name__, so the Flower example
defines its apps without starting a simulation)."""

import importlib.util
import re

import pytest

from conftest import REPO

PAGES = [REPO / "docs" / "python.md", REPO / "README.md", REPO / "docs" / "verification.md"]
BLOCKS = [(page, i, code) for page in PAGES
          for i, code in enumerate(re.findall(r"```python\n(.*?)```", page.read_text(), flags=re.S))]


def test_the_pages_have_examples():
    assert sum(page.name == "python.md" for page, _, _ in BLOCKS) >= 4
    assert any(page.name == "README.md" for page, _, _ in BLOCKS)


@pytest.mark.parametrize("page, index, code", BLOCKS, ids=[f"{p.name}:{i}" for p, i, _ in BLOCKS])
def test_example_runs(page, index, code):
    for module in ("torch", "flwr"):
        if re.search(rf"^\s*(import|from) {module}\b", code, flags=re.M) and importlib.util.find_spec(module) is None:
            pytest.skip(f"{page.name} example {index} needs {module}")
    exec(compile(code, f"{page}:block{index}", "exec"), {"__name__": "docs_example"})
