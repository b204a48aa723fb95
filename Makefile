# recbook: `make book` and `make test` on a fresh machine (they create .venv when missing).
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
BOOKCTL := scripts/bookctl.py

.PHONY: book test student grade sync check bench clean venv

# The venv is created only when there is none; a failed install removes it again, so that the
# next `make` starts over instead of using a half-installed environment.
$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -r requirements.txt && $(PY) -m pip install -e . --no-deps \
	  || { rm -rf $(VENV); exit 1; }

venv: $(PY)

# Every book build executes the notebooks with plain per-epoch log lines instead of tqdm bars.
book: $(PY)
	RECBOOK_PROGRESS=log $(PY) $(BOOKCTL) build
	@echo "book: _build/html/index.html"

# The student edition: student/chapters/*.ipynb (regenerated, kept in the repository: Colab opens
# them) and the HTML book without solutions in _build/student/html (executes every chapter).
student: $(PY)
	RECBOOK_PROGRESS=log $(PY) $(BOOKCTL) student

# Grade a folder of students' notebooks: `make grade SUBMISSIONS=folder` (README, "Teaching with
# recbook"). Every notebook is executed again; TIMEOUT is per cell, in seconds.
TIMEOUT ?= 900
grade: $(PY)
	@test -n "$(SUBMISSIONS)" || { echo "usage: make grade SUBMISSIONS=folder [TIMEOUT=900]"; exit 2; }
	$(PY) scripts/grade.py "$(SUBMISSIONS)" --timeout $(TIMEOUT)

# pytest exits 5 when it collects no test; make fails on any non-zero exit, that one included.
# (tests/test_book.py sets RECBOOK_PROGRESS=log for the book build it runs.)
test: $(PY)
	$(PY) -m pytest tests -q

sync: $(PY)
	$(PY) $(BOOKCTL) sync

check: $(PY)
	$(PY) $(BOOKCTL) check

bench:
	bash bench/run.sh

clean:
	rm -rf _build
