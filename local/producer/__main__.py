import sys

from local.producer.cli import main

sys.exit(main())
