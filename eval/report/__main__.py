import sys

from eval.report.page import main

sys.exit(main())
