import sys

from dvol_pipeline.cli import main

sys.exit(main())
