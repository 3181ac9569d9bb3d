"""The compression config module and the data module import without torch."""

import subprocess
import sys


def test_config_and_data_import_without_torch() -> None:
    code = ("import sys, compress, compress.config, compress.data, compress.methods, zerogate; "
            "zerogate.Data; assert 'torch' not in sys.modules and 'amaranth' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)
