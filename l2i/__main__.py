from l2i.cli import main
import sys

sys.exit(main())
