import sys

from exbert_lit.cli import main

sys.exit(main())
