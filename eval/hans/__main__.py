import sys

from eval.hans.experiment import main

sys.exit(main())
