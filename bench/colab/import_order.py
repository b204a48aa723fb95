"""The segfault of issue 21 and recbook's fix, each in a fresh interpreter of the Colab-like venv.

    /tmp/recbook-colab/bin/python bench/colab/import_order.py

Each case imports in its order, then runs one PyTorch training step (Adam's first step imports
torch._dynamo, and with it triton) and prints the exit status: -11 is a segmentation fault.
"""
import subprocess
import sys

STEP = ("import torch\n"
        "m = torch.nn.Linear(4, 1)\n"
        "opt = torch.optim.Adam(m.parameters())\n"
        "m(torch.ones(2, 4)).sum().backward()\n"
        "opt.step()\n"
        "print('step ok')\n")
CASES = {
    "tensorflow first (no recbook)": "import tensorflow\n",
    "torch._dynamo first (by hand)": "import torch._dynamo\nimport tensorflow\n",
    "import recbook.book, then tensorflow": "import recbook.book\nimport tensorflow\n",
    "import recbook.tf.din first": "import recbook.tf.din\n",
}
for name, head in CASES.items():
    out = subprocess.run([sys.executable, "-c", head + STEP], capture_output=True, text=True)
    print(f"{name:40s} exit {out.returncode:4d}  {'step ok' if 'step ok' in out.stdout else ''}")
