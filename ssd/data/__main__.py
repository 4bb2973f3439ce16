"""`python -m ssd.data ROOT --images N --seed S`: write the synthetic shapes set in COCO format."""
from .synthetic import main

raise SystemExit(main())
