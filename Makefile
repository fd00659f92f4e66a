PY ?= python3

.PHONY: setup demo test bench
setup:
	bash scripts/setup.sh

demo: setup
	livetalk bench dit --preset tiny --device cpu

test:
	$(PY) -m pytest

bench:
	livetalk bench dit --preset tiny --device cpu
