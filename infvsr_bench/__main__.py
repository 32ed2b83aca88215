"""``python -m infvsr_bench`` is the same as the ``infvsr-bench`` command."""
from .cli import main

if __name__ == "__main__":
    main()
