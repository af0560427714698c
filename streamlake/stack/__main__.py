import sys

from streamlake.stack.cli import main

sys.exit(main())
