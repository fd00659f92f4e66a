PY ?= python3

.PHONY: setup demo test bench
setup:
	bash scripts/setup.sh

demo: setup
	livetalk demo -o out/demo.mp4

test:
	$(PY) -m pytest

bench:
	livetalk bench dit --preset tiny --device cpu
	livetalk bench stream
