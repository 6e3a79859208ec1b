import sys

from digest.cli.main import main

if __name__ == "__main__":  # not when a helper process imports this module
    sys.exit(main())
