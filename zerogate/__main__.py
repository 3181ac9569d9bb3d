import sys

from zerogate.cli import main

sys.exit(main())
