import sys

from eval.compare.experiment import main

sys.exit(main())
