"""infvsr-bench: long-form VSR benchmark."""
