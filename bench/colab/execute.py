"""Execute one notebook in place, as the book build does, with this interpreter's own kernel.

    python bench/colab/execute.py chapters/NAME.ipynb

Run by bench/colab/run.sh with the Colab-like venv's python: the kernel is that venv's ipykernel
(so the notebook imports that venv's torch, tensorflow and recbook). Cells run in the notebook's
folder, 30 minutes at most each; the first failing cell stops the run with its traceback and exit 1.
The executed notebook is written back, so its outputs can be read afterwards.
"""
import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

path = Path(sys.argv[1])
nb = nbformat.read(path, as_version=4)
client = NotebookClient(nb, timeout=1800, kernel_name="python3",
                        resources={"metadata": {"path": str(path.parent)}})
try:
    client.execute()
except CellExecutionError as err:
    print(err)
    sys.exit(1)
finally:
    nbformat.write(nb, path)
