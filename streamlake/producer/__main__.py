import sys

from streamlake.producer.cli import main

sys.exit(main())
