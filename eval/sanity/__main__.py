import sys

from eval.sanity.experiment import main

sys.exit(main())
