"""Make the workspace folder importable, so ``import experimenter`` finds this workspace's code."""

import sys
from pathlib import Path

WORKSPACE = str(Path(__file__).resolve().parent.parent)
if WORKSPACE not in sys.path:
    sys.path.insert(0, WORKSPACE)
for name in [m for m in sys.modules if m == "experimenter" or m.startswith("experimenter.")]:
    del sys.modules[name]
